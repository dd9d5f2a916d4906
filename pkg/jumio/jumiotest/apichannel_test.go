package jumiotest_test

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"mime/multipart"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

func pngImage(t *testing.T, w, h int, gray bool, seed uint8) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range w * h {
		v := uint8(i) + seed
		c := color.RGBA{v, 255 - v, v / 3, 255}
		if gray {
			c = color.RGBA{v, v, v, 255}
		}
		img.SetRGBA(i%w, i/w, c)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// created is an execution created through the simulator's Account API,
// with what its API channel needs, read from the raw response.
type created struct {
	srv                *jumiotest.Server
	account, execution string
	token              string
	cred               map[string]string // category → credential id
}

func create(t *testing.T, srv *jumiotest.Server, key int, categories ...string) created {
	t.Helper()
	c, err := jumio.NewClient(srv.ClientConfig(0))
	if err != nil {
		t.Fatal(err)
	}
	req := wire.AccountRequest{CustomerInternalReference: "txn-api", WorkflowDefinition: wire.WorkflowDefinition{Key: key}}
	for _, cat := range categories {
		req.WorkflowDefinition.Credentials = append(req.WorkflowDefinition.Credentials, wire.CredentialDefinition{Category: cat})
	}
	resp, err := c.CreateAccount(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	out := created{srv: srv, account: resp.Account.ID, execution: resp.WorkflowExecution.ID, cred: map[string]string{}}
	for _, cr := range resp.WorkflowExecution.Credentials {
		out.cred[cr.Category] = cr.ID
		if cr.API != nil {
			out.token = cr.API.Token
		}
	}
	return out
}

func (c created) base() string {
	return c.srv.URL() + jumio.PathAccounts + "/" + c.account + "/workflow-executions/" + c.execution
}

// upload posts one part as a multipart "file" (or JSON for
// PREPARED_DATA) and returns the status.
func (c created) upload(t *testing.T, category, classifier string, data []byte) int {
	t.Helper()
	var body bytes.Buffer
	contentType := "application/json"
	if classifier != wire.ClassifierPreparedData {
		mw := multipart.NewWriter(&body)
		fw, _ := mw.CreateFormFile("file", "part.png")
		fw.Write(data)
		mw.Close()
		contentType = mw.FormDataContentType()
	} else {
		body.Write(data)
	}
	resp, _ := do(t, http.MethodPost, c.base()+"/credentials/"+c.cred[category]+"/parts/"+classifier, "test/1.0", &body,
		func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer "+c.token)
			r.Header.Set("Content-Type", contentType)
		})
	return resp.StatusCode
}

func (c created) finalize(t *testing.T) int {
	t.Helper()
	resp, _ := do(t, http.MethodPut, c.base(), "test/1.0", bytes.NewReader([]byte("{}")), func(r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+c.token)
		r.Header.Set("Content-Type", "application/json")
	})
	return resp.StatusCode
}

// TestAPIChannelChecks: the simulator refuses what Jumio documents as
// refused, so that a client that skips its own checks fails here too.
func TestAPIChannelChecks(t *testing.T) {
	srv := jumiotest.NewServer(jumiotest.Config{})
	defer srv.Close()
	img := pngImage(t, 20, 10, false, 1)
	tests := []struct {
		name string
		do   func(t *testing.T, c created) int
		want int
	}{
		{"front", func(t *testing.T, c created) int { return c.upload(t, "ID", "FRONT", img) }, 200},
		{"back before front", func(t *testing.T, c created) int { return c.upload(t, "ID", "BACK", img) }, 400},
		{"face to the ID credential", func(t *testing.T, c created) int { return c.upload(t, "ID", "FACE", img) }, 400},
		{"facemap on the API channel", func(t *testing.T, c created) int { return c.upload(t, "ID", "FACEMAP", img) }, 400},
		{"not an image", func(t *testing.T, c created) int { return c.upload(t, "ID", "FRONT", []byte("GIF89a......")) }, 400},
		{"larger than 5 MB", func(t *testing.T, c created) int {
			return c.upload(t, "ID", "FRONT", append(bytes.Clone(img), make([]byte, wire.MaxImageBytes)...))
		}, 400},
		{"body past the upload bound", func(t *testing.T, c created) int {
			return c.upload(t, "ID", "FRONT", make([]byte, jumiotest.MaxUploadBytes+1))
		}, 413},
		{"higher than 8000", func(t *testing.T, c created) int { return c.upload(t, "ID", "FRONT", pngImage(t, 1, 8001, false, 0)) }, 400},
		{"finalize without a front", func(t *testing.T, c created) int { return c.finalize(t) }, 400},
		{"upload after finalize", func(t *testing.T, c created) int {
			if s := c.upload(t, "ID", "FRONT", img); s != 200 {
				return s
			}
			if s := c.finalize(t); s != 200 {
				return s
			}
			return c.upload(t, "ID", "BACK", img)
		}, 400},
		{"finalize twice", func(t *testing.T, c created) int {
			c.upload(t, "ID", "FRONT", img)
			c.finalize(t)
			return c.finalize(t)
		}, 200},
		{"wrong token", func(t *testing.T, c created) int {
			c.token = "jt.not-the-token"
			return c.upload(t, "ID", "FRONT", img)
		}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := create(t, srv, 2)
			if got := tt.do(t, c); got != tt.want {
				t.Errorf("status %d, want %d", got, tt.want)
			}
		})
	}
	t.Run("data credential needs prepared data", func(t *testing.T) {
		c := create(t, srv, 2, "ID", "DATA")
		c.upload(t, "ID", "FRONT", img)
		if got := c.finalize(t); got != 400 {
			t.Errorf("finalize without PREPARED_DATA: %d, want 400", got)
		}
		if got := c.upload(t, "DATA", "PREPARED_DATA", []byte(`{"dateOfBirth":"14.03.1990"}`)); got != 400 {
			t.Errorf("malformed PREPARED_DATA: %d, want 400", got)
		}
		if got := c.upload(t, "DATA", "PREPARED_DATA", []byte(`{"firstName":"ALEXA","dateOfBirth":"1990-03-14"}`)); got != 200 {
			t.Errorf("PREPARED_DATA: %d, want 200", got)
		}
		if got := c.finalize(t); got != 200 {
			t.Errorf("finalize: %d, want 200", got)
		}
	})
}

// waitStatus polls an execution's status until it is want.
func waitStatus(t *testing.T, srv *jumiotest.Server, id, want string) jumiotest.Execution {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		e, _ := srv.Execution(id)
		if e.Status == want {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution %s is %s, want %s", id, e.Status, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestAPIChannelOutcomeFromUploads: a black-and-white front is rejected
// for it; the same uploads always give the same outcome; finalization
// makes the execution ACQUIRED until it completes.
func TestAPIChannelOutcomeFromUploads(t *testing.T) {
	rs, got := receiver(t, http.StatusOK)
	srv := jumiotest.NewServer(jumiotest.Config{CompleteAfter: time.Hour, CompleteAPIAfter: 20 * time.Millisecond, CallbackURL: rs.URL, AcquiredCallbacks: true})
	defer srv.Close()

	gray := create(t, srv, 2)
	gray.upload(t, "ID", "FRONT", pngImage(t, 30, 20, true, 0))
	gray.finalize(t)
	e := waitStatus(t, srv, gray.execution, "PROCESSED")
	var d wire.WorkflowDetails
	if err := json.Unmarshal(e.Details, &d); err != nil {
		t.Fatal(err)
	}
	if d.Decision.Type != "REJECTED" || len(d.Capabilities["usability"]) == 0 || d.Capabilities["usability"][0].Decision.Details.Label != "BLACK_WHITE" {
		t.Errorf("decision %s usability %+v, want REJECTED for BLACK_WHITE", d.Decision.Type, d.Capabilities["usability"])
	}

	outcome := func() string {
		c := create(t, srv, 2)
		c.upload(t, "ID", "FRONT", pngImage(t, 30, 20, false, 7))
		if s := c.finalize(t); s != 200 {
			t.Fatalf("finalize %d", s)
		}
		return waitStatus(t, srv, c.execution, "PROCESSED").Outcome
	}
	if a, b := outcome(), outcome(); a != b {
		t.Errorf("the same uploads gave %s, then %s", a, b)
	}
	// A server that completes an hour after finalization shows the
	// ACQUIRED state without a race against the completion timer.
	slow := jumiotest.NewServer(jumiotest.Config{CompleteAfter: time.Hour, CompleteAPIAfter: time.Hour})
	defer slow.Close()
	c := create(t, slow, 2)
	c.upload(t, "ID", "FRONT", pngImage(t, 30, 20, false, 7))
	if s := c.finalize(t); s != 200 {
		t.Fatalf("finalize %d", s)
	}
	if e, _ := slow.Execution(c.execution); e.Status != "ACQUIRED" {
		t.Errorf("status after finalize %s, want ACQUIRED", e.Status)
	}
	// Three executions: an ACQUIRED and a PROCESSED callback each.
	deadline := time.Now().Add(5 * time.Second)
	for len(got()) < 6 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	var statuses []string
	for _, r := range got() {
		cb, err := wire.ParsePlatformCallback(r.body)
		if err != nil {
			t.Fatal(err)
		}
		statuses = append(statuses, cb.WorkflowExecution.Status)
	}
	slices.Sort(statuses)
	if want := []string{"ACQUIRED", "ACQUIRED", "ACQUIRED", "PROCESSED", "PROCESSED", "PROCESSED"}; !slices.Equal(statuses, want) {
		t.Errorf("callbacks %v, want %v", statuses, want)
	}
}

// TestExpiry: an execution used on the API channel but never finalized
// ends SESSION_EXPIRED; one never used, TOKEN_EXPIRED.
func TestExpiry(t *testing.T) {
	srv := jumiotest.NewServer(jumiotest.Config{})
	defer srv.Close()
	used, unused := create(t, srv, 2), create(t, srv, 2)
	used.upload(t, "ID", "FRONT", pngImage(t, 4, 4, false, 0))
	for _, c := range []created{used, unused} {
		if !srv.Expire(c.execution) {
			t.Fatal("Expire: false")
		}
	}
	if srv.Expire(used.execution) {
		t.Error("Expire of an ended execution: true")
	}
	for id, want := range map[string]string{used.execution: "SESSION_EXPIRED", unused.execution: "TOKEN_EXPIRED"} {
		if e, _ := srv.Execution(id); e.Status != want {
			t.Errorf("%s: %s, want %s", id, e.Status, want)
		}
	}
}

// TestCallbackDrop: with a drop share of 1 no callback of a completion
// arrives; DeliverDropped posts them late, unchanged.
func TestCallbackDrop(t *testing.T) {
	rs, got := receiver(t, http.StatusOK)
	srv := jumiotest.NewServer(jumiotest.Config{CompleteAfter: time.Millisecond, CallbackURL: rs.URL, CallbackDrop: 1})
	defer srv.Close()
	c := create(t, srv, 2)
	waitStatus(t, srv, c.execution, "PROCESSED")
	deadline := time.Now().Add(5 * time.Second)
	for len(srv.DroppedCallbacks()) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	dropped := srv.DroppedCallbacks()
	if len(dropped) != 1 || len(got()) != 0 {
		t.Fatalf("dropped %d, received %d; want 1 dropped and none received", len(dropped), len(got()))
	}
	sent, err := srv.DeliverDropped(t.Context())
	if err != nil || len(sent) != 1 || sent[0].Status != http.StatusOK {
		t.Fatalf("DeliverDropped: %v %+v", err, sent)
	}
	if r := got(); len(r) != 1 || !bytes.Equal(r[0].body, dropped[0].Body) {
		t.Fatalf("received %d callbacks, want the dropped one, unchanged", len(r))
	}
	if len(srv.DroppedCallbacks()) != 0 {
		t.Error("a delivered callback is still kept")
	}
}
