package enricher_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// TestTraceContinues: the enricher continues the trace ingest started:
// its consumer span is a child of the ingest span, the Jumio call and the
// publish are children of the consumer span, and the enriched message
// carries the trace on.
func TestTraceContinues(t *testing.T) {
	h := newHarness(t, jumiotest.Config{})
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	h.tel.TracerProvider = tp

	x := h.executions(1, 37)[0]
	h.start(h.config(), nil)
	ctx, ingest := tp.Tracer("ingest").Start(context.Background(), "POST /callbacks/platform")
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	ingest.End()
	h.publish(h.platformEvent(x, time.Now()), nats.Header{events.HeaderTraceparent: {carrier.Get("traceparent")}})
	h.settle(1)

	traceID := ingest.SpanContext().TraceID()
	out := h.enriched()[0].Header.Get(events.HeaderTraceparent)
	if !strings.Contains(out, traceID.String()) {
		t.Errorf("enriched traceparent %q, want trace %s", out, traceID)
	}
	var consumer, jumioCall, send sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		switch {
		case s.SpanKind() == trace.SpanKindConsumer:
			consumer = s
		case strings.HasPrefix(s.Name(), "jumio "):
			jumioCall = s
		case s.SpanKind() == trace.SpanKindProducer:
			send = s
		}
	}
	if consumer == nil || jumioCall == nil || send == nil {
		t.Fatalf("spans: consumer %v, jumio %v, send %v", consumer != nil, jumioCall != nil, send != nil)
	}
	if consumer.Parent().SpanID() != ingest.SpanContext().SpanID() || consumer.SpanContext().TraceID() != traceID {
		t.Errorf("the consumer span does not continue the ingest span")
	}
	for name, s := range map[string]sdktrace.ReadOnlySpan{"jumio call": jumioCall, "publish": send} {
		if s.SpanContext().TraceID() != traceID || s.Parent().SpanID() != consumer.SpanContext().SpanID() {
			t.Errorf("the %s span (%s) is not a child of the consumer span", name, s.Name())
		}
	}
	if !strings.Contains(out, send.SpanContext().SpanID().String()) {
		t.Errorf("enriched traceparent %q does not name the publish span", out)
	}
}
