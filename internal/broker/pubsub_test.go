package broker_test

import (
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/broker/brokertest"
)

// TestWatermillPubSub runs Watermill's own conformance suite against the
// Subscriber and Publisher. Each topic is its own stream; the plain
// constructor shares one durable per topic (as replicas of a service do),
// the consumer-group constructor uses the group as the durable.
func TestWatermillPubSub(t *testing.T) {
	if testing.Short() {
		t.Skip("Watermill's conformance suite takes a while; CI runs it")
	}
	srv := brokertest.Start(t)
	nc := srv.Conn(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	build := func(t *testing.T, durable string) (message.Publisher, message.Subscriber) {
		pub, err := broker.NewPublisher(broker.PublisherConfig{}, js)
		if err != nil {
			t.Fatal(err)
		}
		cfg := broker.SubscriberConfig{
			Durable:      durable,
			AckWait:      10 * time.Second,
			Concurrency:  8,
			DrainTimeout: time.Second,
			PullExpiry:   500 * time.Millisecond,
		}
		broker.UseTopicStreams(&cfg)
		sub, err := broker.NewSubscriber(cfg, js)
		if err != nil {
			t.Fatal(err)
		}
		return pub, sub
	}
	tests.TestPubSub(t,
		tests.Features{
			ConsumerGroups: true,
			// Redelivery after a lost ack repeats a message.
			ExactlyOnceDelivery: false,
			// Concurrency and delayed redelivery reorder messages.
			GuaranteedOrder: false,
			Persistent:      true,
			// A new subscriber shares the durable, and so its position.
			NewSubscriberReceivesOldMessages: false,
			// Only the trace context travels, in metadata.
			ContextPreserved: false,
			// Broker restarts are tested by TestSubscriberSurvivesBrokerRestart
			// with brokertest; the suite can only restart through a command.
			RestartServiceCommand: nil,
			// Under the race detector the suite's full sizes (10,000
			// messages, 50 subscribers) take most of its own timeouts on a
			// shared 2-CPU machine; the small sizes cover the same paths.
			ForceShort: raceEnabled,
		},
		func(t *testing.T) (message.Publisher, message.Subscriber) { return build(t, "watermill") },
		build,
	)
}
