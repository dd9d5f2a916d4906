package enricher

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// healthUnknown is the status before the first answer and after a failed
// read of the status endpoint.
const healthUnknown = "UNKNOWN"

// errStopping ends a callback held for Jumio's retrieval when the enricher
// stops: it is released for redelivery, like any callback at shutdown.
var errStopping = errors.New("enricher: stopping while retrieval is held")

// healthWatch reads Jumio's status endpoint every interval and holds
// retrieval while it reports the retrieval component DOWN: fetch waits on
// the gate, so the callbacks being enriched stay in progress on the
// server and the others stay unfetched in JUMIO_CALLBACKS. No delivery is
// spent, nothing is dead-lettered, nothing is fetched from Jumio; when the
// status reports retrieval UP or DEGRADED again the gate opens. A status
// endpoint that cannot be read leaves the gate as it was: it is a page,
// not the API, and a failure of its own must neither stop nor start
// retrieval; but not for longer than unreadableHold reads in a row: a
// DOWN it can no longer confirm does not hold retrieval for good (the
// API's own failures have their retries). See
// docs/architecture.md#jumios-health.
type healthWatch struct {
	client   *jumio.Client
	interval time.Duration
	logger   *slog.Logger

	mu        sync.Mutex
	overall   string
	retrieval string
	// gate is closed while retrieval flows, open (blocking) while held.
	gate chan struct{}
	held bool
	// unreadable counts the failed reads in a row.
	unreadable int
	// stop is closed when the enricher stops.
	stop <-chan struct{}
}

func newHealthWatch(client *jumio.Client, interval time.Duration, logger *slog.Logger) *healthWatch {
	open := make(chan struct{})
	close(open)
	return &healthWatch{client: client, interval: interval, logger: logger,
		overall: healthUnknown, retrieval: healthUnknown, gate: open, stop: make(chan struct{})}
}

// run reads the status at once and then every interval until ctx ends; a
// zero interval turns the watch off (retrieval is never held).
func (h *healthWatch) run(ctx context.Context) {
	h.mu.Lock()
	h.stop = ctx.Done()
	h.mu.Unlock()
	if h.interval <= 0 {
		return
	}
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		h.check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// check reads the status once and applies it.
func (h *healthWatch) check(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, max(h.interval, 10*time.Second))
	defer cancel()
	st, err := h.client.Health(cctx)
	if err != nil {
		if ctx.Err() == nil {
			h.apply(healthUnknown, healthUnknown, err)
		}
		return
	}
	h.apply(st.Component(""), st.Component("retrieval"), nil)
}

// apply records a status and opens or closes the gate; it logs once per
// change.
func (h *healthWatch) apply(overall, retrieval string, readErr error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if readErr == nil {
		h.unreadable = 0
	} else if h.unreadable++; h.held && h.unreadable >= unreadableHold {
		close(h.gate)
		h.held = false
		h.logger.Warn("Jumio status endpoint unreadable while retrieval was held: retrieval resumed, its failures are retried",
			"reads", h.unreadable, "error", readErr)
	}
	if overall == h.overall && retrieval == h.retrieval {
		return
	}
	wasHeld := h.held
	switch retrieval {
	case wire.HealthDown:
		if !h.held {
			h.gate = make(chan struct{})
			h.held = true
		}
	case healthUnknown:
		// Keep the gate as it is.
	default:
		if h.held {
			close(h.gate)
			h.held = false
		}
	}
	h.overall, h.retrieval = overall, retrieval
	attrs := []any{"jumio_status", overall, "jumio_retrieval", retrieval, "retrieval_held", h.held}
	switch {
	case readErr != nil:
		h.logger.Warn("Jumio status endpoint unreadable; retrieval stays as it was", append(attrs, "error", readErr)...)
	case h.held && !wasHeld:
		h.logger.Warn("Jumio reports retrieval DOWN: retrieval held, callbacks wait in JUMIO_CALLBACKS", attrs...)
	case !h.held && wasHeld:
		h.logger.Info("Jumio reports retrieval back: retrieval resumed", attrs...)
	default:
		h.logger.Info("Jumio status changed", attrs...)
	}
}

// unreadableHold is how many failed reads of the status endpoint in a row
// end a hold (three intervals: a minute and a half by default).
const unreadableHold = 3

// wait blocks while retrieval is held; it returns ctx's error when ctx
// ends, and errStopping when the enricher stops.
func (h *healthWatch) wait(ctx context.Context) error {
	h.mu.Lock()
	gate, stop := h.gate, h.stop
	h.mu.Unlock()
	select {
	case <-gate:
		return nil
	default:
	}
	select {
	case <-gate:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-stop:
		return errStopping
	}
}

// Held reports whether retrieval is held.
func (h *healthWatch) Held() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.held
}

// statusValue encodes a status for the gauge: 2 UP, 1 DEGRADED, 0 DOWN,
// -1 unknown (or a value Jumio adds later).
func statusValue(s string) int64 {
	switch s {
	case wire.HealthUp:
		return 2
	case wire.HealthDegraded:
		return 1
	case wire.HealthDown:
		return 0
	}
	return -1
}

// registerHealthMetrics reports the watch's state as gauges.
func registerHealthMetrics(mp metric.MeterProvider, h *healthWatch) (metric.Registration, error) {
	m := mp.Meter(instrumentationName)
	status, err := m.Int64ObservableGauge(MetricJumioStatus,
		metric.WithDescription("Jumio's status endpoint by component (overall, retrieval): 2 UP, 1 DEGRADED, 0 DOWN, -1 unknown."))
	if err != nil {
		return nil, err
	}
	held, err := m.Int64ObservableGauge(MetricRetrievalHeld,
		metric.WithDescription("1 while retrieval is held because Jumio reports it DOWN."))
	if err != nil {
		return nil, err
	}
	return m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		h.mu.Lock()
		overall, retrieval, isHeld := h.overall, h.retrieval, h.held
		h.mu.Unlock()
		o.ObserveInt64(status, statusValue(overall), metric.WithAttributes(attribute.String("component", "overall")))
		o.ObserveInt64(status, statusValue(retrieval), metric.WithAttributes(attribute.String("component", "retrieval")))
		v := int64(0)
		if isHeld {
			v = 1
		}
		o.ObserveInt64(held, v)
		return nil
	}, status, held)
}
