package jumio_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// testImage encodes a w×h image: coloured, or grey when gray is set.
func testImage(t testing.TB, format string, w, h int, gray bool, seed byte) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			v := uint8(x*7 + y*3 + int(seed))
			c := color.RGBA{v, v / 2, 255 - v, 255}
			if gray {
				c = color.RGBA{v, v, v, 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	var b bytes.Buffer
	var err error
	if format == "jpeg" {
		err = jpeg.Encode(&b, img, &jpeg.Options{Quality: 100})
	} else {
		err = png.Encode(&b, img)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// channelFor creates an account with the workflow key (and credential
// categories, when given) and returns its API channel.
func channelFor(t *testing.T, c *jumio.Client, key int, categories ...string) *jumio.APIChannel {
	t.Helper()
	req := wire.AccountRequest{CustomerInternalReference: "kycflow-channel-test", WorkflowDefinition: wire.WorkflowDefinition{Key: key}}
	for _, cat := range categories {
		req.WorkflowDefinition.Credentials = append(req.WorkflowDefinition.Credentials, wire.CredentialDefinition{Category: cat})
	}
	resp, err := c.CreateAccount(t.Context(), req)
	if err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	ch, err := jumio.NewAPIChannel(resp)
	if err != nil {
		t.Fatalf("NewAPIChannel: %v", err)
	}
	return ch
}

// TestAcquire runs the API channel end to end against the simulator:
// account, FRONT, BACK and FACE uploaded in order, finalized, ACQUIRED,
// then completed with a callback; the uploads are what the retrieval API
// serves back, and a BACK makes the document an ID card.
func TestAcquire(t *testing.T) {
	sink := newCallbackSink(t)
	srv := startSim(t, jumiotest.Config{CompleteAfter: time.Hour, CompleteAPIAfter: 10 * time.Millisecond, CallbackURL: sink.srv.URL})
	c := newClient(t, srv, fastRetries)
	ch := channelFor(t, c, 10011)
	if got := len(ch.Credentials); got != 2 {
		t.Fatalf("%d credentials on the API channel, want ID and SELFIE (FACEMAP is web and SDK only)", got)
	}
	front, back, face := testImage(t, "png", 64, 40, false, 1), testImage(t, "jpeg", 64, 40, false, 2), testImage(t, "png", 32, 32, false, 3)
	fin, err := c.Acquire(t.Context(), ch, jumio.Acquisition{Front: front, Back: back, Face: face})
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	if fin.Account.ID != ch.AccountID || fin.WorkflowExecution.ID != ch.WorkflowExecutionID {
		t.Errorf("finalize answered %s/%s, want %s/%s", fin.Account.ID, fin.WorkflowExecution.ID, ch.AccountID, ch.WorkflowExecutionID)
	}
	for ep, want := range map[jumio.Endpoint]int{jumio.EndpointPartUpload: 3, jumio.EndpointFinalize: 1} {
		if got := srv.Count(ep, http.StatusOK); got != want {
			t.Errorf("%s: %d answered 200, want %d", ep, got, want)
		}
	}
	cbs := sink.wait(t, 1)
	if cbs[0].WorkflowExecution.ID != ch.WorkflowExecutionID || cbs[0].WorkflowExecution.Status != "PROCESSED" {
		t.Fatalf("callback for %s status %s, want %s PROCESSED", cbs[0].WorkflowExecution.ID, cbs[0].WorkflowExecution.Status, ch.WorkflowExecutionID)
	}
	d, _, err := c.WorkflowDetails(t.Context(), ch.AccountID, ch.WorkflowExecutionID)
	if err != nil {
		t.Fatal(err)
	}
	var typ string
	for _, x := range d.Capabilities["extraction"] {
		var data struct{ Type string }
		_ = json.Unmarshal(x.Data, &data)
		typ = data.Type
	}
	if d.Decision.Type != "REJECTED" && typ != "ID_CARD" {
		t.Errorf("document type %q, want ID_CARD (a BACK was uploaded)", typ)
	}
	idCred, _ := ch.Credential(wire.CategoryID)
	dl, err := c.CredentialPart(t.Context(), ch.AccountID, idCred.ID, wire.ClassifierBack)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(dl.Body)
	dl.Body.Close()
	if !bytes.Equal(got, back) || dl.ContentType != "image/jpeg" {
		t.Errorf("BACK served back: %d bytes %s, want the %d uploaded bytes as image/jpeg", len(got), dl.ContentType, len(back))
	}
}

// TestAcquireChecksBeforeSending: an upload Jumio would refuse, or a
// credential left without its part, is reported before any request, as
// ErrInvalidArgument and the specific sentinel.
func TestAcquireChecksBeforeSending(t *testing.T) {
	srv := startSim(t, jumiotest.Config{})
	c := newClient(t, srv, fastRetries)
	ok := testImage(t, "png", 16, 16, false, 0)
	huge := append(bytes.Clone(ok), make([]byte, wire.MaxImageBytes)...)
	wide := testImage(t, "png", wire.MaxImageDimension+1, 1, false, 0)
	tests := []struct {
		name string
		key  int
		cats []string
		a    jumio.Acquisition
		want error
	}{
		{"larger than 5 MB", 2, nil, jumio.Acquisition{Front: huge}, wire.ErrImageTooLarge},
		{"not an image", 2, nil, jumio.Acquisition{Front: []byte("%PDF-1.7 not an image")}, wire.ErrImageFormat},
		{"wider than 8000", 2, nil, jumio.Acquisition{Front: wide}, wire.ErrImageDimensions},
		{"selfie credential without a face", 10011, nil, jumio.Acquisition{Front: ok}, jumio.ErrMissingPart},
		{"back without front", 2, nil, jumio.Acquisition{Back: ok}, jumio.ErrMissingPart},
		{"face without a selfie credential", 2, nil, jumio.Acquisition{Front: ok, Face: ok}, jumio.ErrNoAPIChannel},
		{"data credential without data", 2, []string{"ID", "DATA"}, jumio.Acquisition{Front: ok}, jumio.ErrMissingPart},
		{"malformed prepared data", 2, []string{"ID", "DATA"}, jumio.Acquisition{Front: ok, PreparedData: &wire.PreparedData{DateOfBirth: "14.03.1990"}}, jumio.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := channelFor(t, c, tt.key, tt.cats...)
			srv.ResetCounts()
			_, err := c.Acquire(t.Context(), ch, tt.a)
			if !errors.Is(err, tt.want) || !errors.Is(err, jumio.ErrInvalidArgument) {
				t.Fatalf("Acquire = %v, want %v and ErrInvalidArgument", err, tt.want)
			}
			if r := jumio.Classify(err); r.Kind != jumio.Permanent {
				t.Errorf("Classify = %v, want permanent", r)
			}
			if n := srv.Requests(jumio.EndpointPartUpload) + srv.Requests(jumio.EndpointFinalize); n != 0 {
				t.Errorf("%d API-channel requests sent, want none", n)
			}
		})
	}
}

// TestUploadImageChecksToo: UploadImage on its own refuses what Acquire
// refuses, before sending.
func TestUploadImageChecksToo(t *testing.T) {
	srv := startSim(t, jumiotest.Config{})
	c := newClient(t, srv, fastRetries)
	ch := channelFor(t, c, 2)
	srv.ResetCounts()
	if _, err := c.UploadImage(t.Context(), ch, wire.ClassifierFront, []byte("GIF89a")); !errors.Is(err, wire.ErrImageFormat) {
		t.Errorf("UploadImage(GIF) = %v, want ErrImageFormat", err)
	}
	if n := srv.Requests(jumio.EndpointPartUpload); n != 0 {
		t.Errorf("%d uploads sent, want none", n)
	}
}

// TestPreparedData uploads a DATA credential's PREPARED_DATA; the
// simulator puts its names into the extracted data.
func TestPreparedData(t *testing.T) {
	sink := newCallbackSink(t)
	srv := startSim(t, jumiotest.Config{CompleteAfter: time.Hour, CompleteAPIAfter: 10 * time.Millisecond, CallbackURL: sink.srv.URL,
		Scenario: jumiotest.Scenario{Mix: jumiotest.Mix{Passed: 1}}})
	c := newClient(t, srv, fastRetries)
	ch := channelFor(t, c, 2, "ID", "DATA")
	data := &wire.PreparedData{FirstName: "Alexa", LastName: "Examplar", DateOfBirth: "1990-03-14",
		Address: &wire.PreparedAddress{City: "Sampletown", Country: "AUT"}}
	if _, err := c.Acquire(t.Context(), ch, jumio.Acquisition{Front: testImage(t, "png", 20, 20, false, 9), PreparedData: data}); err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	sink.wait(t, 1)
	d, _, err := c.WorkflowDetails(t.Context(), ch.AccountID, ch.WorkflowExecutionID)
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ FirstName, LastName, DateOfBirth string }
	_ = json.Unmarshal(d.Capabilities["extraction"][0].Data, &got)
	if got.FirstName != "ALEXA" || got.LastName != "EXAMPLAR" || got.DateOfBirth != "1990-03-14" {
		t.Errorf("extracted %+v, want the prepared data's names and date of birth", got)
	}
}

// TestTransactionTokenExpired: once the execution expired, its
// transaction token is refused with 401, which is final.
func TestTransactionTokenExpired(t *testing.T) {
	srv := startSim(t, jumiotest.Config{})
	c := newClient(t, srv, fastRetries)
	ch := channelFor(t, c, 2)
	if !srv.Expire(ch.WorkflowExecutionID) {
		t.Fatal("Expire: false")
	}
	_, err := c.UploadImage(t.Context(), ch, wire.ClassifierFront, testImage(t, "png", 8, 8, false, 0))
	if !errors.Is(err, jumio.ErrUnauthorized) || jumio.Classify(err).Kind != jumio.Permanent {
		t.Fatalf("upload after expiry = %v, want a permanent ErrUnauthorized", err)
	}
	st, err := c.WorkflowStatus(t.Context(), ch.AccountID, ch.WorkflowExecutionID)
	if err != nil || st.WorkflowExecution.Status != "TOKEN_EXPIRED" {
		t.Fatalf("status %v %v, want TOKEN_EXPIRED (nothing was uploaded)", st, err)
	}
}

// TestAPIChannelPrintsNoToken: the transaction tokens stay out of
// strings and logs.
func TestAPIChannelPrintsNoToken(t *testing.T) {
	resp := &wire.AccountResponse{Account: wire.Link{ID: "4a1b2c3d-5e6f-4711-8899-aabbccddeeff"}}
	resp.WorkflowExecution.ID = "9f2c1e7a-3b4d-4c5e-8f60-1a2b3c4d5e6f"
	cred := wire.AccountCredentialInfo{ID: "11111111-aaaa-4bbb-8ccc-000000000001", Category: "ID", AllowedChannels: []string{"API"}}
	cred.API = &struct {
		Token             string            `json:"token,omitempty"`
		Parts             map[string]string `json:"parts,omitempty"`
		WorkflowExecution string            `json:"workflowExecution,omitempty"`
	}{Token: "secret-transaction-token"}
	resp.WorkflowExecution.Credentials = []wire.AccountCredentialInfo{cred}
	ch, err := jumio.NewAPIChannel(resp)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{ch.String(), ch.GoString(), ch.LogValue().String(), ch.Credentials[0].String()} {
		if bytes.Contains([]byte(s), []byte("secret-transaction-token")) {
			t.Errorf("%q holds the token", s)
		}
	}
}
