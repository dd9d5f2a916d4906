package enricher_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/kycflow/kycflow/internal/enricher"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
	"go.opentelemetry.io/otel/attribute"
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

// panicAfterPublish publishes, then panics for one event: handling that
// panics after its result is stored.
type panicAfterPublish struct {
	message.Publisher
	eventID string
}

func (p panicAfterPublish) Publish(topic string, msgs ...*message.Message) error {
	err := p.Publisher.Publish(topic, msgs...)
	for _, m := range msgs {
		if m.Metadata.Get(events.HeaderCEID) == p.eventID {
			panic("after the publish")
		}
	}
	return err
}

// TestPanicAfterThePublish: handling that panics after the callback's
// result is stored, on every delivery of the budget, leaves the stored
// result and no dead letter (which a redrive would turn into a second
// result).
func TestPanicAfterThePublish(t *testing.T) {
	h := newHarness(t, jumiotest.Config{})
	x := h.executions(1, 47)[0]
	cfg := h.config()
	cfg.RetryMaxAttempts = 3
	cfg.AckWait = time.Minute
	ev := h.platformEvent(x, time.Now())
	h.startWith(cfg, nil, func(e *enricher.Enricher) {
		enricher.WrapPublisher(e, func(p message.Publisher) message.Publisher {
			return panicAfterPublish{Publisher: p, eventID: ev.EventID}
		})
	})
	h.publish(ev, nil)
	h.eventually("the panics spent the budget and the callback settled", func() bool {
		ci := h.consumer()
		return h.counter(enricher.MetricRetries, attribute.String("reason", "panic")) == int64(cfg.RetryMaxAttempts-1) &&
			ci.NumAckPending == 0 && ci.NumPending == 0
	})
	if n, dl := h.streamCount(events.StreamEnriched), h.streamCount(events.StreamDLQ); n != 1 || dl != 0 {
		t.Errorf("JUMIO_ENRICHED %d, JUMIO_DLQ %d; want the one result and no dead letter", n, dl)
	}
}
