package enricher_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"

	"github.com/kycflow/kycflow/internal/enricher"
	"github.com/kycflow/kycflow/internal/erasure"
	"github.com/kycflow/kycflow/internal/migration"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// laneGranted is how many retrieval requests a lane of the enricher's
// Jumio client was let through.
func laneGranted(e *enricher.Enricher, lane jumio.Lane) uint64 {
	for _, ls := range e.Client().Lanes() {
		if ls.Limiter == "retrieval" && ls.Lane == lane {
			return ls.Granted
		}
	}
	return 0
}

// TestCallbacksWaitInTheirLanes: a live callback's request waits in the
// live lane, a replay's in the replay lane, a callback fed with a
// Kycflow-Lane header in that lane.
func TestCallbacksWaitInTheirLanes(t *testing.T) {
	h := newHarness(t, jumiotest.Config{})
	execs := h.executions(3, 21)
	r := h.start(h.config(), nil)
	now := time.Now()
	h.publish(h.platformEvent(execs[0], now), nil)
	replay := h.platformEvent(execs[1], now)
	h.publish(replay, nats.Header{events.HeaderReplay: []string{events.ReplayMarker{ID: "r1"}.String()}})
	h.publish(h.platformEvent(execs[2], now), nats.Header{events.HeaderLane: []string{string(jumio.LaneReconcile)}})
	h.settle(3)
	for lane, want := range map[jumio.Lane]uint64{jumio.LaneLive: 1, jumio.LaneReplay: 1, jumio.LaneReconcile: 1, jumio.LaneMigrate: 0} {
		if got := laneGranted(r.e, lane); got != want {
			t.Errorf("lane %s let %d requests through, want %d", lane, got, want)
		}
	}
}

// ingestSink stands in for ingest: it stores the Platform callbacks the
// simulator posts in JUMIO_CALLBACKS, as ingest does.
func ingestSink(h *harness) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		cb, err := wire.ParsePlatformCallback(raw)
		if err != nil {
			h.t.Errorf("callback: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		b, _ := json.Marshal(cb.Event(wire.RegionAMER, time.Now(), raw))
		ev := cb.Event(wire.RegionAMER, time.Now(), raw)
		h.publishRaw(ev.Subject(), b, ev.EventID, nil)
	}))
	h.t.Cleanup(srv.Close)
	return srv
}

// TestMigrationBatchAndCallbacks: a batch queued in the work stream is run
// by the enricher in the migrate lane; the callbacks of the migrated scans
// are fetched in the migrate lane, their results link the Netverify
// originals, and the scans are recorded as migrated.
func TestMigrationBatchAndCallbacks(t *testing.T) {
	h := newHarness(t, jumiotest.Config{Scenario: jumiotest.Scenario{Seed: 4, NetverifyScans: 12}})
	sink := ingestSink(h)
	var refs []string
	for _, sc := range h.jumio.NetverifyScans() {
		if sc.Kind == events.KindIDVerification && sc.Data != nil && len(refs) < 3 {
			refs = append(refs, sc.Reference)
		}
	}
	cfg := h.config()
	cfg.MigrationCallbackURL = sink.URL + "/callbacks/platform"
	r := h.start(cfg, nil)
	store, ok, err := migration.Open(t.Context(), h.js)
	if err != nil || !ok {
		t.Fatalf("migration bucket: %v %v", ok, err)
	}
	const batch = "0123456789abcdef0123456789abcdef"
	if err := store.QueueBatch(t.Context(), migration.Batch{ID: batch, Groups: []migration.Group{{Key: "user:u-9", ScanReferences: refs}}}); err != nil {
		t.Fatal(err)
	}
	if err := migration.Enqueue(t.Context(), h.js, batch); err != nil {
		t.Fatal(err)
	}
	l := h.settle(len(refs))
	if l.Results != int64(len(refs)) {
		t.Fatalf("ledger %+v, want %d results", l, len(refs))
	}
	var account string
	for _, m := range h.enriched() {
		res := m.Event.Result
		if res.Migration == nil || res.Migration.ScanReference != res.IDs.WorkflowExecutionID || res.IDs.ScanReference != res.IDs.WorkflowExecutionID {
			t.Errorf("result of %s: migration %+v, scanReference %q; want both linking the Netverify original", res.IDs.WorkflowExecutionID, res.Migration, res.IDs.ScanReference)
		}
		account = res.IDs.AccountID
	}
	h.eventually("every scan marked migrated", func() bool {
		for _, ref := range refs {
			sc, _, _ := store.Lookup(t.Context(), ref)
			if sc.State != migration.StateMigrated || sc.AccountID != account {
				return false
			}
		}
		return true
	})
	if b, _, _ := store.Batch(t.Context(), batch); b.State != migration.BatchDone {
		t.Errorf("batch %s, want done", b.State)
	}
	// One migration request and three retrievals, all in the migrate lane.
	if got := laneGranted(r.e, jumio.LaneMigrate); got != 4 {
		t.Errorf("migrate lane let %d retrieval-budget requests through, want 4", got)
	}
	if got := laneGranted(r.e, jumio.LaneLive); got != 0 {
		t.Errorf("live lane let %d requests through, want 0", got)
	}
}

// TestBadWorkItemIsDeadLettered: a work item that is not one ends in the
// DLQ, once, not in a retry loop.
func TestBadWorkItemIsDeadLettered(t *testing.T) {
	h := newHarness(t, jumiotest.Config{})
	h.start(h.config(), nil)
	h.publishRaw(migration.WorkSubject(jumio.LaneMigrate, "x"), []byte(`{"kind":"export"}`), "w1", nil)
	h.eventually("the item dead-lettered", func() bool {
		return h.counter(enricher.MetricWork, attribute.String("outcome", "dead_lettered")) == 1
	})
	dls := h.deadLetters()
	if len(dls) != 1 || !strings.HasPrefix(dls[0].Subject, "jumio.dlq.work.") || dls[0].Header.Get(events.HeaderErrorClass) != enricher.ClassPermanent {
		t.Errorf("dead letters %d (first %v): want one permanent under jumio.dlq.work", len(dls), dls)
	}
	if n := h.counter(enricher.MetricWork, attribute.String("outcome", "retried")); n != 0 {
		t.Errorf("%d retries of a bad item, want none", n)
	}
}

// TestTombstones: a callback that reaches a transaction kycflow erased
// gives a tombstone at once, without a retry or a dead letter, and
// without the personal data a Netverify callback carries.
func TestTombstones(t *testing.T) {
	h := newHarness(t, jumiotest.Config{Scenario: jumiotest.Scenario{Seed: 8, Executions: 3, NetverifyScans: 6}})
	h.start(h.config(), nil)
	reg, err := erasure.Ensure(t.Context(), h.js, erasure.Config{})
	if err != nil {
		t.Fatal(err)
	}
	client, err := jumio.NewClient(h.jumioConfig(), jumio.WithTransport(h.jumio.Transport()))
	if err != nil {
		t.Fatal(err)
	}
	execs := h.jumio.Executions()
	var nv jumiotest.NetverifyScan
	for _, sc := range h.jumio.NetverifyScans() {
		if sc.Kind == events.KindIDVerification && sc.Callback.Get("idFirstName") != "" {
			nv = sc
			break
		}
	}
	if nv.Reference == "" {
		t.Fatal("no approved Netverify scan")
	}
	erasedAt := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	// An account erased at Jumio and in kycflow: details answer 404.
	gone := execs[0]
	if err := client.DeleteAccount(t.Context(), gone.AccountID); err != nil {
		t.Fatal(err)
	}
	if err := reg.Mark(t.Context(), "e1", erasedAt, gone.AccountID); err != nil {
		t.Fatal(err)
	}
	// An execution wiped at Jumio: its details say so themselves.
	wiped := execs[1]
	if err := client.DeleteWorkflowExecution(t.Context(), wiped.AccountID, wiped.ID); err != nil {
		t.Fatal(err)
	}
	// A Netverify scan erased in kycflow.
	if err := reg.Mark(t.Context(), "e2", erasedAt, "", nv.Reference); err != nil {
		t.Fatal(err)
	}
	// Callbacks sent now: a 404 would be "not ready yet" for an hour.
	now := time.Now()
	h.publish(h.platformEvent(gone, now), nil)
	h.publish(h.platformEvent(wiped, now), nil)
	body := h.jumio.NetverifyCallback(nv, now)
	m, err := wire.ParseNetverifyCallback(mustParseQuery(t, string(body)))
	if err != nil {
		t.Fatal(err)
	}
	h.publish(m.Event(wire.RegionAMER, now, string(body)), nil)
	l := h.settle(3)
	if l.Results != 3 || l.DeadLetters != 0 {
		t.Fatalf("ledger %+v: want 3 results, no dead letter", l)
	}
	if n := h.counter(enricher.MetricRetries); n != 0 {
		t.Errorf("%d retries, want none", n)
	}
	if n := h.counter(enricher.MetricTombstones); n != 2 {
		t.Errorf("%d tombstones made from the registry, want 2", n)
	}
	// The erased scan's callback (its form is personal data) is not held
	// for a fetch: a tombstone before Jumio is asked.
	if n := h.jumio.Requests(jumio.EndpointNetverifyData) + h.jumio.Requests(jumio.EndpointNetverifyScan); n != 0 {
		t.Errorf("%d Netverify retrieval requests for the erased scan, want none", n)
	}
	// The stored callbacks of the erased transactions are gone; the
	// wiped one's (Jumio's own tombstone) stays.
	h.eventually("the erased transactions' callbacks deleted", func() bool { return h.streamCount(events.StreamCallbacks) == 1 })

	// A replay that reaches the erased account later (a replay started
	// before the erasure): a tombstone too, not a retry or a dead letter.
	marker := events.ReplayMarker{ID: "late"}
	late := h.platformEvent(gone, now)
	h.publish(late, nats.Header{events.HeaderReplay: {marker.String()}, events.HeaderRefed: {marker.ID}, nats.MsgIdHdr: {marker.MessageID(late.EventID)}})
	l = h.settle(4)
	if l.Results != 4 || l.DeadLetters != 0 {
		t.Fatalf("ledger %+v after the replay: want 4 results, no dead letter", l)
	}
	if n := h.counter(enricher.MetricRetries); n != 0 {
		t.Errorf("%d retries after the replay, want none", n)
	}
	if n := h.counter(enricher.MetricTombstones); n != 3 {
		t.Errorf("%d tombstones made from the registry after the replay, want 3", n)
	}
	h.eventually("the replayed callback deleted", func() bool { return h.streamCount(events.StreamCallbacks) == 1 })
	for _, msg := range h.enriched() {
		res := msg.Event.Result
		if res.Timestamps.WipedOut == nil || res.Person != nil || res.Document != nil || len(res.Images) > 0 {
			t.Errorf("result of %s: %+v, want a tombstone", res.IDs.WorkflowExecutionID, res)
		}
		switch res.IDs.WorkflowExecutionID {
		case gone.ID, nv.Reference:
			if !res.Timestamps.WipedOut.Equal(erasedAt) || msg.Event.RawType != events.RawTombstone || len(msg.Event.Raw) != 0 {
				t.Errorf("tombstone of %s: wipedOut %v raw %s %q, want the erasure's time and no raw document", res.IDs.WorkflowExecutionID, res.Timestamps.WipedOut, msg.Event.RawType, msg.Event.Raw)
			}
		case wiped.ID:
			if msg.Event.RawType != events.RawPlatformDetails {
				t.Errorf("wiped execution: raw %s, want Jumio's details", msg.Event.RawType)
			}
		}
		raw, _ := json.Marshal(msg.Event)
		for _, v := range []string{nv.Callback.Get("idFirstName"), nv.Callback.Get("idLastName"), nv.Callback.Get("idNumber")} {
			if v != "" && strings.Contains(string(raw), v) {
				t.Errorf("the tombstone of %s holds personal data of the erased scan", res.IDs.WorkflowExecutionID)
			}
		}
	}
}
