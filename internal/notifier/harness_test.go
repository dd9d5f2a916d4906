package notifier_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	dto "github.com/prometheus/client_model/go"

	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/internal/ingest/ingesttest"
	"github.com/kycflow/kycflow/internal/notifier"
	"github.com/kycflow/kycflow/internal/notifier/notifiertest"
	"github.com/kycflow/kycflow/internal/telemetry"
	"github.com/kycflow/kycflow/pkg/events"
)

// harness runs notifiers against a real JetStream server and records
// their logs and metrics.
type harness struct {
	t   *testing.T
	srv *brokertest.Server
	nc  *nats.Conn
	js  jetstream.JetStream
	tel *telemetry.Telemetry
	log *ingesttest.SyncBuffer
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	srv := brokertest.Start(t)
	nc, js := srv.JetStream(t)
	log := &ingesttest.SyncBuffer{}
	tel, err := telemetry.Setup(t.Context(), telemetry.Config{ServiceName: "notifier", LogFormat: "json", LogLevel: "debug"}, log)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, srv: srv, nc: nc, js: js, tel: tel, log: log}
	t.Cleanup(h.checkLogs)
	return h
}

func testConfig() notifier.Config {
	return notifier.Config{PullExpiry: 200 * time.Millisecond, DrainTimeout: 2 * time.Second, AckWait: 5 * time.Second}
}

// start runs a notifier for routes until the returned stop is called (or
// the test ends); stop waits for Run and checks it returned nil.
func (h *harness) start(cfg notifier.Config, routes ...notifier.Route) (stop func()) {
	h.t.Helper()
	return h.startWith(cfg, nil, routes...)
}

// startWith is start with setup applied to the notifier before it runs.
func (h *harness) startWith(cfg notifier.Config, setup func(*notifier.Notifier), routes ...notifier.Route) (stop func()) {
	h.t.Helper()
	n, err := notifier.New(cfg, routes, h.js, h.tel)
	if err != nil {
		h.t.Fatalf("New: %v", err)
	}
	if setup != nil {
		setup(n)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(h.t.Context()))
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	waitFor(h.t, "notifier ready", func() bool { return n.Ready(ctx) == nil })
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				h.t.Errorf("Run: %v", err)
			}
		})
	}
	h.t.Cleanup(stop)
	return stop
}

// publish stores r in JUMIO_ENRICHED as the enricher does; with a marker,
// as a replay does.
func (h *harness) publish(r events.Result, marker *events.ReplayMarker) {
	h.t.Helper()
	b, err := json.Marshal(events.EnrichedEvent{SchemaVersion: events.ResultSchemaVersion, Result: r, RawType: events.RawPlatformDetails, Raw: json.RawMessage(`{"raw":true}`)})
	if err != nil {
		h.t.Fatal(err)
	}
	h.publishRaw(events.EnrichedSubject(r.IDs.AccountID, r.IDs.WorkflowExecutionID), r.IDs.EventID, b, marker)
}

func (h *harness) publishRaw(subject, eventID string, body []byte, marker *events.ReplayMarker) {
	h.t.Helper()
	m := nats.NewMsg(subject)
	m.Data = body
	id := events.DerivedID(eventID, "enriched")
	m.Header.Set(events.HeaderEventID, eventID)
	m.Header.Set(events.HeaderCEType, events.TypeEnriched)
	if marker != nil {
		m.Header.Set(events.HeaderReplay, marker.String())
		id = marker.MessageID(id)
	}
	m.Header.Set(events.HeaderMsgID, id)
	if _, err := h.js.PublishMsg(h.t.Context(), m); err != nil {
		h.t.Fatalf("publish: %v", err)
	}
}

// messages returns what stream holds.
func (h *harness) messages(stream string) []*jetstream.RawStreamMsg {
	return brokertest.Messages(h.t, h.js, stream)
}

// metric sums the samples of a metric family for route (counters and
// gauges; histograms give their count).
func (h *harness) metric(name, route string) float64 {
	h.t.Helper()
	families, err := h.tel.Registry.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	total := 0.0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if label(m, "route") != route {
				continue
			}
			switch {
			case m.Counter != nil:
				total += m.Counter.GetValue()
			case m.Gauge != nil:
				total += m.Gauge.GetValue()
			case m.Histogram != nil:
				total += float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return total
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// checkLogs fails the test when a log line holds personal data.
func (h *harness) checkLogs() {
	logs := h.log.String()
	for _, pd := range notifiertest.PersonalData {
		if strings.Contains(logs, pd) {
			h.t.Errorf("logs contain personal data %q", pd)
		}
	}
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline (a hung test, not a slow one).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// natsRoute is a NATS route for tests.
func natsRoute(name string, policy events.Policy, prefix string) notifier.Route {
	return notifier.Route{
		Name: name, Policy: policy, NATS: &notifier.NATSRoute{Prefix: prefix},
		Retry: notifier.Retry{MaxAttempts: 5, InitialInterval: 50 * time.Millisecond, MaxInterval: 200 * time.Millisecond},
	}
}

// result returns notifiertest.Result(i) changed by fns.
func result(i int, fns ...func(*events.Result)) events.Result {
	r := notifiertest.Result(i)
	for _, f := range fns {
		f(&r)
	}
	return r
}

func decided(d events.DecisionType) func(*events.Result) {
	return func(r *events.Result) { r.Decision.Type = d; r.Decision.Label = string(d) }
}

// repeated gives the result a new event id and callback time, as a second
// Jumio callback for the same state does.
func repeated(n int) func(*events.Result) {
	return func(r *events.Result) {
		r.IDs.EventID += "-repeat-" + string(rune('a'+n))
		at := r.Timestamps.CallbackSent.Add(time.Duration(n+1) * time.Second)
		r.Timestamps.CallbackSent = &at
		now := time.Now().UTC()
		r.Timestamps.Received, r.Timestamps.Enriched = &now, &now
	}
}

// benchHarness is the part of harness a benchmark needs.
type benchHarness struct {
	b  *testing.B
	js jetstream.JetStream
}

func newBenchHarness(b *testing.B) *benchHarness {
	_, js := brokertest.Start(b).JetStream(b)
	return &benchHarness{b: b, js: js}
}

func (h *benchHarness) start(routes ...notifier.Route) {
	cfg := testConfig()
	cfg.MaxAckPending = 4096
	n, err := notifier.New(cfg, routes, h.js, telemetry.Discard())
	if err != nil {
		h.b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	for n.Ready(ctx) != nil {
		time.Sleep(10 * time.Millisecond)
	}
	h.b.Cleanup(func() { cancel(); <-done })
}

func (h *benchHarness) publish(r events.Result) {
	b, err := json.Marshal(events.EnrichedEvent{SchemaVersion: 1, Result: r, RawType: events.RawPlatformDetails})
	if err != nil {
		h.b.Fatal(err)
	}
	m := nats.NewMsg(events.EnrichedSubject(r.IDs.AccountID, r.IDs.WorkflowExecutionID))
	m.Data = b
	m.Header.Set(events.HeaderMsgID, events.DerivedID(r.IDs.EventID, "enriched"))
	if _, err := h.js.PublishMsg(context.Background(), m); err != nil {
		h.b.Fatal(err)
	}
}

func (h *benchHarness) waitResults(n int) {
	for {
		st, err := h.js.Stream(context.Background(), events.StreamResults)
		if err != nil {
			h.b.Fatal(err)
		}
		if int(st.CachedInfo().State.Msgs) >= n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recordsAvailable makes the delivery records' bucket unavailable (its
// stream no longer takes its subjects: writes find no responder) or
// available again.
func (h *harness) recordsAvailable(up bool) {
	h.t.Helper()
	st, err := h.js.Stream(h.t.Context(), "KV_"+notifier.DeliveriesBucket)
	if err != nil {
		h.t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	cfg.Subjects = []string{"$KV.unavailable-for-test.>"}
	if up {
		cfg.Subjects = []string{"$KV." + notifier.DeliveriesBucket + ".>"}
	}
	if _, err := h.js.UpdateStream(h.t.Context(), cfg); err != nil {
		h.t.Fatal(err)
	}
}
