package notifier

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// instrumentationName names the meter and tracer of this package.
const instrumentationName = "github.com/kycflow/kycflow/internal/notifier"

// Metric names (Prometheus adds _total to counters and _seconds to the
// histogram). Every one has the attribute route.
const (
	MetricDelivered    = "kycflow_notifier_delivered"
	MetricRetried      = "kycflow_notifier_retries"
	MetricDeadLettered = "kycflow_notifier_dead_letters"
	MetricSuppressed   = "kycflow_notifier_suppressed"
	MetricFiltered     = "kycflow_notifier_filtered"
	MetricDisabled     = "kycflow_notifier_route_disabled"
	MetricLatency      = "kycflow_notifier_delivery_latency"
)

type metrics struct {
	delivered    metric.Int64Counter
	retried      metric.Int64Counter
	deadLettered metric.Int64Counter
	suppressed   metric.Int64Counter
	filtered     metric.Int64Counter
	latency      metric.Float64Histogram

	mu       sync.Mutex
	disabled map[string]bool
}

func newMetrics(mp metric.MeterProvider, routes []string) (*metrics, error) {
	meter := mp.Meter(instrumentationName)
	m := &metrics{disabled: map[string]bool{}}
	for _, r := range routes {
		m.disabled[r] = false
	}
	var err error
	counter := func(name, desc string) metric.Int64Counter {
		if err != nil {
			return nil
		}
		var c metric.Int64Counter
		c, err = meter.Int64Counter(name, metric.WithDescription(desc))
		return c
	}
	m.delivered = counter(MetricDelivered, "Results delivered, by route and sink.")
	m.retried = counter(MetricRetried, "Delivery attempts that failed and will be retried, by route and reason (status, timeout, connection, busy, ledger, …).")
	m.deadLettered = counter(MetricDeadLettered, "Results put in JUMIO_DLQ, by route and class (permanent, retry_budget, malformed).")
	m.suppressed = counter(MetricSuppressed, "Results not delivered because the route delivered the same or a newer one already, by route and reason (identical, stale, in_flight, replay_other_route).")
	m.filtered = counter(MetricFiltered, "Results the route's filter did not select, by route.")
	if err != nil {
		return nil, fmt.Errorf("notifier: metrics: %w", err)
	}
	m.latency, err = meter.Float64Histogram(MetricLatency,
		metric.WithUnit("s"),
		metric.WithDescription("Time from ingest receiving the callback to the route delivering its result (redeliveries excluded), by route."),
		metric.WithExplicitBucketBoundaries(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4*3600))
	if err != nil {
		return nil, fmt.Errorf("notifier: metrics: %w", err)
	}
	_, err = meter.Int64ObservableGauge(MetricDisabled,
		metric.WithDescription("1 while a route is disabled because its endpoint answered 410 Gone, else 0, by route."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			m.mu.Lock()
			defer m.mu.Unlock()
			for r, d := range m.disabled {
				v := int64(0)
				if d {
					v = 1
				}
				o.Observe(v, metric.WithAttributes(attribute.String("route", r)))
			}
			return nil
		}))
	if err != nil {
		return nil, fmt.Errorf("notifier: metrics: %w", err)
	}
	return m, nil
}

func routeAttrs(route string, kv ...attribute.KeyValue) metric.MeasurementOption {
	return metric.WithAttributes(append([]attribute.KeyValue{attribute.String("route", route)}, kv...)...)
}

func (m *metrics) setDisabled(route string, v bool) {
	m.mu.Lock()
	m.disabled[route] = v
	m.mu.Unlock()
}

func (m *metrics) observeLatency(ctx context.Context, route string, d time.Duration) {
	m.latency.Record(ctx, max(d, 0).Seconds(), routeAttrs(route))
}
