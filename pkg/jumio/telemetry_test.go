package jumio_test

import (
	"strings"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

func TestSpansAndMetricsCarryNoIDs(t *testing.T) {
	srv := startSim(t, jumiotest.Config{Scenario: scenario(1)})
	e := srv.Executions()[0]
	spans := tracetest.NewSpanRecorder()
	reader := sdkmetric.NewManualReader()
	cfg := srv.ClientConfig(0)
	fastRetries(&cfg)
	c, err := jumio.NewClient(cfg, jumio.WithTransport(srv.Transport()),
		jumio.WithTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))),
		jumio.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
	if err != nil {
		t.Fatal(err)
	}
	srv.Inject(jumiotest.Fault{Endpoints: []jumio.Endpoint{jumio.EndpointWorkflowDetails}, Status: 503})
	if _, _, err := c.WorkflowDetails(t.Context(), e.AccountID, e.ID); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range spans.Ended() {
		names = append(names, s.Name())
		if strings.Contains(s.Name(), e.ID) || strings.Contains(s.Name(), e.AccountID) {
			t.Errorf("span name %q holds an id", s.Name())
		}
	}
	if !containsAll(names, "jumio token", "jumio platform.details") {
		t.Errorf("span names %v, want jumio token and jumio platform.details", names)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	var rateLimit float64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch m.Name {
			case jumio.MetricRequests:
				for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
					ep, _ := dp.Attributes.Value("endpoint")
					st, _ := dp.Attributes.Value("status")
					got[ep.AsString()+" "+st.AsString()] += dp.Value
				}
			case jumio.MetricRateLimit:
				for _, dp := range m.Data.(metricdata.Gauge[float64]).DataPoints {
					if l, _ := dp.Attributes.Value("limiter"); l.AsString() == "retrieval" {
						rateLimit = dp.Value
					}
				}
			}
		}
	}
	want := map[string]int64{"token 200": 1, "platform.details 503": 1, "platform.details 200": 1}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d (all: %v)", jumio.MetricRequests, got[k], v, got)
		}
	}
	if rateLimit != cfg.RateLimit {
		t.Errorf("%s{limiter=retrieval} = %v, want %v", jumio.MetricRateLimit, rateLimit, cfg.RateLimit)
	}
}

func containsAll(have []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}
