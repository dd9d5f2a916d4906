package jumio_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// recordHandler keeps the records logged at level or above.
type recordHandler struct {
	mu      sync.Mutex
	level   slog.Level
	records []slog.Record
}

func (h *recordHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

func (h *recordHandler) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.records)
}

// TestRetryAfterCapped: a 429 asking for a day pauses every request for
// MaxRetryAfter at most (its APIError says so too), and a pause longer
// than a minute is logged at ERROR and counted in
// kycflow_jumio_long_pauses_total; a short one is neither.
func TestRetryAfterCapped(t *testing.T) {
	for _, tc := range []struct {
		name       string
		endpoint   jumio.Endpoint
		max        time.Duration
		retryAfter time.Duration
		wantPause  time.Duration
		wantLong   int64
	}{
		{"a day, default cap", jumio.EndpointWorkflowDetails, 0, 24 * time.Hour, jumio.DefaultMaxRetryAfter, 1},
		{"a day, capped at 2m", jumio.EndpointWorkflowDetails, 2 * time.Minute, 24 * time.Hour, 2 * time.Minute, 1},
		{"30s, under the cap", jumio.EndpointWorkflowDetails, 0, 30 * time.Second, 30 * time.Second, 0},
		{"90s, over a minute and under the cap", jumio.EndpointWorkflowDetails, 0, 90 * time.Second, 90 * time.Second, 1},
		{"token endpoint, a day", jumio.EndpointToken, 0, 24 * time.Hour, jumio.DefaultMaxRetryAfter, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := memSim(t, jumiotest.Config{Scenario: scenario(1)})
				logs := &recordHandler{level: slog.LevelError}
				reader := sdkmetric.NewManualReader()
				cfg := srv.ClientConfig(0)
				fastRetries(&cfg)
				cfg.MaxRetryAfter = tc.max
				c, err := jumio.NewClient(cfg, jumio.WithTransport(srv.Transport()), jumio.WithLogger(slog.New(logs)),
					jumio.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(c.CloseIdleConnections)
				e := srv.Executions()[0]
				srv.Inject(jumiotest.Fault{Endpoints: []jumio.Endpoint{tc.endpoint}, Status: 429, RetryAfter: tc.retryAfter})
				start := time.Now()
				_, _, err = c.WorkflowDetails(t.Context(), e.AccountID, e.ID)
				if tc.endpoint == jumio.EndpointWorkflowDetails {
					var ae *jumio.APIError
					if !errors.As(err, &ae) || ae.Status != 429 {
						t.Fatalf("WorkflowDetails: %v, want a 429 APIError", err)
					}
					if ae.RetryAfter != tc.wantPause {
						t.Errorf("APIError.RetryAfter = %v, want %v", ae.RetryAfter, tc.wantPause)
					}
					if got := c.RateState().PausedUntil.Sub(start); got != tc.wantPause {
						t.Errorf("paused for %v, want %v", got, tc.wantPause)
					}
				} else if err == nil {
					t.Fatal("WorkflowDetails succeeded through a refused token request")
				}
				if got := int64(logs.count()); got != tc.wantLong {
					t.Errorf("%d ERROR records, want %d", got, tc.wantLong)
				}
				var rm metricdata.ResourceMetrics
				if err := reader.Collect(t.Context(), &rm); err != nil {
					t.Fatal(err)
				}
				if got := sumInt(rm, jumio.MetricLongPauses); got != tc.wantLong {
					t.Errorf("%s = %d, want %d", jumio.MetricLongPauses, got, tc.wantLong)
				}
				// The next request waits out the (capped) pause, no more. A
				// token request gives up at once on a pause longer than its
				// timeout: it is made once the pause is over.
				if tc.endpoint == jumio.EndpointToken {
					time.Sleep(tc.wantPause - time.Since(start))
				}
				if _, _, err := c.WorkflowDetails(t.Context(), e.AccountID, e.ID); err != nil {
					t.Fatal(err)
				}
				if waited := time.Since(start); waited != tc.wantPause {
					t.Errorf("the next request started after %v, want %v", waited, tc.wantPause)
				}
			})
		})
	}
}

// sumInt sums an integer sum metric's data points.
func sumInt(rm metricdata.ResourceMetrics, name string) int64 {
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if s, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == name {
				for _, dp := range s.DataPoints {
					n += dp.Value
				}
			}
		}
	}
	return n
}

// TestCheckBaseURL: Jumio base URLs are https, or plain http to a
// loopback host (the simulator), or anywhere with allowHTTP.
func TestCheckBaseURL(t *testing.T) {
	for _, tc := range []struct {
		url          string
		allowHTTP    bool
		ok, insecure bool
	}{
		{"https://retrieval.amer-1.jumio.ai", false, true, false},
		{"https://10.0.0.1:8443", false, true, false},
		{"http://127.0.0.1:8090", false, true, false},
		{"http://127.8.9.10", false, true, false},
		{"http://[::1]:8090", false, true, false},
		{"http://localhost:8090", false, true, false},
		{"http://retrieval.amer-1.jumio.ai", false, false, true},
		{"http://10.0.0.1:8090", false, false, true},
		{"http://jumiosim:8090", false, false, true},
		{"http://localhost.evil.example", false, false, true},
		{"http://jumiosim:8090", true, true, false},
		{"ftp://retrieval.amer-1.jumio.ai", false, false, false},
		{"https://user:pw@retrieval.amer-1.jumio.ai", false, false, false},
		{"retrieval.amer-1.jumio.ai", false, false, false},
	} {
		err := jumio.CheckBaseURL(tc.url, tc.allowHTTP)
		if (err == nil) != tc.ok || errors.Is(err, jumio.ErrInsecureURL) != tc.insecure {
			t.Errorf("CheckBaseURL(%q, %v) = %v, want ok %v, insecure %v", tc.url, tc.allowHTTP, err, tc.ok, tc.insecure)
		}
	}
	cfg := jumio.Config{ClientID: "c", ClientSecret: "s"}
	cfg.Hosts.Retrieval = "http://retrieval.amer-1.jumio.ai"
	if _, err := jumio.NewClient(cfg); !errors.Is(err, jumio.ErrInvalidConfig) || !errors.Is(err, jumio.ErrInsecureURL) {
		t.Errorf("NewClient with a plain http retrieval URL: %v, want ErrInvalidConfig and ErrInsecureURL", err)
	}
}
