package cli

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// jpegImage is a small coloured JPEG.
func jpegImage(t *testing.T, seed uint8) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for i := range 40 * 30 {
		v := uint8(i) + seed
		img.SetRGBA(i%40, i/40, color.RGBA{v, 200 - v/2, v / 4, 255})
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestInitiateAPIChannel: --front, --back and --face upload the images
// through the API channel and finalize; a file Jumio would refuse is
// reported before any transaction is created.
func TestInitiateAPIChannel(t *testing.T) {
	sim := jumiotest.NewServer(jumiotest.Config{})
	defer sim.Close()
	env := func(k string) string { return map[string]string{"KYCFLOW_DATA_DIR": t.TempDir()}[k] }
	front, back, face := writeFile(t, "front.jpg", jpegImage(t, 1)), writeFile(t, "back.jpg", jpegImage(t, 2)), writeFile(t, "face.jpg", jpegImage(t, 3))

	var out, errOut bytes.Buffer
	code := Main(t.Context(), []string{"initiate", "--workflow-key", "10011", "--front", front, "--back", back, "--face", face, "--simulator", sim.URL()}, env, nil, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	execs := sim.Executions()
	if len(execs) != 1 || !strings.Contains(out.String(), execs[0].ID) || !strings.Contains(out.String(), "FRONT, BACK, FACE uploaded, finalized") {
		t.Fatalf("output lacks the execution id or the upload:\n%s", out.String())
	}
	if execs[0].Status != "ACQUIRED" {
		t.Errorf("status %s, want ACQUIRED (finalized)", execs[0].Status)
	}
	if n := sim.Count(jumio.EndpointPartUpload, http.StatusOK); n != 3 {
		t.Errorf("%d uploads, want 3", n)
	}

	notImage := writeFile(t, "scan.pdf", []byte("%PDF-1.7 this is not an image"))
	for _, args := range [][]string{
		{"--front", notImage},
		{"--front", writeFile(t, "huge.jpg", append(jpegImage(t, 4), make([]byte, 5_000_001)...))},
		{"--face", face},
	} {
		out.Reset()
		errOut.Reset()
		code := Main(t.Context(), append([]string{"initiate", "--workflow-key", "10011", "--simulator", sim.URL()}, args...), env, nil, &out, &errOut)
		if code != 2 {
			t.Errorf("%v: exit %d (%s), want 2", args, code, errOut.String())
		}
	}
	if n := len(sim.Accounts()); n != 1 {
		t.Errorf("%d transactions created, want only the first: refused files create none", n)
	}
}

// performBody is a /performNetverify body with real images.
func performBody(t *testing.T, face bool) []byte {
	t.Helper()
	body := map[string]any{
		"merchantIdScanReference": "txn-000210", "customerId": "usr_210", "country": "DEU", "idType": "ID_CARD",
		"frontsideImage": base64.StdEncoding.EncodeToString(jpegImage(t, 5)), "frontsideImageMimeType": "image/jpeg",
		"backsideImage": "data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(jpegImage(t, 6)),
		"firstName":     "ERIKA", "lastName": "MUSTERMANN", "dob": "1964-08-12",
	}
	if face {
		body["faceImage"] = base64.StdEncoding.EncodeToString(jpegImage(t, 7))
	}
	b, _ := json.Marshal(body)
	return b
}

// TestMigrateRequestExecute runs a /performNetverify body on the
// Platform: account, images uploaded, finalized; the output carries ids,
// never the body's personal data. A body with an image Jumio would refuse
// creates nothing.
func TestMigrateRequestExecute(t *testing.T) {
	sim := jumiotest.NewServer(jumiotest.Config{})
	defer sim.Close()
	env := func(k string) string {
		return map[string]string{"KYCFLOW_WORKFLOWS": "200=10011", "KYCFLOW_DATA_DIR": t.TempDir()}[k]
	}
	var out, errOut bytes.Buffer
	code := Main(t.Context(), []string{"migrate-request", "--execute", "--simulator", sim.URL()}, env, bytes.NewReader(performBody(t, true)), &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	execs := sim.Executions()
	if len(execs) != 1 || execs[0].Status != "ACQUIRED" || execs[0].DefinitionKey != "10011" {
		t.Fatalf("executions %+v, want one ACQUIRED of workflow 10011", execs)
	}
	if !strings.Contains(out.String(), execs[0].ID) || !strings.Contains(out.String(), "FRONT, BACK, FACE uploaded") {
		t.Errorf("output lacks the id or the uploads:\n%s", out.String())
	}
	for _, pii := range []string{"ERIKA", "MUSTERMANN", "1964-08-12"} {
		if strings.Contains(out.String()+errOut.String(), pii) {
			t.Errorf("the output holds %s", pii)
		}
	}
	if reqs := sim.Accounts(); reqs[0].CustomerInternalReference != "txn-000210" {
		t.Errorf("customerInternalReference %q, want the merchantIdScanReference", reqs[0].CustomerInternalReference)
	}

	bad := bytes.Replace(performBody(t, false), []byte(`"frontsideImage":"`), []byte(`"frontsideImage":"AAAA`), 1)
	for name, body := range map[string][]byte{
		"truncated image":  bad,
		"an initiate body": []byte(`{"customerInternalReference":"txn-1","userReference":"u-1","workflowId":200}`),
	} {
		out.Reset()
		errOut.Reset()
		if code := Main(t.Context(), []string{"migrate-request", "--execute", "--simulator", sim.URL()}, env, bytes.NewReader(body), &out, &errOut); code != 2 {
			t.Errorf("%s: exit %d (%s), want 2", name, code, errOut.String())
		}
	}
	if n := len(sim.Accounts()); n != 1 {
		t.Errorf("%d transactions created, want only the first", n)
	}
}

// TestInitiateAPIChannelFailureAnnounced: when the API channel fails
// after the transaction was created (here the workflow's SELFIE
// credential gets no face image), initiate fails with the ids and still
// announces the execution, which Jumio will expire and call back about.
func TestInitiateAPIChannelFailureAnnounced(t *testing.T) {
	srv := brokertest.Start(t)
	_, js := srv.JetStream(t)
	sim := jumiotest.NewServer(jumiotest.Config{})
	defer sim.Close()
	env := func(k string) string {
		return map[string]string{"KYCFLOW_DATA_DIR": t.TempDir(), "KYCFLOW_NATS_URL": srv.URL()}[k]
	}
	front := writeFile(t, "front.jpg", jpegImage(t, 1))

	var out, errOut bytes.Buffer
	code := Main(t.Context(), []string{"initiate", "--workflow-key", "10011", "--front", front, "--simulator", sim.URL()}, env, nil, &out, &errOut)
	execs := sim.Executions()
	if code == 0 || len(execs) != 1 {
		t.Fatalf("exit %d with %d executions, want a failure after creating one:\n%s%s", code, len(execs), out.String(), errOut.String())
	}
	x := execs[0]
	if !strings.Contains(errOut.String(), x.ID) || !strings.Contains(errOut.String(), "announced on JUMIO_EXECUTIONS") {
		t.Errorf("stderr lacks the execution id or the announcement:\n%s", errOut.String())
	}
	msgs := brokertest.Messages(t, js, events.StreamExecutions)
	if len(msgs) != 1 || msgs[0].Subject != events.InitiatedSubject(x.AccountID, x.ID) {
		t.Errorf("JUMIO_EXECUTIONS holds %d messages, want the announcement of %s", len(msgs), x.ID)
	}
}
