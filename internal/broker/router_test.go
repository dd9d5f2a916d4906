package broker_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/pkg/events"
)

func TestWatermillLoggerKeepsContentsOut(t *testing.T) {
	var buf bytes.Buffer
	l := broker.NewWatermillLogger(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	l.Info("Starting handler", watermill.LogFields{"topic": "t"})
	l.Error("Cannot publish messages", errors.New("boom"), watermill.LogFields{"not_sent_message": "Jane Doe", "topic": "t"})
	l.With(watermill.LogFields{"not_sent_message": "John Roe"}).Error("Publishing produced messages failed", errors.New("boom"), nil)
	out := buf.String()
	for _, banned := range []string{"Jane Doe", "John Roe", "Starting handler"} {
		if strings.Contains(out, banned) {
			t.Errorf("log output contains %q:\n%s", banned, out)
		}
	}
	for _, kept := range []string{"Cannot publish messages", "Publishing produced messages failed", `"topic":"t"`} {
		if !strings.Contains(out, kept) {
			t.Errorf("log output lacks %q:\n%s", kept, out)
		}
	}
}

func TestRouterConfigValidate(t *testing.T) {
	if _, err := broker.NewRouter(broker.RouterConfig{CloseTimeout: -1}, nil); !errors.Is(err, broker.ErrInvalidConfig) {
		t.Errorf("negative close timeout: got %v, want ErrInvalidConfig", err)
	}
	if _, err := broker.NewRouter(broker.RouterConfig{}, nil); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

// TestRouterShutdownFinishesInFlight: cancelling the router's context (as
// SIGTERM does) lets a handler in the middle of its work finish: its
// output is stored, its input acked, and Run returns.
func TestRouterShutdownFinishesInFlight(t *testing.T) {
	_, js := setup(t)
	router, err := broker.NewRouter(broker.RouterConfig{CloseTimeout: 20 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sub := newSubscriber(t, js, broker.SubscriberConfig{Durable: "shutdown", DrainTimeout: 10 * time.Second})
	pub := newPublisher(t, js, broker.PublisherConfig{})
	started, release := make(chan struct{}), make(chan struct{})
	router.AddHandler("enrich", "", sub, events.SubjectEnriched, pub, func(msg *message.Message) ([]*message.Message, error) {
		close(started)
		<-release
		if err := msg.Context().Err(); err != nil {
			return nil, err
		}
		out := message.NewMessage(events.DerivedID(msg.UUID, "enriched"), []byte("{}"))
		broker.SetPublishSubject(out, events.EnrichedSubject("acct", "exec"))
		return []*message.Message{out}, nil
	})
	ctx, cancel := context.WithCancel(t.Context())
	runErr := make(chan error, 1)
	go func() { runErr <- router.Run(ctx) }()
	publish(t, pub, "in-flight")
	<-started
	cancel()
	close(release)
	if err := <-runErr; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := len(brokertest.Messages(t, js, events.StreamEnriched)); got != 1 {
		t.Errorf("outputs stored: got %d, want 1", got)
	}
	waitSettled(t, js, "shutdown")
}
