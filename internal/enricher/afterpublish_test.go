package enricher_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kycflow/kycflow/internal/enricher"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// TestStateFailingAfterThePublish: the state bucket stops taking writes
// after a callback's claim (an R3 bucket without a leader while
// JUMIO_ENRICHED is healthy): the result is stored, its record is not,
// and every redelivery fails too until the retry budget is spent. The
// callback must then end as its stored result, not also as a dead letter
// (which a redrive would turn into a second result).
func TestStateFailingAfterThePublish(t *testing.T) {
	h := newHarness(t, jumiotest.Config{})
	x := h.executions(1, 43)[0]
	cfg := h.config()
	cfg.RetryMaxAttempts = 3
	var sealed atomic.Bool
	h.startWith(cfg, nil, func(e *enricher.Enricher) {
		enricher.SetHook(e, func(string) {
			if sealed.Swap(true) {
				return
			}
			ctx := context.Background()
			st, err := h.js.Stream(ctx, "KV_"+enricher.StateBucket)
			if err != nil {
				t.Error(err)
				return
			}
			c := st.CachedInfo().Config
			c.Sealed = true // reads still work, writes fail
			if _, err := h.js.UpdateStream(ctx, c); err != nil {
				t.Error(err)
			}
		})
	})
	h.publish(h.platformEvent(x, time.Now()), nil)
	h.eventually("the callback settled", func() bool { return h.ledger().settled() >= 1 })
	time.Sleep(300 * time.Millisecond)
	if n, dl := h.streamCount(events.StreamEnriched), h.streamCount(events.StreamDLQ); n != 1 || dl != 0 {
		t.Errorf("JUMIO_ENRICHED %d, JUMIO_DLQ %d; want the one result and no dead letter", n, dl)
	}
}
