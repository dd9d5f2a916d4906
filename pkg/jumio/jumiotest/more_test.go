package jumiotest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// TestGenerateAndSendOverHTTP: the control endpoints generate new, recent
// executions that the server then serves, and post their callbacks with
// the user references asked for.
func TestGenerateAndSendOverHTTP(t *testing.T) {
	s := jumiotest.NewServer(jumiotest.Config{Scenario: jumiotest.Scenario{Seed: 7, Executions: 2}})
	defer s.Close()
	before := s.Changes()
	rs, got := receiver(t, http.StatusOK)

	post := func(path string, body any, out any) int {
		t.Helper()
		b, _ := json.Marshal(body)
		resp, err := http.Post(s.URL()+jumiotest.AdminPrefix+path, "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if out != nil && resp.StatusCode == http.StatusOK {
			if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
				t.Fatal(err)
			}
		}
		return resp.StatusCode
	}
	var rows []struct{ API, AccountID, ID, Status, Outcome string }
	if code := post("/generate", jumiotest.GenerateOptions{Executions: 3, NetverifyScans: 2, Mix: "passed=1"}, &rows); code != http.StatusOK {
		t.Fatalf("generate: got %d", code)
	}
	if len(rows) != 5 {
		t.Fatalf("generated: got %d rows, want 5", len(rows))
	}
	if s.Changes() != before+5 {
		t.Errorf("changes: got %d, want %d", s.Changes(), before+5)
	}
	var ids []string
	for _, r := range rows {
		ids = append(ids, r.ID)
		if r.API == "platform" {
			e, ok := s.Execution(r.ID)
			if !ok || r.Outcome != jumiotest.OutcomePassed {
				t.Errorf("execution %s: known %v, outcome %s", r.ID, ok, r.Outcome)
			}
			if age := time.Since(e.CallbackSentAt); age < 0 || age > time.Hour {
				t.Errorf("callbackSentAt %s is not recent", e.CallbackSentAt)
			}
		}
	}
	var sent []jumiotest.SentRow
	req := jumiotest.SendRequest{URL: rs.URL, IDs: ids, UserReferences: map[string]string{rows[0].ID: "t=1,v1=ab"}}
	if code := post("/callbacks", req, &sent); code != http.StatusOK {
		t.Fatalf("callbacks: got %d", code)
	}
	if len(sent) != 5 || len(got()) != 5 {
		t.Fatalf("sent %d, received %d, want 5", len(sent), len(got()))
	}
	for _, r := range sent {
		if r.Status != http.StatusOK {
			t.Errorf("callback %s: status %d", r.Reference, r.Status)
		}
	}
	var cb wire.Callback
	if err := json.Unmarshal(got()[0].body, &cb); err != nil || cb.UserReference != "t=1,v1=ab" {
		t.Errorf("user reference: got %q (%v)", cb.UserReference, err)
	}
	if code := post("/generate", map[string]any{"executions": 1, "mix": "nope=1"}, nil); code != http.StatusBadRequest {
		t.Errorf("bad mix: got %d, want 400", code)
	}
	if code := post("/callbacks", jumiotest.SendRequest{URL: "::"}, nil); code != http.StatusBadRequest || strings.Contains(rs.URL, "::") {
		t.Errorf("bad URL: got %d, want 400", code)
	}
}

// TestSendStreamsEachAnswer: asked for NDJSON, POST /_jumiotest/callbacks
// writes each callback's row as soon as it is answered: the first row
// arrives while the second callback is still held by its receiver.
func TestSendStreamsEachAnswer(t *testing.T) {
	s := jumiotest.NewServer(jumiotest.Config{Scenario: jumiotest.Scenario{Seed: 7, Executions: 2}})
	defer s.Close()
	release := make(chan struct{})
	var n atomic.Int32
	rs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 2 {
			<-release // held until the first row was read
		}
	}))
	defer rs.Close()
	defer close(release)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // fails instead of hanging
	defer cancel()
	b, _ := json.Marshal(jumiotest.SendRequest{URL: rs.URL})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL()+jumiotest.AdminPrefix+"/callbacks", bytes.NewReader(b))
	req.Header.Set("Accept", jumiotest.ContentTypeNDJSON)
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var row jumiotest.SentRow
	if err := json.NewDecoder(resp.Body).Decode(&row); err != nil || row.Status != http.StatusOK {
		t.Fatalf("first row: %+v, %v; want it answered 200 before the second callback is", row, err)
	}
}
