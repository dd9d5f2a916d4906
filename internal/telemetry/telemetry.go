// Package telemetry sets up what every kycflow process reports: a slog
// logger (JSON in clusters, text on a terminal) that adds trace and span
// ids, OpenTelemetry metrics exported for Prometheus on /metrics, and
// OpenTelemetry traces exported over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT
// is set. W3C trace context is the propagation format.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/kycflow/kycflow/internal/config"
)

// Config configures telemetry.
type Config struct {
	// ServiceName names the process in traces and metrics ("ingest", …).
	ServiceName string
	// ServiceVersion is the build version.
	ServiceVersion string
	// LogFormat is "json", "text" or "auto" (text on a terminal, JSON
	// otherwise).
	LogFormat string
	// LogLevel is debug, info, warn or error.
	LogLevel string
	// ExportTraces records spans and exports them over OTLP/HTTP. The
	// OpenTelemetry SDK configures the rest from the standard variables
	// itself: the collector (OTEL_EXPORTER_OTLP_ENDPOINT, to which
	// /v1/traces is added, or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), headers,
	// timeout, certificates, and the sampler (OTEL_TRACES_SAMPLER,
	// OTEL_TRACES_SAMPLER_ARG; parent-based always-on by default). Without
	// it nothing is sampled: spans are not recorded, so the hot paths pay
	// almost nothing for them, while their span contexts (fresh trace and
	// span ids) still propagate through HTTP and NATS headers and still
	// appear in logs.
	ExportTraces bool
}

// OTLPEndpointVars are the variables whose presence turns trace export on
// (LoadConfig); the exporter reads their values itself.
var OTLPEndpointVars = []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"}

// LoadConfig reads the telemetry variables. Of the OpenTelemetry ones it
// only notes whether an OTLP endpoint is set: the SDK reads them.
func LoadConfig(e *config.Env, service string) Config {
	c := Config{
		ServiceName: service,
		LogFormat:   e.Enum("KYCFLOW_LOG_FORMAT", "auto", "log format", "auto", "json", "text"),
		LogLevel:    e.Enum("KYCFLOW_LOG_LEVEL", "info", "log level", "debug", "info", "warn", "error"),
	}
	for _, v := range OTLPEndpointVars {
		if e.String(v, "", "OTLP/HTTP endpoint for traces (read by the OpenTelemetry SDK); traces are not exported when unset") != "" {
			c.ExportTraces = true
		}
	}
	return c
}

// Telemetry holds a process's logger and OpenTelemetry providers.
type Telemetry struct {
	Logger         *slog.Logger
	MeterProvider  metric.MeterProvider
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
	// Registry is the Prometheus registry /metrics serves.
	Registry *prometheus.Registry

	shutdown []func(context.Context) error
}

// Setup builds the logger and providers. The logger writes to logOut. Call
// Shutdown before exit to flush spans. Spans are recorded and exported
// only with cfg.ExportTraces. OpenTelemetry's own errors (a value of an
// OTEL_* variable it cannot use, an export that failed) are logged.
func Setup(ctx context.Context, cfg Config, logOut io.Writer) (*Telemetry, error) {
	t := &Telemetry{
		Logger:     NewLogger(logOut, cfg.LogFormat, cfg.LogLevel).With("service", cfg.ServiceName),
		Propagator: Propagator(),
		Registry:   prometheus.NewRegistry(),
	}
	t.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	log.SetFlags(0)
	log.SetOutput(StdlibLogWriter(t.Logger, slog.LevelWarn))

	res, err := resource.Merge(resource.Default(), resource.NewWithAttributes(semconv.SchemaURL,
		semconv.ServiceName("kycflow-"+cfg.ServiceName),
		semconv.ServiceVersion(cfg.ServiceVersion),
	))
	if err != nil {
		res = resource.Default()
	}

	exporter, err := otelprom.New(otelprom.WithRegisterer(t.Registry), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("telemetry: prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter), sdkmetric.WithResource(res))
	t.MeterProvider = mp
	t.shutdown = append(t.shutdown, mp.Shutdown)

	logger := t.Logger
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Error("opentelemetry", "error", err)
	}))
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if cfg.ExportTraces {
		// The exporter reads the OTEL_EXPORTER_OTLP_* variables, the
		// provider OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG.
		exp, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("telemetry: otlp exporter: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
	} else {
		opts = append(opts, sdktrace.WithSampler(sdktrace.NeverSample()))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	t.TracerProvider = tp
	t.shutdown = append(t.shutdown, tp.Shutdown)

	otel.SetTextMapPropagator(t.Propagator)
	return t, nil
}

// Shutdown flushes and stops the providers.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for _, f := range t.shutdown {
		errs = append(errs, f(ctx))
	}
	return errors.Join(errs...)
}

// MetricsHandler serves the Prometheus registry.
func (t *Telemetry) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(t.Registry, promhttp.HandlerOpts{Registry: t.Registry})
}

// Propagator is the propagator every kycflow process uses: W3C trace
// context (traceparent, tracestate) and nothing else. W3C baggage is left
// out on purpose: it would carry whatever a caller put into it from the
// internet (ingest) to every NATS message and webhook.
func Propagator() propagation.TextMapPropagator {
	return propagation.TraceContext{}
}

// stdlibLog takes the lines packages write through the standard library's
// log package into the service's log, at WARN, cut before the first
// quote and at maxStdlibLine bytes. net/http's client writes there, and
// quotes the peer: "Unsolicited response received on idle HTTP channel
// starting with …" holds what a webhook receiver sent, an echo of the
// result's personal data included.
type stdlibLog struct {
	logger *slog.Logger
	level  slog.Level
}

// StdlibLogWriter is a writer for a standard library log.Logger (an
// http.Server's ErrorLog) that logs each line to logger at level, as the
// standard library's own log is taken (stdlibLog): without quoted text,
// which may be a peer's bytes.
func StdlibLogWriter(logger *slog.Logger, level slog.Level) io.Writer {
	return stdlibLog{logger: logger, level: level}
}

// maxStdlibLine caps a line of the standard library's log.
const maxStdlibLine = 200

func (w stdlibLog) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	if i := strings.IndexAny(msg, "\"'`"); i >= 0 {
		msg = strings.TrimSpace(msg[:i]) + " (quoted text left out)"
	}
	if len(msg) > maxStdlibLine {
		msg = strings.ToValidUTF8(msg[:maxStdlibLine], "") + "…"
	}
	w.logger.Log(context.Background(), w.level, msg, "logger", "stdlib")
	return len(p), nil
}

// NewLogger returns a slog logger writing to w in the given format ("json",
// "text", "auto") at the given level; records carry trace_id and span_id
// when their context has a span.
func NewLogger(w io.Writer, format, level string) *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		lvl = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler
	if format == "text" || (format != "json" && isTerminal(w)) {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(traceHandler{h})
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	return fi.Mode()&os.ModeCharDevice != 0 && !strings.EqualFold(os.Getenv("TERM"), "dumb")
}

// traceHandler adds trace_id and span_id to records whose context holds a
// valid span.
type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(attrs)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}

// Discard returns a Telemetry that logs nowhere and exports nothing, for
// tests that do not look at telemetry.
func Discard() *Telemetry {
	t, _ := Setup(context.Background(), Config{ServiceName: "test", LogFormat: "json", LogLevel: "error"}, io.Discard)
	return t
}
