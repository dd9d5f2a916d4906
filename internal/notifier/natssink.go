package notifier

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/pkg/events"
)

// NATSSink publishes results to JUMIO_RESULTS under
// <prefix>.<decision>.<workflowKey>.<account>.<execution> as CloudEvents
// (binary mode: ce-* headers), and returns only once the stream has
// stored the message. Nats-Msg-Id is the delivery id, so a repeated
// delivery within the stream's duplicate window is stored once. It is
// safe for concurrent use.
type NATSSink struct {
	route  string
	prefix string
	pub    message.Publisher
	now    func() time.Time
}

var _ Sink = (*NATSSink)(nil)

// NewNATSSink returns the sink of a NATS route, publishing through pub (a
// broker.Publisher, decorated with broker.TracePublisher to carry the
// trace context). now stamps ce-time (nil: time.Now).
func NewNATSSink(route string, cfg *NATSRoute, pub message.Publisher, now func() time.Time) (*NATSSink, error) {
	prefix := events.SubjectResults
	if cfg != nil && cfg.Prefix != "" {
		prefix = cfg.Prefix
	}
	if err := events.ValidateResultPrefix(prefix); err != nil {
		return nil, fmt.Errorf("notifier: nats sink %s: %w", route, err)
	}
	if pub == nil {
		return nil, fmt.Errorf("notifier: nats sink %s: no publisher", route)
	}
	if now == nil {
		now = time.Now
	}
	return &NATSSink{route: route, prefix: prefix, pub: pub, now: now}, nil
}

// Subject is where d is published.
func (s *NATSSink) Subject(d Delivery) string {
	r := d.Result
	return events.ResultSubject(s.prefix, r.Decision.Type, r.Source.WorkflowDefinitionKey, r.IDs.AccountID, r.IDs.WorkflowExecutionID)
}

// Deliver publishes d and waits for the stream's ack. See Sink.
func (s *NATSSink) Deliver(ctx context.Context, d Delivery) error {
	if err := ctx.Err(); err != nil {
		return cancelled(err)
	}
	body, err := marshal(d.Result)
	if err != nil {
		return &DeliveryError{Class: ErrPermanent, Reason: "encode", Err: err}
	}
	subject := s.Subject(d)
	msg := message.NewMessage(d.ID, body)
	msg.SetContext(ctx)
	md := msg.Metadata
	md.Set(events.HeaderCESpecVersion, events.CESpecVersion)
	md.Set(events.HeaderCEID, d.ID)
	md.Set(events.HeaderCEType, events.TypeResult)
	md.Set(events.HeaderCESource, events.SourceNotifier)
	md.Set(events.HeaderCETime, s.now().UTC().Format(time.RFC3339Nano))
	md.Set(events.HeaderCESubject, d.Result.IDs.WorkflowExecutionID)
	md.Set(events.HeaderContentType, events.ContentTypeJSON)
	md.Set(events.HeaderEventID, d.EventID)
	md.Set(events.HeaderRoute, s.route)
	if d.Replay != nil {
		md.Set(events.HeaderReplay, d.Replay.String())
	}
	broker.SetPublishSubject(msg, subject)
	if err := s.pub.Publish(subject, msg); err != nil {
		return publishError(ctx, err)
	}
	return nil
}

func publishError(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return cancelled(ctx.Err())
	case errors.Is(err, broker.ErrInvalidHeader), errors.Is(err, nats.ErrMaxPayload), errors.Is(err, nats.ErrBadSubject):
		return &DeliveryError{Class: ErrPermanent, Reason: "publish", Err: err}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return &DeliveryError{Class: ErrRetryable, Reason: "timeout", Err: err}
	}
	return &DeliveryError{Class: ErrRetryable, Reason: "publish", Err: err}
}
