package reconcile

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// Metric names (OpenTelemetry; on /metrics counters gain "_total" and the
// age "_seconds"). Every replica reports the gauges for the whole bucket
// (each watches all of it): aggregate them with max, not sum.
// Attributes carry statuses and outcomes, never ids.
const (
	// MetricTracked is the number of executions tracked (due a final
	// callback).
	MetricTracked = "kycflow_reconcile_executions_tracked"
	// MetricOverdue is the number of tracked executions past their
	// deadline.
	MetricOverdue = "kycflow_reconcile_executions_overdue"
	// MetricOldestOverdue is how long the oldest overdue execution has
	// been overdue (0 when none is).
	MetricOldestOverdue = "kycflow_reconcile_oldest_overdue_age"
	// MetricReconciled counts callbacks reconciled, by status (PROCESSED,
	// SESSION_EXPIRED, TOKEN_EXPIRED, …).
	MetricReconciled = "kycflow_reconcile_reconciled"
	// MetricChecks counts status requests by outcome (reconciled,
	// not_final, abandoned, not_found, failed).
	MetricChecks = "kycflow_reconcile_checks"
)

const instrumentationName = "github.com/kycflow/kycflow/internal/reconcile"

type metrics struct {
	r          *Reconciler
	meter      metric.Meter
	reconciles metric.Int64Counter
	checks     metric.Int64Counter
}

func newMetrics(mp metric.MeterProvider, r *Reconciler) (*metrics, error) {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	m := &metrics{r: r, meter: mp.Meter(instrumentationName)}
	var e1, e2 error
	m.reconciles, e1 = m.meter.Int64Counter(MetricReconciled, metric.WithUnit("{callback}"),
		metric.WithDescription("Callbacks reconciled from Jumio's status API, by status."))
	m.checks, e2 = m.meter.Int64Counter(MetricChecks, metric.WithUnit("{request}"),
		metric.WithDescription("Status requests of the reconciler, by outcome."))
	return m, errors.Join(e1, e2)
}

// register reports the gauges from the watched bucket (Run).
func (m *metrics) register() (metric.Registration, error) {
	tracked, e1 := m.meter.Int64ObservableGauge(MetricTracked, metric.WithUnit("{execution}"),
		metric.WithDescription("Workflow executions tracked by the reconciler (due a final callback)."))
	overdue, e2 := m.meter.Int64ObservableGauge(MetricOverdue, metric.WithUnit("{execution}"),
		metric.WithDescription("Tracked workflow executions past their deadline without a final callback."))
	oldest, e3 := m.meter.Float64ObservableGauge(MetricOldestOverdue, metric.WithUnit("s"),
		metric.WithDescription("How long the oldest overdue workflow execution has been overdue (0 when none is)."))
	if err := errors.Join(e1, e2, e3); err != nil {
		return nil, err
	}
	return m.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		now := m.r.deps.Now()
		var n, late int64
		var age float64
		m.r.mu.Lock()
		for _, e := range m.r.known {
			n++
			if e.x.Overdue(now) {
				late++
				age = max(age, now.Sub(e.x.Deadline).Seconds())
			}
		}
		m.r.mu.Unlock()
		o.ObserveInt64(tracked, n)
		o.ObserveInt64(overdue, late)
		o.ObserveFloat64(oldest, age)
		return nil
	}, tracked, overdue, oldest)
}

func (m *metrics) checked(ctx context.Context, outcome string) {
	m.checks.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", outcome)))
}

func (m *metrics) reconciled(ctx context.Context, status string) {
	m.reconciles.Add(ctx, 1, metric.WithAttributes(attribute.String("status", status)))
}
