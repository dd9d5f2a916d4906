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
	ev := events.CallbackEvent{SchemaVersion: 1, EventID: events.PlatformEventID(execID(n), "PROCESSED", at), API: events.APIPlatform,
		AccountID: acct, WorkflowExecutionID: execID(n), Status: "PROCESSED", CallbackSentAt: &at}
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

// deliver records a delivery of r to route under id.
func (b *book) deliver(route, id string, r events.Result) {
	if route == "results" {
		data, _ := json.Marshal(r)
		b.res = append(b.res, &nats.Msg{Data: data, Header: nats.Header{events.HeaderCEID: {id}, events.HeaderRoute: {route}}})
		return
	}
	b.hooks = append(b.hooks, Delivery{Route: route, ID: id, AccountID: acct, ExecutionID: r.IDs.WorkflowExecutionID, Status: r.Status})
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
	NotStored, Unaccounted                           int
	Enriched, EnrichDL, Stale                        int
	Routes                                           map[string][6]int // delivered, suppressed, filtered, dead letters, lost, twice
	SameID                                           int
}

func summarize(l *Ledger) summary {
	s := summary{Accepted: l.Accepted, Repeats: l.Repeats, Callbacks: l.Callbacks, Stored: l.Stored, Unanswered: l.Unanswered,
		NotStored: len(l.NotStored), Unaccounted: len(l.Unaccounted), Enriched: l.Enriched, EnrichDL: l.EnrichDeadLetters, Stale: l.Stale,
		Routes: map[string][6]int{}}
	for _, r := range l.Routes {
		s.Routes[r.Name] = [6]int{r.Delivered, r.Suppressed, r.Filtered, r.DeadLetters, len(r.Lost), len(r.Twice)}
		s.SameID += r.SameIDRepeats
	}
	return s
}

// deliverAll delivers the result of execution n under one id per route.
func (b *book) deliverAll(n int, r events.Result) {
	for _, route := range []string{"results", "hook"} {
		b.deliver(route, route+"-"+execID(n), r)
	}
	if r.Decision.Type == events.DecisionRejected {
		b.deliver("rejected", "rejected-"+execID(n), r)
	}
}

// sameIDRepeat delivers a webhook twice with one webhook-id.
func sameIDRepeat(b *book) {
	b.post(1, 0, 200)
	b.enrich(b.store(1, 0), result(1, events.DecisionPassed))
	b.deliverAll(1, result(1, events.DecisionPassed))
	b.deliver("hook", "hook-"+execID(1), result(1, events.DecisionPassed))
}

var sameIDRepeatLedger = summary{Accepted: 1, Callbacks: 1, Stored: 1, Enriched: 1, SameID: 1,
	Routes: map[string][6]int{"results": {1, 0, 0, 0, 0, 0}, "hook": {1, 0, 0, 0, 0, 0}, "rejected": {0, 0, 1, 0, 0, 0}}}

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
				b.enrich(b.store(1, 0), result(1, events.DecisionPassed))
				b.enrich(b.store(2, 0), result(2, events.DecisionRejected))
				b.deliverAll(1, result(1, events.DecisionPassed))
				b.deliverAll(2, result(2, events.DecisionRejected))
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
				b.enrich(b.store(1, 0), result(1, events.DecisionPassed))
				b.deliverAll(1, result(1, events.DecisionPassed))
			},
			want: summary{Stored: 1, Unanswered: 1, Enriched: 1,
				Routes: map[string][6]int{"results": {1, 0, 0, 0, 0, 0}, "hook": {1, 0, 0, 0, 0, 0}, "rejected": {0, 0, 1, 0, 0, 0}}},
		},
		{
			name: "an older callback without output is stale; one without a newer one is lost",
			run: func(b *book) {
				b.post(1, 0, 200)
				b.post(1, -60, 200)
				b.post(2, 0, 200)
				b.enrich(b.store(1, 0), result(1, events.DecisionPassed))
				b.store(1, -60)
				b.store(2, 0)
				b.deliverAll(1, result(1, events.DecisionPassed))
			},
			want: summary{Accepted: 3, Callbacks: 3, Stored: 3, Enriched: 1, Stale: 1, Unaccounted: 1,
				Routes: map[string][6]int{"results": {1, 0, 0, 0, 0, 0}, "hook": {1, 0, 0, 0, 0, 0}, "rejected": {0, 0, 1, 0, 0, 0}}},
			bad: true,
		},
		{
			name: "a late identical result is suppressed; dead letters settle",
			run: func(b *book) {
				b.post(1, 0, 200)
				b.post(1, 60, 200)
				b.post(2, 0, 200)
				b.post(3, 0, 200)
				b.enrich(b.store(1, 0), result(1, events.DecisionPassed))
				b.enrich(b.store(1, 60), result(1, events.DecisionPassed))
				b.deadLetter(events.StageEnrich, "", b.store(2, 0))
				id := b.store(3, 0)
				b.enrich(id, result(3, events.DecisionPassed))
				b.deliverAll(1, result(1, events.DecisionPassed))
				b.deliver("results", "results-3", result(3, events.DecisionPassed))
				b.deadLetter(events.StageNotify, "hook", id)
			},
			want: summary{Accepted: 4, Callbacks: 4, Stored: 4, Enriched: 3, EnrichDL: 1,
				Routes: map[string][6]int{"results": {2, 1, 0, 0, 0, 0}, "hook": {1, 1, 0, 1, 0, 0}, "rejected": {0, 0, 3, 0, 0, 0}}},
		},
		{
			name: "lost at a route, delivered twice at another",
			run: func(b *book) {
				b.post(1, 0, 200)
				b.enrich(b.store(1, 0), result(1, events.DecisionPassed))
				b.deliver("results", "one", result(1, events.DecisionPassed))
				b.deliver("results", "two", result(1, events.DecisionPassed))
			},
			want: summary{Accepted: 1, Callbacks: 1, Stored: 1, Enriched: 1,
				Routes: map[string][6]int{"results": {1, 0, 0, 0, 0, 1}, "hook": {0, 0, 0, 0, 1, 0}, "rejected": {0, 0, 1, 0, 0, 0}}},
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
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &book{}
			tc.run(b)
			l, err := audit(AuditInput{Sent: b.sent, AllowSameIDRepeats: tc.allowSame}, routes(t), b.callbacks, b.enriched, b.res, b.dlq, b.hooks)
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
