package enricher_test

import (
	"testing"
	"time"

	"github.com/kycflow/kycflow/internal/enricher"
	"github.com/kycflow/kycflow/pkg/events"
)

// TestFutureDatedCallbackDoesNotHoldBackTheGenuineOne: a callback that
// passed the sender checks says it was sent in 2099 (forged, or a
// sender's clock gone wrong) and is dead-lettered (its region is not
// the configured one). Jumio's genuine callback of the execution, sent
// now, is then enriched: the 2099 date orders the first callback at most
// events.MaxCallbackLead after it was received, not for decades after, so the genuine
// one is not dropped as older.
func TestFutureDatedCallbackDoesNotHoldBackTheGenuineOne(t *testing.T) {
	h, x := passedExecution(t, 208, time.Time{})
	h.start(h.config(), nil)
	forged := h.platformEvent(x, time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC))
	forged.ReceivedAt = time.Now().Add(-2 * events.MaxCallbackLead).UTC() // received a while ago
	forged.Region = "emea-1"
	h.publish(forged, nil)
	if l := h.settle(1); l.DeadLetters != 1 {
		t.Fatalf("ledger %+v: want the 2099 callback dead-lettered", l)
	}
	h.publish(h.platformEvent(x, time.Now()), nil)
	l := h.settle(2)
	if l.Results != 1 || l.Stale != 0 {
		t.Errorf("ledger %+v, %d stale drops: want Jumio's genuine callback enriched, not dropped as older than a 2099 date", l, h.counter(enricher.MetricStaleDrops))
	}
}
