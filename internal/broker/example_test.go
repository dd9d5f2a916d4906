package broker_test

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/pkg/events"
)

// errNotReady stands for a retryable error of the stage's own work.
var errNotReady = errors.New("not ready")

// A stage wired the kycflow way: one durable consumer in, one publisher
// out, tracing from NewRouter, and the ack decision in one place.
func ExampleNewRouter() {
	var (
		ctx    context.Context      // the process context (signal.NotifyContext)
		js     jetstream.JetStream  // from broker.Connect and jetstream.New
		logger *slog.Logger         // from telemetry.Setup
		tp     trace.TracerProvider // from telemetry.Setup
		prop   propagation.TextMapPropagator
		work   func(context.Context, []byte) ([]byte, error)
	)

	sub, err := broker.NewSubscriber(broker.SubscriberConfig{
		Stream:      events.StreamCallbacks,
		Durable:     "enricher", // API: renaming it reprocesses the stream
		Concurrency: 32,
		Logger:      logger,
	}, js)
	if err != nil {
		return
	}
	pub, err := broker.NewPublisher(broker.PublisherConfig{Logger: logger}, js)
	if err != nil {
		return
	}
	router, err := broker.NewRouter(broker.RouterConfig{TracerProvider: tp, Propagator: prop}, logger)
	if err != nil {
		return
	}
	// The publish topic is a default: each output names its subject.
	router.AddHandler("enrich", events.SubjectCallbacks+".>", sub, events.SubjectEnriched, pub,
		func(msg *message.Message) ([]*message.Message, error) {
			out, err := work(msg.Context(), msg.Payload)
			switch {
			case errors.Is(err, errNotReady) && broker.Attempt(msg) < 10:
				broker.Redeliver(msg, 40*time.Second) // quiet: no error log per retry
				return nil, nil
			case err != nil:
				dl := broker.DeadLetter{
					Stage: events.StageEnrich, EventID: msg.UUID, Payload: msg.Payload,
					Headers: broker.Headers(msg), Err: err, Class: "permanent",
					Attempts: broker.Attempt(msg), OriginalSubject: broker.Subject(msg),
					OriginalStream: broker.Stream(msg), OriginalSeq: broker.StreamSeq(msg),
				}
				if err := broker.PublishDeadLetter(msg.Context(), js, dl); err != nil {
					return nil, err // not stored: nack, try again
				}
				return nil, nil // stored in the DLQ: ack
			}
			// The event id makes the output's Nats-Msg-Id: a redelivery
			// publishes a duplicate the stream drops.
			enriched := message.NewMessage(events.DerivedID(msg.UUID, "enriched"), out)
			broker.SetPublishSubject(enriched, events.EnrichedSubject("account", "execution"))
			return []*message.Message{enriched}, nil
		})
	_ = router.Run(ctx) // returns after router.Close or when ctx ends
}
