package ingest

import (
	"context"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/kycflow/kycflow/pkg/events"
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
// kycflow_ingest_region_mismatches_total{api},
// kycflow_ingest_publish_duration_seconds{api,outcome},
// kycflow_ingest_request_duration_seconds{api,outcome} and
// kycflow_ingest_in_flight_requests.
type metrics struct {
	request    metric.Float64Histogram
	callbacks  metric.Int64Counter
	rejected   metric.Int64Counter
	mismatches metric.Int64Counter
	publish    metric.Float64Histogram

	// inFlight is read by kycflow_ingest_in_flight_requests when the
	// metrics are collected: two atomic adds per request instead of two
	// measurements through the SDK.
	inFlight atomic.Int64

	// labels holds the measurement options of every label set the code
	// records, built once: an attribute set sorts and allocates, and so
	// does each variadic option list. byOutcome holds the (api, outcome)
	// sets, which every request records three times, by index rather than
	// by a map key of three strings to hash.
	labels    map[labelKey]labelSet
	byOutcome [3][4]labelSet
}

type labelKey struct{ api, key, value string }

// labelSet is one attribute set as the options of each kind of
// measurement.
type labelSet struct {
	add    []metric.AddOption
	record []metric.RecordOption
}

func newLabelSet(kvs ...attribute.KeyValue) labelSet {
	o := metric.WithAttributeSet(attribute.NewSet(kvs...))
	return labelSet{add: []metric.AddOption{o}, record: []metric.RecordOption{o}}
}

// metricLabelValues are every value of the api, outcome and reason
// labels: the label sets are made from them, and deploy's tests check the
// queries of the dashboard, the alerts and the docs against them. A 404 is
// counted as unknown-path or wrong-path-secret, never as not-found (the
// problem type both share).
var metricLabelValues = map[string][]string{
	"api":     {string(events.APIPlatform), string(events.APINetverify), apiNone},
	"outcome": {OutcomeAccepted, OutcomeDuplicate, OutcomeRejected, OutcomeUnavailable},
	"reason": {
		ReasonUnknownPath, ReasonWrongPathSecret, ReasonMethodNotAllowed, ReasonRateLimited,
		ReasonSourceNotAllowed, ReasonUnsupportedMediaType, ReasonBodyTooLarge, ReasonBodyUnreadable,
		ReasonMalformedBody, ReasonInvalidCallback, ReasonInvalidUTF8, ReasonUserReferenceMissing, ReasonUserReferenceMalformed,
		ReasonUserReferenceInvalid, ReasonUserReferenceExpired, ReasonBrokerUnavailable,
	},
}

// apiNone is the api label of a request whose path names no API.
const apiNone = "none"

func newMetrics(mp metric.MeterProvider) (*metrics, error) {
	m := mp.Meter("github.com/kycflow/kycflow/internal/ingest")
	ms := &metrics{}
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
	if ms.mismatches, err = m.Int64Counter("kycflow_ingest_region_mismatches",
		metric.WithDescription("Callbacks whose href names another region than KYCFLOW_JUMIO_REGION: stored, and dead-lettered by the enricher until the configuration is fixed."),
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
	if _, err = m.Int64ObservableUpDownCounter("kycflow_ingest_in_flight_requests",
		metric.WithDescription("Callback requests being handled."),
		metric.WithUnit("{request}"),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(ms.inFlight.Load())
			return nil
		})); err != nil {
		return nil, err
	}
	ms.labels = map[labelKey]labelSet{}
	for _, api := range metricLabelValues["api"] {
		for _, outcome := range metricLabelValues["outcome"] {
			ls := newLabelSet(attribute.String("api", api), attribute.String("outcome", outcome))
			ms.labels[labelKey{api, "outcome", outcome}] = ls
			if a, o := apiIndex(api), outcomeIndex(outcome); a >= 0 && o >= 0 {
				ms.byOutcome[a][o] = ls
			}
		}
		for _, r := range metricLabelValues["reason"] {
			ms.labels[labelKey{api, "reason", r}] = newLabelSet(attribute.String("api", api), attribute.String("reason", r))
		}
		ms.labels[labelKey{api, "", ""}] = newLabelSet(attribute.String("api", api))
	}
	return ms, nil
}

// outcomeLabels returns the options of (api, outcome), as labelsOf does.
func (m *metrics) outcomeLabels(api, outcome string) labelSet {
	a, o := apiIndex(api), outcomeIndex(outcome)
	if a < 0 || o < 0 {
		return m.labelsOf(api, "outcome", outcome)
	}
	return m.byOutcome[a][o]
}

// apiIndex is api's place in metrics.byOutcome, -1 for none.
func apiIndex(api string) int {
	switch api {
	case string(events.APIPlatform):
		return 0
	case string(events.APINetverify):
		return 1
	case apiNone:
		return 2
	}
	return -1
}

// outcomeIndex is outcome's place in metrics.byOutcome, -1 for none.
func outcomeIndex(outcome string) int {
	switch outcome {
	case OutcomeAccepted:
		return 0
	case OutcomeDuplicate:
		return 1
	case OutcomeRejected:
		return 2
	case OutcomeUnavailable:
		return 3
	}
	return -1
}

// labelsOf returns the options of (api, key=value), or api alone when key
// is empty. The map is read-only after newMetrics.
func (m *metrics) labelsOf(api, key, value string) labelSet {
	if l, ok := m.labels[labelKey{api, key, value}]; ok {
		return l
	}
	if key == "" {
		return newLabelSet(attribute.String("api", api))
	}
	return newLabelSet(attribute.String("api", api), attribute.String(key, value))
}

// measured is the context measurements are recorded with: one without
// the request's span. Exemplars are not exported (/metrics is Prometheus
// text), and with a sampled span in the context the SDK would sample an
// exemplar on every measurement of every request.
var measured = context.Background()

func (m *metrics) answered(api, outcome string) {
	m.callbacks.Add(measured, 1, m.outcomeLabels(api, outcome).add...)
}

func (m *metrics) reject(api, reason string) {
	m.rejected.Add(measured, 1, m.labelsOf(api, "reason", reason).add...)
	m.answered(api, OutcomeRejected)
}

func (m *metrics) regionMismatch(api string) {
	m.mismatches.Add(measured, 1, m.labelsOf(api, "", "").add...)
}

func (m *metrics) published(api, outcome string, d time.Duration) {
	m.publish.Record(measured, d.Seconds(), m.outcomeLabels(api, outcome).record...)
}

func (m *metrics) handled(api, outcome string, d time.Duration) {
	m.request.Record(measured, d.Seconds(), m.outcomeLabels(api, outcome).record...)
}

func (m *metrics) inFlightAdd(n int64) { m.inFlight.Add(n) }
