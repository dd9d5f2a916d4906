package enricher_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/internal/enricher"
	"github.com/kycflow/kycflow/internal/telemetry"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/events/schema"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// harness is one test's world: a real JetStream server with the four
// streams, a Jumio simulator, and the telemetry an enricher reports to.
type harness struct {
	t      *testing.T
	broker *brokertest.Server
	nc     *nats.Conn
	js     jetstream.JetStream
	jumio  *jumiotest.Server
	reader *sdkmetric.ManualReader
	tel    *telemetry.Telemetry
}

func newHarness(t *testing.T, jcfg jumiotest.Config) *harness {
	t.Helper()
	h := &harness{t: t, broker: brokertest.Start(t)}
	h.nc, h.js = h.broker.JetStream(t)
	h.jumio = jumiotest.NewServer(jcfg)
	t.Cleanup(h.jumio.Close)
	h.reader = sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(h.reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	h.tel = &telemetry.Telemetry{
		Logger:         testLogger(),
		MeterProvider:  mp,
		TracerProvider: noop.NewTracerProvider(),
		Propagator:     telemetry.Propagator(),
	}
	return h
}

// testLogger discards, unless KYCFLOW_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("KYCFLOW_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// jumioConfig is a client configuration for the simulator with short
// in-call retries and a generous rate, so that tests are quick.
func (h *harness) jumioConfig() jumio.Config {
	c := h.jumio.ClientConfig(0)
	c.RateLimit = 500
	c.RateBurst = 50
	c.RateLimitCooldown = 200 * time.Millisecond
	c.RetryInitialInterval = 5 * time.Millisecond
	c.RetryMaxInterval = 20 * time.Millisecond
	c.Timeout = 5 * time.Second
	return c
}

// config is an enricher configuration for tests: quick pulls, short
// retry delays and a not-ready schedule in tenths of a second.
func (h *harness) config() enricher.Config {
	schedule := make(jumio.Schedule, 50)
	for i := range schedule {
		schedule[i] = 200 * time.Millisecond
	}
	return enricher.Config{
		Jumio:                h.jumioConfig(),
		Concurrency:          8,
		AckWait:              2 * time.Second,
		DrainTimeout:         5 * time.Second,
		PullExpiry:           200 * time.Millisecond,
		RetryInitialInterval: 10 * time.Millisecond,
		RetryMaxInterval:     100 * time.Millisecond,
		NotReadySchedule:     schedule,
	}
}

// running is an enricher running in the background.
type running struct {
	e    *enricher.Enricher
	stop func() error
}

// start runs an enricher on conn (h.nc when nil) until the test ends or
// stop is called, and waits until it is ready.
func (h *harness) start(cfg enricher.Config, conn *nats.Conn) running {
	h.t.Helper()
	return h.startWith(cfg, conn, nil)
}

// startWith is start with setup applied to the enricher before it runs.
func (h *harness) startWith(cfg enricher.Config, conn *nats.Conn, setup func(*enricher.Enricher)) running {
	h.t.Helper()
	if conn == nil {
		conn = h.nc
	}
	e, err := enricher.New(cfg, conn, nil, h.tel)
	if err != nil {
		h.t.Fatalf("New: %v", err)
	}
	if setup != nil {
		setup(e)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- e.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			runErr = <-errc
		})
		return runErr
	}
	h.t.Cleanup(func() { _ = stop() })
	h.eventually("the enricher is ready", func() bool {
		select {
		case err := <-errc:
			h.t.Fatalf("Run: %v", err)
		default:
		}
		return e.Ready(context.Background()) == nil
	})
	return running{e: e, stop: stop}
}

// eventually polls cond until it holds; a test that waits longer than a
// minute fails (a deadline, not a timing assertion).
func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// platformEvent is the callback event ingest stores for execution x,
// parsed the way ingest parses it.
func (h *harness) platformEvent(x jumiotest.Execution, sentAt time.Time) events.CallbackEvent {
	h.t.Helper()
	raw := h.jumio.PlatformCallback(x, sentAt, x.UserReference)
	cb, err := wire.ParsePlatformCallback(raw)
	if err != nil {
		h.t.Fatalf("ParsePlatformCallback: %v", err)
	}
	return cb.Event(wire.RegionAMER, sentAt.Add(time.Second), raw)
}

// publish stores ev in JUMIO_CALLBACKS as ingest does, with extra headers
// (a traceparent, a replay marker, another Nats-Msg-Id).
func (h *harness) publish(ev events.CallbackEvent, extra nats.Header) {
	h.t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		h.t.Fatal(err)
	}
	h.publishRaw(ev.Subject(), b, ev.EventID, extra)
}

func (h *harness) publishRaw(subject string, body []byte, id string, extra nats.Header) {
	h.t.Helper()
	m := callbackMsg(subject, body, id, extra)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := h.js.PublishMsg(ctx, m); err != nil {
		h.t.Fatalf("publish %s: %v", subject, err)
	}
}

// callbackMsg is a callback message as ingest stores it, with extra
// headers.
func callbackMsg(subject string, body []byte, id string, extra nats.Header) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Data = body
	m.Header.Set(events.HeaderCESpecVersion, events.CESpecVersion)
	m.Header.Set(events.HeaderCEType, events.TypeCallback)
	m.Header.Set(events.HeaderCESource, events.SourceIngest)
	m.Header.Set(events.HeaderContentType, events.ContentTypeJSON)
	if id != "" {
		m.Header.Set(events.HeaderCEID, id)
		m.Header.Set(events.HeaderEventID, id)
		m.Header.Set(nats.MsgIdHdr, id)
	}
	for k, v := range extra {
		m.Header[k] = v
	}
	return m
}

var compiled struct {
	once   sync.Once
	schema *jsonschema.Schema
	err    error
}

// resultSchema is result.v1.json, compiled once, with format assertions.
func resultSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	compiled.once.Do(func() {
		b, err := schema.FS.ReadFile(schema.ResultV1)
		if err != nil {
			compiled.err = err
			return
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			compiled.err = err
			return
		}
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		if compiled.err = c.AddResource(schema.ResultV1, doc); compiled.err == nil {
			compiled.schema, compiled.err = c.Compile(schema.ResultV1)
		}
	})
	if compiled.err != nil {
		t.Fatalf("result schema: %v", compiled.err)
	}
	return compiled.schema
}

// enrichedMsg is one message of JUMIO_ENRICHED.
type enrichedMsg struct {
	Subject string
	Header  nats.Header
	Event   events.EnrichedEvent
}

// enriched returns every message of JUMIO_ENRICHED, each result checked
// against the result schema (pkg/events/schema).
func (h *harness) enriched() []enrichedMsg {
	h.t.Helper()
	var out []enrichedMsg
	for _, m := range brokertest.Messages(h.t, h.js, events.StreamEnriched) {
		var ev events.EnrichedEvent
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			h.t.Fatalf("enriched message %d: %v", m.Sequence, err)
		}
		var body struct {
			Result json.RawMessage `json:"result"`
		}
		_ = json.Unmarshal(m.Data, &body)
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(body.Result))
		if err != nil {
			h.t.Fatal(err)
		}
		if err := resultSchema(h.t).Validate(doc); err != nil {
			h.t.Errorf("enriched message %d: the result does not match %s: %v", m.Sequence, schema.ResultV1, err)
		}
		out = append(out, enrichedMsg{Subject: m.Subject, Header: m.Header, Event: ev})
	}
	return out
}

func (h *harness) deadLetters() []*jetstream.RawStreamMsg {
	h.t.Helper()
	return brokertest.Messages(h.t, h.js, events.StreamDLQ)
}

func (h *harness) streamCount(stream string) int {
	h.t.Helper()
	st, err := h.js.Stream(context.Background(), stream)
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return int(info.State.Msgs)
}

// counter sums the data points of an Int64 counter whose attributes
// include attrs.
func (h *harness) counter(name string, attrs ...attribute.KeyValue) int64 {
	h.t.Helper()
	var rm metricdata.ResourceMetrics
	if err := h.reader.Collect(context.Background(), &rm); err != nil {
		h.t.Fatal(err)
	}
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok {
				h.t.Fatalf("%s is not an int64 sum", name)
			}
			for _, dp := range sum.DataPoints {
				if hasAll(dp.Attributes, attrs) {
					n += dp.Value
				}
			}
		}
	}
	return n
}

func hasAll(set attribute.Set, attrs []attribute.KeyValue) bool {
	for _, a := range attrs {
		if v, ok := set.Value(a.Key); !ok || v != a.Value {
			return false
		}
	}
	return true
}

// ledger is what became of the callbacks, by the enricher's counters.
type ledger struct {
	Results, Duplicates, Collapsed, Stale, DeadLetters int64
}

func (h *harness) ledger() ledger {
	return ledger{
		Results:     h.counter(enricher.MetricResults),
		Duplicates:  h.counter(enricher.MetricDuplicates),
		Collapsed:   h.counter(enricher.MetricCollapsed),
		Stale:       h.counter(enricher.MetricStaleDrops),
		DeadLetters: h.counter(enricher.MetricDeadLetters),
	}
}

func (l ledger) settled() int64 {
	return l.Results + l.Duplicates + l.Collapsed + l.Stale + l.DeadLetters
}

// consumer returns the enricher's durable consumer state.
func (h *harness) consumer() *jetstream.ConsumerInfo {
	h.t.Helper()
	c, err := h.js.Consumer(context.Background(), events.StreamCallbacks, enricher.Durable)
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return info
}

// settle waits until callbacks messages are settled and checks the
// ledger: callbacks = results + duplicates + stale + dead letters, with
// nothing in flight; the streams agree with the counters, and no event
// has two results (a replay's result is its own).
func (h *harness) settle(callbacks int) ledger {
	h.t.Helper()
	h.eventually("every callback settled", func() bool { return h.ledger().settled() >= int64(callbacks) })
	l := h.ledger()
	if l.settled() != int64(callbacks) {
		h.t.Errorf("ledger %+v: settled %d, want %d callbacks", l, l.settled(), callbacks)
	}
	h.eventually("nothing in flight", func() bool {
		info := h.consumer()
		return info.NumPending == 0 && info.NumAckPending == 0
	})
	seen := map[string]bool{}
	for _, m := range h.enriched() {
		key := m.Header.Get(events.HeaderCEID) + " " + m.Header.Get(events.HeaderReplay)
		if seen[key] {
			h.t.Errorf("event %s enriched twice", m.Header.Get(events.HeaderCEID))
		}
		seen[key] = true
	}
	if got := h.streamCount(events.StreamEnriched); int64(got) != l.Results {
		h.t.Errorf("JUMIO_ENRICHED holds %d messages, the enricher published %d", got, l.Results)
	}
	if got := h.streamCount(events.StreamDLQ); int64(got) != l.DeadLetters {
		h.t.Errorf("JUMIO_DLQ holds %d messages, the enricher dead-lettered %d", got, l.DeadLetters)
	}
	return l
}

// executions adds n generated executions to the simulator.
func (h *harness) executions(n int, seed uint64) []jumiotest.Execution {
	h.t.Helper()
	execs, _ := jumiotest.Generate(jumiotest.Scenario{Seed: seed, Executions: n})
	for _, x := range execs {
		if err := h.jumio.AddExecution(x); err != nil {
			h.t.Fatal(err)
		}
	}
	return execs
}

// publishAll stores one callback per execution, sent at now.
func (h *harness) publishAll(execs []jumiotest.Execution) []events.CallbackEvent {
	h.t.Helper()
	var evs []events.CallbackEvent
	now := time.Now()
	for _, x := range execs {
		ev := h.platformEvent(x, now)
		h.publish(ev, nil)
		evs = append(evs, ev)
	}
	return evs
}
