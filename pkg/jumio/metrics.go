package jumio

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Metric names. Attributes carry the endpoint name and HTTP status only,
// never ids or personal data.
const (
	// MetricRequests counts requests by endpoint and status (the HTTP
	// status code, or "error" when no response came).
	MetricRequests = "kycflow_jumio_requests"
	// MetricRequestDuration is the time to the response headers, by
	// endpoint.
	MetricRequestDuration = "kycflow_jumio_request_duration"
	// MetricRetries counts in-call retries of transient failures.
	MetricRetries = "kycflow_jumio_retries"
	// MetricRateLimit is the current request rate limit (requests per
	// second) of each limiter (retrieval, account, api, token).
	MetricRateLimit = "kycflow_jumio_rate_limit"
	// MetricThrottled counts 429 answers by limiter.
	MetricThrottled = "kycflow_jumio_throttled"
	// MetricLaneRequests counts the requests each lane was let through,
	// by limiter and lane (live, reconcile, replay, migrate).
	MetricLaneRequests = "kycflow_jumio_lane_requests"
	// MetricLaneWaiting is how many requests wait in each lane, by
	// limiter and lane.
	MetricLaneWaiting = "kycflow_jumio_lane_waiting"
	// MetricLaneOldestWait is how long the longest-waiting request of each
	// lane has waited (0 when none waits), by limiter and lane.
	MetricLaneOldestWait = "kycflow_jumio_lane_oldest_wait"
	// MetricLongPauses counts, by limiter, 429s that paused every request
	// for longer than LongPause (Retry-After capped at MaxRetryAfter).
	MetricLongPauses = "kycflow_jumio_long_pauses"
	// MetricPause is the time left of the current Retry-After pause, by
	// limiter (0 when none).
	MetricPause = "kycflow_jumio_pause"
)

type clientMetrics struct {
	requests metric.Int64Counter
	duration metric.Float64Histogram
	retries  metric.Int64Counter
}

func newClientMetrics(mp metric.MeterProvider, c *Client) (*clientMetrics, error) {
	m := mp.Meter("github.com/kycflow/kycflow/pkg/jumio")
	var (
		cm  clientMetrics
		err error
		e   []error
	)
	cm.requests, err = m.Int64Counter(MetricRequests, metric.WithDescription("Requests to Jumio by endpoint and status."))
	e = append(e, err)
	cm.duration, err = m.Float64Histogram(MetricRequestDuration, metric.WithUnit("s"),
		metric.WithDescription("Time to Jumio's response headers."),
		metric.WithExplicitBucketBoundaries(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
	e = append(e, err)
	cm.retries, err = m.Int64Counter(MetricRetries, metric.WithDescription("In-call retries of transient Jumio failures."))
	e = append(e, err)
	limit, err := m.Float64ObservableGauge(MetricRateLimit, metric.WithUnit("{request}/s"),
		metric.WithDescription("Current request rate limit toward Jumio (lower for a while after a 429)."))
	e = append(e, err)
	throttled, err := m.Int64ObservableCounter(MetricThrottled, metric.WithDescription("429 answers from Jumio."))
	e = append(e, err)
	laneRequests, err := m.Int64ObservableCounter(MetricLaneRequests, metric.WithUnit("{request}"),
		metric.WithDescription("Requests to Jumio let through, by limiter and lane."))
	e = append(e, err)
	laneWaiting, err := m.Int64ObservableGauge(MetricLaneWaiting, metric.WithUnit("{request}"),
		metric.WithDescription("Requests to Jumio waiting for the budget, by limiter and lane."))
	e = append(e, err)
	laneOldest, err := m.Float64ObservableGauge(MetricLaneOldestWait, metric.WithUnit("s"),
		metric.WithDescription("How long the longest-waiting request of a lane has waited for the budget, by limiter and lane."))
	e = append(e, err)
	long, err := m.Int64ObservableCounter(MetricLongPauses,
		metric.WithDescription("429 answers from Jumio that paused every request for longer than a minute."))
	e = append(e, err)
	pause, err := m.Float64ObservableGauge(MetricPause, metric.WithUnit("s"),
		metric.WithDescription("Time left of the current pause every request toward Jumio waits after a 429."))
	e = append(e, err)
	for _, err := range e {
		if err != nil {
			return nil, err
		}
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, n := range c.limiters() {
			s := n.lim.State()
			attrs := metric.WithAttributes(attribute.String("limiter", n.name))
			o.ObserveFloat64(limit, s.Limit, attrs)
			o.ObserveInt64(throttled, int64(s.Throttled), attrs)
			o.ObserveInt64(long, int64(s.LongPauses), attrs)
			var left float64
			if !s.PausedUntil.IsZero() {
				left = max(time.Until(s.PausedUntil).Seconds(), 0)
			}
			o.ObserveFloat64(pause, left, attrs)
			for _, ls := range n.lim.laneStates(n.name) {
				la := metric.WithAttributes(attribute.String("limiter", n.name), attribute.String("lane", string(ls.Lane)))
				o.ObserveInt64(laneRequests, int64(ls.Granted), la)
				o.ObserveInt64(laneWaiting, int64(ls.Waiting), la)
				o.ObserveFloat64(laneOldest, ls.OldestWait.Seconds(), la)
			}
		}
		return nil
	}, limit, throttled, long, pause, laneRequests, laneWaiting, laneOldest)
	if err != nil {
		return nil, err
	}
	return &cm, nil
}

func (m *clientMetrics) request(ctx context.Context, ep Endpoint, status string, d time.Duration) {
	m.requests.Add(ctx, 1, metric.WithAttributes(attribute.String("endpoint", string(ep)), attribute.String("status", status)))
	m.duration.Record(ctx, d.Seconds(), metric.WithAttributes(attribute.String("endpoint", string(ep))))
}

func (m *clientMetrics) retry(ctx context.Context, ep Endpoint) {
	m.retries.Add(ctx, 1, metric.WithAttributes(attribute.String("endpoint", string(ep))))
}
