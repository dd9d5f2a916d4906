package telemetry_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/internal/config"
	"github.com/kycflow/kycflow/internal/enricher"
	"github.com/kycflow/kycflow/internal/ingest"
	"github.com/kycflow/kycflow/internal/ingest/ingesttest"
	"github.com/kycflow/kycflow/internal/notifier"
	"github.com/kycflow/kycflow/internal/notifier/notifiertest"
	"github.com/kycflow/kycflow/internal/telemetry"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// TestOneTraceFromCallbackToWebhook runs ingest, the enricher and the
// notifier in process on a real JetStream server, with the Jumio
// simulator and a loopback webhook receiver, and follows one Platform
// callback: the ingest HTTP span, its publish, the enricher's consume, its
// Jumio call and its publish, the notifier's consume and its webhook call
// form one chain of parent and child spans in one trace, carried through
// NATS headers; the webhook carries the last span's traceparent, and each
// stage's logs carry the trace id.
//
// The callback arrives with a caller's traceparent, tracestate and
// baggage: ingest starts a new trace that links to the caller's span, and
// neither the caller's trace nor its tracestate or baggage is stored with
// the callback, carried to the enriched result or sent on the webhook.
func TestOneTraceFromCallbackToWebhook(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans), sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	logs := &ingesttest.SyncBuffer{}
	tel := telemetry.Discard()
	tel.Logger = telemetry.NewLogger(logs, "json", "debug")
	tel.TracerProvider = tp

	nc, js := brokertest.Start(t).JetStream(t)
	sim := jumiotest.NewServer(jumiotest.Config{Scenario: jumiotest.Scenario{Seed: 3, Executions: 1}})
	t.Cleanup(sim.Close)
	receiver := notifiertest.NewReceiver(t, notifiertest.Secret)

	// ingest on loopback
	icfg := ingest.LoadConfig(config.FromMap(nil))
	icfg.AllowedSources = []string{"127.0.0.1"}
	icfg.RateLimit = 0
	svc, err := ingest.New(icfg, nc, tel)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	background(t, func(ctx context.Context) error { return svc.Serve(ctx, ln) })

	// the enricher, against the simulator
	jcfg := sim.ClientConfig(0)
	e, err := enricher.New(enricher.Config{Jumio: jcfg, PullExpiry: 200 * time.Millisecond, DrainTimeout: 2 * time.Second}, nc, nil, tel)
	if err != nil {
		t.Fatal(err)
	}
	background(t, e.Run)

	// the notifier, with one webhook route to the receiver
	n, err := notifier.New(notifier.Config{PullExpiry: 200 * time.Millisecond, DrainTimeout: 2 * time.Second, AckWait: 5 * time.Second},
		[]notifier.Route{receiver.Route("crm", events.PolicyFull)}, js, tel)
	if err != nil {
		t.Fatal(err)
	}
	background(t, n.Run)
	eventually(t, "every stage ready", func() bool {
		ctx := t.Context()
		return svc.Ready(ctx) == nil && e.Ready(ctx) == nil && n.Ready(ctx) == nil
	})

	caller := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0xca, 0x11, 0xe4, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13},
		SpanID:     trace.SpanID{0xca, 0x11, 0xe4, 1, 2, 3, 4, 5},
		TraceFlags: trace.FlagsSampled,
	})
	const callerBaggage, callerState = "user.email=alice%40example.com,tenant=other", "caller=secret-state"
	client := &http.Client{Timeout: 10 * time.Second, Transport: headerTransport{
		"traceparent": "00-" + caller.TraceID().String() + "-" + caller.SpanID().String() + "-01",
		"tracestate":  callerState,
		"baggage":     callerBaggage,
	}}
	t.Cleanup(client.CloseIdleConnections)
	sent, err := sim.SendCallbacks(t.Context(), jumiotest.CallbackOptions{Client: client, URL: "http://" + ln.Addr().String() + "/callbacks/platform"})
	if err != nil {
		t.Fatal(err)
	}
	if len(sent) != 1 || sent[0].Status != http.StatusOK {
		t.Fatalf("callbacks sent: %+v, want one answered 200", sent)
	}
	select {
	case <-receiver.Arrived():
	case <-time.After(30 * time.Second):
		t.Fatal("no webhook arrived")
	}

	// The spans of the chain, in order; each is found by kind and name or
	// destination. The notifier's consumer span ends after the webhook
	// answered, so wait for it.
	type step struct {
		what string
		kind trace.SpanKind
		find func(s tracetest.SpanStub) bool
	}
	destination := func(prefix string) func(tracetest.SpanStub) bool {
		return func(s tracetest.SpanStub) bool {
			return strings.HasPrefix(attr(s.Attributes, "messaging.destination.name"), prefix+".")
		}
	}
	named := func(prefix string) func(tracetest.SpanStub) bool {
		return func(s tracetest.SpanStub) bool { return strings.HasPrefix(s.Name, prefix) }
	}
	chain := []step{
		{"ingest HTTP request", trace.SpanKindServer, named("POST /callbacks/platform")},
		{"ingest publish", trace.SpanKindProducer, destination(events.SubjectCallbacks)},
		{"enricher consume", trace.SpanKindConsumer, destination(events.SubjectCallbacks)},
		{"enricher Jumio call", trace.SpanKindClient, named("jumio ")},
		{"enricher publish", trace.SpanKindProducer, destination(events.SubjectEnriched)},
		{"notifier consume", trace.SpanKindConsumer, destination(events.SubjectEnriched)},
		{"notifier webhook call", trace.SpanKindClient, named("POST webhook crm")},
	}
	found := make([]tracetest.SpanStub, len(chain))
	eventually(t, "every span of the chain ended", func() bool {
		all := spans.GetSpans()
		for i, st := range chain {
			found[i] = tracetest.SpanStub{}
			for _, s := range all {
				if s.SpanKind == st.kind && st.find(s) {
					found[i] = s
				}
			}
			if !found[i].SpanContext.IsValid() {
				return false
			}
		}
		return true
	})
	traceID := found[0].SpanContext.TraceID()
	for i := 1; i < len(chain); i++ {
		s, parent := found[i], found[i-1]
		want := parent
		// The Jumio call and the enricher's publish are both children of
		// the enricher's consumer span.
		if chain[i].what == "enricher publish" {
			want = found[2]
		}
		if s.SpanContext.TraceID() != traceID {
			t.Errorf("%s (%s): trace %s, want %s", chain[i].what, s.Name, s.SpanContext.TraceID(), traceID)
		}
		if s.Parent.SpanID() != want.SpanContext.SpanID() {
			t.Errorf("%s (%s): parent %s, want %s (%s)", chain[i].what, s.Name, s.Parent.SpanID(), chain[slicesIndex(found, want)].what, want.SpanContext.SpanID())
		}
	}

	// A new trace, linked to the caller's span.
	if traceID == caller.TraceID() {
		t.Errorf("ingest continued the caller's trace %s", caller.TraceID())
	}
	if links := found[0].Links; len(links) != 1 || links[0].SpanContext.SpanID() != caller.SpanID() {
		t.Errorf("ingest span links %+v, want one to the caller's span %s", links, caller.SpanID())
	}
	// Nothing of the caller's context is stored or travels further: not
	// in the stored callback, the enriched result or the webhook.
	for _, stream := range []string{events.StreamCallbacks, events.StreamEnriched} {
		st, err := js.Stream(t.Context(), stream)
		if err != nil {
			t.Fatalf("%s: %v", stream, err)
		}
		msg, err := st.GetLastMsgForSubject(t.Context(), ">")
		if err != nil {
			t.Fatalf("%s: %v", stream, err)
		}
		checkNoCallerContext(t, stream, http.Header(msg.Header), caller, callerState)
	}
	checkNoCallerContext(t, "webhook", receiver.Accepted()[0].Header, caller, callerState)

	// The webhook carries the webhook span's context.
	got := receiver.Accepted()[0].Header.Get("traceparent")
	webhook := found[len(found)-1].SpanContext
	if !strings.Contains(got, traceID.String()) || !strings.Contains(got, webhook.SpanID().String()) {
		t.Errorf("webhook traceparent %q, want trace %s span %s", got, traceID, webhook.SpanID())
	}

	// Each stage logged something about this callback with its trace id.
	stages := map[string]bool{}
	for line := range strings.Lines(logs.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		if rec["trace_id"] == traceID.String() {
			if st, ok := rec["stage"].(string); ok {
				stages[st] = true
			}
			if _, ok := rec["span_id"].(string); !ok {
				t.Errorf("log record %q has a trace id and no span id", line)
			}
		}
	}
	for _, st := range []string{"ingest", string(events.StageEnrich), string(events.StageNotify)} {
		if !stages[st] {
			t.Errorf("no %s log record carries trace %s (stages seen: %v)", st, traceID, stages)
		}
	}
}

func slicesIndex(spans []tracetest.SpanStub, s tracetest.SpanStub) int {
	for i := range spans {
		if spans[i].SpanContext.SpanID() == s.SpanContext.SpanID() {
			return i
		}
	}
	return 0
}

func attr(kvs []attribute.KeyValue, key string) string {
	for _, kv := range kvs {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}

// background runs f until the test ends, then cancels it and waits.
func background(t *testing.T, f func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("stopping: %v", err)
		}
	})
}

// eventually polls cond until it holds, for up to 30 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// headerTransport adds its headers to every request.
type headerTransport map[string]string

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h {
		r.Header.Set(k, v)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// checkNoCallerContext fails when h (NATS headers are case-sensitive,
// HTTP headers are not: both are searched whatever the case) holds a
// baggage header, the caller's tracestate or the caller's trace.
func checkNoCallerContext(t *testing.T, where string, h http.Header, caller trace.SpanContext, state string) {
	t.Helper()
	for k, vs := range h {
		for _, v := range vs {
			switch {
			case strings.EqualFold(k, "baggage"):
				t.Errorf("%s carries the caller's baggage: %s: %s", where, k, v)
			case strings.Contains(v, state):
				t.Errorf("%s carries the caller's tracestate: %s: %s", where, k, v)
			case strings.Contains(v, caller.TraceID().String()):
				t.Errorf("%s carries the caller's trace: %s: %s", where, k, v)
			}
		}
	}
}
