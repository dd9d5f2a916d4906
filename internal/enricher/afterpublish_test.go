package enricher_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/kycflow/kycflow/internal/enricher"
	"github.com/kycflow/kycflow/internal/migration"
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

// TestMigrationMarkFailingAfterThePublish: the migration bucket refuses
// writes while the callback of a migrated scan is enriched. Its result is
// stored; the mark is not, on any delivery of the retry budget. The
// callback must not end there as its stored result alone: without the
// mark the scan would be migrated again. It waits, neither acked nor
// dead-lettered, and once the bucket takes writes again the scan is
// marked and the callback acked, one result and no dead letter.
func TestMigrationMarkFailingAfterThePublish(t *testing.T) {
	h := newHarness(t, jumiotest.Config{Scenario: jumiotest.Scenario{Seed: 5, NetverifyScans: 6}})
	sink := ingestSink(h)
	var ref string
	for _, sc := range h.jumio.NetverifyScans() {
		if sc.Kind == events.KindIDVerification && sc.Data != nil {
			ref = sc.Reference
			break
		}
	}
	cfg := h.config()
	cfg.MigrationCallbackURL = sink.URL + "/callbacks/platform"
	cfg.RetryMaxAttempts = 3
	var refusing atomic.Bool
	refusing.Store(true)
	h.startWith(cfg, nil, func(e *enricher.Enricher) {
		enricher.SetMarkFault(e, func() error {
			if refusing.Load() {
				return errors.New("migration bucket refuses writes")
			}
			return nil
		})
	})
	store, ok, err := migration.Open(t.Context(), h.js)
	if err != nil || !ok {
		t.Fatalf("migration bucket: %v %v", ok, err)
	}
	const batch = "00112233445566778899aabbccddeeff"
	if err := store.QueueBatch(t.Context(), migration.Batch{ID: batch, Groups: []migration.Group{{Key: "user:u-5", ScanReferences: []string{ref}}}}); err != nil {
		t.Fatal(err)
	}
	if err := migration.Enqueue(t.Context(), h.js, batch); err != nil {
		t.Fatal(err)
	}
	// Every delivery of the budget, and the one after it, failed on the
	// mark: the last one found the result stored and still waited.
	settled := func() bool {
		ci := h.consumer()
		return ci.NumAckPending == 0 && ci.NumPending == 0
	}
	h.eventually("the result stored", func() bool { return h.streamCount(events.StreamEnriched) == 1 })
	h.eventually("the budget spent on the mark", func() bool {
		return h.counter(enricher.MetricRetries, attribute.String("reason", "broker")) >= int64(cfg.RetryMaxAttempts) || settled()
	})
	if settled() {
		t.Fatal("the callback was acked while its scan's migration mark was refused")
	}
	if sc, _, _ := store.Lookup(t.Context(), ref); sc.State == migration.StateMigrated {
		t.Fatal("scan marked migrated while the bucket refused writes")
	}
	if n, dl := h.streamCount(events.StreamEnriched), h.streamCount(events.StreamDLQ); n != 1 || dl != 0 {
		t.Fatalf("JUMIO_ENRICHED %d, JUMIO_DLQ %d; want the one result and no dead letter", n, dl)
	}
	refusing.Store(false)
	h.eventually("the scan marked migrated", func() bool {
		sc, _, _ := store.Lookup(t.Context(), ref)
		return sc.State == migration.StateMigrated
	})
	h.eventually("the callback acked", settled)
	if n, dl := h.streamCount(events.StreamEnriched), h.streamCount(events.StreamDLQ); n != 1 || dl != 0 {
		t.Errorf("JUMIO_ENRICHED %d, JUMIO_DLQ %d; want the one result and no dead letter", n, dl)
	}
}
