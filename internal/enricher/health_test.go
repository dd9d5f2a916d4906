package enricher_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kycflow/kycflow/internal/enricher"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// logRecorder keeps the messages logged at or above a level.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *logRecorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, rec.Message)
	return nil
}
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

// count returns how many messages contain s.
func (r *logRecorder) count(s string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if strings.Contains(m, s) {
			n++
		}
	}
	return n
}

// gauge returns the value of an int64 gauge with attrs.
func (h *harness) gauge(name string, attrs ...attribute.KeyValue) (int64, bool) {
	h.t.Helper()
	var rm metricdata.ResourceMetrics
	if err := h.reader.Collect(context.Background(), &rm); err != nil {
		h.t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			for _, dp := range m.Data.(metricdata.Gauge[int64]).DataPoints {
				if hasAll(dp.Attributes, attrs) {
					return dp.Value, true
				}
			}
		}
	}
	return 0, false
}

// TestRetrievalHeldWhileJumioIsDown: while Jumio's status endpoint reports
// retrieval DOWN, callbacks wait in progress: nothing is fetched, no
// redelivery, no dead letter. When it is UP again they are enriched, each
// on its first delivery. The gauge and one log line follow each change.
func TestRetrievalHeldWhileJumioIsDown(t *testing.T) {
	h := newHarness(t, jumiotest.Config{})
	logs := &logRecorder{}
	h.tel.Logger = slog.New(logs)
	h.jumio.SetHealth(jumiotest.Health(wire.HealthDegraded, map[string]string{"retrieval": wire.HealthDown}))
	cfg := h.config()
	cfg.HealthInterval = 20 * time.Millisecond
	h.start(cfg, nil)
	h.eventually("retrieval held", func() bool {
		v, _ := h.gauge(enricher.MetricRetrievalHeld)
		return v == 1
	})
	if v, _ := h.gauge(enricher.MetricJumioStatus, attribute.String("component", "retrieval")); v != 0 {
		t.Errorf("retrieval status gauge %d, want 0 (DOWN)", v)
	}

	const n = 5
	h.publishAll(h.executions(n, 61))
	h.eventually("every callback delivered and waiting", func() bool { return h.consumer().NumAckPending == n })
	if got := h.jumio.Requests(jumio.EndpointWorkflowDetails); got != 0 {
		t.Errorf("%d details requests while retrieval is DOWN, want none", got)
	}
	if l := h.ledger(); l.settled() != 0 || h.counter(enricher.MetricRetries) != 0 {
		t.Errorf("while held: ledger %+v, %d retries; want nothing settled, nothing retried", l, h.counter(enricher.MetricRetries))
	}

	h.jumio.SetHealth(jumiotest.Health(wire.HealthUp, nil))
	if l := h.settle(n); l.Results != n || l.DeadLetters != 0 {
		t.Fatalf("ledger %+v: want %d results", l, n)
	}
	if r := h.counter(enricher.MetricRetries); r != 0 {
		t.Errorf("%d retries, want none: holding spends no delivery", r)
	}
	if info := h.consumer(); info.NumRedelivered != 0 {
		t.Errorf("%d redelivered, want none", info.NumRedelivered)
	}
	if v, _ := h.gauge(enricher.MetricRetrievalHeld); v != 0 {
		t.Errorf("held gauge %d after UP, want 0", v)
	}
	if held, resumed := logs.count("retrieval held"), logs.count("retrieval resumed"); held != 1 || resumed != 1 {
		t.Errorf("logged held %d and resumed %d times, want once each", held, resumed)
	}
}

// TestUnreadableStatusHoldsNothing: a status endpoint that fails after
// reporting UP is not Jumio's retrieval being down: callbacks are
// enriched.
func TestUnreadableStatusHoldsNothing(t *testing.T) {
	h := newHarness(t, jumiotest.Config{})
	cfg := h.config()
	cfg.HealthInterval = 20 * time.Millisecond
	h.start(cfg, nil)
	h.eventually("the status read UP", func() bool {
		v, _ := h.gauge(enricher.MetricJumioStatus, attribute.String("component", "retrieval"))
		return v == 2
	})
	h.jumio.Inject(jumiotest.Fault{Endpoints: []jumio.Endpoint{jumio.EndpointHealth}, Status: http.StatusBadGateway, Count: -1})
	h.eventually("the status unreadable", func() bool {
		v, _ := h.gauge(enricher.MetricJumioStatus, attribute.String("component", "overall"))
		return v == -1
	})
	h.publishAll(h.executions(3, 62))
	if l := h.settle(3); l.Results != 3 {
		t.Fatalf("ledger %+v: want 3 results", l)
	}
	if v, _ := h.gauge(enricher.MetricRetrievalHeld); v != 0 {
		t.Errorf("held gauge %d, want 0", v)
	}
}

// TestUnreadableStatusEndsAHold: the status page says retrieval DOWN,
// then answers 502 for good while the Retrieval API works. The hold had no
// bound: callbacks waited in progress for ever, unfetched. Three
// unreadable reads in a row end it, and the callback is enriched.
func TestUnreadableStatusEndsAHold(t *testing.T) {
	h := newHarness(t, jumiotest.Config{})
	h.jumio.SetHealth(jumiotest.Health(wire.HealthUp, map[string]string{"retrieval": wire.HealthDown}))
	cfg := h.config()
	cfg.HealthInterval = 20 * time.Millisecond
	h.start(cfg, nil)
	h.eventually("retrieval held", func() bool { v, _ := h.gauge(enricher.MetricRetrievalHeld); return v == 1 })
	h.jumio.Inject(jumiotest.Fault{Endpoints: []jumio.Endpoint{jumio.EndpointHealth}, Status: http.StatusBadGateway, Count: -1})
	h.jumio.SetHealth(jumiotest.Health(wire.HealthUp, nil)) // the API works; the page cannot say so
	h.publishAll(h.executions(1, 204))
	if l := h.settle(1); l.Results != 1 {
		t.Errorf("ledger %+v, want the result", l)
	}
}
