package rig

import (
	"encoding/json"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"

	"github.com/kycflow/kycflow/internal/notifier"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// book builds the streams, the receiver's log and the posts of a run, for
// the ledger to audit.
type book struct {
	sent                          []jumiotest.SentCallback
	callbacks, enriched, res, dlq []*nats.Msg
	hooks                         []Delivery
	evidence                      Evidence
}

// stale records the enricher's word that it dropped event id as stale.
func (b *book) stale(id string) {
	if b.evidence.Stale == nil {
		b.evidence.Stale = map[string]bool{}
	}
	b.evidence.Stale[id] = true
}

// collapse records the enricher's word that it dropped event id as
// collapsing across a reconciliation.
func (b *book) collapse(id string) {
	if b.evidence.Collapsed == nil {
		b.evidence.Collapsed = map[string]bool{}
	}
	b.evidence.Collapsed[id] = true
}

// suppress records the notifier's word that it suppressed event id at
// route.
func (b *book) suppress(route, id string) {
	if b.evidence.Suppressed == nil {
		b.evidence.Suppressed = map[string]map[string]bool{}
	}
	if b.evidence.Suppressed[route] == nil {
		b.evidence.Suppressed[route] = map[string]bool{}
	}
	b.evidence.Suppressed[route][id] = true
}

var t0 = time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)

const acct = "00000000-0000-4000-8000-000000000001"

func execID(n int) string { return "10000000-0000-4000-8000-00000000000" + string(rune('0'+n)) }

// post records a callback of execution n sent at t0+sec answered status.
func (b *book) post(n, sec, status int) {
	b.sent = append(b.sent, jumiotest.SentCallback{API: events.APIPlatform, Reference: execID(n), AccountID: acct, SentAt: t0.Add(time.Duration(sec) * time.Second), Status: status})
}

// store puts that callback into JUMIO_CALLBACKS and returns its event id.
func (b *book) store(n, sec int) string {
	at := t0.Add(time.Duration(sec) * time.Second)
	ev := events.CallbackEvent{SchemaVersion: 1, EventID: events.PlatformEventID(acct, execID(n), "PROCESSED", at), API: events.APIPlatform,
		AccountID: acct, WorkflowExecutionID: execID(n), Status: "PROCESSED", CallbackSentAt: &at}
	data, _ := json.Marshal(ev)
	b.callbacks = append(b.callbacks, &nats.Msg{Subject: ev.Subject(), Data: data, Header: nats.Header{}})
	return ev.EventID
}

// storeReconciled puts the reconciler's callback of execution n into
// JUMIO_CALLBACKS and returns its event id.
func (b *book) storeReconciled(n int) string {
	ev := events.CallbackEvent{SchemaVersion: 1, EventID: events.ReconciledEventID(execID(n), "PROCESSED"), API: events.APIPlatform,
		AccountID: acct, WorkflowExecutionID: execID(n), Status: "PROCESSED", ReceivedAt: t0, Reconciled: true}
	data, _ := json.Marshal(ev)
	b.callbacks = append(b.callbacks, &nats.Msg{Subject: ev.Subject(), Data: data, Header: nats.Header{}})
	return ev.EventID
}

func result(n int, decision events.DecisionType) events.Result {
	return events.Result{SchemaVersion: 1, IDs: events.IDs{AccountID: acct, WorkflowExecutionID: execID(n)},
		Status: events.StatusProcessed, Decision: events.Decision{Type: decision}}
}

// enrich puts the result of event id into JUMIO_ENRICHED.
func (b *book) enrich(id string, r events.Result) {
	data, _ := json.Marshal(events.EnrichedEvent{SchemaVersion: 1, Result: r})
	b.enriched = append(b.enriched, &nats.Msg{Data: data, Header: nats.Header{events.HeaderCEID: {id}, events.HeaderEventID: {id}}})
}

// deliver records a delivery of r (the result of event ev) to route under
// id.
func (b *book) deliver(route, id, ev string, r events.Result) {
	if route == "results" {
		data, _ := json.Marshal(r)
		b.res = append(b.res, &nats.Msg{Data: data, Header: nats.Header{events.HeaderCEID: {id}, events.HeaderRoute: {route}, events.HeaderEventID: {ev}}})
		return
	}
	b.hooks = append(b.hooks, Delivery{Route: route, ID: id, EventID: ev, AccountID: acct, ExecutionID: r.IDs.WorkflowExecutionID, Status: r.Status})
}

// deadLetter records a dead letter of event id at a stage.
func (b *book) deadLetter(stage events.Stage, route, id string) {
	b.dlq = append(b.dlq, &nats.Msg{Header: nats.Header{events.HeaderStage: {string(stage)}, events.HeaderRoute: {route}, events.HeaderEventID: {id}}})
}

func routes(t *testing.T) []notifier.Route {
	t.Helper()
	u, _ := url.Parse("http://127.0.0.1:1/hooks/hook")
	hook := &notifier.WebhookRoute{URL: u, AllowPrivate: true}
	return []notifier.Route{
		{Name: "results", NATS: &notifier.NATSRoute{}},
		{Name: "hook", Webhook: hook},
		{Name: "rejected", Webhook: hook, Filter: notifier.Filter{Decision: []events.DecisionType{events.DecisionRejected}}},
	}
}

// summary is what a test compares of a ledger.
type summary struct {
	Accepted, Repeats, Callbacks, Stored, Unanswered int
	Reconciled, NotStored, Unaccounted               int
	Enriched, EnrichDL, Stale, Collapsed             int
	Routes                                           map[string][6]int // delivered, suppressed, filtered, dead letters, lost, twice
	Both, SameID, CounterMismatches                  int
}

func summarize(l *Ledger) summary {
	s := summary{Accepted: l.Accepted, Repeats: l.Repeats, Callbacks: l.Callbacks, Stored: l.Stored, Unanswered: l.Unanswered,
		Reconciled: l.Reconciled, NotStored: len(l.NotStored), Unaccounted: len(l.Unaccounted),
		Enriched: l.Enriched, EnrichDL: l.EnrichDeadLetters, Stale: l.Stale, Collapsed: l.Collapsed,
		Routes: map[string][6]int{}, CounterMismatches: len(l.CounterMismatches)}
	for _, r := range l.Routes {
		s.Routes[r.Name] = [6]int{r.Delivered, r.Suppressed, r.Filtered, r.DeadLetters, len(r.Lost), len(r.Twice)}
		s.Both += len(r.DeliveredAndDeadLettered)
		s.SameID += r.SameIDRepeats
	}
	return s
}

// deliverAll delivers the result of execution n (event ev) under one id
// per route.
func (b *book) deliverAll(n int, ev string, r events.Result) {
	for _, route := range []string{"results", "hook"} {
		b.deliver(route, route+"-"+execID(n), ev, r)
	}
	if r.Decision.Type == events.DecisionRejected {
		b.deliver("rejected", "rejected-"+execID(n), ev, r)
	}
}

// enrichAndDeliver stores, enriches and delivers a passed callback of
// execution n sent at t0+sec.
func (b *book) enrichAndDeliver(n, sec int) string {
	id := b.store(n, sec)
	b.enrich(id, result(n, events.DecisionPassed))
	b.deliverAll(n, id, result(n, events.DecisionPassed))
	return id
}

// sameIDRepeat delivers a webhook twice with one webhook-id.
func sameIDRepeat(b *book) {
	b.post(1, 0, 200)
	id := b.enrichAndDeliver(1, 0)
	b.deliver("hook", "hook-"+execID(1), id, result(1, events.DecisionPassed))
}

var sameIDRepeatLedger = summary{Accepted: 1, Callbacks: 1, Stored: 1, Enriched: 1, SameID: 1,
	Routes: map[string][6]int{"results": {1, 0, 0, 0, 0, 0}, "hook": {1, 0, 0, 0, 0, 0}, "rejected": {0, 0, 1, 0, 0, 0}}}

// oneOK is the route line of one passed result delivered.
var oneOK = map[string][6]int{"results": {1, 0, 0, 0, 0, 0}, "hook": {1, 0, 0, 0, 0, 0}, "rejected": {0, 0, 1, 0, 0, 0}}

func TestLedger(t *testing.T) {
	for _, tc := range []struct {
		name      string
		run       func(b *book)
		allowSame bool
		want      summary
		bad       bool
	}{
		{
			name: "balanced: a repeat post, a filtered route",
			run: func(b *book) {
				b.post(1, 0, 200)
				b.post(1, 0, 200)
				b.post(2, 0, 200)
				b.enrichAndDeliver(1, 0)
				id := b.store(2, 0)
				b.enrich(id, result(2, events.DecisionRejected))
				b.deliverAll(2, id, result(2, events.DecisionRejected))
			},
			want: summary{Accepted: 3, Repeats: 1, Callbacks: 2, Stored: 2, Enriched: 2,
				Routes: map[string][6]int{"results": {2, 0, 0, 0, 0, 0}, "hook": {2, 0, 0, 0, 0, 0}, "rejected": {1, 0, 1, 0, 0, 0}}},
		},
		{
			name: "answered 200, not stored",
			run:  func(b *book) { b.post(1, 0, 200) },
			want: summary{Accepted: 1, Callbacks: 1, NotStored: 1, Routes: map[string][6]int{"results": {}, "hook": {}, "rejected": {}}},
			bad:  true,
		},
		{
			name: "answered 503 and stored: processed all the same",
			run: func(b *book) {
				b.post(1, 0, 503)
				b.enrichAndDeliver(1, 0)
			},
			want: summary{Stored: 1, Unanswered: 1, Enriched: 1, Routes: oneOK},
		},
		{
			name: "an older callback the enricher dropped as stale; one without a newer one is lost",
			run: func(b *book) {
				b.post(1, 0, 200)
				b.post(1, -60, 200)
				b.post(2, 0, 200)
				b.enrichAndDeliver(1, 0)
				b.stale(b.store(1, -60))
				b.store(2, 0)
			},
			want: summary{Accepted: 3, Callbacks: 3, Stored: 3, Enriched: 1, Stale: 1, Unaccounted: 1, Routes: oneOK},
			bad:  true,
		},
		{
			name: "an older callback without output and without the enricher's word is lost, not stale",
			run: func(b *book) {
				b.post(1, 0, 200)
				b.post(1, -60, 200)
				b.enrichAndDeliver(1, 0)
				b.store(1, -60)
			},
			want: summary{Accepted: 2, Callbacks: 2, Stored: 2, Enriched: 1, Unaccounted: 1, Routes: oneOK},
			bad:  true,
		},
		{
			name: "the enricher's word without a newer callback stored is no account",
			run: func(b *book) {
				b.post(1, 0, 200)
				b.stale(b.store(1, 0))
			},
			want: summary{Accepted: 1, Callbacks: 1, Stored: 1, Unaccounted: 1, Routes: map[string][6]int{"results": {}, "hook": {}, "rejected": {}}},
			bad:  true,
		},
		{
			name: "a late identical result suppressed on the notifier's word; dead letters settle",
			run: func(b *book) {
				b.post(1, 0, 200)
				b.post(1, 60, 200)
				b.post(2, 0, 200)
				b.post(3, 0, 200)
				b.enrichAndDeliver(1, 0)
				late := b.store(1, 60)
				b.enrich(late, result(1, events.DecisionPassed))
				b.suppress("results", late)
				b.suppress("hook", late)
				b.deadLetter(events.StageEnrich, "", b.store(2, 0))
				id := b.store(3, 0)
				b.enrich(id, result(3, events.DecisionPassed))
				b.deliver("results", "results-3", id, result(3, events.DecisionPassed))
				b.deadLetter(events.StageNotify, "hook", id)
			},
			want: summary{Accepted: 4, Callbacks: 4, Stored: 4, Enriched: 3, EnrichDL: 1,
				Routes: map[string][6]int{"results": {2, 1, 0, 0, 0, 0}, "hook": {1, 1, 0, 1, 0, 0}, "rejected": {0, 0, 3, 0, 0, 0}}},
		},
		{
			name: "a second result of a delivered execution status without the notifier's word is lost",
			run: func(b *book) {
				b.post(1, 0, 200)
				b.post(1, 60, 200)
				b.enrichAndDeliver(1, 0)
				late := b.store(1, 60)
				b.enrich(late, result(1, events.DecisionPassed))
				b.suppress("results", late)
			},
			want: summary{Accepted: 2, Callbacks: 2, Stored: 2, Enriched: 2,
				Routes: map[string][6]int{"results": {1, 1, 0, 0, 0, 0}, "hook": {1, 0, 0, 0, 1, 0}, "rejected": {0, 0, 2, 0, 0, 0}}},
			bad: true,
		},
		{
			name: "delivered and dead-lettered for one execution status",
			run: func(b *book) {
				b.post(1, 0, 200)
				b.post(1, 60, 200)
				b.enrichAndDeliver(1, 0)
				late := b.store(1, 60)
				b.enrich(late, result(1, events.DecisionPassed))
				b.suppress("results", late)
				b.deadLetter(events.StageNotify, "hook", late)
			},
			want: summary{Accepted: 2, Callbacks: 2, Stored: 2, Enriched: 2, Both: 1,
				Routes: map[string][6]int{"results": {1, 1, 0, 0, 0, 0}, "hook": {1, 0, 0, 1, 0, 0}, "rejected": {0, 0, 2, 0, 0, 0}}},
			bad: true,
		},
		{
			name: "lost at a route, delivered twice at another",
			run: func(b *book) {
				b.post(1, 0, 200)
				id := b.store(1, 0)
				b.enrich(id, result(1, events.DecisionPassed))
				b.deliver("results", "one", id, result(1, events.DecisionPassed))
				b.deliver("results", "two", id, result(1, events.DecisionPassed))
			},
			want: summary{Accepted: 1, Callbacks: 1, Stored: 1, Enriched: 1,
				Routes: map[string][6]int{"results": {1, 0, 0, 0, 0, 1}, "hook": {0, 0, 0, 0, 1, 0}, "rejected": {0, 0, 1, 0, 0, 0}}},
			bad: true,
		},
		{
			name: "a dropped callback reconciled, Jumio's late one collapsed on the enricher's word",
			run: func(b *book) {
				b.post(1, 0, 200)
				rid := b.storeReconciled(1)
				b.enrich(rid, result(1, events.DecisionPassed))
				b.deliverAll(1, rid, result(1, events.DecisionPassed))
				b.collapse(b.store(1, 0))
			},
			want: summary{Accepted: 1, Callbacks: 1, Stored: 2, Reconciled: 1, Enriched: 1, Collapsed: 1, Routes: oneOK},
		},
		{
			name: "Jumio's callback first, a racing reconciliation collapsed on the enricher's word",
			run: func(b *book) {
				b.post(1, 0, 200)
				b.enrichAndDeliver(1, 0)
				b.collapse(b.storeReconciled(1))
			},
			want: summary{Accepted: 1, Callbacks: 1, Stored: 2, Reconciled: 1, Enriched: 1, Collapsed: 1, Routes: oneOK},
		},
		{
			name: "Jumio's late callback without output and without the enricher's word is lost",
			run: func(b *book) {
				b.post(1, 0, 200)
				rid := b.storeReconciled(1)
				b.enrich(rid, result(1, events.DecisionPassed))
				b.deliverAll(1, rid, result(1, events.DecisionPassed))
				b.store(1, 0)
			},
			want: summary{Accepted: 1, Callbacks: 1, Stored: 2, Reconciled: 1, Enriched: 1, Unaccounted: 1, Routes: oneOK},
			bad:  true,
		},
		{
			name: "the enricher's word of a collapse without a reconciled callback enriched is no account",
			run: func(b *book) {
				b.post(1, 0, 200)
				b.post(1, 60, 200)
				b.enrichAndDeliver(1, 60)
				b.collapse(b.store(1, 0))
				b.collapse(b.storeReconciled(2))
			},
			want: summary{Accepted: 2, Callbacks: 2, Stored: 3, Reconciled: 1, Enriched: 1, Unaccounted: 2, Routes: oneOK},
			bad:  true,
		},
		{
			name: "a reconciled callback and Jumio's both enriched: delivered twice",
			run: func(b *book) {
				b.post(1, 0, 200)
				b.enrichAndDeliver(1, 0)
				rid := b.storeReconciled(1)
				b.enrich(rid, result(1, events.DecisionPassed))
				b.deliver("results", "results-r", rid, result(1, events.DecisionPassed))
				b.deliver("hook", "hook-r", rid, result(1, events.DecisionPassed))
			},
			want: summary{Accepted: 1, Callbacks: 1, Stored: 2, Reconciled: 1, Enriched: 2,
				Routes: map[string][6]int{"results": {1, 0, 0, 0, 0, 1}, "hook": {1, 0, 0, 0, 0, 1}, "rejected": {0, 0, 2, 0, 0, 0}}},
			bad: true,
		},
		{
			name: "a repeat with the same webhook-id fails unless allowed",
			run:  sameIDRepeat,
			want: sameIDRepeatLedger,
			bad:  true,
		},
		{
			name:      "the same repeat, allowed",
			run:       sameIDRepeat,
			allowSame: true,
			want:      sameIDRepeatLedger,
		},
		{
			name: "an allowed repeat does not hide a loss",
			run: func(b *book) {
				sameIDRepeat(b)
				b.post(2, 0, 200)
				id := b.store(2, 0)
				b.enrich(id, result(2, events.DecisionPassed))
				b.deliver("results", "results-2", id, result(2, events.DecisionPassed))
			},
			allowSame: true,
			want: summary{Accepted: 2, Callbacks: 2, Stored: 2, Enriched: 2, SameID: 1,
				Routes: map[string][6]int{"results": {2, 0, 0, 0, 0, 0}, "hook": {1, 0, 0, 0, 1, 0}, "rejected": {0, 0, 2, 0, 0, 0}}},
			bad: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &book{}
			tc.run(b)
			l, err := audit(AuditInput{Sent: b.sent, AllowSameIDRepeats: tc.allowSame}, routes(t), streams{b.callbacks, b.enriched, b.res, b.dlq}, b.hooks, b.evidence, Counters{Mode: CountersPartial})
			if l == nil {
				t.Fatalf("audit: %v", err)
			}
			if diff := cmp.Diff(tc.want, summarize(l)); diff != "" {
				t.Errorf("ledger (-want +got):\n%s", diff)
			}
			if got := err != nil; got != tc.bad {
				t.Errorf("audit error: %v, want an error: %v", err, tc.bad)
			}
			if err != nil && !errors.Is(err, ErrLedger) {
				t.Errorf("audit error %v does not match ErrLedger", err)
			}
		})
	}
}

// TestLedgerCounters: the stages' counters are compared with the ledger
// as the mode says: equal, at least, or not at all when a stage process
// was killed.
func TestLedgerCounters(t *testing.T) {
	// One stale drop, one identical result suppressed at each webhook
	// route, one collapsed drop, three results filtered out at "rejected".
	run := func(b *book) {
		b.post(1, 0, 200)
		b.post(1, -60, 200)
		b.post(1, 60, 200)
		b.enrichAndDeliver(1, 0)
		b.stale(b.store(1, -60))
		late := b.store(1, 60)
		b.enrich(late, result(1, events.DecisionPassed))
		b.suppress("results", late)
		b.suppress("hook", late)
		// Execution 2: reconciled, Jumio's late callback collapsed.
		b.post(2, 0, 200)
		rid := b.storeReconciled(2)
		b.enrich(rid, result(2, events.DecisionPassed))
		b.deliverAll(2, rid, result(2, events.DecisionPassed))
		b.collapse(b.store(2, 0))
	}
	right := Counters{Stale: 1, Collapsed: 1, Suppressed: map[string]float64{"results": 1, "hook": 1}, Filtered: map[string]float64{"rejected": 3}}
	more := Counters{Stale: 2, Collapsed: 2, Suppressed: map[string]float64{"results": 2, "hook": 1}, Filtered: map[string]float64{"rejected": 4}}
	fewer := Counters{Stale: 0, Collapsed: 1, Suppressed: map[string]float64{"results": 1, "hook": 1}, Filtered: map[string]float64{"rejected": 3}}
	for _, tc := range []struct {
		name       string
		mode       CounterMode
		c          Counters
		mismatches int
	}{
		{"exact and equal", CountersExact, right, 0},
		{"exact, the counters above", CountersExact, more, 4},
		{"exact, the collapsed counter below", CountersExact, Counters{Stale: 1, Suppressed: right.Suppressed, Filtered: right.Filtered}, 1},
		{"exact, a counter below", CountersExact, fewer, 1},
		{"at least, the counters above", CountersAtLeast, more, 0},
		{"at least, a counter below", CountersAtLeast, fewer, 1},
		{"partial: not compared", CountersPartial, fewer, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &book{}
			run(b)
			c := tc.c
			c.Mode = tc.mode
			l, err := audit(AuditInput{Sent: b.sent}, routes(t), streams{b.callbacks, b.enriched, b.res, b.dlq}, b.hooks, b.evidence, c)
			if l == nil {
				t.Fatalf("audit: %v", err)
			}
			if got := len(l.CounterMismatches); got != tc.mismatches {
				t.Errorf("got %d counter mismatches (%v), want %d", got, l.CounterMismatches, tc.mismatches)
			}
			if got, want := err != nil, tc.mismatches > 0; got != want {
				t.Errorf("audit error: %v, want an error: %v", err, want)
			}
		})
	}
}
