package ingest

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Outcomes of a callback request, the outcome label of
// kycflow_ingest_callbacks_total.
const (
	OutcomeAccepted    = "accepted"    // stored; 200
	OutcomeDuplicate   = "duplicate"   // already stored (duplicate window); 200
	OutcomeRejected    = "rejected"    // 4xx; see kycflow_ingest_rejected_total
	OutcomeUnavailable = "unavailable" // broker down or slow; 503
)

// metrics are ingest's OpenTelemetry instruments. On /metrics they are
// kycflow_ingest_callbacks_total{api,outcome},
// kycflow_ingest_rejected_total{api,reason},
// kycflow_ingest_publish_duration_seconds{api,outcome},
// kycflow_ingest_request_duration_seconds{api,outcome} and
// kycflow_ingest_in_flight_requests.
type metrics struct {
	request   metric.Float64Histogram
	callbacks metric.Int64Counter
	rejected  metric.Int64Counter
	publish   metric.Float64Histogram
	inFlight  metric.Int64UpDownCounter
}

func newMetrics(mp metric.MeterProvider) (*metrics, error) {
	m := mp.Meter("github.com/kycflow/kycflow/internal/ingest")
	var ms metrics
	var err error
	if ms.callbacks, err = m.Int64Counter("kycflow_ingest_callbacks",
		metric.WithDescription("Callback requests answered, by API and outcome (accepted, duplicate, rejected, unavailable)."),
		metric.WithUnit("{callback}")); err != nil {
		return nil, err
	}
	if ms.rejected, err = m.Int64Counter("kycflow_ingest_rejected",
		metric.WithDescription("Callback requests rejected, by API and reason (the problem type's last segment)."),
		metric.WithUnit("{callback}")); err != nil {
		return nil, err
	}
	if ms.publish, err = m.Float64Histogram("kycflow_ingest_publish_duration",
		metric.WithDescription("Time from publishing a callback to JetStream's ack (or the failure), by API and outcome."),
		metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)); err != nil {
		return nil, err
	}
	if ms.request, err = m.Float64Histogram("kycflow_ingest_request_duration",
		metric.WithDescription("Time from receiving a callback request to its answer, by API and outcome."),
		metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)); err != nil {
		return nil, err
	}
	if ms.inFlight, err = m.Int64UpDownCounter("kycflow_ingest_in_flight_requests",
		metric.WithDescription("Callback requests being handled."),
		metric.WithUnit("{request}")); err != nil {
		return nil, err
	}
	return &ms, nil
}

// attrSets caches the measurement options of each (api, key, value):
// building an attribute set sorts and allocates, and this runs on every
// request. The label values are a small closed set (APIs, outcomes,
// reasons), so the cache stays small.
var attrSets sync.Map // attrKey -> metric.MeasurementOption

type attrKey struct{ api, key, value string }

func attrs(api, key, value string) metric.MeasurementOption {
	k := attrKey{api, key, value}
	if o, ok := attrSets.Load(k); ok {
		return o.(metric.MeasurementOption)
	}
	o := metric.WithAttributeSet(attribute.NewSet(attribute.String("api", api), attribute.String(key, value)))
	attrSets.Store(k, o)
	return o
}

func metricAttrs(api, reason string) metric.MeasurementOption { return attrs(api, "reason", reason) }

// measured is the context measurements are recorded with: one without
// the request's span. Exemplars are not exported (/metrics is Prometheus
// text), and with a sampled span in the context the SDK would sample an
// exemplar on every measurement of every request.
var measured = context.Background()

func (m *metrics) answered(api, outcome string) {
	m.callbacks.Add(measured, 1, attrs(api, "outcome", outcome))
}

func (m *metrics) reject(api, reason string) {
	m.rejected.Add(measured, 1, metricAttrs(api, reason))
	m.answered(api, OutcomeRejected)
}

func (m *metrics) published(api, outcome string, d time.Duration) {
	m.publish.Record(measured, d.Seconds(), attrs(api, "outcome", outcome))
}

func (m *metrics) handled(api, outcome string, d time.Duration) {
	m.request.Record(measured, d.Seconds(), attrs(api, "outcome", outcome))
}

func (m *metrics) inFlightAdd(n int64) { m.inFlight.Add(measured, n) }
