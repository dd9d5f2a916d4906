package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/kycflow/kycflow/internal/config"
	"github.com/kycflow/kycflow/internal/ingest/ingesttest"
	"github.com/kycflow/kycflow/internal/telemetry"
)

func setup(t *testing.T, cfg telemetry.Config, logOut io.Writer) *telemetry.Telemetry {
	t.Helper()
	if cfg.ServiceName == "" {
		cfg.ServiceName = "test"
	}
	if cfg.LogFormat == "" {
		cfg.LogFormat = "json"
	}
	tel, err := telemetry.Setup(t.Context(), cfg, logOut)
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.WithoutCancel(t.Context())) })
	return tel
}

// decodeLines decodes one JSON object per line.
func decodeLines(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range bytes.Lines(b) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// TestLoggerTraceIDs: records logged with a span in the context carry its
// trace and span ids, also when nothing is exported (the span is not
// recorded, its ids exist all the same); records without one carry none.
func TestLoggerTraceIDs(t *testing.T) {
	var logs bytes.Buffer
	tel := setup(t, telemetry.Config{LogLevel: "info"}, &logs)
	ctx, span := tel.TracerProvider.Tracer("test").Start(t.Context(), "work")
	if span.IsRecording() {
		t.Error("span is recorded without an OTLP endpoint")
	}
	tel.Logger.InfoContext(ctx, "with span", "event_id", "e1")
	span.End()
	tel.Logger.InfoContext(t.Context(), "without span")

	recs := decodeLines(t, logs.Bytes())
	if len(recs) != 2 {
		t.Fatalf("got %d records, want 2", len(recs))
	}
	sc := span.SpanContext()
	want := map[string]any{
		"level": "INFO", "msg": "with span", "service": "test", "event_id": "e1",
		"trace_id": sc.TraceID().String(), "span_id": sc.SpanID().String(),
	}
	delete(recs[0], "time")
	if diff := cmp.Diff(want, recs[0]); diff != "" {
		t.Errorf("record with span (-want +got):\n%s", diff)
	}
	for _, k := range []string{"trace_id", "span_id"} {
		if _, ok := recs[1][k]; ok {
			t.Errorf("record without span has %s", k)
		}
	}
}

// TestLoggerTraceIDsInGroups: a logger with attributes and groups still
// adds the ids (at the top level of the record's current group).
func TestLoggerTraceIDsInGroups(t *testing.T) {
	var logs bytes.Buffer
	tel := setup(t, telemetry.Config{LogLevel: "info"}, &logs)
	ctx, span := tel.TracerProvider.Tracer("test").Start(t.Context(), "work")
	defer span.End()
	tel.Logger.With("stage", "enrich").InfoContext(ctx, "step")
	rec := decodeLines(t, logs.Bytes())[0]
	if got, want := rec["trace_id"], span.SpanContext().TraceID().String(); got != want {
		t.Errorf("trace_id = %v, want %v", got, want)
	}
	if rec["stage"] != "enrich" {
		t.Errorf("stage = %v, want enrich", rec["stage"])
	}
}

func TestLoggerFormatAndLevel(t *testing.T) {
	tests := []struct {
		format, level string
		wantJSON      bool
		wantDebug     bool
	}{
		{format: "json", level: "info", wantJSON: true},
		{format: "text", level: "info"},
		// auto is JSON on anything that is not a terminal
		{format: "auto", level: "debug", wantJSON: true, wantDebug: true},
		// an unknown level is info
		{format: "json", level: "loud", wantJSON: true},
		{format: "text", level: "warn"},
	}
	for _, tt := range tests {
		t.Run(tt.format+"/"+tt.level, func(t *testing.T) {
			var buf bytes.Buffer
			l := telemetry.NewLogger(&buf, tt.format, tt.level)
			l.Debug("debug line")
			l.Warn("warn line", "account_id", "a1")
			out := buf.String()
			if got := strings.Contains(out, "debug line"); got != tt.wantDebug {
				t.Errorf("debug logged = %v, want %v", got, tt.wantDebug)
			}
			isJSON := json.Valid([]byte(strings.TrimSpace(strings.Split(strings.TrimSpace(out), "\n")[0])))
			if isJSON != tt.wantJSON {
				t.Errorf("JSON = %v, want %v: %q", isJSON, tt.wantJSON, out)
			}
			if !strings.Contains(out, "a1") {
				t.Errorf("attribute missing: %q", out)
			}
		})
	}
}

// TestSampler: without an endpoint nothing is recorded (ids still made);
// with one the OpenTelemetry SDK takes the sampler from
// OTEL_TRACES_SAMPLER, parent-based on by default, and logs a value it
// cannot use.
func TestSampler(t *testing.T) {
	sampledParent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled, Remote: true,
	})
	unsampledParent := sampledParent.WithTraceFlags(0)
	tests := []struct {
		name       string
		export     bool
		sampler    string // OTEL_TRACES_SAMPLER
		arg        string // OTEL_TRACES_SAMPLER_ARG
		parent     trace.SpanContext
		wantRec    bool
		wantSame   bool // the span continues the parent's trace
		wantLogged bool // an OpenTelemetry error is logged
	}{
		{name: "no endpoint", wantRec: false},
		{name: "no endpoint, sampled parent", parent: sampledParent, wantRec: false, wantSame: true},
		{name: "no endpoint, always_on", sampler: "always_on", wantRec: false},
		{name: "endpoint, default", export: true, wantRec: true},
		{name: "endpoint, sampled parent", export: true, parent: sampledParent, wantRec: true, wantSame: true},
		{name: "endpoint, unsampled parent", export: true, parent: unsampledParent, wantRec: false, wantSame: true},
		{name: "always_on ignores the parent", export: true, sampler: "always_on", parent: unsampledParent, wantRec: true, wantSame: true},
		{name: "always_off", export: true, sampler: "always_off", wantRec: false},
		{name: "ratio 0", export: true, sampler: "parentbased_traceidratio", arg: "0", wantRec: false},
		{name: "ratio 1", export: true, sampler: "traceidratio", arg: "1", wantRec: true},
		{name: "unknown sampler", export: true, sampler: "sometimes", wantRec: true, wantLogged: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
			t.Setenv("OTEL_TRACES_SAMPLER", tt.sampler)
			t.Setenv("OTEL_TRACES_SAMPLER_ARG", tt.arg)
			var logs ingesttest.SyncBuffer
			tel := setup(t, telemetry.Config{ExportTraces: tt.export}, &logs)
			ctx := t.Context()
			if tt.parent.IsValid() {
				ctx = trace.ContextWithRemoteSpanContext(ctx, tt.parent)
			}
			_, span := tel.TracerProvider.Tracer("test").Start(ctx, "work")
			defer span.End()
			if got := span.IsRecording(); got != tt.wantRec {
				t.Errorf("recording = %v, want %v", got, tt.wantRec)
			}
			sc := span.SpanContext()
			if !sc.IsValid() {
				t.Fatal("span context is not valid")
			}
			if got := sc.TraceID() == tt.parent.TraceID(); got != tt.wantSame {
				t.Errorf("same trace as parent = %v, want %v", got, tt.wantSame)
			}
			if got := strings.Contains(logs.String(), `"msg":"opentelemetry"`); got != tt.wantLogged {
				t.Errorf("OpenTelemetry error logged = %v, want %v: %s", got, tt.wantLogged, logs.String())
			}
		})
	}
}

func TestLoadConfig(t *testing.T) {
	for _, tc := range []struct {
		env    map[string]string
		export bool
	}{
		{map[string]string{"KYCFLOW_LOG_FORMAT": "json"}, false},
		{map[string]string{"KYCFLOW_LOG_FORMAT": "json", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, true},
		{map[string]string{"KYCFLOW_LOG_FORMAT": "json", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, true},
	} {
		e := config.FromMap(tc.env)
		got := telemetry.LoadConfig(e, "ingest")
		if err := e.Err(); err != nil {
			t.Fatal(err)
		}
		want := telemetry.Config{ServiceName: "ingest", LogFormat: "json", LogLevel: "info", ExportTraces: tc.export}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("LoadConfig(%v) (-want +got):\n%s", tc.env, diff)
		}
	}
}

// TestOTLPExport: with an endpoint, ended spans reach the collector's
// /v1/traces over OTLP/HTTP (the exporter reads the variable and adds the
// path), flushed by Shutdown.
func TestOTLPExport(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		paths = append(paths, r.Method+" "+r.URL.Path)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()

	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL+"/")
	tel, err := telemetry.Setup(t.Context(), telemetry.Config{ServiceName: "test", LogFormat: "json", ExportTraces: true}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	_, span := tel.TracerProvider.Tracer("test").Start(t.Context(), "work")
	span.End()
	if err := tel.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{"POST /v1/traces"}, paths); diff != "" {
		t.Errorf("collector requests (-want +got):\n%s", diff)
	}
}

// TestMetricsHandler: instruments appear on /metrics under their
// Prometheus names (counters get _total, seconds get _seconds), without
// scope labels.
func TestMetricsHandler(t *testing.T) {
	tel := setup(t, telemetry.Config{}, io.Discard)
	m := tel.MeterProvider.Meter("test")
	c, err := m.Int64Counter("kycflow_test_things", metric.WithUnit("{thing}"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := m.Float64Histogram("kycflow_test_duration", metric.WithUnit("s"))
	if err != nil {
		t.Fatal(err)
	}
	c.Add(t.Context(), 2)
	h.Record(t.Context(), 0.5)

	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{"kycflow_test_things_total 2", "kycflow_test_duration_seconds_count 1", "go_goroutines"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, "otel_scope_name") {
		t.Error("/metrics carries scope labels")
	}
}

// TestStdlibLogQuotesLeftOut: what packages write through the standard
// library's log (net/http's client: "Unsolicited response … starting with
// <the peer's bytes>") reaches the service's log as one WARN line, without
// the quoted text and at most 200 bytes long.
func TestStdlibLogQuotesLeftOut(t *testing.T) {
	var buf bytes.Buffer
	if _, err := telemetry.Setup(t.Context(), telemetry.Config{ServiceName: "notifier", LogFormat: "json", LogLevel: "info"}, &buf); err != nil {
		t.Fatal(err)
	}
	log.Printf("Unsolicited response received on idle HTTP channel starting with %q; err=%v", `{"firstName":"JANE"}`, nil)
	log.Print(strings.Repeat("x", 500))
	var lines []map[string]any
	for l := range strings.Lines(buf.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), buf.String())
	}
	if got, want := lines[0]["msg"], "Unsolicited response received on idle HTTP channel starting with (quoted text left out)"; got != want || lines[0]["level"] != "WARN" {
		t.Errorf("got %v %q, want WARN %q", lines[0]["level"], got, want)
	}
	if msg, _ := lines[1]["msg"].(string); len(msg) > 204 {
		t.Errorf("a long line is kept whole (%d bytes)", len(msg))
	}
}

// TestStdlibLogWriterLevel: an http.Server's ErrorLog made with
// StdlibLogWriter logs at the level asked for, quotes left out.
func TestStdlibLogWriterLevel(t *testing.T) {
	var buf bytes.Buffer
	logger := telemetry.NewLogger(&buf, "json", "debug")
	l := log.New(telemetry.StdlibLogWriter(logger, slog.LevelDebug), "", 0)
	l.Printf("http2: server: error reading preface from client 127.0.0.1:1: bogus greeting %q", "JANE DOE")
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("%q: %v", buf.String(), err)
	}
	if m["level"] != "DEBUG" || strings.Contains(buf.String(), "JANE") {
		t.Errorf("got %s", buf.String())
	}
}
