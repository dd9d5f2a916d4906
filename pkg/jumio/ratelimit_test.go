package jumio_test

import (
	"errors"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// burst runs callers goroutines of perCaller details requests each and
// returns the number that failed with ErrRateLimited.
func burst(t testing.TB, c *jumio.Client, e jumiotest.Execution, callers, perCaller int) (limited int64) {
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for range perCaller {
				_, _, err := c.WorkflowDetails(t.Context(), e.AccountID, e.ID)
				switch {
				case errors.Is(err, jumio.ErrRateLimited):
					atomic.AddInt64(&limited, 1)
				case err != nil:
					t.Errorf("WorkflowDetails: %v", err)
				}
			}
		})
	}
	wg.Wait()
	return limited
}

func TestRateLimiterKeepsWithinBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const budget = 15.0
		srv := memSim(t, jumiotest.Config{Scenario: scenario(1), Budget: budget, BudgetBurst: 15})
		c := newClient(t, srv, func(c *jumio.Config) { c.RateLimit, c.RateBurst = budget, 5 })
		start := time.Now()
		burst(t, c, srv.Executions()[0], 40, 6)
		elapsed := time.Since(start)
		if got := srv.Count(jumio.EndpointWorkflowDetails, http.StatusTooManyRequests); got != 0 {
			t.Errorf("got %d 429s, want none", got)
		}
		// 240 requests, 5 of them in the first burst: 235/15 s of fake time.
		if rate := float64(240-5) / elapsed.Seconds(); rate < 0.95*budget {
			t.Errorf("sustained %.2f requests/s, want at least 95%% of %v", rate, budget)
		}
	})
}

func TestRateLimiterSlowsEveryoneAfter429(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The tenant's budget is lower than the client's configured rate.
		srv := memSim(t, jumiotest.Config{Scenario: scenario(1), Budget: 4, BudgetBurst: 4})
		c := newClient(t, srv, func(c *jumio.Config) { c.RateLimit, c.RateBurst, c.RateLimitCooldown = 16, 1, time.Minute })
		limited := burst(t, c, srv.Executions()[0], 8, 8)
		if limited == 0 {
			t.Fatal("no 429s with a budget a quarter of the client's rate")
		}
		s := c.RateState()
		if s.Limit >= 16 || s.Throttled != uint64(limited) {
			t.Errorf("state %+v after %d 429s: want a lower limit and the 429s counted", s, limited)
		}
		// Once slowed down to the budget, a second round gets no 429.
		srv.ResetCounts()
		time.Sleep(2 * time.Second)
		if again := burst(t, c, srv.Executions()[0], 8, 4); again != 0 {
			t.Errorf("got %d 429s after slowing down, want none", again)
		}
		time.Sleep(10 * time.Minute)
		_, _, _ = c.WorkflowDetails(t.Context(), srv.Executions()[0].AccountID, srv.Executions()[0].ID)
		if got := c.RateState().Limit; got != 16 {
			t.Errorf("after the cooldowns the limit is %v, want 16 again", got)
		}
	})
}

// BenchmarkRateLimit measures, against a simulator enforcing a budget of R
// requests per second, the fraction of R a burst of 32 concurrent callers
// sustains through one Client, and how many 429s they get. Real time over
// 127.0.0.1; run with -benchtime=300x (R=15: about 20 s).
func BenchmarkRateLimit(b *testing.B) {
	for _, budget := range []float64{15, 50} {
		b.Run("R="+strconv.FormatFloat(budget, 'f', -1, 64), func(b *testing.B) {
			srv := startSim(b, jumiotest.Config{Scenario: scenario(1), Budget: budget, BudgetBurst: int(budget)})
			c := newClient(b, srv, func(c *jumio.Config) { c.RateLimit = budget })
			e := srv.Executions()[0]
			// Spend the client's initial burst, so only the steady rate is timed.
			burst(b, c, e, c.Config().RateBurst, 1)
			b.ResetTimer()
			start := time.Now()
			var next atomic.Int64
			var wg sync.WaitGroup
			for range 32 {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						if _, _, err := c.WorkflowDetails(b.Context(), e.AccountID, e.ID); err != nil && !errors.Is(err, jumio.ErrRateLimited) {
							b.Errorf("WorkflowDetails: %v", err)
						}
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds()/budget, "budget_fraction")
			b.ReportMetric(float64(srv.Count(jumio.EndpointWorkflowDetails, http.StatusTooManyRequests)), "429s")
			b.ReportMetric(float64(srv.Requests(jumio.EndpointToken)), "token_requests")
		})
	}
}
