package jumio_test

import (
	"errors"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// detailsConcurrently fetches the first execution's details from n
// goroutines and fails the test on any error.
func detailsConcurrently(t *testing.T, c *jumio.Client, e jumiotest.Execution, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			if _, _, err := c.WorkflowDetails(t.Context(), e.AccountID, e.ID); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("WorkflowDetails: %v", err)
	}
}

func TestTokenSharedByConcurrentCalls(t *testing.T) {
	srv := startSim(t, jumiotest.Config{Scenario: scenario(1)})
	c := newClient(t, srv, fastRetries)
	detailsConcurrently(t, c, srv.Executions()[0], 50)
	if got := srv.Requests(jumio.EndpointToken); got != 1 {
		t.Errorf("got %d token requests for 50 concurrent calls, want 1", got)
	}
	if got := srv.Count(jumio.EndpointWorkflowDetails, http.StatusOK); got != 50 {
		t.Errorf("got %d details answered, want 50", got)
	}
}

func TestTokenRefreshedAheadOfExpiryOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := memSim(t, jumiotest.Config{Scenario: scenario(1), TokenLifetime: time.Hour})
		c := newClient(t, srv, fastRetries, func(c *jumio.Config) { c.TokenRefreshAhead = 5 * time.Minute })
		e := srv.Executions()[0]
		detailsConcurrently(t, c, e, 10)
		time.Sleep(54 * time.Minute)
		detailsConcurrently(t, c, e, 10)
		if got := srv.Requests(jumio.EndpointToken); got != 1 {
			t.Fatalf("after 54 min: %d token requests, want 1 (the token is still 6 min from expiry)", got)
		}
		time.Sleep(2 * time.Minute) // inside the 5-minute refresh margin
		detailsConcurrently(t, c, e, 20)
		if got := srv.Requests(jumio.EndpointToken); got != 2 {
			t.Errorf("after 56 min: %d token requests, want 2 (one refresh)", got)
		}
		if got := srv.Count(jumio.EndpointWorkflowDetails, http.StatusUnauthorized); got != 0 {
			t.Errorf("%d calls were refused with 401, want none: the token is replaced before it expires", got)
		}
	})
}

func TestShortLivedTokenIsNotFetchedPerCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A token shorter-lived than twice the refresh margin is replaced
		// after half its lifetime, not on every call.
		srv := memSim(t, jumiotest.Config{Scenario: scenario(1), TokenLifetime: 2 * time.Minute})
		c := newClient(t, srv, fastRetries)
		e := srv.Executions()[0]
		detailsConcurrently(t, c, e, 5)
		time.Sleep(50 * time.Second)
		detailsConcurrently(t, c, e, 5)
		if got := srv.Requests(jumio.EndpointToken); got != 1 {
			t.Errorf("got %d token requests within half the lifetime, want 1", got)
		}
		time.Sleep(20 * time.Second)
		detailsConcurrently(t, c, e, 5)
		if got := srv.Requests(jumio.EndpointToken); got != 2 {
			t.Errorf("got %d token requests past half the lifetime, want 2", got)
		}
	})
}

func TestExpiredTokenRefreshedOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The client replaces its token a second before expiry. Requests
		// sent 5 s before expiry and held up 10 s on the way reach the
		// simulator with a token past its lifetime: 401, as from Jumio.
		srv := memSim(t, jumiotest.Config{Scenario: scenario(1), TokenLifetime: time.Hour})
		c := newClient(t, srv, fastRetries, func(c *jumio.Config) { c.TokenRefreshAhead = time.Second })
		e := srv.Executions()[0]
		detailsConcurrently(t, c, e, 1)
		time.Sleep(time.Hour - 5*time.Second)
		const n = 20
		srv.Inject(jumiotest.Fault{Endpoints: []jumio.Endpoint{jumio.EndpointWorkflowDetails}, Latency: 10 * time.Second, Count: n})
		detailsConcurrently(t, c, e, n)
		if got := srv.Count(jumio.EndpointWorkflowDetails, http.StatusUnauthorized); got != n {
			t.Errorf("got %d 401 answers, want %d (every delayed request carried the expired token)", got, n)
		}
		if got := srv.Requests(jumio.EndpointToken); got != 2 {
			t.Errorf("got %d token requests, want 2 (one refresh for %d expired-token answers)", got, n)
		}
		if got := srv.Count(jumio.EndpointWorkflowDetails, http.StatusOK); got != 1+n {
			t.Errorf("got %d details answered, want %d", got, 1+n)
		}
	})
}

func TestTokenRevokedRefreshedOnce(t *testing.T) {
	srv := startSim(t, jumiotest.Config{Scenario: scenario(1)})
	c := newClient(t, srv, fastRetries)
	e := srv.Executions()[0]
	detailsConcurrently(t, c, e, 1)
	srv.RevokeTokens()
	detailsConcurrently(t, c, e, 30)
	if got := srv.Requests(jumio.EndpointToken); got != 2 {
		t.Errorf("got %d token requests, want 2 (one refresh after the revocation)", got)
	}
	if got := srv.Count(jumio.EndpointWorkflowDetails, http.StatusUnauthorized); got < 1 {
		t.Errorf("got %d 401 answers, want at least 1", got)
	}
}

func TestUnauthorizedAfterRefreshIsPermanent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := memSim(t, jumiotest.Config{Scenario: scenario(1)})
		c := newClient(t, srv, fastRetries)
		e := srv.Executions()[0]
		srv.Inject(jumiotest.Fault{Endpoints: []jumio.Endpoint{jumio.EndpointWorkflowDetails}, Status: http.StatusUnauthorized, Count: 2})
		_, _, err := c.WorkflowDetails(t.Context(), e.AccountID, e.ID)
		if !errors.Is(err, jumio.ErrUnauthorized) {
			t.Fatalf("got %v, want ErrUnauthorized", err)
		}
		if got := jumio.Classify(err); got.Kind != jumio.Permanent {
			t.Errorf("Classify = %v, want permanent", got)
		}
		if got := srv.Requests(jumio.EndpointWorkflowDetails); got != 2 {
			t.Errorf("got %d details requests, want 2 (one retry with a fresh token)", got)
		}
		if got := srv.Requests(jumio.EndpointToken); got != 2 {
			t.Errorf("got %d token requests, want 2", got)
		}
	})
}

func TestTokenEndpointErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secret string
		fault  *jumiotest.Fault
		want   error
		kind   jumio.RetryKind
	}{
		{name: "wrong secret", secret: "wrong", want: jumio.ErrUnauthorized, kind: jumio.Permanent},
		{name: "429", fault: &jumiotest.Fault{Endpoints: []jumio.Endpoint{jumio.EndpointToken}, Status: 429, RetryAfter: 3 * time.Second},
			want: jumio.ErrRateLimited, kind: jumio.RetryAfter},
		{name: "503", fault: &jumiotest.Fault{Endpoints: []jumio.Endpoint{jumio.EndpointToken}, Status: 503, Count: -1},
			want: jumio.ErrServer, kind: jumio.RetryNow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := memSim(t, jumiotest.Config{Scenario: scenario(1)})
				if tc.fault != nil {
					srv.Inject(*tc.fault)
				}
				c := newClient(t, srv, fastRetries, func(c *jumio.Config) {
					if tc.secret != "" {
						c.ClientSecret = tc.secret
					}
				})
				e := srv.Executions()[0]
				_, _, err := c.WorkflowDetails(t.Context(), e.AccountID, e.ID)
				var ae *jumio.APIError
				if !errors.Is(err, tc.want) || !errors.As(err, &ae) || ae.Endpoint != jumio.EndpointToken {
					t.Fatalf("got %v, want %v from the token endpoint", err, tc.want)
				}
				if got := jumio.Classify(err); got.Kind != tc.kind {
					t.Errorf("Classify = %v, want %v", got, tc.kind)
				}
				if got := srv.Requests(jumio.EndpointWorkflowDetails); got != 0 {
					t.Errorf("got %d details requests without a token, want 0", got)
				}
				if err := c.CheckCredentials(t.Context()); tc.kind == jumio.Permanent && !errors.Is(err, jumio.ErrUnauthorized) {
					t.Errorf("CheckCredentials = %v, want ErrUnauthorized", err)
				}
			})
		})
	}
}
