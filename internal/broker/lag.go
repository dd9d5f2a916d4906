package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// ConsumerLag returns how many messages of stream the durable has not been
// delivered yet (pending) and how many it was delivered and has not acked
// (ackPending, which includes messages waiting for a delayed
// redelivery).
func ConsumerLag(ctx context.Context, js jetstream.JetStream, stream, durable string) (pending, ackPending uint64, err error) {
	c, err := js.Consumer(ctx, stream, durable)
	if err != nil {
		return 0, 0, fmt.Errorf("broker: consumer lag %s/%s: %w", stream, durable, err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("broker: consumer lag %s/%s: %w", stream, durable, err)
	}
	return info.NumPending, uint64(info.NumAckPending), nil
}

// ConsumerRef names a durable consumer of a stream.
type ConsumerRef struct {
	Stream  string
	Durable string
}

// lagTimeout bounds the look-up of one consumer at collection time.
const lagTimeout = 2 * time.Second

// RegisterConsumerLag registers two observable gauges read at every
// collection: kycflow_consumer_lag_messages (messages not yet delivered)
// and kycflow_consumer_ack_pending_messages (delivered, not yet acked),
// each with the stream and consumer attributes, for every consumer in
// refs. A consumer that cannot be looked up is left out of that
// collection. Unregister the returned registration at shutdown.
func RegisterConsumerLag(mp metric.MeterProvider, js jetstream.JetStream, refs ...ConsumerRef) (metric.Registration, error) {
	meter := mp.Meter(instrumentationName)
	lag, err := meter.Int64ObservableGauge("kycflow_consumer_lag_messages",
		metric.WithDescription("Messages of the stream not yet delivered to the consumer."))
	if err != nil {
		return nil, fmt.Errorf("broker: metrics: %w", err)
	}
	ackPending, err := meter.Int64ObservableGauge("kycflow_consumer_ack_pending_messages",
		metric.WithDescription("Messages delivered to the consumer and not yet acked, including those waiting for a delayed redelivery."))
	if err != nil {
		return nil, fmt.Errorf("broker: metrics: %w", err)
	}
	reg, err := meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		for _, ref := range refs {
			cctx, cancel := context.WithTimeout(ctx, lagTimeout)
			pending, acks, err := ConsumerLag(cctx, js, ref.Stream, ref.Durable)
			cancel()
			if err != nil {
				continue
			}
			attrs := metric.WithAttributes(attribute.String("stream", ref.Stream), attribute.String("consumer", ref.Durable))
			o.ObserveInt64(lag, int64(pending), attrs)
			o.ObserveInt64(ackPending, int64(acks), attrs)
		}
		return nil
	}, lag, ackPending)
	if err != nil {
		return nil, fmt.Errorf("broker: metrics: %w", err)
	}
	return reg, nil
}
