package notifier

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/pkg/events"
)

// Dead-letter classes (Kycflow-Error-Class).
const (
	ClassPermanent   = "permanent"
	ClassRetryBudget = "retry_budget"
	ClassMalformed   = "malformed"
)

const (
	// maxRetryAfter caps how long a Retry-After can defer a retry.
	maxRetryAfter = time.Hour
	// opTimeout bounds one delivery record or dead-letter operation.
	opTimeout = 10 * time.Second
)

// disabledDelay is when a message of a disabled route comes back, once a
// restarted notifier reads the route again. (A variable for tests.)
var disabledDelay = 5 * time.Second

// ErrMalformed is the cause of a dead letter whose message is not an
// enriched event this notifier can read.
var ErrMalformed = errors.New("notifier: malformed enriched event")

// input is what a route reads from one enriched message.
type input struct {
	result    events.Result
	eventID   string
	account   string
	execution string
}

// decode reads an enriched message, its result through d (shared by the
// routes; nil: decoded here). On error the ids come from the subject
// (jumio.enriched.<account>.<execution>), for the dead letter.
func decode(msg *message.Message, d *decodings) (input, error) {
	var in input
	if parts := strings.Split(broker.Subject(msg), "."); len(parts) == 4 {
		in.account, in.execution = parts[2], parts[3]
	}
	in.eventID = msg.Metadata.Get(events.HeaderEventID)
	r, err := d.result(broker.StreamSeq(msg), msg.Payload)
	if err != nil {
		return in, err
	}
	in.result = r
	in.account, in.execution = r.IDs.AccountID, r.IDs.WorkflowExecutionID
	if in.eventID == "" {
		in.eventID = r.IDs.EventID
	}
	if in.eventID == "" {
		in.eventID = msg.UUID
	}
	return in, nil
}

// handle delivers one enriched message to the route. Every outcome is
// settled in its steps: ack (return nil) when delivered, suppressed,
// filtered or dead-lettered; a quiet delayed redelivery (broker.Redeliver)
// when the attempt must be repeated. It returns an error only for a
// message it could not settle otherwise.
//
//  1. prepare: read the message, filter it, project it by the route's
//     policy (and its migrated key), and name its delivery (ids, replay
//     marker);
//  2. claim: ask the delivery records whether it goes out (suppressed as
//     identical, stale or in flight; busy: later) and hold its record;
//  3. deliver to the sink;
//  4. settle: record the delivery, or classify the failure and retry,
//     dead-letter or disable the route.
func (rt *route) handle(msg *message.Message) error {
	ctx := msg.Context()
	if rt.disabled.Load() {
		broker.Redeliver(msg, disabledDelay)
		return nil
	}
	j, ok, err := rt.prepare(ctx, msg)
	if !ok {
		return err
	}
	claimed, ok, err := rt.claim(ctx, msg, j)
	if !ok {
		return err
	}
	if claimed.id != j.delivery.ID {
		// A redrive goes out under the id of the delivery that failed
		// (ledger.begin).
		j.delivery.ID, j.log = claimed.id, nil
	}
	// A replay is a replay to the receiver only when it repeats what the
	// route delivered: a first delivery that comes through a replay or a
	// redrive is a normal one.
	j.replayed = j.marker != nil && j.marker.Redeliver && claimed.repeat()
	if j.replayed {
		j.delivery.Replay = j.marker
	}
	err = rt.sink.Deliver(ctx, j.delivery)
	return rt.settle(ctx, msg, j, claimed, err)
}

// job is one enriched message on its way to the route's sink.
type job struct {
	in      input
	attempt int
	marker  *events.ReplayMarker // nil unless replayed
	// delivery is what the sink gets; want what the records are asked.
	delivery Delivery
	want     want
	hash     string
	key      string // of the delivery record
	// dlqEvent is the event id a dead letter is derived from.
	dlqEvent string
	replayed bool
	// base is the route's logger; log, built by logger when a line is
	// written, adds the job's ids (slog's With encodes them at once,
	// which most messages, writing no line at INFO, need not pay).
	base *slog.Logger
	log  *slog.Logger
}

// logger is the route's logger with the job's ids: the message's, and
// the delivery's once prepared.
func (j *job) logger() *slog.Logger {
	if j.log == nil {
		args := []any{"event_id", j.in.eventID, "account_id", j.in.account, "workflow_execution_id", j.in.execution, "attempt", j.attempt}
		if j.delivery.ID != "" {
			args = append(args, "delivery_id", j.delivery.ID)
		}
		j.log = j.base.With(args...)
	}
	return j.log
}

// debug writes a DEBUG line with the job's ids, when DEBUG is on.
func (j *job) debug(ctx context.Context, msg string, args ...any) {
	if j.base.Enabled(ctx, slog.LevelDebug) {
		j.logger().DebugContext(ctx, msg, args...)
	}
}

// prepare reads msg into a job. A message that is not an enriched event
// is dead-lettered, one the filter, the replay marker or the route's
// migrated key leaves out is counted; for those ok is false and the
// message is acked. When the delivery records cannot say whether the
// route delivered a migrated result's Netverify original, ok is false and
// the message is redelivered later; err is what handle returns then.
func (rt *route) prepare(ctx context.Context, msg *message.Message) (j job, ok bool, err error) {
	j.attempt = broker.Attempt(msg)
	in, derr := decode(msg, rt.n.decoded)
	j.in = in
	j.base = rt.log
	if derr != nil {
		rt.deadLetter(ctx, msg, in, in.eventID, derr, ClassMalformed, j.attempt, j.logger())
		return j, false, nil
	}
	if h := msg.Metadata.Get(events.HeaderReplay); h != "" {
		m, err := events.ParseReplayMarker(h)
		if err != nil {
			j.logger().WarnContext(ctx, "malformed replay marker; handled as a first delivery", "error", err)
		} else {
			j.marker = &m
		}
	}
	if !redrivenProjection(in.result, j.marker, rt.Name) && !rt.Filter.Match(in.result) {
		rt.n.metrics.filtered.Add(ctx, 1, routeAttrs(rt.Name))
		return j, false, nil
	}
	if rt.n.hook != nil {
		rt.n.hook(rt.Name, in.eventID)
	}
	if j.marker != nil && !j.marker.Covers(rt.Name) {
		rt.n.metrics.suppressed.Add(ctx, 1, routeAttrs(rt.Name, attribute.String("reason", "replay_other_route")))
		return j, false, nil
	}

	projected := events.Project(in.result, rt.Policy)
	if in.result.Migration != nil && rt.Migrated != MigratedDeliver {
		lctx, cancel := context.WithTimeout(ctx, opTimeout)
		had, err := rt.n.ledger.deliveredAny(lctx, rt.Name, in.result.Migration.ScanReference)
		cancel()
		switch {
		case err != nil:
			j.logger().WarnContext(ctx, "delivery records unavailable; retrying", "error", err)
			return j, false, rt.retry(ctx, msg, rt.Retry.delay(j.attempt, 0), "ledger")
		case had && rt.Migrated == MigratedSuppress:
			rt.n.metrics.suppressed.Add(ctx, 1, routeAttrs(rt.Name, attribute.String("reason", "migrated")))
			j.debug(ctx, "migrated result suppressed: the route delivered its Netverify original")
			return j, false, nil
		case had:
			projected.Migration.NetverifyDelivered = true
		}
	}
	j.hash = ContentHash(projected)
	j.delivery = Delivery{ID: DeliveryID(in.eventID, rt.Name, j.hash), Route: rt.Name, EventID: in.eventID, Result: projected}
	j.want = want{id: j.delivery.ID, hash: j.hash, eventID: in.eventID, hold: rt.hold}
	j.want.sent = in.result.Timestamps.OrderTime()
	j.dlqEvent = in.eventID
	if m := j.marker; m != nil {
		j.dlqEvent = m.MessageID(in.eventID)
	}
	if m := j.marker; m != nil && m.Redeliver {
		// A replay asking for redelivery is a delivery of its own. One
		// that does not ask for it is a repeat of the result, as Jumio's
		// callback sent again is: under the result's own id, so that it
		// is suppressed as one, and goes out under the id of its failed
		// delivery while that waits for its retry (ledger.begin).
		j.delivery.ID = m.MessageID(j.delivery.ID)
		j.want.id, j.want.replay, j.want.redeliver, j.want.redrive = j.delivery.ID, m.ID, true, m.Redrive
	}
	j.key = LedgerKey(rt.Name, in.result)
	j.log = nil // built again with the delivery id
	return j, true, nil
}

// claim asks the delivery records whether j goes out and, when it does,
// holds its record (ok). Otherwise the message is settled here: acked as
// suppressed, or redelivered later when the records are busy or
// unavailable; err is what handle returns then.
func (rt *route) claim(ctx context.Context, msg *message.Message, j job) (claimed attempt, ok bool, err error) {
	lctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	newer, err := rt.superseded(lctx, msg, j)
	if err != nil {
		j.logger().WarnContext(ctx, "enriched stream unavailable; retrying", "error", err)
		return claimed, false, rt.retry(ctx, msg, rt.Retry.delay(j.attempt, 0), "ledger")
	}
	v, wait := stale, time.Duration(0) // superseded: stale, without a claim
	if !newer {
		v, claimed, wait, err = rt.n.ledger.begin(lctx, j.key, j.want)
	}
	switch {
	case err != nil:
		j.logger().WarnContext(ctx, "delivery record unavailable; retrying", "error", err)
		return claimed, false, rt.retry(ctx, msg, rt.Retry.delay(j.attempt, 0), "ledger")
	// The fault suite's ledger reads the three suppression lines as the
	// notifier's word for them (internal/bench/rig, evidenceSuppressed):
	// keep their messages, event_id and route.
	case v == suppress:
		rt.n.metrics.suppressed.Add(ctx, 1, routeAttrs(rt.Name, attribute.String("reason", "identical")))
		j.debug(ctx, "result suppressed: delivered already")
		return claimed, false, nil
	case v == stale:
		rt.n.metrics.suppressed.Add(ctx, 1, routeAttrs(rt.Name, attribute.String("reason", "stale")))
		j.debug(ctx, "result suppressed: a newer one was delivered")
		return claimed, false, nil
	case v == inFlight:
		rt.n.metrics.suppressed.Add(ctx, 1, routeAttrs(rt.Name, attribute.String("reason", "in_flight")))
		j.debug(ctx, "result suppressed: the same result is being delivered")
		return claimed, false, nil
	case v == busy:
		return claimed, false, rt.retry(ctx, msg, wait+rand.N(time.Second), "busy")
	}
	return claimed, true, nil
}

// superseded reports whether a result of a verification that has not
// ended (INITIATED, ACQUIRED, a status kycflow does not know) was
// followed, in JUMIO_ENRICHED, by another result of its execution: the
// delivery records are kept per status, so without this an ACQUIRED result
// waiting for a retry would reach the receiver after the PROCESSED one and
// leave it on the outdated state. The enricher stores an execution's
// results in the order of their callbacks (it drops older ones), so a
// later message of the execution's subject is a newer result. A result
// that ended is never superseded, and a replay asking for redelivery is
// delivered as asked. It costs one direct get, for unfinished results
// only.
func (rt *route) superseded(ctx context.Context, msg *message.Message, j job) (bool, error) {
	st := j.in.result.Status
	if st == events.StatusProcessed || st.Expired() || j.want.redeliver {
		return false, nil
	}
	seq, subject := broker.StreamSeq(msg), broker.Subject(msg)
	rt.n.mu.Lock()
	enriched := rt.n.enriched
	rt.n.mu.Unlock()
	if seq == 0 || subject == "" || enriched == nil {
		return false, nil
	}
	last, err := enriched.GetLastMsgForSubject(ctx, subject)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return false, nil // erased meanwhile: the records decide
	case err != nil:
		return false, err
	}
	return last.Sequence > seq, nil
}

// settle ends an attempt whose sink call returned err: recorded when it
// delivered; otherwise released and redelivered at once when the process
// stops, or handled as the failure its class says (failed).
func (rt *route) settle(ctx context.Context, msg *message.Message, j job, claimed attempt, err error) error {
	// The records outlive a shutdown: record with a context of their own.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
	defer cancel()
	if err == nil {
		return rt.delivered(ctx, rctx, msg, j, claimed)
	}
	if ctx.Err() != nil {
		// Shutting down: the subscriber has released the message.
		rt.releaseClaim(rctx, claimed, false, j.logger())
		msg.Nack()
		return nil
	}
	return rt.failed(ctx, rctx, msg, j, claimed, err)
}

// delivered records a delivery and counts it. A delivery that could not
// be recorded is not acked: acked, it would leave its key with a claim
// and no delivery, and an older result retrying meanwhile would follow it
// once the claim ran out. Its redelivery holds the same claim (the same
// delivery id): it is delivered once more, with the same id, and
// recorded, as after a crash between delivery and record.
func (rt *route) delivered(ctx, rctx context.Context, msg *message.Message, j job, claimed attempt) error {
	if err := rt.n.ledger.done(rctx, claimed, j.record(rt.n.cfg.Now(), false)); err != nil {
		// Back well before the claim runs out (it holds the key for the
		// route's timeout plus 30 s), not after the back-off of the
		// message's deliveries: a result waiting for the key would
		// otherwise take it and go out before this one's repeat.
		j.logger().WarnContext(ctx, "result delivered but not recorded; it is delivered again, with the same id", "error", err)
		return rt.retry(ctx, msg, unrecordedDelay, "ledger")
	}
	rt.n.metrics.delivered.Add(ctx, 1, routeAttrs(rt.Name, attribute.String("sink", rt.SinkKind())))
	if !j.replayed && j.in.result.Timestamps.Received != nil {
		rt.n.metrics.observeLatency(ctx, rt.Name, rt.n.cfg.Now().Sub(*j.in.result.Timestamps.Received))
	}
	j.debug(ctx, "result delivered", "sink", rt.SinkKind(), "replay", j.replayed)
	return nil
}

// record is the delivery record of j, made at now.
func (j job) record(now time.Time, deadLettered bool) delivered {
	return delivered{Hash: j.hash, ID: j.delivery.ID, EventID: j.in.eventID, Replay: j.want.replay, Sent: j.want.sent,
		At: now.UTC(), DeadLettered: deadLettered}
}

// failed handles a sink call that failed, by the error's class: 410 Gone
// disables the route; a permanent error, or the last failure the budget
// allows, dead-letters the message (recorded like a delivery); anything
// else is retried after a back-off.
func (rt *route) failed(ctx, rctx context.Context, msg *message.Message, j job, claimed attempt, err error) error {
	// The budget counts failed sink calls only, not the waits for a busy
	// key or the record.
	tries := claimed.failed() + 1
	reason, after, class := classify(err)
	dlClass := ""
	switch {
	case errors.Is(class, ErrGone):
		rt.releaseClaim(rctx, claimed, false, j.logger())
		rt.disable(err)
		broker.Redeliver(msg, disabledDelay)
		return nil
	case errors.Is(class, ErrPermanent):
		dlClass = ClassPermanent
	case tries >= rt.Retry.MaxAttempts:
		dlClass = ClassRetryBudget
	}
	if dlClass == "" {
		rt.releaseClaim(rctx, claimed, true, j.logger())
		delay := rt.Retry.delay(tries, after)
		j.logger().WarnContext(ctx, "delivery failed; retrying", "reason", reason, "error", err, "delay", delay, "failures", tries)
		return rt.retry(ctx, msg, delay, reason)
	}
	if !rt.deadLetter(ctx, msg, j.in, j.dlqEvent, err, dlClass, tries, j.logger()) {
		rt.releaseClaim(rctx, claimed, true, j.logger())
		return nil
	}
	// Recorded like a delivery: an identical repeat of a dead-lettered
	// result is suppressed, so each execution status ends as one
	// delivery or one dead letter per route. A redrive (a replay that
	// asks for redelivery) still goes through.
	if err := rt.n.ledger.done(rctx, claimed, j.record(rt.n.cfg.Now(), true)); err != nil {
		j.logger().WarnContext(ctx, "result dead-lettered but not recorded", "error", err)
	}
	return nil
}

// unrecordedDelay is the wait before a delivery that could not be
// recorded is tried again.
const unrecordedDelay = time.Second

// retry redelivers msg after delay, quietly (no router error log).
func (rt *route) retry(ctx context.Context, msg *message.Message, delay time.Duration, reason string) error {
	rt.n.metrics.retried.Add(ctx, 1, routeAttrs(rt.Name, attribute.String("reason", reason)))
	broker.Redeliver(msg, max(delay, 100*time.Millisecond))
	return nil
}

// releaseClaim gives up the delivery claim of an attempt that did not
// deliver; failed counts a failed sink call against the retry budget.
func (rt *route) releaseClaim(ctx context.Context, claimed attempt, failed bool, log *slog.Logger) {
	if err := rt.n.ledger.release(ctx, claimed, failed); err != nil {
		log.DebugContext(ctx, "delivery claim not released; it runs out by itself", "error", err)
	}
}

// deadLetterPanic stores msg in JUMIO_DLQ with class panic and the stack
// (broker.Recoverer calls it once a delivery at the budget panicked).
func (rt *route) deadLetterPanic(ctx context.Context, msg *message.Message, pe *broker.PanicError) error {
	in, _ := decode(msg, nil) // the ids, also from the subject when it fails
	dl := rt.deadLetterOf(msg, in, in.eventID, pe, broker.ClassPanic, broker.Attempt(msg))
	dl.Stack = pe.Stack
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
	defer cancel()
	return broker.PublishDeadLetter(dctx, rt.n.js, dl)
}

// countPanic counts a panic: a retry, or a dead letter.
func (rt *route) countPanic(msg *message.Message, _ *broker.PanicError, deadLettered bool) {
	ctx := context.WithoutCancel(msg.Context())
	if deadLettered {
		rt.n.metrics.deadLettered.Add(ctx, 1, routeAttrs(rt.Name, attribute.String("class", broker.ClassPanic)))
		return
	}
	rt.n.metrics.retried.Add(ctx, 1, routeAttrs(rt.Name, attribute.String("reason", "panic")))
}

// deadLetterOf is the dead letter of msg for this route; its payload is
// deadLetterPayload's.
func (rt *route) deadLetterOf(msg *message.Message, in input, eventID string, cause error, class string, attempt int) broker.DeadLetter {
	return broker.DeadLetter{
		Stage:           events.StageNotify,
		Route:           rt.Name,
		AccountID:       in.account,
		ExecutionID:     in.execution,
		EventID:         eventID,
		Payload:         rt.deadLetterPayload(msg.Payload),
		Headers:         broker.Headers(msg),
		Err:             cause,
		Class:           class,
		Attempts:        attempt,
		OriginalSubject: broker.Subject(msg),
		OriginalStream:  broker.Stream(msg),
		OriginalSeq:     broker.StreamSeq(msg),
		At:              rt.n.cfg.Now(),
	}
}

// deadLetter stores msg in JUMIO_DLQ under
// jumio.dlq.notify-<route>.<account>.<execution> and reports true; the
// handler then acks it. When the dead letter cannot be stored the message
// is retried instead and it reports false.
func (rt *route) deadLetter(ctx context.Context, msg *message.Message, in input, eventID string, cause error, class string, attempt int, log *slog.Logger) bool {
	dl := rt.deadLetterOf(msg, in, eventID, cause, class, attempt)
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
	defer cancel()
	if err := broker.PublishDeadLetter(dctx, rt.n.js, dl); err != nil {
		log.WarnContext(ctx, "dead letter not stored; retrying", "error", err)
		_ = rt.retry(ctx, msg, rt.Retry.delay(attempt, 0), "dead_letter")
		return false
	}
	rt.n.metrics.deadLettered.Add(ctx, 1, routeAttrs(rt.Name, attribute.String("class", class)))
	log.ErrorContext(ctx, "result dead-lettered", "class", class, "error", cause, "subject", dl.Subject())
	return true
}

// delay is the wait before retry attempt+1: exponential back-off with
// jitter (±50%) from InitialInterval, doubling to MaxInterval, or the
// Retry-After the endpoint asked for when that is longer (up to an hour).
func (r Retry) delay(attempt int, retryAfter time.Duration) time.Duration {
	d := broker.Backoff(max(attempt, 1), r.InitialInterval, r.MaxInterval)
	if retryAfter > d {
		d = min(retryAfter, max(d, maxRetryAfter))
	}
	return d
}

// deadLetterPayload is what a dead letter of this route keeps of an
// enriched message: no more personal data than the route may deliver.
// The raw Jumio document, which no route delivers, is left out. Under
// the full policy the rest is kept byte for byte (a message that is not a
// JSON object as it is); under the others the result is projected by the
// route's policy (Result.Policy then says so), and a message that does
// not decode, or whose projection comes out larger than the message, is
// not kept at all: the dead letter's Kycflow-Original-Stream and
// -Sequence headers locate it in JUMIO_ENRICHED while that stream keeps
// it ("kycflow replay notify --from-seq").
func (rt *route) deadLetterPayload(payload []byte) []byte {
	if rt.Policy == events.PolicyFull {
		return withoutRaw(payload)
	}
	var ev events.EnrichedEvent
	if json.Unmarshal(payload, &ev) != nil || ev.Result.IDs.WorkflowExecutionID == "" ||
		max(ev.SchemaVersion, ev.Result.SchemaVersion) > events.ResultSchemaVersion {
		return nil
	}
	b, err := json.Marshal(events.EnrichedEvent{SchemaVersion: ev.SchemaVersion, Result: events.Project(ev.Result, rt.Policy), RawType: ev.RawType})
	if err != nil || len(b) > len(payload) {
		return nil
	}
	return b
}

// rawField is the JSON name of events.EnrichedEvent.Raw.
const rawField = "raw"

// withoutRaw returns an enriched message without its raw document, every
// other field's bytes as they were (not escaped again: a result that fit
// the server still fits); a message without one, or that is not a JSON
// object, comes back as it is.
func withoutRaw(payload []byte) []byte {
	var fields map[string]json.RawMessage
	if json.Unmarshal(payload, &fields) != nil {
		return payload
	}
	if _, ok := fields[rawField]; !ok {
		return payload
	}
	delete(fields, rawField)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if enc.Encode(fields) != nil {
		return nil
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// redrivenProjection reports whether r is a result projected already (a
// notify dead letter's payload under a policy other than full) re-driven
// to this route alone: "kycflow dlq redrive" marks it so. The route's
// filter passed it when it was dead-lettered, and what the policy dropped
// (a document's issuing country under decision_only) cannot be filtered
// on again.
func redrivenProjection(r events.Result, m *events.ReplayMarker, route string) bool {
	return r.Policy != "" && m != nil && slices.Contains(m.Routes, route)
}
