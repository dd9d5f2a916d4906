package notifier

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/pkg/events"
)

// UserAgent is the User-Agent of webhook requests.
const UserAgent = "kycflow-notifier/1"

// maxResponseBody is how much of a webhook response is read (and
// discarded) so that the connection can be reused.
const maxResponseBody = 64 << 10

// WebhookSinkConfig configures a WebhookSink.
type WebhookSinkConfig struct {
	// Route is the route's name (spans, logs).
	Route string
	// Webhook is the route's webhook settings. Required.
	Webhook *WebhookRoute
	// MaxConns caps the connections to the endpoint (default 16).
	MaxConns int
	// RootCAs verifies the endpoint's certificate (default: the system's).
	RootCAs *x509.CertPool
	// TracerProvider and Propagator trace each attempt as a client span
	// and send its traceparent (default: none, W3C trace context).
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
	// Now is the clock of webhook-timestamp (default time.Now).
	Now func() time.Time
}

// WebhookSink posts results to an HTTPS endpoint as Standard Webhooks:
// a JSON events.WebhookEnvelope signed with every key of the route. It
// follows no redirect and connects only to addresses its route allows,
// checked after name resolution on every connection. It is safe for
// concurrent use.
type WebhookSink struct {
	route   string
	url     string
	host    string
	keys    SigningKeys
	timeout time.Duration
	client  *http.Client
	tracer  trace.Tracer
	prop    propagation.TextMapPropagator
	now     func() time.Time
}

var _ Sink = (*WebhookSink)(nil)

// NewWebhookSink returns the sink of a webhook route.
func NewWebhookSink(cfg WebhookSinkConfig) (*WebhookSink, error) {
	w := cfg.Webhook
	if w == nil || w.URL == nil {
		return nil, fmt.Errorf("notifier: webhook sink %s: no URL", cfg.Route)
	}
	if w.Keys.Len() == 0 {
		return nil, fmt.Errorf("notifier: webhook sink %s: %w: no signing key", cfg.Route, ErrSecret)
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 16
	}
	if cfg.TracerProvider == nil {
		cfg.TracerProvider = noop.NewTracerProvider()
	}
	if cfg.Propagator == nil {
		cfg.Propagator = propagation.TraceContext{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	timeout := w.Timeout
	if timeout <= 0 {
		timeout = DefaultWebhookTimeout
	}
	dialer := &net.Dialer{
		Timeout:   min(timeout, 10*time.Second),
		KeepAlive: 30 * time.Second,
		Control:   dialControl(w.AllowPrivate, w.URL.Scheme == "http"),
	}
	transport := &http.Transport{
		// No proxy from the environment: the address checks would see the
		// proxy, not the endpoint.
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: cfg.RootCAs},
		ForceAttemptHTTP2:      true,
		MaxConnsPerHost:        cfg.MaxConns,
		MaxIdleConnsPerHost:    cfg.MaxConns,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    min(timeout, 10*time.Second),
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &WebhookSink{
		route:   cfg.Route,
		url:     w.URL.String(),
		host:    w.URL.Hostname(),
		keys:    w.Keys,
		timeout: timeout,
		client: &http.Client{
			// Deliver bounds each call by the route's timeout through its
			// context too; this bounds a call made without one.
			Timeout:   timeout,
			Transport: transport,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		tracer: cfg.TracerProvider.Tracer(instrumentationName),
		prop:   cfg.Propagator,
		now:    cfg.Now,
	}, nil
}

// Close closes idle connections.
func (s *WebhookSink) Close() { s.client.CloseIdleConnections() }

// WebhookBody is the JSON body posted for d: an events.WebhookEnvelope.
// It is the same for every attempt of d.
func WebhookBody(d Delivery) ([]byte, error) {
	ts := d.Result.Timestamps
	var at time.Time
	for _, t := range []*time.Time{ts.CallbackSent, ts.Received, ts.Enriched} {
		if t != nil {
			at = t.UTC()
			break
		}
	}
	return marshal(events.WebhookEnvelope{Type: events.WebhookTypeResult, Timestamp: at, Data: d.Result, Replay: d.Replay != nil})
}

// marshal encodes v as compact JSON without HTML escaping.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Deliver posts d once, within the route's timeout. See Sink.
func (s *WebhookSink) Deliver(ctx context.Context, d Delivery) (err error) {
	if err := ctx.Err(); err != nil {
		return cancelled(err)
	}
	body, err := WebhookBody(d)
	if err != nil {
		return &DeliveryError{Class: ErrPermanent, Reason: "encode", Err: err}
	}
	ctx, span := s.tracer.Start(ctx, "POST webhook "+s.route,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("http.request.method", http.MethodPost),
			// The host only: webhook URLs often carry a token in their
			// path or query.
			attribute.String("server.address", s.host),
			attribute.String("kycflow.route", s.route),
			attribute.String("kycflow.delivery_id", d.ID),
			attribute.String("kycflow.event_id", d.EventID),
		))
	defer func() {
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()

	actx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return &DeliveryError{Class: ErrPermanent, Reason: "request", Err: errors.New("cannot build the request")}
	}
	ts := s.now().Unix()
	h := req.Header
	h.Set("Content-Type", events.ContentTypeJSON)
	h.Set("User-Agent", UserAgent)
	h.Set(events.HeaderWebhookID, d.ID)
	h.Set(events.HeaderWebhookTimestamp, strconv.FormatInt(ts, 10))
	h.Set(events.HeaderWebhookSignature, events.SignWebhook(s.keys.keys, d.ID, ts, body))
	h.Set(events.HeaderEventID, d.EventID)
	if d.Replay != nil {
		// The receiver is outside: it learns the replay, not the names
		// of the other routes it was meant for.
		m := *d.Replay
		m.Routes = nil
		h.Set(events.HeaderReplay, m.String())
	}
	s.prop.Inject(ctx, traceHeaders(h))
	if !validHeaderValues(h) {
		// An id the request cannot carry comes from the message itself:
		// no retry can deliver it.
		return &DeliveryError{Class: ErrPermanent, Reason: "header", Err: broker.ErrInvalidHeader}
	}

	resp, err := s.client.Do(req)
	if err != nil {
		return s.transportError(ctx, actx, err)
	}
	s.discardBody(actx, resp)
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	return statusError(resp, s.now())
}

// discardBody reads what the receiver sent after the status (at most
// maxResponseBody, so that the connection can be reused) and closes it,
// within the call's timeout. The body of a 101 Switching Protocols is the
// connection itself, which no context bounds: it is closed at once, and
// any other body once the timeout is up.
func (s *WebhookSink) discardBody(actx context.Context, resp *http.Response) {
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return
	}
	stop := context.AfterFunc(actx, func() { _ = resp.Body.Close() })
	defer stop()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBody))
}

// validHeaderValues reports whether every header value can be sent: no
// control character but tab (net/http refuses the request otherwise).
func validHeaderValues(h http.Header) bool {
	for _, vs := range h {
		for _, v := range vs {
			if strings.ContainsFunc(v, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) {
				return false
			}
		}
	}
	return true
}

// transportError classifies an error without a response. The URL is
// dropped from it (*url.Error would print it whole).
func (s *WebhookSink) transportError(ctx, actx context.Context, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	switch {
	case ctx.Err() != nil:
		return cancelled(ctx.Err())
	case errors.Is(err, ErrForbiddenAddress):
		return &DeliveryError{Class: ErrPermanent, Reason: "forbidden_address", Err: err}
	case actx.Err() != nil || errors.Is(err, context.DeadlineExceeded):
		return &DeliveryError{Class: ErrRetryable, Reason: "timeout", Err: fmt.Errorf("no response within %s", s.timeout)}
	}
	return &DeliveryError{Class: ErrRetryable, Reason: "connection", Err: peerError(err)}
}

// peerError is err with a text of kycflow's words. net/http quotes what
// the receiver sent when it cannot read it as a response ("malformed MIME
// header line: …", a receiver that echoes the request: the result's
// personal data; "malformed HTTP status code …", an echo of the URL's
// token), and the error text goes into logs, spans and dead letters. Only
// a failure to connect keeps its own text, which names the address and
// the system's reason; the chain is kept for errors.Is and errors.As.
func peerError(err error) error {
	var op *net.OpError
	var cert *tls.CertificateVerificationError
	var alert tls.AlertError
	var rec tls.RecordHeaderError
	switch {
	case errors.As(err, &op) && op.Op == "dial":
		return err
	case errors.As(err, &cert):
		return opaqueError{"the receiver's TLS certificate is not trusted", err}
	case errors.As(err, &alert), errors.As(err, &rec):
		return opaqueError{"the TLS handshake failed", err}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET):
		return opaqueError{"the receiver closed the connection without a response", err}
	}
	return opaqueError{"the receiver's response could not be read", err}
}

// opaqueError prints text and unwraps to err.
type opaqueError struct {
	text string
	err  error
}

func (e opaqueError) Error() string { return e.text }
func (e opaqueError) Unwrap() error { return e.err }

// statusError classifies a response: 2xx delivered; 410 gone; 408, 429
// and 5xx retryable (with Retry-After); anything else, redirects
// included, permanent.
func statusError(resp *http.Response, now time.Time) error {
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusGone:
		return &DeliveryError{Class: ErrGone, Reason: "gone", Status: code}
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return &DeliveryError{Class: ErrRetryable, Reason: "status", Status: code, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), now)}
	case code >= 300 && code < 400:
		return &DeliveryError{Class: ErrPermanent, Reason: "redirect", Status: code, Err: errors.New("redirects are not followed; configure the final URL")}
	}
	return &DeliveryError{Class: ErrPermanent, Reason: "status", Status: code}
}

// retryAfter reads a Retry-After value: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(min(n, 7*24*3600)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// traceHeaders lets a propagator write the W3C trace context (traceparent,
// tracestate) into a webhook request and nothing else: a propagator that
// also carries baggage must not send it to a receiver outside kycflow.
type traceHeaders http.Header

func (h traceHeaders) Get(key string) string { return http.Header(h).Get(key) }

func (h traceHeaders) Set(key, value string) {
	if k := strings.ToLower(key); k == events.HeaderTraceparent || k == events.HeaderTracestate {
		http.Header(h).Set(key, value)
	}
}

func (h traceHeaders) Keys() []string { return propagation.HeaderCarrier(h).Keys() }
