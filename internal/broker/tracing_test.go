package broker_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/pkg/events"
)

// TestTraceFollowsTheMessages: a callback published inside a span, enriched
// by one router handler and consumed by another, is one trace: ingest →
// send → process enrich → send → process notify.
func TestTraceFollowsTheMessages(t *testing.T) {
	_, js := setup(t)
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	prop := propagation.TraceContext{}

	router, err := broker.NewRouter(broker.RouterConfig{TracerProvider: tp, Propagator: prop, CloseTimeout: 10 * time.Second}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	pub := newPublisher(t, js, broker.PublisherConfig{})
	enrichSub := newSubscriber(t, js, broker.SubscriberConfig{Durable: "enricher"})
	notifySub := newSubscriber(t, js, broker.SubscriberConfig{Stream: events.StreamEnriched, Durable: "notifier"})
	router.AddHandler("enrich", events.SubjectCallbacks+".>", enrichSub, events.SubjectEnriched, pub,
		func(msg *message.Message) ([]*message.Message, error) {
			out := message.NewMessage("enriched-1", []byte(`{"name":"Jane Doe"}`))
			broker.SetPublishSubject(out, events.EnrichedSubject("acct", "exec"))
			return []*message.Message{out}, nil
		})
	notified := make(chan trace.SpanContext, 1)
	router.AddConsumerHandler("notify", events.SubjectEnriched+".>", notifySub, func(msg *message.Message) error {
		notified <- trace.SpanContextFromContext(msg.Context())
		return nil
	})
	runErr := make(chan error, 1)
	go func() { runErr <- router.Run(t.Context()) }()
	<-router.Running()

	ctx, root := tp.Tracer("test").Start(t.Context(), "ingest")
	traced, err := broker.TracePublisher(tp, prop)(pub)
	if err != nil {
		t.Fatal(err)
	}
	in := message.NewMessage("cb-1", []byte(`{"name":"Jane Doe"}`))
	in.SetContext(ctx)
	if err := traced.Publish(testSubject("exec"), in); err != nil {
		t.Fatal(err)
	}
	root.End()

	var handlerSpan trace.SpanContext
	select {
	case handlerSpan = <-notified:
	case <-time.After(30 * time.Second):
		t.Fatal("gave up waiting for the notify handler")
	}
	if err := router.Close(); err != nil {
		t.Fatalf("router Close: %v", err)
	}
	if err := <-runErr; err != nil {
		t.Fatalf("router Run: %v", err)
	}
	if got, want := handlerSpan.TraceID(), root.SpanContext().TraceID(); got != want {
		t.Fatalf("notify handler trace: got %s, want %s", got, want)
	}

	spans := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range sr.Ended() {
		spans[s.Name()] = s
		if s.SpanContext().TraceID() != root.SpanContext().TraceID() {
			t.Errorf("span %q is in another trace", s.Name())
		}
		for _, kv := range s.Attributes() {
			if strings.Contains(kv.Value.String(), "Jane") {
				t.Errorf("span %q attribute %s carries the payload", s.Name(), kv.Key)
			}
		}
	}
	chain := []string{"ingest", "send jumio.callbacks", "process enrich", "send jumio.enriched", "process notify"}
	for i := 1; i < len(chain); i++ {
		child, parent := spans[chain[i]], spans[chain[i-1]]
		if child == nil || parent == nil {
			t.Fatalf("missing span %q or %q; have %v", chain[i], chain[i-1], names(sr.Ended()))
		}
		if child.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("parent of %q: got %s, want %q (%s)", chain[i], child.Parent().SpanID(), chain[i-1], parent.SpanContext().SpanID())
		}
	}
	if got, want := handlerSpan.SpanID(), spans["process notify"].SpanContext().SpanID(); got != want {
		t.Errorf("span in the handler's context: got %s, want the process span %s", got, want)
	}
	if got, want := attr(spans["send jumio.enriched"], "messaging.destination.name"), events.EnrichedSubject("acct", "exec"); got != want {
		t.Errorf("send span destination: got %q, want %q", got, want)
	}
	wantAttrs := map[attribute.Key]string{
		"kycflow.stream":             events.StreamCallbacks,
		"kycflow.stream_seq":         "1",
		"kycflow.attempt":            "1",
		"messaging.destination.name": testSubject("exec"),
		"messaging.message.id":       "cb-1",
	}
	got := map[attribute.Key]string{}
	for _, kv := range spans["process enrich"].Attributes() {
		if _, ok := wantAttrs[kv.Key]; ok {
			got[kv.Key] = kv.Value.String()
		}
	}
	for k, v := range wantAttrs {
		if got[k] != v {
			t.Errorf("process enrich attribute %s: got %q, want %q", k, got[k], v)
		}
	}
	if got := spans["process enrich"].SpanKind(); got != trace.SpanKindConsumer {
		t.Errorf("process span kind: got %v, want consumer", got)
	}
	if got := spans["send jumio.enriched"].SpanKind(); got != trace.SpanKindProducer {
		t.Errorf("send span kind: got %v, want producer", got)
	}
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name())
	}
	return out
}

func attr(s sdktrace.ReadOnlySpan, key attribute.Key) string {
	for _, kv := range s.Attributes() {
		if kv.Key == key {
			return kv.Value.String()
		}
	}
	return ""
}
