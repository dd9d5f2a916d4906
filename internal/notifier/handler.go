package notifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
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

// decode reads an enriched message. On error the ids come from the
// subject (jumio.enriched.<account>.<execution>), for the dead letter.
func decode(msg *message.Message) (input, error) {
	var in input
	if parts := strings.Split(broker.Subject(msg), "."); len(parts) == 4 {
		in.account, in.execution = parts[2], parts[3]
	}
	in.eventID = msg.Metadata.Get(events.HeaderEventID)
	var ev events.EnrichedEvent
	if err := json.Unmarshal(msg.Payload, &ev); err != nil {
		return in, fmt.Errorf("%w: not JSON of an enriched event", ErrMalformed)
	}
	if v := max(ev.SchemaVersion, ev.Result.SchemaVersion); v > events.ResultSchemaVersion {
		return in, fmt.Errorf("%w: schema version %d, this notifier reads %d", ErrMalformed, v, events.ResultSchemaVersion)
	}
	if ev.Result.IDs.WorkflowExecutionID == "" {
		return in, fmt.Errorf("%w: no workflow execution id", ErrMalformed)
	}
	in.result = ev.Result
	in.account, in.execution = ev.Result.IDs.AccountID, ev.Result.IDs.WorkflowExecutionID
	if in.eventID == "" {
		in.eventID = ev.Result.IDs.EventID
	}
	if in.eventID == "" {
		in.eventID = msg.UUID
	}
	return in, nil
}

// handle delivers one enriched message to the route. Every outcome is
// settled here: ack (return nil) when delivered, suppressed, filtered or
// dead-lettered; a quiet delayed redelivery (broker.Redeliver) when the
// attempt must be repeated. It returns an error only for a message it
// could not settle otherwise.
func (rt *route) handle(msg *message.Message) error {
	ctx := msg.Context()
	attempt := broker.Attempt(msg)
	if rt.disabled.Load() {
		broker.Redeliver(msg, disabledDelay)
		return nil
	}
	in, err := decode(msg)
	log := rt.log.With("event_id", in.eventID, "account_id", in.account, "workflow_execution_id", in.execution, "attempt", attempt)
	if err != nil {
		rt.deadLetter(ctx, msg, in, in.eventID, err, ClassMalformed, attempt, log)
		return nil
	}
	if !rt.Filter.Match(in.result) {
		rt.n.metrics.filtered.Add(ctx, 1, routeAttrs(rt.Name))
		return nil
	}
	var marker *events.ReplayMarker
	if h := msg.Metadata.Get(events.HeaderReplay); h != "" {
		m, err := events.ParseReplayMarker(h)
		if err != nil {
			log.WarnContext(ctx, "malformed replay marker; handled as a first delivery", "error", err)
		} else {
			marker = &m
		}
	}
	if marker != nil && !marker.Covers(rt.Name) {
		rt.n.metrics.suppressed.Add(ctx, 1, routeAttrs(rt.Name, attribute.String("reason", "replay_other_route")))
		return nil
	}

	projected := events.Project(in.result, rt.Policy)
	if in.result.Migration != nil && rt.Migrated != MigratedDeliver {
		lctx, cancel := context.WithTimeout(ctx, opTimeout)
		had, err := rt.n.ledger.deliveredAny(lctx, rt.Name, in.result.Migration.ScanReference)
		cancel()
		switch {
		case err != nil:
			log.WarnContext(ctx, "delivery records unavailable; retrying", "error", err)
			return rt.retry(ctx, msg, rt.Retry.delay(attempt, 0), "ledger")
		case had && rt.Migrated == MigratedSuppress:
			rt.n.metrics.suppressed.Add(ctx, 1, routeAttrs(rt.Name, attribute.String("reason", "migrated")))
			log.DebugContext(ctx, "migrated result suppressed: the route delivered its Netverify original")
			return nil
		case had:
			projected.Migration.NetverifyDelivered = true
		}
	}
	hash := ContentHash(projected)
	d := Delivery{ID: DeliveryID(in.eventID, rt.Name, hash), Route: rt.Name, EventID: in.eventID, Result: projected}
	w := want{id: d.ID, hash: hash, eventID: in.eventID, hold: rt.hold}
	if t := in.result.Timestamps.CallbackSent; t != nil {
		w.sent = *t
	}
	dlqEvent := in.eventID
	if marker != nil {
		d.ID = marker.MessageID(d.ID)
		w.id, w.replay, w.redeliver = d.ID, marker.ID, marker.Redeliver
		dlqEvent = marker.MessageID(in.eventID)
	}
	log = log.With("delivery_id", d.ID)

	key := LedgerKey(rt.Name, in.result)
	lctx, cancel := context.WithTimeout(ctx, opTimeout)
	v, claimed, wait, err := rt.n.ledger.begin(lctx, key, w)
	cancel()
	switch {
	case err != nil:
		log.WarnContext(ctx, "delivery record unavailable; retrying", "error", err)
		return rt.retry(ctx, msg, rt.Retry.delay(attempt, 0), "ledger")
	case v == suppress:
		rt.n.metrics.suppressed.Add(ctx, 1, routeAttrs(rt.Name, attribute.String("reason", "identical")))
		log.DebugContext(ctx, "result suppressed: delivered already")
		return nil
	case v == stale:
		rt.n.metrics.suppressed.Add(ctx, 1, routeAttrs(rt.Name, attribute.String("reason", "stale")))
		log.DebugContext(ctx, "result suppressed: a newer one was delivered")
		return nil
	case v == inFlight:
		rt.n.metrics.suppressed.Add(ctx, 1, routeAttrs(rt.Name, attribute.String("reason", "in_flight")))
		log.DebugContext(ctx, "result suppressed: the same result is being delivered")
		return nil
	case v == busy:
		return rt.retry(ctx, msg, wait+rand.N(time.Second), "busy")
	}

	// A replay is a replay to the receiver only when it repeats what the
	// route delivered: a first delivery that comes through a replay or a
	// redrive is a normal one.
	replayed := marker != nil && marker.Redeliver && claimed.repeat()
	if replayed {
		d.Replay = marker
	}
	// The budget counts failed sink calls only, not the waits for a busy
	// key or the record.
	tries := claimed.failed() + 1
	err = rt.sink.Deliver(ctx, d)
	// The records outlive a shutdown: record with a context of their own.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
	defer cancel()
	if err == nil {
		if err := rt.n.ledger.done(rctx, claimed, delivered{Hash: hash, ID: d.ID, EventID: in.eventID, Replay: w.replay, Sent: w.sent, At: rt.n.cfg.Now().UTC()}); err != nil {
			// Delivered, not recorded: an identical repeat would be
			// delivered again, with the same id.
			log.WarnContext(ctx, "result delivered but not recorded", "error", err)
		}
		rt.n.metrics.delivered.Add(ctx, 1, routeAttrs(rt.Name, attribute.String("sink", rt.SinkKind())))
		if !replayed && in.result.Timestamps.Received != nil {
			rt.n.metrics.observeLatency(ctx, rt.Name, rt.n.cfg.Now().Sub(*in.result.Timestamps.Received))
		}
		log.DebugContext(ctx, "result delivered", "sink", rt.SinkKind(), "replay", replayed)
		return nil
	}
	if ctx.Err() != nil {
		// Shutting down: the subscriber has released the message.
		rt.releaseClaim(rctx, claimed, false, log)
		msg.Nack()
		return nil
	}
	reason, after, class := classify(err)
	dlClass := ""
	switch {
	case errors.Is(class, ErrGone):
		rt.releaseClaim(rctx, claimed, false, log)
		rt.disable(err)
		broker.Redeliver(msg, disabledDelay)
		return nil
	case errors.Is(class, ErrPermanent):
		dlClass = ClassPermanent
	case tries >= rt.Retry.MaxAttempts:
		dlClass = ClassRetryBudget
	}
	if dlClass != "" {
		if !rt.deadLetter(ctx, msg, in, dlqEvent, err, dlClass, tries, log) {
			rt.releaseClaim(rctx, claimed, true, log)
			return nil
		}
		// Recorded like a delivery: an identical repeat of a dead-lettered
		// result is suppressed, so each execution status ends as one
		// delivery or one dead letter per route. A redrive (a replay that
		// asks for redelivery) still goes through.
		if err := rt.n.ledger.done(rctx, claimed, delivered{Hash: hash, ID: d.ID, EventID: in.eventID, Replay: w.replay, Sent: w.sent, At: rt.n.cfg.Now().UTC(), DeadLettered: true}); err != nil {
			log.WarnContext(ctx, "result dead-lettered but not recorded", "error", err)
		}
		return nil
	}
	rt.releaseClaim(rctx, claimed, true, log)
	delay := rt.Retry.delay(tries, after)
	log.WarnContext(ctx, "delivery failed; retrying", "reason", reason, "error", err, "delay", delay, "failures", tries)
	return rt.retry(ctx, msg, delay, reason)
}

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

// deadLetter stores msg, unchanged, in JUMIO_DLQ under
// jumio.dlq.notify-<route>.<account>.<execution> and reports true; the
// handler then acks it. When the dead letter cannot be stored the message
// is retried instead and it reports false.
func (rt *route) deadLetter(ctx context.Context, msg *message.Message, in input, eventID string, cause error, class string, attempt int, log *slog.Logger) bool {
	dl := broker.DeadLetter{
		Stage:           events.StageNotify,
		Route:           rt.Name,
		AccountID:       in.account,
		ExecutionID:     in.execution,
		EventID:         eventID,
		Payload:         msg.Payload,
		Headers:         broker.Headers(msg),
		Err:             cause,
		Class:           class,
		Attempts:        attempt,
		OriginalSubject: broker.Subject(msg),
		OriginalStream:  broker.Stream(msg),
		OriginalSeq:     broker.StreamSeq(msg),
		At:              rt.n.cfg.Now(),
	}
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
