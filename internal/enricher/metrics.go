package enricher

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
)

// Metric names (OpenTelemetry; on /metrics counters gain "_total" and the
// duration "_seconds"). Attributes carry APIs, endpoints, outcomes,
// reasons and classes, never ids.
const (
	// MetricFetches counts Jumio retrieval calls by endpoint and outcome
	// (ok, not_ready, rate_limited, unauthorized, transient, permanent,
	// cancelled).
	MetricFetches = "kycflow_enricher_fetches"
	// MetricFetchDuration is the time of one retrieval call (rate-limiter
	// wait and in-call retries included), by endpoint.
	MetricFetchDuration = "kycflow_enricher_fetch_duration"
	// MetricResults counts enriched results published, by API.
	MetricResults = "kycflow_enricher_results"
	// MetricRetries counts callbacks redelivered later, by reason
	// (not_ready, rate_limited, unauthorized, jumio, broker, shutdown).
	MetricRetries = "kycflow_enricher_retries"
	// MetricStaleDrops counts callbacks dropped because a newer one of the
	// same execution was enriched or claimed, by API.
	MetricStaleDrops = "kycflow_enricher_stale_drops"
	// MetricDuplicates counts callbacks dropped because their event id
	// was already enriched, by API.
	MetricDuplicates = "kycflow_enricher_duplicates"
	// MetricCollapsed counts callbacks dropped because their status was
	// already enriched from the other side of a reconciliation: Jumio's
	// late callback after a reconciled one, or a reconciled callback
	// after Jumio's, by API.
	MetricCollapsed = "kycflow_enricher_collapsed_drops"
	// MetricDeadLetters counts callbacks dead-lettered, by API and class
	// (permanent, retry_budget).
	MetricDeadLetters = "kycflow_enricher_dead_letters"
	// MetricJumioStatus is Jumio's status endpoint by component (overall,
	// retrieval): 2 UP, 1 DEGRADED, 0 DOWN, -1 unknown.
	MetricJumioStatus = "kycflow_enricher_jumio_status"
	// MetricRetrievalHeld is 1 while retrieval is held because Jumio
	// reports it DOWN.
	MetricRetrievalHeld = "kycflow_enricher_retrieval_held"
	// MetricTombstones counts callbacks of erased transactions made into
	// tombstones, by API.
	MetricTombstones = "kycflow_enricher_tombstones"
	// MetricWork counts work items (migration batches) by outcome (done,
	// retried, dead_lettered).
	MetricWork = "kycflow_enricher_work_items"
	// MetricUnreadableFields counts, by API and field, the fields carrying
	// a verification outcome that a published result could not read
	// (events.Result.UnreadableFields): each such result went out as a
	// manual review (WARNING), never PASSED.
	MetricUnreadableFields = "kycflow_enricher_unreadable_fields"
)

// Outcomes of MetricFetches.
const (
	fetchOK           = "ok"
	fetchNotReady     = "not_ready"
	fetchRateLimited  = "rate_limited"
	fetchUnauthorized = "unauthorized"
	fetchTransient    = "transient"
	fetchPermanent    = "permanent"
	fetchCancelled    = "cancelled"
)

type metrics struct {
	fetches     metric.Int64Counter
	fetchTime   metric.Float64Histogram
	results     metric.Int64Counter
	retries     metric.Int64Counter
	stale       metric.Int64Counter
	duplicates  metric.Int64Counter
	collapsed   metric.Int64Counter
	deadLetters metric.Int64Counter
	tombstones  metric.Int64Counter
	work        metric.Int64Counter
	unreadable  metric.Int64Counter
}

func newMetrics(mp metric.MeterProvider) (*metrics, error) {
	m := mp.Meter(instrumentationName)
	var (
		ms   metrics
		errs []error
	)
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	ms.fetches = counter(MetricFetches, "{request}", "Jumio retrieval calls by endpoint and outcome.")
	ms.results = counter(MetricResults, "{result}", "Enriched results published to JUMIO_ENRICHED, by API.")
	ms.retries = counter(MetricRetries, "{callback}", "Callbacks redelivered later, by reason.")
	ms.stale = counter(MetricStaleDrops, "{callback}", "Callbacks dropped because a newer callback of the execution was enriched or claimed, by API.")
	ms.duplicates = counter(MetricDuplicates, "{callback}", "Callbacks dropped because their event id was already enriched, by API.")
	ms.collapsed = counter(MetricCollapsed, "{callback}", "Callbacks dropped because their status was already enriched from the other side of a reconciliation (a reconciled callback and Jumio's own), by API.")
	ms.deadLetters = counter(MetricDeadLetters, "{callback}", "Callbacks dead-lettered to JUMIO_DLQ, by API and class.")
	ms.tombstones = counter(MetricTombstones, "{callback}", "Callbacks of erased transactions made into tombstones, by API.")
	ms.work = counter(MetricWork, "{item}", "Work items (migration batches) by outcome.")
	ms.unreadable = counter(MetricUnreadableFields, "{field}", "Verdict-carrying fields a published result could not read, by API and field.")
	var err error
	ms.fetchTime, err = m.Float64Histogram(MetricFetchDuration, metric.WithUnit("s"),
		metric.WithDescription("Time of one Jumio retrieval call, rate-limiter wait and in-call retries included, by endpoint."),
		metric.WithExplicitBucketBoundaries(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &ms, nil
}

func apiAttr(api events.API) metric.MeasurementOption {
	return metric.WithAttributes(attribute.String("api", string(api)))
}

func metricClass(class string) metric.MeasurementOption {
	return metric.WithAttributes(attribute.String("class", class))
}

func metricReason(reason string) metric.MeasurementOption {
	return metric.WithAttributes(attribute.String("reason", reason))
}

func (m *metrics) fetch(ctx context.Context, ep jumio.Endpoint, err error, d time.Duration) {
	ctx = context.WithoutCancel(ctx)
	m.fetches.Add(ctx, 1, metric.WithAttributes(attribute.String("endpoint", string(ep)), attribute.String("outcome", fetchOutcome(err))))
	m.fetchTime.Record(ctx, d.Seconds(), metric.WithAttributes(attribute.String("endpoint", string(ep))))
}

// fetchOutcome names the outcome of a retrieval call.
func fetchOutcome(err error) string {
	switch {
	case err == nil:
		return fetchOK
	case errors.Is(err, jumio.ErrNotReady), errors.Is(err, ErrNotFinal):
		return fetchNotReady
	case errors.Is(err, jumio.ErrRateLimited):
		return fetchRateLimited
	case errors.Is(err, jumio.ErrUnauthorized):
		return fetchUnauthorized
	case errors.Is(err, context.Canceled):
		return fetchCancelled
	case jumio.Classify(err).Kind == jumio.Permanent:
		return fetchPermanent
	}
	return fetchTransient
}

// instrumentationName names the meter of this package.
const instrumentationName = "github.com/kycflow/kycflow/internal/enricher"
