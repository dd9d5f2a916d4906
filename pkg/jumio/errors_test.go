package jumio_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// TestErrorClasses checks, for each class of failure, the error, its
// classification and the number of requests the simulator saw.
func TestErrorClasses(t *testing.T) {
	details := []jumio.Endpoint{jumio.EndpointWorkflowDetails}
	for _, tc := range []struct {
		name     string
		fault    jumiotest.Fault
		want     error // nil: the call succeeds
		retry    jumio.Retry
		requests int // details requests seen by the simulator
	}{
		{name: "400", fault: jumiotest.Fault{Endpoints: details, Status: 400},
			want: jumio.ErrBadRequest, retry: jumio.Retry{Kind: jumio.Permanent}, requests: 1},
		{name: "403", fault: jumiotest.Fault{Endpoints: details, Status: 403},
			want: jumio.ErrForbidden, retry: jumio.Retry{Kind: jumio.Permanent}, requests: 1},
		{name: "429 with Retry-After", fault: jumiotest.Fault{Endpoints: details, Status: 429, RetryAfter: 7 * time.Second},
			want: jumio.ErrRateLimited, retry: jumio.Retry{Kind: jumio.RetryAfter, After: 7 * time.Second}, requests: 1},
		{name: "429 without Retry-After", fault: jumiotest.Fault{Endpoints: details, Status: 429},
			want: jumio.ErrRateLimited, retry: jumio.Retry{Kind: jumio.RetryAfter, After: jumio.DefaultRateLimitRetryAfter}, requests: 1},
		{name: "5xx twice then success", fault: jumiotest.Fault{Endpoints: details, Status: 503, Count: 2}, requests: 3},
		{name: "5xx persisting", fault: jumiotest.Fault{Endpoints: details, Status: 500, Count: -1},
			want: jumio.ErrServer, retry: jumio.Retry{Kind: jumio.RetryNow}, requests: 3},
		{name: "timeout", fault: jumiotest.Fault{Endpoints: details, Latency: time.Minute, Count: -1},
			want: context.DeadlineExceeded, retry: jumio.Retry{Kind: jumio.RetryNow}, requests: 3},
		{name: "timeout once", fault: jumiotest.Fault{Endpoints: details, Latency: time.Minute}, requests: 2},
		{name: "malformed JSON", fault: jumiotest.Fault{Endpoints: details, Malformed: true, Count: -1},
			want: jumio.ErrMalformedResponse, retry: jumio.Retry{Kind: jumio.RetryNow}, requests: 3},
		{name: "dropped connection once", fault: jumiotest.Fault{Endpoints: details, Drop: true}, requests: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := memSim(t, jumiotest.Config{Scenario: scenario(1)})
				c := newClient(t, srv, fastRetries, func(c *jumio.Config) { c.Timeout = 5 * time.Second })
				e := srv.Executions()[0]
				srv.Inject(tc.fault)
				d, _, err := c.WorkflowDetails(t.Context(), e.AccountID, e.ID)
				switch {
				case tc.want == nil && err != nil:
					t.Fatalf("got %v, want success", err)
				case tc.want == nil && d.Workflow.ID != e.ID:
					t.Fatalf("got execution %s, want %s", d.Workflow.ID, e.ID)
				case tc.want != nil && !errors.Is(err, tc.want):
					t.Fatalf("got %v, want %v", err, tc.want)
				}
				if tc.want != nil {
					if got := jumio.Classify(err); got != tc.retry {
						t.Errorf("Classify = %v, want %v", got, tc.retry)
					}
				}
				synctest.Wait() // the server counts a timed-out request when its handler ends
				if got := srv.Requests(jumio.EndpointWorkflowDetails); got != tc.requests {
					t.Errorf("got %d requests, want %d", got, tc.requests)
				}
			})
		})
	}
}

func TestDroppedConnectionsPersisting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := memSim(t, jumiotest.Config{Scenario: scenario(1)})
		c := newClient(t, srv, fastRetries)
		e := srv.Executions()[0]
		srv.Inject(jumiotest.Fault{Endpoints: []jumio.Endpoint{jumio.EndpointWorkflowDetails}, Drop: true, Count: -1})
		_, _, err := c.WorkflowDetails(t.Context(), e.AccountID, e.ID)
		if err == nil || jumio.Classify(err).Kind != jumio.RetryNow {
			t.Fatalf("got %v (%v), want a retry-now error", err, jumio.Classify(err))
		}
		// http.Transport may itself repeat a GET on a reused connection.
		if got := srv.Count(jumio.EndpointWorkflowDetails, 0); got < c.Config().MaxAttempts {
			t.Errorf("got %d dropped requests, want at least %d", got, c.Config().MaxAttempts)
		}
	})
}

func TestNotFoundRightAfterCallbackIsNotReady(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := memSim(t, jumiotest.Config{Scenario: scenario(1)})
		c := newClient(t, srv, fastRetries)
		e := srv.Executions()[0]
		srv.NotReady(e.ID, 2, time.Time{})
		callbackSentAt := time.Now()
		time.Sleep(2 * time.Second)

		var delays []time.Duration
		for attempt := 1; ; attempt++ {
			_, _, err := c.WorkflowDetails(t.Context(), e.AccountID, e.ID)
			if err == nil {
				break
			}
			err = jumio.NotReadyIfRecent(err, callbackSentAt, time.Now(), jumio.DefaultNotReadyWindow)
			if !errors.Is(err, jumio.ErrNotReady) || !errors.Is(err, jumio.ErrNotFound) {
				t.Fatalf("attempt %d: got %v, want ErrNotReady and ErrNotFound", attempt, err)
			}
			var ae *jumio.APIError
			if !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
				t.Fatalf("attempt %d: %v does not unwrap to the 404", attempt, err)
			}
			r := jumio.Classify(err)
			if r.Kind != jumio.RetryAfter {
				t.Fatalf("attempt %d: Classify = %v, want retry after", attempt, r)
			}
			delays = append(delays, r.After)
			time.Sleep(r.After)
		}
		// The first retry is at 40 s after the callback, the second 60 s later.
		if want := []time.Duration{38 * time.Second, 60 * time.Second}; len(delays) != 2 || delays[0] != want[0] || delays[1] != want[1] {
			t.Errorf("got delays %v, want %v", delays, want)
		}
		if got := srv.Requests(jumio.EndpointWorkflowDetails); got != 3 {
			t.Errorf("got %d requests, want 3 (two 404s, then the details)", got)
		}
	})
}

func TestNotFoundForeverIsPermanent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := memSim(t, jumiotest.Config{Scenario: scenario(1)})
		c := newClient(t, srv, fastRetries)
		e := srv.Executions()[0]
		unknown := "00000000-0000-4000-8000-000000000000"
		_, _, err := c.WorkflowDetails(t.Context(), e.AccountID, unknown)
		if !errors.Is(err, jumio.ErrNotFound) || errors.Is(err, jumio.ErrNotReady) {
			t.Fatalf("got %v, want ErrNotFound only", err)
		}
		old := jumio.NotReadyIfRecent(err, time.Now().Add(-2*time.Hour), time.Now(), jumio.DefaultNotReadyWindow)
		if errors.Is(old, jumio.ErrNotReady) || jumio.Classify(old).Kind != jumio.Permanent {
			t.Errorf("a 404 two hours after the callback: got %v (%v), want a permanent ErrNotFound", old, jumio.Classify(old))
		}
		if got := srv.Requests(jumio.EndpointWorkflowDetails); got != 1 {
			t.Errorf("got %d requests, want 1 (a 404 is not retried within the call)", got)
		}
	})
}
