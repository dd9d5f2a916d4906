package ingest

import (
	"context"
	"net/http"
	"net/textproto"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/kycflow/kycflow/pkg/events"
)

// The server span of a callback request, following the OpenTelemetry HTTP
// semantic conventions with three departures that keep secrets and
// personal data out of traces: the span is named by the route pattern
// ("POST /callbacks/platform/{secret}"), or by the method alone for a path
// that matches no route; url.path is that pattern or a placeholder, never
// the path as sent; and no query string is recorded (Netverify sends whole
// callbacks as query strings).
//
// Jumio is outside our trace: each request starts a new trace, and a
// traceparent it may send becomes a link. Attributes are set only on a
// recorded span, and the response writer is wrapped (for the status code)
// only then: without an OTLP endpoint nothing is recorded and a request
// pays for a span context and nothing else.

// unmatchedPath replaces, in spans and problem documents, a path that
// matches no route: it may hold a mistyped or misplaced secret segment.
const unmatchedPath = "{unmatched}"

// routePath is the path of the route rt as traced and echoed: the secret
// segment, when sent, is "{secret}".
func (rt route) routePath() string {
	if !rt.matched {
		return unmatchedPath
	}
	api, seg := rt.index()
	return routePaths[api][seg]
}

// index is the route's position in routePaths.
func (rt route) index() (api, segment int) {
	if rt.api == events.APINetverify {
		api = 1
	}
	if rt.segment != "" {
		segment = 1
	}
	return api, segment
}

// routePaths are the four route patterns, by [netverify][secret segment].
var routePaths = [2][2]string{
	{"/callbacks/platform", "/callbacks/platform/{secret}"},
	{"/callbacks/netverify", "/callbacks/netverify/{secret}"},
}

// spanName is "<method> <route>", or the method alone when no route
// matched; an unknown method is "HTTP", as the conventions say.
func spanName(method string, rt route) string {
	m, known := knownMethod(method)
	if !known {
		m = "HTTP"
	}
	if !rt.matched {
		return m
	}
	if m == http.MethodPost {
		api, seg := rt.index()
		return postNames[api][seg]
	}
	return m + " " + rt.routePath()
}

var postNames = [2][2]string{
	{"POST " + routePaths[0][0], "POST " + routePaths[0][1]},
	{"POST " + routePaths[1][0], "POST " + routePaths[1][1]},
}

// knownMethod returns the method as the conventions record it:
// http.request.method is "_OTHER" for a method outside RFC 9110 and PATCH.
func knownMethod(m string) (string, bool) {
	switch m {
	case http.MethodPost, http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete,
		http.MethodPatch, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m, true
	}
	return "_OTHER", false
}

// startSpan starts the server span of r, whose path split into rt: the
// root of a new trace. A traceparent the caller sent is read into a
// context of its own and becomes a link only; the request's context never
// holds it, nor the caller's tracestate or baggage, so nothing of them is
// stored with the callback or travels further.
func (s *Service) startSpan(r *http.Request, rt route) (context.Context, trace.Span) {
	opts := s.spanOpts
	if trace.SpanContextFromContext(r.Context()).IsValid() {
		// Only a wrapper of the handler can have put a span there:
		// WithNewRoot costs the SDK a context of its own for every
		// request, so it is asked for only then.
		opts = append(opts[:len(opts):len(opts)], trace.WithNewRoot())
	}
	if _, ok := r.Header["Traceparent"]; ok {
		remote := trace.SpanContextFromContext(s.propagator.Extract(context.Background(), requestCarrier(r.Header)))
		if remote.IsValid() {
			opts = append(opts[:len(opts):len(opts)], trace.WithLinks(trace.Link{SpanContext: remote}))
		}
	}
	ctx, span := s.tracer.Start(r.Context(), spanName(r.Method, rt), opts...)
	if span.IsRecording() {
		method, _ := knownMethod(r.Method)
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		attrs := []attribute.KeyValue{
			attribute.String("http.request.method", method),
			attribute.String("url.scheme", scheme),
			attribute.String("url.path", rt.routePath()),
			attribute.String("network.peer.address", peerHost(r.RemoteAddr)),
		}
		if rt.matched {
			attrs = append(attrs, attribute.String("http.route", rt.routePath()))
		}
		if ua := r.UserAgent(); ua != "" {
			attrs = append(attrs, attribute.String("user_agent.original", ua))
		}
		if r.ContentLength > 0 {
			attrs = append(attrs, attribute.Int64("http.request.body.size", r.ContentLength))
		}
		span.SetAttributes(attrs...)
	}
	return ctx, span
}

// endSpan records the response status on a recorded span and ends it.
func endSpan(span trace.Span, sw *statusWriter) {
	if sw != nil {
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if status >= 500 {
			span.SetAttributes(attribute.String("error.type", strconv.Itoa(status)))
			span.SetStatus(codes.Error, "")
		}
	}
	span.End()
}

func peerHost(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			h := addr[:i]
			if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
				h = h[1 : len(h)-1]
			}
			return h
		}
	}
	return addr
}

// statusWriter remembers the status code of a response. Unwrap lets
// http.ResponseController reach the connection's writer.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// unwrap returns the connection's own writer, which http.MaxBytesReader
// needs to close the connection after an oversize body.
func unwrap(w http.ResponseWriter) http.ResponseWriter {
	if sw, ok := w.(*statusWriter); ok {
		return sw.ResponseWriter
	}
	return w
}

// requestCarrier reads trace headers from a request without
// canonicalizing their names on every lookup ("traceparent" is stored as
// "Traceparent"); propagation.HeaderCarrier allocates for each.
type requestCarrier http.Header

func (c requestCarrier) Get(key string) string {
	var k string
	switch key {
	case "traceparent":
		k = "Traceparent"
	case "tracestate":
		k = "Tracestate"
	case "baggage":
		k = "Baggage"
	default:
		k = textproto.CanonicalMIMEHeaderKey(key)
	}
	if v := c[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (c requestCarrier) Set(key, value string) { http.Header(c).Set(key, value) }

func (c requestCarrier) Keys() []string { return propagation.HeaderCarrier(c).Keys() }
