package broker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// handle carries one message from fetch to settlement.
func (sb *subscription) handle(m jetstream.Msg) {
	defer sb.workers.Done()
	defer func() { <-sb.slots }()
	ctx := context.Background()
	sb.s.metrics.inFlight.Add(ctx, 1, metric.WithAttributes(sb.attrs...))
	defer sb.s.metrics.inFlight.Add(ctx, -1, metric.WithAttributes(sb.attrs...))

	msg, err := sb.toMessage(m)
	if err != nil {
		sb.s.log.Warn("jetstream message without metadata", "stream", sb.stream, "subject", m.Subject(), "error", err)
		sb.settle(m, outcomeRelease)
		return
	}
	mctx, cancel := context.WithCancel(sb.msgBase)
	defer cancel()
	msg.SetContext(mctx)

	tick := time.NewTicker(sb.s.cfg.InProgressInterval)
	defer tick.Stop()
	for handed := false; !handed; {
		select {
		case sb.out <- msg:
			handed = true
		case <-tick.C:
			sb.inProgress(m)
		case <-sb.stopping:
			sb.settle(m, outcomeRelease)
			return
		}
	}
	for {
		select {
		case <-msg.Acked():
			sb.ack(m, msg)
			return
		case <-msg.Nacked():
			sb.nack(m, msg)
			return
		case <-tick.C:
			sb.inProgress(m)
		case <-sb.released:
			// A settlement that raced with the deadline wins.
			select {
			case <-msg.Acked():
				sb.ack(m, msg)
			case <-msg.Nacked():
				sb.nack(m, msg)
			default:
				sb.s.log.Warn("message released unsettled at shutdown", "stream", sb.stream, "stream_seq", StreamSeq(msg), "attempt", Attempt(msg))
				sb.settle(m, outcomeRelease)
			}
			return
		}
	}
}

// toMessage converts a JetStream message: UUID from Nats-Msg-Id, headers
// as metadata, delivery facts under the reserved keys.
func (sb *subscription) toMessage(m jetstream.Msg) (*message.Message, error) {
	meta, err := m.Metadata()
	if err != nil {
		return nil, err
	}
	h := m.Headers()
	id := h.Get(nats.MsgIdHdr)
	if id == "" {
		id = meta.Stream + ":" + strconv.FormatUint(meta.Sequence.Stream, 10)
	}
	msg := message.NewMessage(id, m.Data())
	for k, v := range h {
		if len(v) > 0 && !Reserved(k) {
			msg.Metadata[k] = v[0]
		}
	}
	msg.Metadata[MetadataStream] = meta.Stream
	msg.Metadata[MetadataConsumer] = meta.Consumer
	msg.Metadata[MetadataSubject] = m.Subject()
	msg.Metadata[MetadataStreamSeq] = strconv.FormatUint(meta.Sequence.Stream, 10)
	msg.Metadata[MetadataAttempt] = strconv.FormatUint(meta.NumDelivered, 10)
	msg.Metadata[MetadataTimestamp] = meta.Timestamp.UTC().Format(time.RFC3339Nano)
	return msg, nil
}

func (sb *subscription) inProgress(m jetstream.Msg) {
	if err := m.InProgress(); err != nil {
		sb.s.log.Debug("jetstream in-progress failed", "stream", sb.stream, "error", err)
	}
}

// ack acknowledges m. The ack is a single message to the server, not a
// request: the handler's output is stored already, and an ack that is lost
// on its way (the connection breaks before the server reads it) only makes
// the server redeliver m after AckWait, which the stages' de-duplication
// absorbs; waiting for the server's confirmation would cost a round trip
// and a reply per message and protect nothing more. An ack that cannot even
// be handed to the connection (disconnected, reconnect buffer full) is
// tried again within AckTimeout, then counted as failed and left to
// AckWait.
func (sb *subscription) ack(m jetstream.Msg, msg *message.Message) {
	ctx, cancel := context.WithTimeout(context.Background(), sb.s.cfg.AckTimeout)
	defer cancel()
	wait := 50 * time.Millisecond
	var err error
	for {
		err = m.Ack()
		if err == nil || errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
			sb.count(outcomeAck)
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
			wait = min(2*wait, time.Second)
			continue
		case <-ctx.Done():
			t.Stop()
		}
		break
	}
	sb.count(outcomeAckFailed)
	sb.s.log.Warn("jetstream ack failed; the message will be redelivered",
		"stream", sb.stream, "subject", m.Subject(), "stream_seq", StreamSeq(msg), "attempt", Attempt(msg), "error", err)
}

// nack settles a nacked message as the handler asked: Term, redelivery
// after a delay, or redelivery at once.
func (sb *subscription) nack(m jetstream.Msg, msg *message.Message) {
	switch {
	case terminated(msg):
		sb.settle(m, outcomeTerm)
	case RetryDelay(msg) > 0:
		d := RetryDelay(msg)
		if err := m.NakWithDelay(d); err != nil {
			sb.settleFailed(m, err)
			return
		}
		sb.s.log.Debug("message redelivery delayed", "stream", sb.stream, "stream_seq", StreamSeq(msg), "attempt", Attempt(msg), "delay", d)
		sb.count(outcomeNakDelay)
	default:
		sb.settle(m, outcomeNak)
	}
}

// settle sends a Nak (outcomeNak, outcomeRelease) or a Term.
func (sb *subscription) settle(m jetstream.Msg, outcome string) {
	var err error
	if outcome == outcomeTerm {
		err = m.Term()
	} else {
		err = m.Nak()
	}
	if err != nil {
		sb.settleFailed(m, err)
		return
	}
	sb.count(outcome)
}

func (sb *subscription) settleFailed(m jetstream.Msg, err error) {
	sb.count(outcomeNakFailed)
	sb.s.log.Warn("jetstream nak failed; the message will be redelivered after the ack wait",
		"stream", sb.stream, "subject", m.Subject(), "error", err)
}

func (sb *subscription) count(outcome string) {
	sb.s.metrics.settled.Add(context.Background(), 1, metric.WithAttributes(append(sb.attrs, attribute.String("outcome", outcome))...))
}

// Outcomes of kycflow_broker_settled_messages_total.
const (
	outcomeAck       = "ack"
	outcomeAckFailed = "ack_failed"
	outcomeNak       = "nak"
	outcomeNakDelay  = "nak_delay"
	outcomeTerm      = "term"
	outcomeRelease   = "release"
	outcomeNakFailed = "nak_failed"
)

type subscriberMetrics struct {
	settled  metric.Int64Counter
	inFlight metric.Int64UpDownCounter
}

func newSubscriberMetrics(mp metric.MeterProvider) (subscriberMetrics, error) {
	meter := mp.Meter(instrumentationName)
	settled, err := meter.Int64Counter("kycflow_broker_settled_messages",
		metric.WithDescription("Messages a subscriber settled, by stream, consumer and outcome (ack, ack_failed, nak, nak_delay, term, release, nak_failed)."))
	if err != nil {
		return subscriberMetrics{}, fmt.Errorf("broker: metrics: %w", err)
	}
	inFlight, err := meter.Int64UpDownCounter("kycflow_broker_in_flight_messages",
		metric.WithDescription("Messages fetched and not yet settled, by stream and consumer."))
	if err != nil {
		return subscriberMetrics{}, fmt.Errorf("broker: metrics: %w", err)
	}
	return subscriberMetrics{settled: settled, inFlight: inFlight}, nil
}
