package enricher_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"

	"github.com/kycflow/kycflow/internal/enricher"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// withStatus returns ev as Jumio would send it for another status at
// another time: a new event of the same execution.
func withStatus(ev events.CallbackEvent, status string, sent time.Time) events.CallbackEvent {
	ev.Status = status
	ev.CallbackSentAt = &sent
	ev.ReceivedAt = sent.Add(time.Second)
	ev.EventID = events.PlatformEventID(ev.AccountID, ev.WorkflowExecutionID, status, sent)
	return ev
}

// redelivered is a header set that stores a callback again under another
// message id: a repeat that JetStream's duplicate window does not catch
// (it came later than the window, or through a replay of ingest).
func redelivered(id string) nats.Header { return nats.Header{nats.MsgIdHdr: {id}} }

// TestOutOfOrderAndRepeats: a callback older than one already enriched
// for its execution is dropped as stale; a repeated event id never yields
// a second enriched result, also after a restart; a replayed callback is
// reproduced with the replay header and its own message id, and does not
// move the execution's newest callback back.
func TestOutOfOrderAndRepeats(t *testing.T) {
	h := newHarness(t, jumiotest.Config{})
	x := h.executions(1, 17)[0]
	t0 := time.Now().Add(-10 * time.Minute).UTC()
	older := withStatus(h.platformEvent(x, t0), "ACQUIRED", t0)
	newer := h.platformEvent(x, t0.Add(2*time.Minute))
	between := withStatus(newer, "SESSION_EXPIRED", t0.Add(time.Minute))

	run := h.start(h.config(), nil)
	h.publish(newer, nil)
	h.settle(1)

	h.publish(older, nil)
	if l := h.settle(2); l.Stale != 1 {
		t.Errorf("ledger %+v: the older callback was not dropped as stale", l)
	}
	h.publish(newer, redelivered("again-1"))
	if l := h.settle(3); l.Duplicates != 1 {
		t.Errorf("ledger %+v: the repeated event was not dropped as a duplicate", l)
	}

	// A new process remembers: the state is in the bucket.
	if err := run.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	h.start(h.config(), nil)
	h.publish(newer, redelivered("again-2"))
	h.publish(older, redelivered("again-3"))
	if l := h.settle(5); l.Duplicates != 2 || l.Stale != 2 || l.Results != 1 {
		t.Errorf("ledger %+v after a restart: want 1 result, 2 duplicates, 2 stale", l)
	}

	// A replay of the older callback (a copy as "kycflow replay" writes it)
	// is reproduced, as a result of its own: Kycflow-Refed, which marks
	// the copy, is not passed on.
	marker := events.ReplayMarker{ID: "r1"}
	h.publish(older, nats.Header{events.HeaderReplay: {marker.String()}, events.HeaderRefed: {marker.ID}, nats.MsgIdHdr: {marker.MessageID(older.EventID)}})
	if l := h.settle(6); l.Results != 2 {
		t.Fatalf("ledger %+v: the replay was not enriched", l)
	}
	var replayed *enrichedMsg
	for _, m := range h.enriched() {
		if m.Header.Get(events.HeaderReplay) != "" {
			replayed = &m
		}
	}
	switch {
	case replayed == nil:
		t.Fatal("no enriched message with the replay header")
	case replayed.Header.Get(events.HeaderReplay) != marker.String():
		t.Errorf("replay header %q, want %q", replayed.Header.Get(events.HeaderReplay), marker.String())
	case replayed.Header.Get(events.HeaderRefed) != "":
		t.Errorf("the enriched result carries %s", events.HeaderRefed)
	case replayed.Header.Get(nats.MsgIdHdr) != marker.MessageID(older.EventID):
		t.Errorf("Nats-Msg-Id %q, want the replay's message id", replayed.Header.Get(nats.MsgIdHdr))
	case replayed.Header.Get(events.HeaderCEID) != older.EventID || replayed.Event.Result.IDs.EventID != older.EventID:
		t.Errorf("ce-id %q, result event id %q: want the replayed event's", replayed.Header.Get(events.HeaderCEID), replayed.Event.Result.IDs.EventID)
	}
	// The replay did not move the newest callback back: one sent between
	// the two is still stale.
	h.publish(between, nil)
	if l := h.settle(7); l.Stale != 3 {
		t.Errorf("ledger %+v: the callback older than the newest was not stale after the replay", l)
	}
}

// TestSameTimeIsNotStale: two callbacks of one execution sent at the same
// instant with different statuses are both enriched (neither is older).
func TestSameTimeIsNotStale(t *testing.T) {
	h := newHarness(t, jumiotest.Config{})
	x := h.executions(1, 19)[0]
	a := h.platformEvent(x, time.Now())
	b := withStatus(a, "SESSION_EXPIRED", *a.CallbackSentAt)
	h.start(h.config(), nil)
	h.publish(a, nil)
	h.publish(b, nil)
	if l := h.settle(2); l.Results != 2 {
		t.Errorf("ledger %+v: want both enriched", l)
	}
}

// TestStateValue: what the bucket holds per execution, readable by an
// operator (nats kv get kycflow_enricher_executions <account>.<execution>).
func TestStateValue(t *testing.T) {
	h := newHarness(t, jumiotest.Config{})
	x := h.executions(1, 23)[0]
	sent := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	ev := h.platformEvent(x, sent)
	h.start(h.config(), nil)
	h.publish(ev, nil)
	h.settle(1)
	kv, err := h.js.KeyValue(context.Background(), enricher.StateBucket)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(context.Background(), x.AccountID+"."+x.ID)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Newest   time.Time `json:"newest"`
		Enriched []string  `json:"enriched"`
	}
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		t.Fatal(err)
	}
	if !v.Newest.Equal(sent) || len(v.Enriched) != 1 || v.Enriched[0] != ev.EventID {
		t.Errorf("state %+v: want newest %v and the event id", v, sent)
	}
}

// TestOrderAcrossInstances: two enricher instances share the durable
// consumer, and every execution's callbacks reach them at once, in a
// shuffled order, and Jumio answers each fetch after a delay of its own:
// an older one (SESSION_EXPIRED), a newer one (PROCESSED), and each again
// under another message id (a repeat the duplicate window missed). The execution state's compare-and-set keeps
// them apart: no event is enriched twice, the newer callback always is,
// and the older one either went first or is dropped as stale, never
// published after the newer one.
func TestOrderAcrossInstances(t *testing.T) {
	const n = 40
	h := newHarness(t, jumiotest.Config{})
	for range 2 {
		conn, _ := h.broker.JetStream(t)
		h.start(h.config(), conn)
	}
	t0 := time.Now().Add(-10 * time.Minute).UTC().Truncate(time.Millisecond)
	type pair struct{ older, newer events.CallbackEvent }
	var pairs []pair
	type pub struct {
		ev    events.CallbackEvent
		extra nats.Header
	}
	var pubs []pub
	for i, x := range h.executions(n, 29) {
		newer := h.platformEvent(x, t0.Add(2*time.Minute))
		older := withStatus(newer, "SESSION_EXPIRED", t0)
		pairs = append(pairs, pair{older, newer})
		pubs = append(pubs,
			pub{older, nil}, pub{newer, nil},
			pub{older, redelivered(fmt.Sprintf("older-again-%d", i))},
			pub{newer, redelivered(fmt.Sprintf("newer-again-%d", i))})
	}
	rand.Shuffle(len(pubs), func(i, j int) { pubs[i], pubs[j] = pubs[j], pubs[i] })
	// Jumio answers each request after its own delay, so that an older
	// callback's fetch can end after a newer one's was published.
	for range len(pubs) {
		h.jumio.Inject(jumiotest.Fault{Latency: time.Duration(rand.N(100)) * time.Millisecond})
	}
	for _, p := range pubs {
		h.publish(p.ev, p.extra)
	}
	l := h.settle(len(pubs))

	// Stream order per execution.
	order := map[string][]string{} // execution → event ids as stored
	for _, m := range h.enriched() {
		x := m.Event.Result.IDs.WorkflowExecutionID
		order[x] = append(order[x], m.Header.Get(events.HeaderCEID))
	}
	var olderEnriched int64
	for _, p := range pairs {
		got := order[p.newer.WorkflowExecutionID]
		switch {
		case slices.Equal(got, []string{p.newer.EventID}):
		case slices.Equal(got, []string{p.older.EventID, p.newer.EventID}):
			olderEnriched++
		default:
			t.Errorf("execution %s: enriched in stream order %v, want [newer] or [older newer] (older %s, newer %s)",
				p.newer.WorkflowExecutionID, got, p.older.EventID, p.newer.EventID)
		}
	}
	// Every copy not enriched is accounted for: the older ones not
	// enriched as stale, the repeats as duplicates or stale.
	if want := int64(n) + olderEnriched; l.Results != want {
		t.Errorf("ledger %+v: %d results, want %d (%d older ones went first)", l, l.Results, want, olderEnriched)
	}
	t.Logf("%d executions, 4 callbacks each on two instances: %d older ones went first, %d stale, %d duplicates", n, olderEnriched, l.Stale, l.Duplicates)
}

// TestConcurrentClaimsAcrossInstances: two enricher instances take an
// execution's callbacks at the same moment: six statuses sent a minute
// apart, each also stored again under another message id, all published
// at once in a shuffled order. Every callback is held after its claim
// until each has been claimed or dropped as stale, so the claims race
// each other and nothing else: with compare-and-set on the execution's
// state the newest claim stands, every older callback is dropped as
// stale at its second look, and each execution yields exactly one
// result, its newest status. A claim that overwrote a newer one would
// let an older status through as a second result.
func TestConcurrentClaimsAcrossInstances(t *testing.T) {
	const n, statuses = 6, 6
	h := newHarness(t, jumiotest.Config{})
	total := n * statuses * 2
	release := make(chan struct{})
	var claimed [2]atomic.Int64
	cfg := h.config()
	// Together the two instances hold every callback at once, so none
	// waits for a slot while the others are held; apart, neither can take
	// them all.
	cfg.Concurrency = total / 2
	for i := range 2 {
		conn, _ := h.broker.JetStream(t)
		h.startWith(cfg, conn, func(e *enricher.Enricher) {
			enricher.SetHook(e, func(string) {
				claimed[i].Add(1)
				<-release
			})
		})
	}
	t0 := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	newest := map[string]string{} // execution → its newest event id
	var msgs []*nats.Msg
	for i, x := range h.executions(n, 31) {
		base := h.platformEvent(x, t0)
		for s := range statuses {
			ev := withStatus(base, base.Status, t0.Add(time.Duration(s)*time.Minute))
			b, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			msgs = append(msgs,
				callbackMsg(ev.Subject(), b, ev.EventID, nil),
				callbackMsg(ev.Subject(), b, ev.EventID, redelivered(fmt.Sprintf("again-%d-%d", i, s))))
			newest[ev.WorkflowExecutionID] = ev.EventID
		}
	}
	rand.Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })
	for _, m := range msgs {
		if _, err := h.js.PublishMsgAsync(m); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-h.js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		t.Fatal("publishes not acknowledged")
	}
	h.eventually("every callback claimed or dropped", func() bool {
		l := h.ledger()
		return claimed[0].Load()+claimed[1].Load()+l.settled() >= int64(total)
	})
	close(release)
	l := h.settle(total)

	got := map[string][]string{} // execution → event ids as stored
	for _, m := range h.enriched() {
		x := m.Event.Result.IDs.WorkflowExecutionID
		got[x] = append(got[x], m.Header.Get(events.HeaderCEID))
	}
	want := map[string][]string{}
	for x, id := range newest {
		want[x] = []string{id}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("enriched per execution (-want +got):\n%s", diff)
	}
	if claimed[0].Load() == 0 || claimed[1].Load() == 0 {
		t.Errorf("claims %d and %d: want both instances to take callbacks", claimed[0].Load(), claimed[1].Load())
	}
	t.Logf("%d executions, %d callbacks each at once on two instances: %d and %d claimed, %d stale, %d duplicates, %d results",
		n, statuses*2, claimed[0].Load(), claimed[1].Load(), l.Stale, l.Duplicates, l.Results)
}
