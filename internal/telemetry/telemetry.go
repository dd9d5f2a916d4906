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
	// OTLPEndpoint enables OTLP/HTTP trace export when set
	// (OTEL_EXPORTER_OTLP_ENDPOINT): the base URL of a collector, to which
	// /v1/traces is added. The exporter reads the other standard
	// OTEL_EXPORTER_OTLP_* variables (headers, timeout, certificates)
	// itself.
	OTLPEndpoint string
	// Sampler is the trace sampler when OTLPEndpoint is set, named as
	// OTEL_TRACES_SAMPLER names it: always_on, always_off, traceidratio,
	// parentbased_always_on (the default), parentbased_always_off,
	// parentbased_traceidratio. Without an endpoint nothing is sampled.
	Sampler string
	// SamplerRatio is the ratio of the traceidratio samplers
	// (OTEL_TRACES_SAMPLER_ARG, 0 to 1, default 1).
	SamplerRatio float64
}

// Samplers accepted in Config.Sampler (OTEL_TRACES_SAMPLER).
var Samplers = []string{
	"parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio",
	"always_on", "always_off", "traceidratio",
}

// ErrInvalidConfig wraps the configuration errors of Setup.
var ErrInvalidConfig = errors.New("telemetry: invalid configuration")

// sampler returns the sampler for cfg. Without an OTLP endpoint it is
// NeverSample: spans are not recorded, so the hot paths pay almost
// nothing for them, while their span contexts (fresh trace and span ids)
// still propagate through HTTP and NATS headers and still appear in logs.
func (cfg Config) sampler() (sdktrace.Sampler, error) {
	if cfg.OTLPEndpoint == "" {
		return sdktrace.NeverSample(), nil
	}
	ratio := cfg.SamplerRatio
	if ratio < 0 || ratio > 1 {
		return nil, fmt.Errorf("%w: OTEL_TRACES_SAMPLER_ARG %g: want 0 to 1", ErrInvalidConfig, ratio)
	}
	switch cfg.Sampler {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(ratio), nil
	}
	return nil, fmt.Errorf("%w: OTEL_TRACES_SAMPLER %q: want one of %s", ErrInvalidConfig, cfg.Sampler, strings.Join(Samplers, ", "))
}

// tracesURL is the OTLP/HTTP traces URL of the endpoint: the base URL
// with /v1/traces added, as the OpenTelemetry specification says for
// OTEL_EXPORTER_OTLP_ENDPOINT.
func (cfg Config) tracesURL() string {
	return strings.TrimRight(cfg.OTLPEndpoint, "/") + "/v1/traces"
}

// LoadConfig reads the telemetry variables.
func LoadConfig(e *config.Env, service string) Config {
	return Config{
		ServiceName:  service,
		LogFormat:    e.Enum("KYCFLOW_LOG_FORMAT", "auto", "log format", "auto", "json", "text"),
		LogLevel:     e.Enum("KYCFLOW_LOG_LEVEL", "info", "log level", "debug", "info", "warn", "error"),
		OTLPEndpoint: e.String("OTEL_EXPORTER_OTLP_ENDPOINT", "", "OTLP/HTTP endpoint for traces; traces are not exported when empty"),
		Sampler:      e.Enum("OTEL_TRACES_SAMPLER", "parentbased_always_on", "trace sampler when OTEL_EXPORTER_OTLP_ENDPOINT is set", Samplers...),
		SamplerRatio: e.Float("OTEL_TRACES_SAMPLER_ARG", 1, "ratio of the traceidratio samplers, 0 to 1"),
	}
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
// only when cfg.OTLPEndpoint is set (see Config.Sampler); errors wrap
// ErrInvalidConfig for a bad sampler.
func Setup(ctx context.Context, cfg Config, logOut io.Writer) (*Telemetry, error) {
	sampler, err := cfg.sampler()
	if err != nil {
		return nil, err
	}
	t := &Telemetry{
		Logger:     NewLogger(logOut, cfg.LogFormat, cfg.LogLevel).With("service", cfg.ServiceName),
		Propagator: Propagator(),
		Registry:   prometheus.NewRegistry(),
	}
	t.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

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

	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res), sdktrace.WithSampler(sampler)}
	if cfg.OTLPEndpoint != "" {
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(cfg.tracesURL()))
		if err != nil {
			return nil, fmt.Errorf("telemetry: otlp exporter: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
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
