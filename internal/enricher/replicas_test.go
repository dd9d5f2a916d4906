package enricher_test

import (
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/kycflow/kycflow/internal/enricher"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// heldPublisher holds the publish of one event's result until release is
// closed, after closing reached: a publish on its way for long (a
// replica's link to NATS retransmitting, a slow acknowledgement).
type heldPublisher struct {
	message.Publisher
	eventID          string
	reached, release chan struct{}
	once             *sync.Once
}

func (p heldPublisher) Publish(topic string, msgs ...*message.Message) error {
	for _, m := range msgs {
		if m.Metadata.Get(events.HeaderCEID) == p.eventID {
			p.once.Do(func() { close(p.reached) })
			<-p.release
		}
	}
	return p.Publisher.Publish(topic, msgs...)
}

// TestOlderResultNeverStoredAfterANewerOne: two replicas. One has claimed,
// fetched and checked an execution's ACQUIRED callback, and its publish
// is on its way for long; the other enriches the execution's PROCESSED
// callback meanwhile. The ACQUIRED result was then stored after the
// PROCESSED one (the notifier takes the subject's last result for the
// execution's newest). The stream now refuses it: its subject no longer
// ends where the check read it, and the newer result there makes it
// stale.
func TestOlderResultNeverStoredAfterANewerOne(t *testing.T) {
	h := newHarness(t, jumiotest.Config{})
	x := h.executions(1, 41)[0]
	t0 := time.Now().Add(-10 * time.Minute).UTC().Truncate(time.Millisecond)
	newer := h.platformEvent(x, t0.Add(time.Minute))
	older := withStatus(newer, "ACQUIRED", t0)

	reached, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	for range 2 {
		conn, _ := h.broker.JetStream(t)
		h.startWith(h.config(), conn, func(e *enricher.Enricher) {
			enricher.WrapPublisher(e, func(p message.Publisher) message.Publisher {
				return heldPublisher{Publisher: p, eventID: older.EventID, reached: reached, release: release, once: &once}
			})
		})
	}
	h.publish(older, nil)
	<-reached // claimed, fetched, checked; its publish on its way
	h.publish(newer, nil)
	h.eventually("the newer result stored", func() bool { return h.streamCount(events.StreamEnriched) == 1 })
	close(release)
	l := h.settle(2)
	var got []string
	for _, m := range h.enriched() {
		switch m.Header.Get(events.HeaderCEID) {
		case older.EventID:
			got = append(got, "ACQUIRED's")
		case newer.EventID:
			got = append(got, "PROCESSED's")
		}
	}
	if len(got) != 1 || got[0] != "PROCESSED's" || l.Stale != 1 {
		t.Errorf("JUMIO_ENRICHED holds the results of %v, stale drops %d; want PROCESSED's only, the ACQUIRED callback stale", got, l.Stale)
	}
}
