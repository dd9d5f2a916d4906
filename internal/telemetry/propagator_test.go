package telemetry_test

import (
	"context"
	"net/http"
	"testing"

	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/kycflow/kycflow/internal/telemetry"
)

// TestPropagatorCarriesNoBaggage: the propagator of every kycflow process
// reads and writes the W3C trace context only; baggage a caller sent is
// neither taken in nor passed on.
func TestPropagatorCarriesNoBaggage(t *testing.T) {
	p := telemetry.Propagator()
	for _, f := range p.Fields() {
		if f != "traceparent" && f != "tracestate" {
			t.Errorf("Propagator carries %q, want traceparent and tracestate only", f)
		}
	}
	in := http.Header{
		"Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		"Baggage":     {"user.email=alice%40example.com"},
	}
	ctx := p.Extract(context.Background(), propagation.HeaderCarrier(in))
	if b := baggage.FromContext(ctx); b.Len() != 0 {
		t.Errorf("extracted baggage %v, want none", b)
	}
	if !trace.SpanContextFromContext(ctx).IsValid() {
		t.Error("the traceparent was not read")
	}
	m, _ := baggage.NewMember("user.email", "bob")
	b, _ := baggage.New(m)
	out := http.Header{}
	p.Inject(baggage.ContextWithBaggage(ctx, b), propagation.HeaderCarrier(out))
	if v := out.Get("Baggage"); v != "" {
		t.Errorf("injected baggage %q, want none", v)
	}
}
