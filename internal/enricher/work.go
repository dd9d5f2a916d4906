package enricher

import (
	"context"
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/migration"
	"github.com/kycflow/kycflow/pkg/events"
)

// Outcomes of MetricWork.
const (
	workDone         = "done"
	workRetried      = "retried"
	workDeadLettered = "dead_lettered"
)

// handleWork runs one item of the work stream, a migration batch queued
// by "kycflow migrate-data", and settles its message. What becomes of it
// is decided here:
//
//   - done (every group answered; refusals recorded per scan): ack;
//   - a transient failure (Jumio 5xx, 429, a timeout, the broker): the
//     runner saved its progress; redeliver after retryPolicy's back-off,
//     a dead letter past the retry budget;
//   - a permanent one (an item or batch that cannot be read, a 400 or 403
//     from Jumio): a dead letter at jumio.dlq.work.<batch>, then ack.
//     "kycflow dlq redrive" re-feeds it once the cause is fixed.
func (e *Enricher) handleWork(msg *message.Message) error {
	ctx := msg.Context()
	item, err := migration.DecodeWorkItem(msg.Payload)
	if err == nil {
		err = e.runner.Run(ctx, item.Batch)
	}
	if errors.Is(err, migration.ErrInvalid) {
		err = permanent(err)
	}
	mctx := context.WithoutCancel(ctx)
	attrs := []any{"subject", broker.Subject(msg), "attempt", broker.Attempt(msg), "batch", item.Batch}
	if err == nil {
		e.metrics.work.Add(mctx, 1, workOutcome(workDone))
		e.logger.InfoContext(ctx, "migration batch done", attrs...)
		return nil
	}
	now := e.now()
	v := e.policy.decide(err, delivery{attempt: broker.Attempt(msg), age: now.Sub(broker.Timestamp(msg)), stopping: ctx.Err() != nil})
	if v.kind == verdictDeadLetter {
		derr := e.deadLetterWork(ctx, msg, item, v)
		if derr == nil {
			e.metrics.work.Add(mctx, 1, workOutcome(workDeadLettered))
			e.logger.ErrorContext(ctx, "migration batch dead-lettered", append(attrs, "class", v.class, "error", v.err)...)
			return nil
		}
		v = verdict{kind: verdictRedeliver, reason: reasonBroker, delay: e.policy.backoff(broker.Attempt(msg)), err: derr}
	}
	broker.Redeliver(msg, v.delay)
	e.metrics.work.Add(mctx, 1, workOutcome(workRetried))
	e.logger.WarnContext(ctx, "migration batch redelivered later", append(attrs, "reason", v.reason, "delay", v.delay, "error", v.err)...)
	return nil
}

// deadLetterWork stores a work item in JUMIO_DLQ, under
// jumio.dlq.work._.<batch id>.
func (e *Enricher) deadLetterWork(ctx context.Context, msg *message.Message, item migration.WorkItem, v verdict) error {
	dl := broker.DeadLetter{
		Stage:           events.StageWork,
		AccountID:       "_",
		ExecutionID:     item.Batch,
		Payload:         msg.Payload,
		Headers:         broker.Headers(msg),
		Err:             v.err,
		Class:           v.class,
		Attempts:        broker.Attempt(msg),
		OriginalSubject: broker.Subject(msg),
		OriginalStream:  broker.Stream(msg),
		OriginalSeq:     broker.StreamSeq(msg),
	}
	if dl.ExecutionID == "" {
		dl.ExecutionID = "_"
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.NATS.PublishTimeout)
	defer cancel()
	if err := broker.PublishDeadLetter(dctx, e.js, dl); err != nil {
		return fmt.Errorf("enricher: dead letter of a work item: %w", err)
	}
	return nil
}

func workOutcome(o string) metric.MeasurementOption {
	return metric.WithAttributes(attribute.String("outcome", o))
}
