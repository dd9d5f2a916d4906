package rig

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/notifier"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// Ledger accounts for every callback a pipeline answered 200, stage by
// stage, from what the streams, the dead-letter stream and the webhook
// receiver hold and what the stages say they dropped (their logs, event by
// event, and their counters):
//
//	ingest:   every callback answered 200 is stored, once
//	enricher: every stored callback is enriched, dead-lettered, dropped
//	          as stale by the enricher's own account (a newer callback of
//	          the execution stored, and the enricher's log naming the event),
//	          or collapsed by its account across a reconciliation (the
//	          other side's callback of the execution and status, reconciled
//	          or Jumio's, enriched, and the enricher's log naming the event)
//	route:    every enriched result the route selects is delivered,
//	          dead-lettered for the route, or suppressed by the notifier's
//	          own account (its log naming the event and the route); an
//	          execution status reaches the route under one delivery id and
//	          is never both delivered and dead-lettered
//
// Anything lost or doubled fails, in every case. A delivery repeated with
// the same id (webhook-id, Nats-Msg-Id), which a crash between a delivery
// and its record causes by design, is counted in a column of its own; it
// never stands in for a missing delivery. The stale and suppressed counts
// are compared with the stages' counters (Counters). Err says what does
// not balance.
type Ledger struct {
	// Posts are the callbacks posted; Accepted those answered 200.
	Posts    int `json:"posts"`
	Accepted int `json:"accepted"`
	// Repeats are accepted posts of a callback accepted before (the same
	// body: ingest stores it once).
	Repeats int `json:"repeats"`
	// Callbacks are the distinct callbacks accepted.
	Callbacks int `json:"callbacks"`
	// Stored are the distinct callbacks in JUMIO_CALLBACKS; Unanswered
	// those of them not answered 200 (stored, but the answer was a 503 or
	// never came: the sender retries, and ingest stores it once);
	// Reconciled those the reconciler stored (events.CallbackEvent.
	// Reconciled), which nobody posted.
	Stored     int `json:"stored"`
	Unanswered int `json:"unanswered"`
	Reconciled int `json:"reconciled"`
	// NotStored are callbacks answered 200 that JUMIO_CALLBACKS does not
	// hold (lost); StoredTwice those it holds more than once (doubled).
	NotStored   []string `json:"notStored,omitempty"`
	StoredTwice []string `json:"storedTwice,omitempty"`

	// Enriched, EnrichDeadLetters and Stale account for the stored
	// callbacks; Unaccounted are stored callbacks without any of the
	// three (lost in the enricher: no output, no dead letter, and no word
	// from the enricher that it dropped them as stale), EnrichedTwice
	// those enriched more than once (doubled).
	Enriched          int      `json:"enriched"`
	EnrichDeadLetters int      `json:"enrichDeadLetters"`
	Stale             int      `json:"stale"`
	Unaccounted       []string `json:"unaccounted,omitempty"`
	EnrichedTwice     []string `json:"enrichedTwice,omitempty"`
	// Collapsed are stored callbacks the enricher dropped, on its word,
	// because the same status of the execution was enriched from the
	// other side of a reconciliation: a reconciled callback and Jumio's
	// own give one result.
	Collapsed int `json:"collapsed"`
	// StaleCounted and CollapsedCounted are the enricher's counters of
	// stale and collapsed drops (every instance, every run the rig
	// scraped).
	StaleCounted     float64 `json:"staleCounted"`
	CollapsedCounted float64 `json:"collapsedCounted"`

	// Routes has a line per route.
	Routes []RouteLedger `json:"routes"`

	// Counters says how the stages' counters were compared with the
	// ledger; CounterMismatches what did not agree.
	Counters          CounterMode `json:"counters"`
	CounterMismatches []string    `json:"counterMismatches,omitempty"`
	// SameIDRepeatsAllowed is AuditInput.AllowSameIDRepeats.
	SameIDRepeatsAllowed bool `json:"sameIdRepeatsAllowed"`
}

// RouteLedger accounts for the enriched results at one route.
type RouteLedger struct {
	Name string `json:"name"`
	// Sink is "webhook" or "nats".
	Sink string `json:"sink"`
	// Filtered are results the route's filter does not select.
	Filtered int `json:"filtered"`
	// Delivered are the execution statuses delivered; Suppressed the
	// results the notifier says it suppressed (identical to one
	// delivered, older than it, or racing an identical one in flight);
	// DeadLetters the results dead-lettered for the route.
	Delivered   int `json:"delivered"`
	Suppressed  int `json:"suppressed"`
	DeadLetters int `json:"deadLetters"`
	// Lost are results the route selects that were neither delivered,
	// dead-lettered nor suppressed by the notifier's account; Twice
	// execution statuses delivered under two delivery ids; Unexpected
	// deliveries of results the route does not select or that were never
	// enriched; DeliveredAndDeadLettered execution statuses that were
	// both delivered and dead-lettered for the route.
	Lost                     []string `json:"lost,omitempty"`
	Twice                    []string `json:"twice,omitempty"`
	Unexpected               []string `json:"unexpected,omitempty"`
	DeliveredAndDeadLettered []string `json:"deliveredAndDeadLettered,omitempty"`
	// SameIDRepeats counts webhook requests answered 2xx again with a
	// webhook-id already answered (at-least-once delivery: receivers
	// de-duplicate by webhook-id), or result messages stored twice with
	// one id.
	SameIDRepeats int `json:"sameIdRepeats"`
	// SuppressedCounted and FilteredCounted are the notifier's counters
	// for the route.
	SuppressedCounted float64 `json:"suppressedCounted"`
	FilteredCounted   float64 `json:"filteredCounted"`
}

// CounterMode is how Audit compares the stages' counters with the ledger.
type CounterMode string

const (
	// CountersExact: each counter equals the ledger's figure. For runs in
	// which no message is handled twice.
	CountersExact CounterMode = "exact"
	// CountersAtLeast: each counter is at least the ledger's figure (a
	// message redelivered after a lost ack is dropped, and counted,
	// again).
	CountersAtLeast CounterMode = "at least"
	// CountersPartial: a stage process was killed and its counters died
	// with it; the counters are shown, not compared, and the stages' logs
	// (event by event) are the account.
	CountersPartial CounterMode = "partial: a stage process was killed, its counters died with it"
)

// AuditInput is what Audit compares the streams with.
type AuditInput struct {
	// Sent are the callbacks posted, with their answers.
	Sent []jumiotest.SentCallback
	// AllowSameIDRepeats accepts deliveries repeated with the same id,
	// which a crash of the notifier or a broker outage between a delivery
	// and its record causes by design; they are counted either way, and
	// every other check runs.
	AllowSameIDRepeats bool
	// ExactCounters compares the stages' counters for equality: for a
	// run in which no message can be handled twice (no process or server
	// killed). Otherwise each counter must be at least the ledger's figure,
	// and when a stage process was killed they are not compared.
	ExactCounters bool
}

// Evidence is what the stages said, event by event, about the messages
// they dropped without output: the lines of their logs.
type Evidence struct {
	// Stale are the event ids the enricher dropped as stale; Collapsed
	// those it dropped as collapsing across a reconciliation.
	Stale     map[string]bool
	Collapsed map[string]bool
	// Suppressed are, by route, the event ids the notifier suppressed.
	Suppressed map[string]map[string]bool
}

// Counters are the stages' own counters, summed over their instances.
type Counters struct {
	Mode CounterMode
	// Stale is the enricher's kycflow_enricher_stale_drops_total;
	// Collapsed its kycflow_enricher_collapsed_drops_total.
	Stale, Collapsed float64
	// Suppressed and Filtered are the notifier's
	// kycflow_notifier_suppressed_total and kycflow_notifier_filtered_total
	// by route.
	Suppressed map[string]float64
	Filtered   map[string]float64
}

// Evidence messages: the log lines (their "msg") in which the stages
// account for a message they settle without output, with its event_id
// (and, for the notifier, its route). The stages log them at debug level,
// so the rig runs them at that level. A line renamed here and not there
// (or the other way round) makes the ledger fail: drops without the
// stage's word are losses.
var (
	evidenceStale      = []string{"callback dropped: a newer callback of the execution came first"}
	evidenceCollapsed  = []string{"callback dropped: its status was enriched across a reconciliation"}
	evidenceSuppressed = []string{
		"result suppressed: delivered already",
		"result suppressed: a newer one was delivered",
		"result suppressed: the same result is being delivered",
	}
)

// Audit reads the pipeline's streams, the receiver's log and the stages'
// logs and counters, and draws the ledger. Call it after Settle. The error
// matches ErrLedger when the ledger does not balance.
func (p *Pipeline) Audit(ctx context.Context, in AuditInput) (*Ledger, error) {
	read := func(stream string) ([]*nats.Msg, error) { return ReadStream(ctx, p.js, stream) }
	callbacks, err := read(events.StreamCallbacks)
	if err != nil {
		return nil, err
	}
	enriched, err := read(events.StreamEnriched)
	if err != nil {
		return nil, err
	}
	results, err := read(events.StreamResults)
	if err != nil {
		return nil, err
	}
	dlq, err := read(events.StreamDLQ)
	if err != nil {
		return nil, err
	}
	counters, err := p.counters(ctx, in.ExactCounters)
	if err != nil {
		return nil, err
	}
	return audit(in, p.routes, streams{callbacks, enriched, results, dlq}, p.receiver.Deliveries(""), p.evidence(), counters)
}

// streams are the messages of the four streams.
type streams struct {
	callbacks, enriched, results, dlq []*nats.Msg
}

// evidence collects the stages' account of their drops from the logs of
// every run of every stage process.
func (p *Pipeline) evidence() Evidence {
	ev := Evidence{Stale: map[string]bool{}, Collapsed: map[string]bool{}, Suppressed: map[string]map[string]bool{}}
	for _, proc := range p.stageProcesses() {
		for _, r := range proc.Records() {
			id := r.Attrs["event_id"]
			switch {
			case id == "":
			case slices.Contains(evidenceStale, r.Msg):
				ev.Stale[id] = true
			case slices.Contains(evidenceCollapsed, r.Msg):
				ev.Collapsed[id] = true
			case slices.Contains(evidenceSuppressed, r.Msg):
				route := r.Attrs["route"]
				if ev.Suppressed[route] == nil {
					ev.Suppressed[route] = map[string]bool{}
				}
				ev.Suppressed[route][id] = true
			}
		}
	}
	return ev
}

// counters reads the stages' counters from every running stage process.
// A stage process that was restarted lost its counts: the mode is then
// CountersPartial.
func (p *Pipeline) counters(ctx context.Context, exact bool) (Counters, error) {
	c := Counters{Mode: CountersAtLeast, Suppressed: map[string]float64{}, Filtered: map[string]float64{}}
	if exact {
		c.Mode = CountersExact
	}
	for _, proc := range p.stageProcesses() {
		if proc.Starts() > 1 || proc.Exited() {
			c.Mode = CountersPartial
		}
	}
	mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, proc := range p.enrichers() {
		if proc.Exited() {
			continue
		}
		v, err := proc.Metric(mctx, metricStaleDrops, nil)
		if err != nil {
			return c, err
		}
		c.Stale += v
		if v, err = proc.Metric(mctx, metricCollapsedDrops, nil); err != nil {
			return c, err
		}
		c.Collapsed += v
	}
	for _, proc := range p.notifiers() {
		if proc.Exited() {
			continue
		}
		for _, r := range p.routes {
			lbl := map[string]string{"route": r.Name}
			s, err := proc.Metric(mctx, metricSuppressed, lbl)
			if err != nil {
				return c, err
			}
			f, err := proc.Metric(mctx, metricFiltered, lbl)
			if err != nil {
				return c, err
			}
			c.Suppressed[r.Name] += s
			c.Filtered[r.Name] += f
		}
	}
	return c, nil
}

// The stages' counters as Prometheus names them (OpenTelemetry counters
// gain "_total").
const (
	metricStaleDrops     = "kycflow_enricher_stale_drops_total"
	metricCollapsedDrops = "kycflow_enricher_collapsed_drops_total"
	metricSuppressed     = "kycflow_notifier_suppressed_total"
	metricFiltered       = "kycflow_notifier_filtered_total"
)

// callbackKey identifies a callback: the execution (scan reference) and
// when Jumio sent it ("?" when it did not say).
func callbackKey(reference string, sentAt *time.Time) string {
	if sentAt == nil || sentAt.IsZero() {
		return reference + "@?"
	}
	return reference + "@" + sentAt.UTC().Truncate(time.Millisecond).Format(time.RFC3339Nano)
}

// stored is a callback in JUMIO_CALLBACKS.
type stored struct {
	ev  events.CallbackEvent
	key string
}

func audit(in AuditInput, routes []notifier.Route, s streams, hooks []Delivery, ev Evidence, c Counters) (*Ledger, error) {
	l := &Ledger{Posts: len(in.Sent), SameIDRepeatsAllowed: in.AllowSameIDRepeats, Counters: c.Mode}
	cbs, err := l.ingest(in.Sent, s.callbacks)
	if err != nil {
		return nil, err
	}
	results, err := enrichedResults(l, s.enriched)
	if err != nil {
		return nil, err
	}
	enrichDLQ, routeDLQ := deadLetters(s.dlq)
	l.enricher(cbs, results, enrichDLQ, ev.Stale, ev.Collapsed)
	l.StaleCounted, l.CollapsedCounted = c.Stale, c.Collapsed
	for _, r := range routes {
		rl := routeLedger(r, results, routeDLQ[r.Name], ev.Suppressed[r.Name], s.results, hooks)
		rl.SuppressedCounted, rl.FilteredCounted = c.Suppressed[r.Name], c.Filtered[r.Name]
		l.Routes = append(l.Routes, rl)
	}
	l.compareCounters()
	for _, s := range [][]string{l.NotStored, l.StoredTwice, l.Unaccounted, l.EnrichedTwice} {
		slices.Sort(s)
	}
	return l, l.Err()
}

// storedCallbacks are the distinct callbacks of JUMIO_CALLBACKS, by event
// id and by execution.
type storedCallbacks struct {
	byEvent map[string]*stored
	byExec  map[string][]*stored
}

// ingest checks ingest's part: every callback answered 200 is stored
// once, and nothing else is stored.
func (l *Ledger) ingest(sent []jumiotest.SentCallback, msgs []*nats.Msg) (storedCallbacks, error) {
	accepted := map[string]bool{}
	for _, s := range sent {
		if s.Err != nil || s.Status != 200 {
			continue
		}
		l.Accepted++
		k := callbackKey(s.Reference, &s.SentAt)
		if accepted[k] {
			l.Repeats++
		}
		accepted[k] = true
	}
	l.Callbacks = len(accepted)
	cbs := storedCallbacks{byEvent: map[string]*stored{}, byExec: map[string][]*stored{}}
	byKey := map[string][]*stored{}
	for _, m := range msgs {
		var ev events.CallbackEvent
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			return cbs, fmt.Errorf("rig: %s holds a message that is not a callback event: %w", events.StreamCallbacks, err)
		}
		st := &stored{ev: ev, key: callbackKey(ev.WorkflowExecutionID, ev.CallbackSentAt)}
		if cbs.byEvent[ev.EventID] != nil {
			l.StoredTwice = append(l.StoredTwice, ev.EventID)
			continue
		}
		cbs.byEvent[ev.EventID] = st
		cbs.byExec[ev.WorkflowExecutionID] = append(cbs.byExec[ev.WorkflowExecutionID], st)
		if ev.Reconciled {
			// Nobody posted it: it neither stands for a posted callback
			// nor counts as unanswered.
			l.Reconciled++
			continue
		}
		byKey[st.key] = append(byKey[st.key], st)
	}
	l.Stored = len(cbs.byEvent)
	for k := range accepted {
		ref, _, _ := strings.Cut(k, "@")
		if len(byKey[k]) == 0 && len(byKey[ref+"@?"]) == 0 {
			l.NotStored = append(l.NotStored, k)
		}
	}
	for k, ss := range byKey {
		if !accepted[k] {
			l.Unanswered += len(ss)
		}
	}
	return cbs, nil
}

// enrichedResults decodes JUMIO_ENRICHED's results by callback event id,
// noting the events enriched twice.
func enrichedResults(l *Ledger, msgs []*nats.Msg) (map[string]events.Result, error) {
	results := map[string]events.Result{}
	for _, m := range msgs {
		id := m.Header.Get(events.HeaderCEID)
		if _, ok := results[id]; ok {
			l.EnrichedTwice = append(l.EnrichedTwice, id)
			continue
		}
		var ee events.EnrichedEvent
		if err := json.Unmarshal(m.Data, &ee); err != nil {
			return nil, fmt.Errorf("rig: %s holds a message that is not an enriched event: %w", events.StreamEnriched, err)
		}
		results[id] = ee.Result
	}
	return results, nil
}

// deadLetters are the event ids of JUMIO_DLQ: the enrich stage's, and the
// notify stage's by route.
func deadLetters(msgs []*nats.Msg) (enrich map[string]bool, byRoute map[string]map[string]bool) {
	enrich, byRoute = map[string]bool{}, map[string]map[string]bool{}
	for _, m := range msgs {
		id := eventIDOf(m)
		switch events.Stage(m.Header.Get(events.HeaderStage)) {
		case events.StageEnrich:
			enrich[id] = true
		case events.StageNotify:
			r := m.Header.Get(events.HeaderRoute)
			if byRoute[r] == nil {
				byRoute[r] = map[string]bool{}
			}
			byRoute[r][id] = true
		}
	}
	return enrich, byRoute
}

// enricher checks the enricher's part: every stored callback is
// enriched, dead-lettered, dropped as stale on the enricher's word
// (stale, from its log) when a newer callback of the execution exists, or
// collapsed on its word (collapsed) when the other side of a
// reconciliation of the execution and status was enriched.
func (l *Ledger) enricher(cbs storedCallbacks, results map[string]events.Result, dlq, stale, collapsed map[string]bool) {
	for id, st := range cbs.byEvent {
		_, enriched := results[id]
		switch {
		case enriched:
			l.Enriched++
		case dlq[id]:
			l.EnrichDeadLetters++
		case stale[id] && newerExists(st, cbs.byExec[st.ev.WorkflowExecutionID]):
			l.Stale++
		case collapsed[id] && otherSideEnriched(st, cbs.byExec[st.ev.WorkflowExecutionID], results):
			l.Collapsed++
		default:
			l.Unaccounted = append(l.Unaccounted, st.key+" ("+id+")")
		}
	}
}

// compareCounters notes where the stages' counters disagree with the
// ledger, as the mode says.
func (l *Ledger) compareCounters() {
	check := func(what string, ledger int, counter float64) {
		switch l.Counters {
		case CountersExact:
			if counter != float64(ledger) {
				l.CounterMismatches = append(l.CounterMismatches, fmt.Sprintf("%s: the ledger has %d, the counter %.0f", what, ledger, counter))
			}
		case CountersAtLeast:
			if counter < float64(ledger) {
				l.CounterMismatches = append(l.CounterMismatches, fmt.Sprintf("%s: the ledger has %d, the counter only %.0f", what, ledger, counter))
			}
		}
	}
	check("enricher stale drops", l.Stale, l.StaleCounted)
	check("enricher collapsed drops", l.Collapsed, l.CollapsedCounted)
	for _, r := range l.Routes {
		check("route "+r.Name+" suppressed", r.Suppressed, r.SuppressedCounted)
		check("route "+r.Name+" filtered", r.Filtered, r.FilteredCounted)
	}
}

// newerExists reports whether another stored callback of the execution
// was sent after s.
func newerExists(s *stored, same []*stored) bool {
	if s.ev.CallbackSentAt == nil {
		return false
	}
	for _, o := range same {
		if o.ev.CallbackSentAt != nil && o.ev.CallbackSentAt.After(*s.ev.CallbackSentAt) {
			return true
		}
	}
	return false
}

// otherSideEnriched reports whether a callback of the execution with s's
// status from the other side of a reconciliation (reconciled when s is
// Jumio's, Jumio's when s is reconciled) was enriched: what a collapse
// keeps.
func otherSideEnriched(s *stored, same []*stored, enriched map[string]events.Result) bool {
	for _, o := range same {
		if _, ok := enriched[o.ev.EventID]; ok && o.ev.Reconciled != s.ev.Reconciled && strings.EqualFold(o.ev.Status, s.ev.Status) {
			return true
		}
	}
	return false
}

// eventIDOf is the callback event id a derived message carries.
func eventIDOf(m *nats.Msg) string {
	if id := m.Header.Get(events.HeaderEventID); id != "" {
		return id
	}
	return m.Header.Get(events.HeaderCEID)
}

// routeDelivery is one delivery a route made: its id and the callback
// event whose result it carried.
type routeDelivery struct {
	id, eventID string
}

func routeLedger(r notifier.Route, enriched map[string]events.Result, dlq, suppressed map[string]bool, results []*nats.Msg, hooks []Delivery) RouteLedger {
	rl := RouteLedger{Name: r.Name, Sink: r.SinkKind()}
	// What the route should account for: the selected results by
	// execution status.
	want := map[string][]string{} // execution status → event ids
	for id, res := range enriched {
		if !r.Filter.Match(res) {
			rl.Filtered++
			continue
		}
		k := resultKey(res.IDs.AccountID, res.IDs.WorkflowExecutionID, res.Status)
		want[k] = append(want[k], id)
	}
	// What the route delivered: deliveries by execution status.
	got := map[string][]routeDelivery{}
	if r.Webhook != nil {
		for _, d := range hooks {
			if d.Route == r.Name {
				k := resultKey(d.AccountID, d.ExecutionID, d.Status)
				got[k] = append(got[k], routeDelivery{id: d.ID, eventID: d.EventID})
			}
		}
	} else {
		for _, m := range results {
			if m.Header.Get(events.HeaderRoute) != r.Name {
				continue
			}
			var res events.Result
			if json.Unmarshal(m.Data, &res) != nil {
				rl.Unexpected = append(rl.Unexpected, "undecodable result "+m.Header.Get(events.HeaderCEID))
				continue
			}
			k := resultKey(res.IDs.AccountID, res.IDs.WorkflowExecutionID, res.Status)
			got[k] = append(got[k], routeDelivery{id: m.Header.Get(events.HeaderCEID), eventID: m.Header.Get(events.HeaderEventID)})
		}
	}
	for k, ds := range got {
		ids := map[string]int{}
		for _, d := range ds {
			ids[d.id]++
			if !slices.Contains(want[k], d.eventID) {
				rl.Unexpected = append(rl.Unexpected, k+" (event "+d.eventID+")")
			}
		}
		for _, n := range ids {
			rl.SameIDRepeats += n - 1
		}
		if len(ids) > 1 {
			rl.Twice = append(rl.Twice, k)
		}
	}
	for k, evs := range want {
		delivered := map[string]bool{}
		for _, d := range got[k] {
			delivered[d.eventID] = true
		}
		deadLettered := false
		for _, id := range evs {
			switch {
			case delivered[id]:
			case dlq[id]:
				rl.DeadLetters++
				deadLettered = true
			case suppressed[id]:
				rl.Suppressed++
			default:
				rl.Lost = append(rl.Lost, k+" (event "+id+")")
			}
		}
		if len(got[k]) > 0 {
			rl.Delivered++
			if deadLettered {
				rl.DeliveredAndDeadLettered = append(rl.DeliveredAndDeadLettered, k)
			}
		}
	}
	for _, s := range [][]string{rl.Lost, rl.Twice, rl.Unexpected, rl.DeliveredAndDeadLettered} {
		slices.Sort(s)
	}
	return rl
}

// ErrLedger is matched by the errors of Ledger.Err.
var ErrLedger = errors.New("rig: the ledger does not balance")

// Err reports what does not balance (nil when everything does): callbacks
// accepted and not stored, stored twice, lost in the enricher or enriched
// twice; results lost at a route, delivered twice, delivered to a route
// that does not select them, or both delivered and dead-lettered; stage
// counters that disagree with the ledger; and deliveries repeated with the
// same id unless they were allowed.
func (l *Ledger) Err() error {
	var errs []error
	bad := func(what string, items []string) {
		if len(items) > 0 {
			errs = append(errs, fmt.Errorf("%w: %d %s (%s)", ErrLedger, len(items), what, sample(items)))
		}
	}
	bad("callbacks answered 200 and not stored", l.NotStored)
	bad("callbacks stored twice", l.StoredTwice)
	bad("stored callbacks neither enriched, dead-lettered nor dropped as stale or collapsed by the enricher's account", l.Unaccounted)
	bad("callbacks enriched twice", l.EnrichedTwice)
	for _, r := range l.Routes {
		bad("results lost at route "+r.Name, r.Lost)
		bad("execution statuses delivered twice to route "+r.Name, r.Twice)
		bad("unexpected deliveries to route "+r.Name, r.Unexpected)
		bad("execution statuses both delivered and dead-lettered at route "+r.Name, r.DeliveredAndDeadLettered)
		if r.SameIDRepeats > 0 && !l.SameIDRepeatsAllowed {
			errs = append(errs, fmt.Errorf("%w: route %s: %d deliveries repeated with the same id in a run without a crash", ErrLedger, r.Name, r.SameIDRepeats))
		}
	}
	bad("stage counters that disagree with the ledger", l.CounterMismatches)
	return errors.Join(errs...)
}

func sample(items []string) string {
	if len(items) > 3 {
		return strings.Join(items[:3], ", ") + ", …"
	}
	return strings.Join(items, ", ")
}

// Lost counts what the ledger found lost: callbacks answered 200 and not
// stored, stored and not accounted for by the enricher, and results not
// accounted for at a route.
func (l *Ledger) Lost() int {
	n := len(l.NotStored) + len(l.Unaccounted)
	for _, r := range l.Routes {
		n += len(r.Lost)
	}
	return n
}

// Doubled counts what the ledger found doubled: callbacks stored or
// enriched twice, execution statuses delivered under two ids.
func (l *Ledger) Doubled() int {
	n := len(l.StoredTwice) + len(l.EnrichedTwice)
	for _, r := range l.Routes {
		n += len(r.Twice)
	}
	return n
}

// SameIDRepeats sums the same-id repeats of every route.
func (l *Ledger) SameIDRepeats() int {
	n := 0
	for _, r := range l.Routes {
		n += r.SameIDRepeats
	}
	return n
}

// Write prints the ledger.
func (l *Ledger) Write(w io.Writer) {
	fmt.Fprintf(w, "  ledger  posted %d, answered 200: %d = %d callbacks + %d repeated posts\n", l.Posts, l.Accepted, l.Callbacks, l.Repeats)
	fmt.Fprintf(w, "          ingest    stored %d (%d of them answered other than 200, %d reconciled), not stored %d, stored twice %d\n",
		l.Stored, l.Unanswered, l.Reconciled, len(l.NotStored), len(l.StoredTwice))
	fmt.Fprintf(w, "          enricher  %d stored = %d enriched + %d dead letters + %d stale drops (counted %.0f) + %d collapsed drops (counted %.0f) + %d unaccounted; enriched twice %d\n",
		l.Stored, l.Enriched, l.EnrichDeadLetters, l.Stale, l.StaleCounted, l.Collapsed, l.CollapsedCounted, len(l.Unaccounted), len(l.EnrichedTwice))
	for _, r := range l.Routes {
		fmt.Fprintf(w, "          route %-10s %d enriched = %d delivered + %d suppressed (counted %.0f) + %d filtered out (counted %.0f) + %d dead letters + %d lost; delivered twice %d, delivered and dead-lettered %d, same-id repeats %d\n",
			r.Name, l.Enriched, r.Delivered, r.Suppressed, r.SuppressedCounted, r.Filtered, r.FilteredCounted, r.DeadLetters, len(r.Lost), len(r.Twice), len(r.DeliveredAndDeadLettered), r.SameIDRepeats)
	}
	fmt.Fprintf(w, "          counters  compared: %s\n", l.Counters)
	if err := l.Err(); err != nil {
		fmt.Fprintf(w, "          DOES NOT BALANCE: %v\n", err)
	} else {
		fmt.Fprintf(w, "          balanced: lost 0, doubled 0, same-id repeats %d\n", l.SameIDRepeats())
	}
}

// stageProcesses are the pipeline's processes that run a stage (ingest
// excluded: it drops nothing).
func (p *Pipeline) stageProcesses() []*Process {
	return append(p.enrichers(), p.notifiers()...)
}

// ReadStream returns every message of a stream, in order, through an
// ordered consumer. A read can fail while a cluster settles (no
// responders on a server just restarted, a stream without a leader for a
// moment): it is tried again until ctx ends. A stream that does not exist
// fails at once.
func ReadStream(ctx context.Context, js jetstream.JetStream, stream string) ([]*nats.Msg, error) {
	for {
		msgs, err := readStream(ctx, js, stream)
		if err == nil || ctx.Err() != nil || errors.Is(err, jetstream.ErrStreamNotFound) {
			return msgs, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// readStream is one attempt of ReadStream.
func readStream(ctx context.Context, js jetstream.JetStream, stream string) ([]*nats.Msg, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("rig: stream %s: %w", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("rig: stream %s: %w", stream, err)
	}
	if info.State.Msgs == 0 {
		return nil, nil
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, fmt.Errorf("rig: stream %s: %w", stream, err)
	}
	out := make([]*nats.Msg, 0, info.State.Msgs)
	for {
		batch, err := c.Fetch(500, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return nil, fmt.Errorf("rig: stream %s: %w", stream, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			meta, err := m.Metadata()
			if err != nil {
				return nil, fmt.Errorf("rig: stream %s: %w", stream, err)
			}
			out = append(out, &nats.Msg{Subject: m.Subject(), Header: maps.Clone(m.Headers()), Data: m.Data()})
			if meta.Sequence.Stream >= info.State.LastSeq {
				return out, nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return nil, fmt.Errorf("rig: stream %s: %w", stream, err)
		}
		if n == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
	}
}
