package broker_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/pkg/events"
)

func TestPublisherHeadersAndDuplicates(t *testing.T) {
	_, js := setup(t)
	ms := newMetrics()
	var mu sync.Mutex
	var dups []string
	pub := newPublisher(t, js, broker.PublisherConfig{
		MeterProvider: ms,
		OnDuplicate: func(subject, id string) {
			mu.Lock()
			defer mu.Unlock()
			dups = append(dups, subject+" "+id)
		},
	})
	subject := events.EnrichedSubject("acct", "exec")
	mk := func() *message.Message {
		msg := message.NewMessage("evt-1", []byte(`{"ok":true}`))
		msg.Metadata.Set(events.HeaderCEID, "evt-1")
		msg.Metadata.Set(events.HeaderContentType, events.ContentTypeJSON)
		broker.SetRetryDelay(msg, time.Minute) // reserved: never a header
		msg.Metadata.Set(broker.MetadataAttempt, "3")
		return msg
	}
	if err := pub.Publish(subject, mk()); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	dup := mk()
	broker.SetPublishSubject(dup, subject)
	if err := pub.Publish(events.SubjectEnriched, dup); err != nil {
		t.Fatalf("Publish of a duplicate under its own subject: %v", err)
	}

	stored := brokertest.Messages(t, js, events.StreamEnriched)
	if len(stored) != 1 {
		t.Fatalf("stored: got %d messages, want 1", len(stored))
	}
	want := nats.Header{
		"ce-id":        {"evt-1"},
		"Content-Type": {events.ContentTypeJSON},
		"Nats-Msg-Id":  {"evt-1"},
	}
	if got := stored[0].Subject; got != subject {
		t.Errorf("subject: got %s, want %s", got, subject)
	}
	if diff := cmp.Diff(want, storedHeaders(stored[0])); diff != "" {
		t.Errorf("stored headers (-want +got):\n%s", diff)
	}
	if got, want := string(stored[0].Data), `{"ok":true}`; got != want {
		t.Errorf("payload: got %s, want %s", got, want)
	}
	if diff := cmp.Diff([]string{subject + " evt-1"}, dups); diff != "" {
		t.Errorf("duplicates reported (-want +got):\n%s", diff)
	}
	for outcome, want := range map[string]int64{"stored": 1, "duplicate": 1, "failed": 0} {
		if got := ms.sum(t, "kycflow_broker_published_messages", map[string]string{"outcome": outcome}); got != want {
			t.Errorf("outcome %s: got %d, want %d", outcome, got, want)
		}
	}
}

func TestPublisherFailures(t *testing.T) {
	srv, js := setup(t)
	pub := newPublisher(t, js, broker.PublisherConfig{PublishTimeout: 300 * time.Millisecond})

	bad := message.NewMessage("x", nil)
	bad.Metadata.Set("X-Injected", "a\r\nNats-Msg-Id: forged")
	if err := pub.Publish(events.EnrichedSubject("a", "e"), bad); !errors.Is(err, broker.ErrInvalidHeader) {
		t.Errorf("header with a line break: got %v, want ErrInvalidHeader", err)
	}
	badKey := message.NewMessage("y", nil)
	badKey.Metadata.Set("bad key", "v")
	if err := pub.Publish(events.EnrichedSubject("a", "e"), badKey); !errors.Is(err, broker.ErrInvalidHeader) {
		t.Errorf("header key with a space: got %v, want ErrInvalidHeader", err)
	}
	if got := len(brokertest.Messages(t, js, events.StreamEnriched)); got != 0 {
		t.Errorf("stored after invalid headers: got %d, want 0", got)
	}

	patient := newPublisher(t, js, broker.PublisherConfig{})
	if err := patient.Publish("no.stream.here", message.NewMessage("z", nil)); !errors.Is(err, jetstream.ErrNoStreamResponse) {
		t.Errorf("subject without a stream: got %v, want ErrNoStreamResponse", err)
	}

	srv.Stop()
	if err := pub.Publish(events.EnrichedSubject("a", "e"), message.NewMessage("w", nil)); err == nil {
		t.Error("Publish with the broker down: got nil error")
	}
	if err := pub.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}
