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
// receiver hold:
//
//	ingest:   every callback accepted is stored once
//	enricher: stored = enriched + dead letters + stale drops
//	route:    enriched = delivered + identical repeats suppressed
//	          + filtered out + dead letters
//
// and no execution status reaches a route under two delivery ids. Err
// says what does not balance.
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
	// never came: the sender retries, and ingest stores it once).
	Stored     int `json:"stored"`
	Unanswered int `json:"unanswered"`
	// NotStored are callbacks answered 200 that JUMIO_CALLBACKS does not
	// hold; StoredTwice those it holds more than once.
	NotStored   []string `json:"notStored,omitempty"`
	StoredTwice []string `json:"storedTwice,omitempty"`

	// Enriched, EnrichDeadLetters and Stale account for the stored
	// callbacks; Unaccounted are stored callbacks without any of the
	// three (lost in the enricher), EnrichedTwice those enriched more
	// than once.
	Enriched          int      `json:"enriched"`
	EnrichDeadLetters int      `json:"enrichDeadLetters"`
	Stale             int      `json:"stale"`
	Unaccounted       []string `json:"unaccounted,omitempty"`
	EnrichedTwice     []string `json:"enrichedTwice,omitempty"`

	// Routes has a line per route.
	Routes []RouteLedger `json:"routes"`
}

// RouteLedger accounts for the enriched results at one route.
type RouteLedger struct {
	Name string `json:"name"`
	// Sink is "webhook" or "nats".
	Sink string `json:"sink"`
	// Filtered are results the route's filter does not select.
	Filtered int `json:"filtered"`
	// Delivered are the execution statuses delivered; Suppressed the
	// results identical to one delivered (a repeated or late callback);
	// DeadLetters the results dead-lettered for the route.
	Delivered   int `json:"delivered"`
	Suppressed  int `json:"suppressed"`
	DeadLetters int `json:"deadLetters"`
	// Lost are execution statuses the route should have and does not;
	// Twice those delivered under two delivery ids; Unexpected deliveries
	// of results the route does not select.
	Lost       []string `json:"lost,omitempty"`
	Twice      []string `json:"twice,omitempty"`
	Unexpected []string `json:"unexpected,omitempty"`
	// SameIDRepeats counts webhook requests answered 2xx again with a
	// webhook-id already answered (at-least-once delivery: receivers
	// de-duplicate by webhook-id), or result messages stored twice with
	// one id.
	SameIDRepeats int `json:"sameIdRepeats"`
}

// AuditInput is what Audit compares the streams with.
type AuditInput struct {
	// Sent are the callbacks posted, with their answers.
	Sent []jumiotest.SentCallback
	// AllowSameIDRepeats accepts webhooks repeated with the same
	// webhook-id, which a crash (or a broker outage) between a delivery
	// and its record causes by design; otherwise a repeat fails the
	// ledger.
	AllowSameIDRepeats bool
}

// Audit reads the pipeline's streams and the receiver's log and draws the
// ledger. Call it after Settle.
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
	return audit(in, p.routes, callbacks, enriched, results, dlq, p.receiver.Deliveries(""))
}

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

func audit(in AuditInput, routes []notifier.Route, callbacks, enriched, results, dlq []*nats.Msg, hooks []Delivery) (*Ledger, error) {
	l := &Ledger{Posts: len(in.Sent)}

	// Ingest: every callback answered 200 is stored once.
	accepted := map[string]bool{}
	for _, s := range in.Sent {
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
	byEvent := map[string]*stored{}
	byKey := map[string][]*stored{}
	byExec := map[string][]*stored{}
	for _, m := range callbacks {
		var ev events.CallbackEvent
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			return nil, fmt.Errorf("rig: %s holds a message that is not a callback event: %w", events.StreamCallbacks, err)
		}
		s := &stored{ev: ev, key: callbackKey(ev.WorkflowExecutionID, ev.CallbackSentAt)}
		if byEvent[ev.EventID] != nil {
			l.StoredTwice = append(l.StoredTwice, ev.EventID)
			continue
		}
		byEvent[ev.EventID] = s
		byKey[s.key] = append(byKey[s.key], s)
		byExec[ev.WorkflowExecutionID] = append(byExec[ev.WorkflowExecutionID], s)
	}
	l.Stored = len(byEvent)
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

	// Enricher: stored = enriched + dead letters + stale drops.
	results1 := map[string]events.Result{} // by callback event id
	seen := map[string]bool{}
	for _, m := range enriched {
		id := m.Header.Get(events.HeaderCEID)
		if seen[id] {
			l.EnrichedTwice = append(l.EnrichedTwice, id)
			continue
		}
		seen[id] = true
		var ee events.EnrichedEvent
		if err := json.Unmarshal(m.Data, &ee); err != nil {
			return nil, fmt.Errorf("rig: %s holds a message that is not an enriched event: %w", events.StreamEnriched, err)
		}
		results1[id] = ee.Result
	}
	enrichDLQ := map[string]bool{}
	routeDLQ := map[string]map[string]bool{} // route → event ids
	for _, m := range dlq {
		id := eventIDOf(m)
		switch events.Stage(m.Header.Get(events.HeaderStage)) {
		case events.StageEnrich:
			enrichDLQ[id] = true
		case events.StageNotify:
			r := m.Header.Get(events.HeaderRoute)
			if routeDLQ[r] == nil {
				routeDLQ[r] = map[string]bool{}
			}
			routeDLQ[r][id] = true
		}
	}
	for id, s := range byEvent {
		switch {
		case seen[id]:
			l.Enriched++
		case enrichDLQ[id]:
			l.EnrichDeadLetters++
		case newerExists(s, byExec[s.ev.WorkflowExecutionID]):
			l.Stale++
		default:
			l.Unaccounted = append(l.Unaccounted, s.key)
		}
	}

	// Routes.
	for _, r := range routes {
		l.Routes = append(l.Routes, routeLedger(r, results1, routeDLQ[r.Name], results, hooks))
	}
	for _, s := range [][]string{l.NotStored, l.StoredTwice, l.Unaccounted, l.EnrichedTwice} {
		slices.Sort(s)
	}
	if in.AllowSameIDRepeats {
		return l, nil
	}
	return l, l.strict()
}

// strict is Err with same-id repeats counted as failures.
func (l *Ledger) strict() error {
	if err := l.Err(); err != nil {
		return err
	}
	for _, r := range l.Routes {
		if r.SameIDRepeats > 0 {
			return fmt.Errorf("%w: route %s: %d deliveries repeated with the same id", ErrLedger, r.Name, r.SameIDRepeats)
		}
	}
	return nil
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

// eventIDOf is the callback event id a derived message carries.
func eventIDOf(m *nats.Msg) string {
	if id := m.Header.Get(events.HeaderEventID); id != "" {
		return id
	}
	return m.Header.Get(events.HeaderCEID)
}

func routeLedger(r notifier.Route, enriched map[string]events.Result, dlq map[string]bool, results []*nats.Msg, hooks []Delivery) RouteLedger {
	rl := RouteLedger{Name: r.Name, Sink: r.SinkKind()}
	type slot struct {
		results, deadLetters int
	}
	want := map[string]*slot{}
	for id, res := range enriched {
		if !r.Filter.Match(res) {
			rl.Filtered++
			continue
		}
		k := resultKey(res.IDs.AccountID, res.IDs.WorkflowExecutionID, res.Status)
		if want[k] == nil {
			want[k] = &slot{}
		}
		want[k].results++
		if dlq[id] {
			want[k].deadLetters++
		}
	}
	// What the route delivered: delivery ids per execution status.
	got := map[string]map[string]int{}
	add := func(key, id string) {
		if got[key] == nil {
			got[key] = map[string]int{}
		}
		got[key][id]++
	}
	if r.Webhook != nil {
		for _, d := range hooks {
			if d.Route == r.Name {
				add(resultKey(d.AccountID, d.ExecutionID, d.Status), d.ID)
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
			add(resultKey(res.IDs.AccountID, res.IDs.WorkflowExecutionID, res.Status), m.Header.Get(events.HeaderCEID))
		}
	}
	for k, ids := range got {
		for _, n := range ids {
			rl.SameIDRepeats += n - 1
		}
		if want[k] == nil {
			rl.Unexpected = append(rl.Unexpected, k)
		}
		if len(ids) > 1 {
			rl.Twice = append(rl.Twice, k)
		}
	}
	for k, s := range want {
		switch {
		case len(got[k]) > 0:
			rl.Delivered++
			rl.DeadLetters += s.deadLetters
			rl.Suppressed += s.results - 1 - s.deadLetters
		case s.deadLetters > 0:
			// A dead letter settles the execution status for the route:
			// identical results after it are suppressed.
			rl.DeadLetters += s.deadLetters
			rl.Suppressed += s.results - s.deadLetters
		default:
			rl.Lost = append(rl.Lost, k)
		}
	}
	for _, s := range [][]string{rl.Lost, rl.Twice, rl.Unexpected} {
		slices.Sort(s)
	}
	return rl
}

// ErrLedger is matched by the errors of Ledger.Err.
var ErrLedger = errors.New("rig: the ledger does not balance")

// Err reports what does not balance (nil when everything does): callbacks
// accepted and not stored, stored twice, lost in the enricher or enriched
// twice; results lost at a route, delivered twice, or delivered to a route
// that does not select them.
func (l *Ledger) Err() error {
	var errs []error
	bad := func(what string, items []string) {
		if len(items) > 0 {
			errs = append(errs, fmt.Errorf("%w: %d %s (%s)", ErrLedger, len(items), what, sample(items)))
		}
	}
	bad("callbacks answered 200 and not stored", l.NotStored)
	bad("callbacks stored twice", l.StoredTwice)
	bad("stored callbacks neither enriched, dead-lettered nor stale", l.Unaccounted)
	bad("callbacks enriched twice", l.EnrichedTwice)
	for _, r := range l.Routes {
		bad("results lost at route "+r.Name, r.Lost)
		bad("execution statuses delivered twice to route "+r.Name, r.Twice)
		bad("unexpected deliveries to route "+r.Name, r.Unexpected)
	}
	return errors.Join(errs...)
}

func sample(items []string) string {
	if len(items) > 3 {
		return strings.Join(items[:3], ", ") + ", …"
	}
	return strings.Join(items, ", ")
}

// Write prints the ledger.
func (l *Ledger) Write(w io.Writer) {
	fmt.Fprintf(w, "  ledger  posted %d, answered 200: %d = %d callbacks + %d repeated posts\n", l.Posts, l.Accepted, l.Callbacks, l.Repeats)
	fmt.Fprintf(w, "          ingest    stored %d (%d of them answered other than 200), not stored %d, stored twice %d\n",
		l.Stored, l.Unanswered, len(l.NotStored), len(l.StoredTwice))
	fmt.Fprintf(w, "          enricher  %d stored = %d enriched + %d dead letters + %d stale drops + %d unaccounted; enriched twice %d\n",
		l.Stored, l.Enriched, l.EnrichDeadLetters, l.Stale, len(l.Unaccounted), len(l.EnrichedTwice))
	for _, r := range l.Routes {
		fmt.Fprintf(w, "          route %-10s %d enriched = %d delivered + %d identical repeats suppressed + %d filtered out + %d dead letters + %d lost; delivered twice %d, same-id repeats %d\n",
			r.Name, l.Enriched, r.Delivered, r.Suppressed, r.Filtered, r.DeadLetters, len(r.Lost), len(r.Twice), r.SameIDRepeats)
	}
	if err := l.Err(); err != nil {
		fmt.Fprintf(w, "          DOES NOT BALANCE: %v\n", err)
	} else {
		fmt.Fprintf(w, "          balanced\n")
	}
}

// ReadStream returns every message of a stream, in order, through an
// ordered consumer.
func ReadStream(ctx context.Context, js jetstream.JetStream, stream string) ([]*nats.Msg, error) {
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
