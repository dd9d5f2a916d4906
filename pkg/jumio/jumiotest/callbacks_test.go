package jumiotest_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

type received struct {
	contentType string
	body        []byte
}

func receiver(t *testing.T, status int) (*httptest.Server, func() []received) {
	var mu sync.Mutex
	var got []received
	rs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, received{r.Header.Get("Content-Type"), b})
		mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(rs.Close)
	return rs, func() []received {
		mu.Lock()
		defer mu.Unlock()
		return append([]received(nil), got...)
	}
}

func TestSendCallbacks(t *testing.T) {
	srv := jumiotest.NewServer(jumiotest.Config{Scenario: jumiotest.Scenario{Seed: 9, Executions: 4, NetverifyScans: 4}})
	defer srv.Close()
	rs, got := receiver(t, http.StatusOK)
	sent, err := srv.SendCallbacks(t.Context(), jumiotest.CallbackOptions{
		URL: rs.URL, Duplicates: 1, OutOfOrder: true, Rate: 1000,
		UserReference: func(e jumiotest.Execution) string { return "t=1,v1=" + e.ID[:8] },
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sent) != 8*3 || len(got()) != len(sent) {
		t.Fatalf("sent %d, received %d; want 24 (8 callbacks, a duplicate and a stale repeat each)", len(sent), len(got()))
	}
	last := map[string]time.Time{}
	for i, s := range sent {
		if s.Status != http.StatusOK || s.Err != nil {
			t.Errorf("callback %d: status %d err %v", i, s.Status, s.Err)
		}
		var sentAt time.Time
		switch s.API {
		case events.APIPlatform:
			cb, err := wire.ParsePlatformCallback(s.Body)
			if err != nil {
				t.Fatalf("platform callback %d: %v", i, err)
			}
			if cb.UserReference != "t=1,v1="+s.Reference[:8] || cb.WorkflowExecution.ID != s.Reference {
				t.Errorf("callback %d: userReference %q, id %s", i, cb.UserReference, cb.WorkflowExecution.ID)
			}
			sentAt = cb.CallbackSentAt.Time
		case events.APINetverify:
			v, err := url.ParseQuery(string(s.Body))
			if err != nil {
				t.Fatal(err)
			}
			m, err := wire.ParseNetverifyCallback(v)
			if err != nil {
				t.Fatalf("netverify callback %d: %v", i, err)
			}
			sentAt = m.CallbackDate()
		}
		if !sentAt.Equal(s.SentAt) {
			t.Errorf("callback %d: body says %v, record says %v", i, sentAt, s.SentAt)
		}
		prev, seen := last[s.Reference]
		switch {
		case s.Stale && !sentAt.Before(prev):
			t.Errorf("callback %d: stale repeat at %v is not older than %v", i, sentAt, prev)
		case s.Duplicate && !sentAt.Equal(prev):
			t.Errorf("callback %d: duplicate at %v differs from %v", i, sentAt, prev)
		case !s.Stale && !s.Duplicate && seen:
			t.Errorf("callback %d: first callback for %s sent twice", i, s.Reference)
		}
		if !s.Stale {
			last[s.Reference] = sentAt
		}
	}
}

func TestSendCallbacksReportsStatuses(t *testing.T) {
	srv := jumiotest.NewServer(jumiotest.Config{Scenario: jumiotest.Scenario{Seed: 9, Executions: 2}})
	defer srv.Close()
	rs, _ := receiver(t, http.StatusServiceUnavailable)
	sent, err := srv.SendCallbacks(t.Context(), jumiotest.CallbackOptions{URL: rs.URL, IDs: []string{srv.Executions()[1].ID}})
	if err != nil || len(sent) != 1 || sent[0].Status != http.StatusServiceUnavailable || sent[0].Reference != srv.Executions()[1].ID {
		t.Errorf("got %+v, %v; want one callback answered 503", sent, err)
	}
	rs.Close()
	sent, _ = srv.SendCallbacks(t.Context(), jumiotest.CallbackOptions{URL: rs.URL, SkipNetverify: true})
	if len(sent) != 2 || sent[0].Err == nil || sent[0].Status != 0 {
		t.Errorf("to a closed receiver: %+v, want errors", sent)
	}
	if _, err := srv.SendCallbacks(t.Context(), jumiotest.CallbackOptions{}); err != jumiotest.ErrNoCallbackURL {
		t.Errorf("without a URL: %v, want ErrNoCallbackURL", err)
	}
}

func TestAccountCompletesWithCallback(t *testing.T) {
	rs, got := receiver(t, http.StatusOK)
	srv := jumiotest.NewServer(jumiotest.Config{CompleteAfter: time.Millisecond, CallbackURL: rs.URL,
		Scenario: jumiotest.Scenario{Seed: 2, Mix: jumiotest.Mix{Passed: 1}}})
	defer srv.Close()
	c, err := jumio.NewClient(srv.ClientConfig(0))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.CreateAccount(t.Context(), wire.AccountRequest{CustomerInternalReference: "txn-1", UserReference: "u-1",
		WorkflowDefinition: wire.WorkflowDefinition{Key: 10011}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(got()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if len(got()) != 1 {
		t.Fatalf("received %d callbacks, want 1", len(got()))
	}
	cb, err := wire.ParsePlatformCallback(got()[0].body)
	if err != nil || cb.WorkflowExecution.ID != resp.WorkflowExecution.ID || cb.WorkflowExecution.Status != "PROCESSED" || cb.UserReference != "u-1" {
		t.Fatalf("callback %+v, %v; want PROCESSED for %s with the userReference", cb, err, resp.WorkflowExecution.ID)
	}
	d, _, err := c.WorkflowDetails(t.Context(), resp.Account.ID, resp.WorkflowExecution.ID)
	if err != nil || d.Decision.Type != "PASSED" || d.Workflow.CustomerInternalReference != "txn-1" || d.Workflow.DefinitionKey != "10011" {
		t.Errorf("details %+v, %v; want PASSED with the request's references", d, err)
	}
}
