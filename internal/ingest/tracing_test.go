package ingest_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/kycflow/kycflow/internal/bench"
	"github.com/kycflow/kycflow/pkg/events"
)

// TestTracing: a callback request starts a new trace (Jumio is outside
// ours) with a server span named by its route, linked to a traceparent the
// request brought; the publish is a producer span under it, and the
// stored message carries the producer span's context and nothing of the
// caller's: no baggage, not its tracestate (also when the telemetry's
// propagator would carry baggage).
func TestTracing(t *testing.T) {
	h := startTracedIngest(t, nil, nil)
	const remote = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	cb := bench.PlatformCallback(t.Name(), 1)
	header := http.Header{"Traceparent": {remote}, "Tracestate": {"caller=state"}, "Baggage": {"user.email=alice%40example.com"}}
	if r := h.post(t, "/callbacks/platform", cb.ContentType, cb.Body, header); r.status != http.StatusOK {
		t.Fatalf("status: got %d, want 200", r.status)
	}
	var server, producer sdktrace.ReadOnlySpan
	for _, s := range h.spans.Ended() {
		switch s.SpanKind() {
		case trace.SpanKindServer:
			server = s
		case trace.SpanKindProducer:
			producer = s
		}
	}
	if server == nil || producer == nil {
		t.Fatalf("got server span %v, producer span %v", server, producer)
	}
	if got, want := server.Name(), "POST /callbacks/platform"; got != want {
		t.Errorf("server span name: got %q, want %q", got, want)
	}
	if server.Parent().IsValid() {
		t.Errorf("server span has parent %v, want a new trace", server.Parent())
	}
	if links := server.Links(); len(links) != 1 || links[0].SpanContext.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("server span links: got %v, want the request's traceparent", links)
	}
	if producer.Parent().SpanID() != server.SpanContext().SpanID() {
		t.Errorf("producer span's parent: got %v, want the server span", producer.Parent().SpanID())
	}
	msgs := h.stored(t)
	if len(msgs) != 1 {
		t.Fatalf("stored: got %d, want 1", len(msgs))
	}
	sc := producer.SpanContext()
	if got, want := msgs[0].Header.Get(events.HeaderTraceparent), "00-"+sc.TraceID().String()+"-"+sc.SpanID().String()+"-01"; got != want {
		t.Errorf("message traceparent: got %q, want %q", got, want)
	}
	for k, v := range msgs[0].Header {
		if strings.EqualFold(k, "baggage") || strings.Contains(strings.Join(v, ","), "caller=state") {
			t.Errorf("stored message carries the caller's context: %s: %v", k, v)
		}
	}
}

// TestTracingNewRootUnderAWrapper: a callback's trace starts at ingest
// even when a wrapper of its handler (an instrumented router or server)
// put a span of its own into the request's context.
func TestTracingNewRootUnderAWrapper(t *testing.T) {
	h := startTracedIngest(t, nil, nil)
	outer := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled,
	})
	cb := bench.PlatformCallback(t.Name(), 1)
	req := httptest.NewRequestWithContext(trace.ContextWithSpanContext(t.Context(), outer), http.MethodPost, "/callbacks/platform", bytes.NewReader(cb.Body))
	req.RemoteAddr = "127.0.0.1:5000"
	req.Header.Set("Content-Type", cb.ContentType)
	w := httptest.NewRecorder()
	h.svc.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Fatalf("status: got %d, want 200: %s", w.Code, w.Body)
	}
	var server sdktrace.ReadOnlySpan
	for _, s := range h.spans.Ended() {
		if s.SpanKind() == trace.SpanKindServer {
			server = s
		}
	}
	if server == nil {
		t.Fatal("no server span")
	}
	if server.Parent().IsValid() || server.SpanContext().TraceID() == outer.TraceID() {
		t.Errorf("server span: parent %v, trace %v; want a new trace", server.Parent(), server.SpanContext().TraceID())
	}
}

// TestTracingUnavailable: a 503 marks the server span as an error.
func TestTracingUnavailable(t *testing.T) {
	h := startTracedIngest(t, nil, nil)
	h.broker.Stop()
	cb := bench.NetverifyCallback(t.Name(), 1)
	if r := h.send(t, cb); r.status != http.StatusServiceUnavailable {
		t.Fatalf("status: got %d, want 503", r.status)
	}
	checkServerSpan(t, h, http.MethodPost, http.StatusServiceUnavailable)
}
