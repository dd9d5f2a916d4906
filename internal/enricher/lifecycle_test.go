package enricher_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// callbackSeqs maps each stored callback's stream sequence to its event
// id.
func (h *harness) callbackSeqs() map[uint64]string {
	h.t.Helper()
	out := map[uint64]string{}
	for _, m := range brokertest.Messages(h.t, h.js, events.StreamCallbacks) {
		var ev events.CallbackEvent
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			h.t.Fatal(err)
		}
		out[m.Sequence] = ev.EventID
	}
	return out
}

// exactlyOnce checks that JUMIO_ENRICHED holds one result per callback
// event, no more, and that nothing was dead-lettered.
func (h *harness) exactlyOnce(evs []events.CallbackEvent) {
	h.t.Helper()
	h.eventually("every callback enriched", func() bool { return h.streamCount(events.StreamEnriched) >= len(evs) })
	h.eventually("nothing in flight", func() bool {
		info := h.consumer()
		return info.NumPending == 0 && info.NumAckPending == 0
	})
	seen := map[string]int{}
	for _, m := range h.enriched() {
		seen[m.Header.Get(events.HeaderCEID)]++
	}
	for _, ev := range evs {
		if seen[ev.EventID] != 1 {
			h.t.Errorf("event %s enriched %d times, want once", ev.EventID, seen[ev.EventID])
		}
	}
	if n := h.streamCount(events.StreamEnriched); n != len(evs) {
		h.t.Errorf("JUMIO_ENRICHED holds %d messages, want %d", n, len(evs))
	}
	if n := h.streamCount(events.StreamDLQ); n != 0 {
		h.t.Errorf("%d dead letters, want none", n)
	}
}

// TestShutdownDrains: stopping the enricher mid-batch lets the callbacks
// being enriched finish; every callback acked is published; a new
// enricher finishes the rest, each exactly once.
func TestShutdownDrains(t *testing.T) {
	h := newHarness(t, jumiotest.Config{Latency: 50 * time.Millisecond})
	execs := h.executions(60, 29)
	run := h.start(h.config(), nil)
	evs := h.publishAll(execs)
	h.eventually("a few callbacks enriched", func() bool { return h.ledger().Results >= 5 })
	if err := run.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := run.e.Ready(context.Background()); err == nil {
		t.Error("a stopped enricher reports ready")
	}

	enriched := map[string]bool{}
	for _, m := range h.enriched() {
		enriched[m.Header.Get(events.HeaderCEID)] = true
	}
	floor := h.consumer().AckFloor.Stream
	for seq, id := range h.callbackSeqs() {
		if seq <= floor && !enriched[id] {
			t.Errorf("callback %d acked (ack floor %d) but not enriched", seq, floor)
		}
	}
	if len(enriched) == len(evs) {
		t.Log("every callback was enriched before the stop; the restart has nothing left")
	}

	h.start(h.config(), nil)
	h.exactlyOnce(evs)
}

// TestConnectionLostMidBatch: the enricher's connection closes abruptly
// while callbacks are being enriched (as when its process dies); a new
// enricher gets the unacked ones after the ack wait, and every callback is
// enriched exactly once.
func TestConnectionLostMidBatch(t *testing.T) {
	h := newHarness(t, jumiotest.Config{Latency: 20 * time.Millisecond})
	execs := h.executions(60, 31)
	conn := h.broker.Conn(t)
	first := h.start(h.config(), conn)
	evs := h.publishAll(execs)
	h.eventually("a few callbacks enriched", func() bool { return h.ledger().Results >= 5 })
	conn.Close()
	if err := first.stop(); err != nil {
		t.Logf("first enricher: %v", err)
	}
	h.start(h.config(), nil)
	h.exactlyOnce(evs)
}
