package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/kycflow/kycflow/internal/bench"
	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/internal/config"
	"github.com/kycflow/kycflow/internal/httpserver"
	"github.com/kycflow/kycflow/internal/ingest"
	"github.com/kycflow/kycflow/internal/ingest/ingesttest"
	"github.com/kycflow/kycflow/internal/telemetry"
	"github.com/kycflow/kycflow/pkg/events"
)

// harness is a real ingest on a loopback port over a real JetStream.
type harness struct {
	broker *brokertest.Server
	js     jetstream.JetStream
	tel    *telemetry.Telemetry
	logs   *ingesttest.SyncBuffer
	url    string
	// adminURL is the base URL of /healthz, /readyz and /metrics when
	// the configuration has an AdminAddr ("" otherwise).
	adminURL string
	client   *http.Client
	// spans records every span when the harness was started traced.
	spans *tracetest.SpanRecorder
	// svc is the service, for a request that does not come through its
	// listener.
	svc *ingest.Service
}

// testConfig is the default configuration with loopback allowed as a
// source and short timeouts.
func testConfig() ingest.Config {
	cfg := ingest.LoadConfig(config.FromMap(nil))
	cfg.Server.Addr = "127.0.0.1:0"
	cfg.AllowedSources = []string{"127.0.0.1"}
	cfg.RateLimit = 0 // all test traffic comes from one address
	cfg.NATS.PublishTimeout = time.Second
	cfg.RetryAfter = 2 * time.Second
	// Above net/http's five seconds of grace for connections that never
	// sent a request.
	cfg.Server.ShutdownTimeout = 15 * time.Second
	return cfg
}

// startIngest runs ingest with testConfig changed by mutate, against
// broker (a new one when nil). Spans are not recorded, as without an OTLP
// endpoint.
func startIngest(t *testing.T, broker *brokertest.Server, mutate func(*ingest.Config)) *harness {
	t.Helper()
	return start(t, broker, mutate, false)
}

// startTracedIngest is startIngest with every span recorded (h.spans), as
// with an OTLP endpoint and a sampler that samples everything.
func startTracedIngest(t *testing.T, broker *brokertest.Server, mutate func(*ingest.Config)) *harness {
	t.Helper()
	return start(t, broker, mutate, true)
}

func start(t *testing.T, broker *brokertest.Server, mutate func(*ingest.Config), traced bool) *harness {
	t.Helper()
	if broker == nil {
		broker = brokertest.Start(t)
	}
	nc, js := broker.JetStream(t)
	logs := &ingesttest.SyncBuffer{}
	tel, err := telemetry.Setup(t.Context(), telemetry.Config{ServiceName: "ingest", LogFormat: "json", LogLevel: "debug"}, logs)
	if err != nil {
		t.Fatal(err)
	}
	var spans *tracetest.SpanRecorder
	if traced {
		spans = tracetest.NewSpanRecorder()
		tel.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(spans))
		// A telemetry that would propagate baggage: ingest must not
		// take a caller's from the internet all the same.
		tel.Propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	}
	cfg := testConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	svc, err := ingest.New(cfg, nc, tel)
	if err != nil {
		t.Fatalf("ingest.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var admin net.Listener
	if cfg.AdminAddr != "" {
		if admin, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	client := &http.Client{Timeout: 10 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		if admin != nil {
			done <- svc.ServeWithAdmin(ctx, ln, admin)
			return
		}
		done <- svc.Serve(ctx, ln)
	}()
	t.Cleanup(func() {
		client.CloseIdleConnections()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	h := &harness{
		broker: broker, js: js, tel: tel, logs: logs,
		url:    "http://" + ln.Addr().String(),
		client: client,
		spans:  spans,
		svc:    svc,
	}
	if admin != nil {
		h.adminURL = "http://" + admin.Addr().String()
	}
	return h
}

type response struct {
	status  int
	header  http.Header
	problem httpserver.ProblemDetails
}

// post sends body to path with the given content type and extra headers.
func (h *harness) post(t *testing.T, path, contentType string, body []byte, header http.Header) response {
	t.Helper()
	return h.do(t, http.MethodPost, path, contentType, body, header)
}

func (h *harness) do(t *testing.T, method, path, contentType string, body []byte, header http.Header) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, h.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		if err := json.Unmarshal(b, &r.problem); err != nil {
			t.Fatalf("problem body: %v: %q", err, b)
		}
	}
	return r
}

// send posts a generated callback to its endpoint.
func (h *harness) send(t *testing.T, cb bench.Callback) response {
	t.Helper()
	return h.post(t, "/callbacks/"+string(cb.API), cb.ContentType, cb.Body, nil)
}

func (h *harness) stored(t *testing.T) []*jetstream.RawStreamMsg {
	t.Helper()
	return brokertest.Messages(t, h.js, events.StreamCallbacks)
}

// storedIDs returns the Nats-Msg-Id of every stored callback.
func (h *harness) storedIDs(t *testing.T) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	for _, m := range h.stored(t) {
		ids[m.Header.Get(events.HeaderMsgID)] = true
	}
	return ids
}

// metric returns the sum of the Prometheus series whose name matches and
// whose labels include labels (sample counts for histograms).
func (h *harness) metric(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := h.tel.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue series
				}
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}

// spanTexts returns every string the recorded spans hold: names, attribute
// keys and values, event names and attributes, status descriptions.
func (h *harness) spanTexts(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, s := range h.spans.Ended() {
		out = append(out, s.Name(), s.Status().Description)
		kvs := s.Attributes()
		for _, e := range s.Events() {
			out = append(out, e.Name)
			kvs = append(kvs, e.Attributes...)
		}
		for _, l := range s.Links() {
			kvs = append(kvs, l.Attributes...)
		}
		for _, kv := range kvs {
			out = append(out, string(kv.Key), kv.Value.String())
		}
	}
	return out
}

// checkSpansLack fails when a recorded span holds one of words.
func (h *harness) checkSpansLack(t *testing.T, words ...string) {
	t.Helper()
	for _, s := range h.spanTexts(t) {
		for _, w := range words {
			if w != "" && strings.Contains(s, w) {
				t.Errorf("a span holds %q: %q", w, s)
			}
		}
	}
}
