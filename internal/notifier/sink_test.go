package notifier_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/internal/notifier"
	"github.com/kycflow/kycflow/internal/notifier/notifiertest"
	"github.com/kycflow/kycflow/pkg/events"
)

// webhookReceiver adapts a notifiertest.Receiver to the conformance suite.
type webhookReceiver struct{ *notifiertest.Receiver }

func (r webhookReceiver) Got(*testing.T) []notifiertest.Got {
	var out []notifiertest.Got
	for _, req := range r.Accepted() {
		out = append(out, notifiertest.Got{ID: req.ID(), Result: req.Envelope.Data, Replay: req.Header.Get(events.HeaderReplay)})
	}
	return out
}

func (r webhookReceiver) Inject(_ *testing.T, f notifiertest.Fault) bool {
	switch f {
	case notifiertest.FaultRetryable:
		r.Fail(1, http.StatusServiceUnavailable, http.Header{"Retry-After": {"1"}})
	case notifiertest.FaultPermanent:
		r.Fail(1, http.StatusBadRequest, nil)
	case notifiertest.FaultGone:
		r.Fail(1, http.StatusGone, nil)
	case notifiertest.FaultHang:
		r.Hang(1)
	}
	return true
}

func (webhookReceiver) Heal(*testing.T) {}

func webhookSink(t *testing.T, rcv *notifiertest.Receiver, mutate func(*notifier.WebhookSinkConfig)) *notifier.WebhookSink {
	t.Helper()
	rt := rcv.Route("conformance", events.PolicyFull)
	cfg := notifier.WebhookSinkConfig{Route: rt.Name, Webhook: rt.Webhook}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := notifier.NewWebhookSink(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestWebhookSinkConformance(t *testing.T) {
	notifiertest.TestSink(t, func(t *testing.T) (notifier.Sink, notifiertest.SinkReceiver) {
		rcv := notifiertest.NewReceiver(t, notifiertest.Secret)
		return webhookSink(t, rcv, nil), webhookReceiver{rcv}
	})
}

// natsReceiver reads what a NATS sink stored in JUMIO_RESULTS.
type natsReceiver struct {
	js jetstream.JetStream
}

func (r natsReceiver) Got(t *testing.T) []notifiertest.Got {
	var out []notifiertest.Got
	for _, m := range brokertest.Messages(t, r.js, events.StreamResults) {
		var res events.Result
		if err := json.Unmarshal(m.Data, &res); err != nil {
			t.Fatalf("stored result: %v", err)
		}
		out = append(out, notifiertest.Got{ID: m.Header.Get(events.HeaderMsgID), Result: res, Replay: m.Header.Get(events.HeaderReplay)})
	}
	return out
}

// Inject can only make the stream unavailable: what makes a NATS delivery
// permanent is the message, not the destination (TestNATSSinkErrorClasses),
// and JetStream neither hangs nor answers 410.
func (r natsReceiver) Inject(t *testing.T, f notifiertest.Fault) bool {
	if f != notifiertest.FaultRetryable {
		return false
	}
	// No stream to store results: JetStream answers no one.
	if err := r.js.DeleteStream(t.Context(), events.StreamResults); err != nil {
		t.Fatal(err)
	}
	return true
}

func (r natsReceiver) Heal(t *testing.T) {
	if err := broker.EnsureStreams(t.Context(), r.js, broker.DefaultStreamsConfig()); err != nil {
		t.Fatal(err)
	}
}

func (natsReceiver) Arrived() <-chan string { return nil }

func natsSink(t *testing.T, js jetstream.JetStream, prefix string) *notifier.NATSSink {
	t.Helper()
	pub, err := broker.NewPublisher(broker.PublisherConfig{}, js)
	if err != nil {
		t.Fatal(err)
	}
	s, err := notifier.NewNATSSink("conformance", &notifier.NATSRoute{Prefix: prefix}, pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNATSSinkConformance(t *testing.T) {
	notifiertest.TestSink(t, func(t *testing.T) (notifier.Sink, notifiertest.SinkReceiver) {
		_, js := brokertest.Start(t).JetStream(t)
		return natsSink(t, js, ""), natsReceiver{js}
	})
}

// TestNATSSinkErrorClasses: failures a real server causes, classified as
// the route needs them: a result the server can never take (larger than
// its max_payload, a header NATS cannot carry) is permanent and stored
// nowhere; a full stream and a closed connection are retryable.
func TestNATSSinkErrorClasses(t *testing.T) {
	srv := brokertest.Start(t)
	for _, tc := range []struct {
		name   string
		result func(r *events.Result, nc *nats.Conn)
		fault  func(t *testing.T, nc *nats.Conn, js jetstream.JetStream)
		class  error
		cause  error
	}{
		{
			name:   "result larger than the server's max payload",
			result: func(r *events.Result, nc *nats.Conn) { r.Decision.Label = strings.Repeat("x", int(nc.MaxPayload())) },
			class:  notifier.ErrPermanent, cause: nats.ErrMaxPayload,
		},
		{
			name:   "execution id that cannot be a header (ce-subject)",
			result: func(r *events.Result, _ *nats.Conn) { r.IDs.WorkflowExecutionID += "\nX-Injected: 1" },
			class:  notifier.ErrPermanent, cause: broker.ErrInvalidHeader,
		},
		{
			name: "stream full",
			fault: func(t *testing.T, _ *nats.Conn, js jetstream.JetStream) {
				cfg := broker.DefaultStreamsConfig()
				cfg.MaxBytes = 1
				if err := broker.EnsureStreams(t.Context(), js, cfg); err != nil {
					t.Fatal(err)
				}
			},
			class: notifier.ErrRetryable,
		},
		{
			name:  "connection closed",
			fault: func(_ *testing.T, nc *nats.Conn, _ jetstream.JetStream) { nc.Close() },
			class: notifier.ErrRetryable, cause: nats.ErrConnectionClosed,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, js := srv.JetStream(t) // the default streams again
			sink := natsSink(t, js, "")
			r := notifiertest.Result(1)
			if tc.result != nil {
				tc.result(&r, nc)
			}
			if tc.fault != nil {
				tc.fault(t, nc, js)
			}
			err := sink.Deliver(t.Context(), notifier.Delivery{ID: "d1", Route: "conformance", EventID: "e1", Result: r})
			var de *notifier.DeliveryError
			if !errors.As(err, &de) || !errors.Is(err, tc.class) {
				t.Fatalf("Deliver: got %v, want a *DeliveryError matching %v", err, tc.class)
			}
			for _, other := range []error{notifier.ErrRetryable, notifier.ErrPermanent, notifier.ErrGone} {
				if other != tc.class && errors.Is(err, other) {
					t.Errorf("Deliver: %v also matches %v", err, other)
				}
			}
			if tc.cause != nil && !errors.Is(err, tc.cause) {
				t.Errorf("Deliver: got %v, want it to match %v", err, tc.cause)
			}
			_, check := srv.JetStream(t)
			if n := len(brokertest.Messages(t, check, events.StreamResults)); n != 0 {
				t.Errorf("stored %d results, want none", n)
			}
		})
	}
}

func TestNATSSinkSubjectAndHeaders(t *testing.T) {
	_, js := brokertest.Start(t).JetStream(t)
	sink := natsSink(t, js, "jumio.results.crm")
	r := events.Project(notifiertest.Result(1), events.PolicyNoPII)
	d := notifier.Delivery{ID: "delivery-1", Route: "conformance", EventID: "event-1", Result: r}
	if err := sink.Deliver(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	msgs := brokertest.Messages(t, js, events.StreamResults)
	if len(msgs) != 1 {
		t.Fatalf("stored %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if want := "jumio.results.crm.passed.10011." + notifiertest.AccountID(1) + "." + notifiertest.ExecutionID(1); m.Subject != want {
		t.Errorf("subject: got %s, want %s", m.Subject, want)
	}
	for k, want := range map[string]string{
		events.HeaderCEType: events.TypeResult, events.HeaderCESource: events.SourceNotifier,
		events.HeaderCEID: "delivery-1", events.HeaderMsgID: "delivery-1", events.HeaderEventID: "event-1",
		events.HeaderCESpecVersion: events.CESpecVersion, events.HeaderCESubject: notifiertest.ExecutionID(1),
		events.HeaderContentType: events.ContentTypeJSON, events.HeaderRoute: "conformance",
	} {
		if got := m.Header.Get(k); got != want {
			t.Errorf("header %s: got %q, want %q", k, got, want)
		}
	}
}

func TestWebhookSignatureRotation(t *testing.T) {
	// The route signs with the new and the old secret while receivers move
	// from one to the other: either verifies.
	for _, secrets := range [][]string{{notifiertest.OldSecret}, {notifiertest.Secret}, {notifiertest.Secret, notifiertest.OldSecret}} {
		rcv := notifiertest.NewReceiver(t, secrets...)
		sink := webhookSink(t, rcv, func(c *notifier.WebhookSinkConfig) {
			w := *c.Webhook
			w.Keys = notifiertest.Keys(t, notifiertest.Secret, notifiertest.OldSecret)
			c.Webhook = &w
		})
		if err := sink.Deliver(t.Context(), notifier.Delivery{ID: "d1", EventID: "e1", Result: notifiertest.Result(1)}); err != nil {
			t.Fatalf("Deliver: %v", err)
		}
		req := rcv.Accepted()[0]
		if n := len(strings.Fields(req.Header.Get(events.HeaderWebhookSignature))); n != 2 {
			t.Errorf("signatures: got %d, want 2", n)
		}
	}
}

func TestWebhookOverHTTPS(t *testing.T) {
	rcv := notifiertest.NewTLSReceiver(t, notifiertest.Secret)
	sink := webhookSink(t, rcv, func(c *notifier.WebhookSinkConfig) { c.RootCAs = rcv.CertPool() })
	if err := sink.Deliver(t.Context(), notifier.Delivery{ID: "d1", EventID: "e1", Result: notifiertest.Result(1)}); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if n := len(rcv.Accepted()); n != 1 {
		t.Errorf("accepted %d, want 1", n)
	}
}

func TestWebhookDoesNotFollowRedirects(t *testing.T) {
	target := notifiertest.NewReceiver(t, notifiertest.Secret)
	rcv := notifiertest.NewReceiver(t, notifiertest.Secret)
	rcv.Redirect(target.URL())
	err := webhookSink(t, rcv, nil).Deliver(t.Context(), notifier.Delivery{ID: "d1", EventID: "e1", Result: notifiertest.Result(1)})
	var de *notifier.DeliveryError
	if !errors.Is(err, notifier.ErrPermanent) || !errors.As(err, &de) || de.Status != http.StatusTemporaryRedirect {
		t.Fatalf("Deliver: got %v, want a permanent failure with status 307", err)
	}
	if n := target.Attempts(); n != 0 {
		t.Errorf("redirect target got %d requests, want 0", n)
	}
}

func TestWebhookRefusesPrivateTargets(t *testing.T) {
	rcv := notifiertest.NewTLSReceiver(t, notifiertest.Secret)
	// A literal loopback address is refused when the file is read.
	if _, err := notifier.ParseWebhookURL(rcv.URL(), false); !errors.Is(err, notifier.ErrBadURL) {
		t.Fatalf("ParseWebhookURL(%s): got %v, want ErrBadURL", rcv.URL(), err)
	}
	// A name is checked once resolved, on every connection.
	byName := strings.Replace(rcv.URL(), "127.0.0.1", "localhost", 1)
	u, err := notifier.ParseWebhookURL(byName, false)
	if err != nil {
		t.Fatal(err)
	}
	sink := webhookSink(t, rcv, func(c *notifier.WebhookSinkConfig) {
		c.RootCAs = rcv.CertPool()
		w := *c.Webhook
		w.URL, w.AllowPrivate = u, false
		c.Webhook = &w
	})
	err = sink.Deliver(t.Context(), notifier.Delivery{ID: "d1", EventID: "e1", Result: notifiertest.Result(1)})
	if !errors.Is(err, notifier.ErrPermanent) || !errors.Is(err, notifier.ErrForbiddenAddress) {
		t.Fatalf("Deliver: got %v, want ErrPermanent and ErrForbiddenAddress", err)
	}
	if n := rcv.Attempts(); n != 0 {
		t.Errorf("receiver got %d requests, want 0", n)
	}
}

func TestWebhookTimeoutIsRetryable(t *testing.T) {
	rcv := notifiertest.NewReceiver(t, notifiertest.Secret)
	rcv.Hang(1)
	sink := webhookSink(t, rcv, func(c *notifier.WebhookSinkConfig) {
		w := *c.Webhook
		w.Timeout = 100 * time.Millisecond
		c.Webhook = &w
	})
	err := sink.Deliver(t.Context(), notifier.Delivery{ID: "d1", EventID: "e1", Result: notifiertest.Result(1)})
	var de *notifier.DeliveryError
	if !errors.Is(err, notifier.ErrRetryable) || !errors.As(err, &de) || de.Reason != "timeout" {
		t.Fatalf("Deliver: got %v, want a retryable timeout", err)
	}
}

func TestWebhookStatusClasses(t *testing.T) {
	for _, tc := range []struct {
		status     int
		header     http.Header
		class      error
		retryAfter time.Duration
	}{
		{http.StatusRequestTimeout, nil, notifier.ErrRetryable, 0},
		{http.StatusTooManyRequests, http.Header{"Retry-After": {"120"}}, notifier.ErrRetryable, 2 * time.Minute},
		{http.StatusInternalServerError, nil, notifier.ErrRetryable, 0},
		{http.StatusBadGateway, http.Header{"Retry-After": {"soon"}}, notifier.ErrRetryable, 0},
		{http.StatusGone, nil, notifier.ErrGone, 0},
		{http.StatusNotFound, nil, notifier.ErrPermanent, 0},
		{http.StatusUnprocessableEntity, nil, notifier.ErrPermanent, 0},
		{http.StatusNotModified, nil, notifier.ErrPermanent, 0},
	} {
		rcv := notifiertest.NewReceiver(t, notifiertest.Secret)
		rcv.Fail(1, tc.status, tc.header)
		err := webhookSink(t, rcv, nil).Deliver(t.Context(), notifier.Delivery{ID: "d1", EventID: "e1", Result: notifiertest.Result(1)})
		var de *notifier.DeliveryError
		if !errors.Is(err, tc.class) || !errors.As(err, &de) || de.Status != tc.status || de.RetryAfter != tc.retryAfter {
			t.Errorf("status %d: got %v (%+v), want %v with Retry-After %s", tc.status, err, de, tc.class, tc.retryAfter)
		}
	}
}

func TestWebhookSendsTraceContext(t *testing.T) {
	rcv := notifiertest.NewReceiver(t, notifiertest.Secret)
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	sink := webhookSink(t, rcv, func(c *notifier.WebhookSinkConfig) {
		c.TracerProvider, c.Propagator = tp, propagation.TraceContext{}
	})
	ctx, span := tp.Tracer("test").Start(t.Context(), "parent")
	err := sink.Deliver(ctx, notifier.Delivery{ID: "d1", EventID: "e1", Result: notifiertest.Result(1)})
	span.End()
	if err != nil {
		t.Fatal(err)
	}
	got := rcv.Accepted()[0].Header.Get("traceparent")
	if !strings.Contains(got, span.SpanContext().TraceID().String()) {
		t.Errorf("traceparent %q does not continue trace %s", got, span.SpanContext().TraceID())
	}
}

// TestWebhookSendsNoBaggage: a webhook carries the W3C trace context and
// never baggage, also when the configured propagator would write it.
func TestWebhookSendsNoBaggage(t *testing.T) {
	rcv := notifiertest.NewReceiver(t, notifiertest.Secret)
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	sink := webhookSink(t, rcv, func(c *notifier.WebhookSinkConfig) {
		c.TracerProvider = tp
		c.Propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	})
	m, _ := baggage.NewMember("user.email", "alice")
	b, _ := baggage.New(m)
	ctx, span := tp.Tracer("test").Start(baggage.ContextWithBaggage(t.Context(), b), "parent")
	err := sink.Deliver(ctx, notifier.Delivery{ID: "d1", EventID: "e1", Result: notifiertest.Result(1)})
	span.End()
	if err != nil {
		t.Fatal(err)
	}
	h := rcv.Accepted()[0].Header
	if h.Get("traceparent") == "" {
		t.Error("no traceparent")
	}
	if v := h.Get("baggage"); v != "" {
		t.Errorf("webhook carries baggage %q", v)
	}
}
