package notifier_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/kycflow/kycflow/internal/notifier"
	"github.com/kycflow/kycflow/pkg/events"
)

// TestRepeatWhileARetryWaitsKeepsTheWebhookID: the receiver processes the
// first delivery but answers after the route's timeout, so it waits for
// its retry; meanwhile the same result comes again: Jumio sends its
// callback again for the same state (an event id of its own), or an
// operator runs "kycflow replay notify" without --redeliver. The repeat
// went out at once under a new webhook-id, and the receiver,
// de-duplicating by webhook-id as Standard Webhooks has it, acted on the
// one decision twice. A repeat of a delivery that failed and is not
// finished is that delivery: same id.
func TestRepeatWhileARetryWaitsKeepsTheWebhookID(t *testing.T) {
	for _, tc := range []struct {
		name   string
		repeat func(h *harness)
	}{
		{"callback sent again", func(h *harness) { h.publish(result(1, repeated(0)), nil) }},
		{"replay without redeliver", func(h *harness) { h.publish(result(1), &events.ReplayMarker{ID: "reproduce"}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			var mu sync.Mutex
			var ids []string
			first := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				ids = append(ids, r.Header.Get(events.HeaderWebhookID))
				n := len(ids)
				mu.Unlock()
				if n == 1 {
					close(first)
					time.Sleep(time.Second) // processed; the answer comes after the timeout
				}
				w.WriteHeader(http.StatusOK)
			}))
			t.Cleanup(srv.Close)
			rt := rawRoute(t, "late", srv.URL+"/hook")
			rt.Retry.MaxAttempts, rt.Retry.InitialInterval, rt.Retry.MaxInterval = 5, 2*time.Second, 2*time.Second
			h.start(testConfig(), rt)
			h.publish(result(1), nil)
			<-first
			tc.repeat(h)
			waitFor(t, "both messages settled", func() bool { return h.settled(notifier.DurablePrefix + rt.Name) })
			mu.Lock()
			defer mu.Unlock()
			distinct := map[string]bool{}
			for _, id := range ids {
				distinct[id] = true
			}
			if len(ids) < 2 || len(distinct) != 1 {
				t.Errorf("the receiver got the one result under %d webhook-ids in %d requests: %v", len(distinct), len(ids), ids)
			}
		})
	}
}
