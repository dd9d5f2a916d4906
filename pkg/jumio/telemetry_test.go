package jumio_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// TestTelemetryCarriesNoPersonalDataOrCredentials: span names and metric
// attributes hold no ids (they are low-cardinality: endpoint and status);
// span attributes, events and statuses hold neither personal data from
// the response nor credentials, and ids only in url.full (the request
// URL: spans carry ids, never personal data; see
// docs/architecture.md#failure-rules).
func TestTelemetryCarriesNoPersonalDataOrCredentials(t *testing.T) {
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
	details, _, err := c.WorkflowDetails(t.Context(), e.AccountID, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{e.ID, e.AccountID}
	secrets := []string{cfg.ClientSecret, "Bearer", "Basic"}
	personal := personalValues(t, details)
	var names []string
	for _, s := range spans.Ended() {
		names = append(names, s.Name())
		for _, id := range ids {
			if strings.Contains(s.Name(), id) {
				t.Errorf("span name %q holds an id", s.Name())
			}
		}
		var texts []string
		for _, a := range s.Attributes() {
			v := a.Value.String()
			texts = append(texts, string(a.Key)+"="+v)
			if a.Key != "url.full" && containsAny(v, ids...) {
				t.Errorf("span %s: attribute %s holds an id", s.Name(), a.Key)
			}
		}
		for _, ev := range s.Events() {
			texts = append(texts, ev.Name)
			for _, a := range ev.Attributes {
				texts = append(texts, string(a.Key)+"="+a.Value.String())
			}
		}
		texts = append(texts, s.Status().Description)
		for _, txt := range texts {
			if containsAny(txt, personal...) || containsAny(txt, secrets...) {
				t.Errorf("span %s carries personal data or a credential: %s", s.Name(), txt)
			}
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
			for _, set := range attributeSets(m.Data) {
				for _, kv := range set.ToSlice() {
					if v := kv.Value.String(); containsAny(v, ids...) || containsAny(v, personal...) {
						t.Errorf("metric %s: attribute %s=%s holds an id or personal data", m.Name, kv.Key, v)
					}
				}
			}
			if strings.HasPrefix(m.Name, "http.client.") {
				t.Errorf("metric %s: the client's own metrics count its requests", m.Name)
			}
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

// personalValues returns the personal values of workflow details: the
// extracted names, dates and numbers, and the image links.
func personalValues(t *testing.T, d *wire.WorkflowDetails) []string {
	t.Helper()
	var out []string
	for _, entry := range d.Capabilities["extraction"] {
		var x wire.ExtractionData
		if err := json.Unmarshal(entry.Data, &x); err != nil {
			t.Fatal(err)
		}
		for _, v := range []wire.String{x.FirstName, x.LastName, x.DateOfBirth, x.DocumentNumber, x.ExpiryDate} {
			if len(v) >= 4 {
				out = append(out, string(v))
			}
		}
	}
	for _, c := range d.Credentials {
		for _, p := range c.Parts {
			if p.Href != "" {
				out = append(out, p.Href)
			}
		}
	}
	if len(out) < 3 {
		t.Fatalf("the details hold %d personal values; want names and image links to look for", len(out))
	}
	return out
}

// attributeSets returns the attribute sets of a metric's data points,
// whatever the aggregation (each has DataPoints with Attributes).
func attributeSets(data metricdata.Aggregation) []attribute.Set {
	var out []attribute.Set
	dps := reflect.ValueOf(data).FieldByName("DataPoints")
	for i := range dps.Len() {
		out = append(out, dps.Index(i).FieldByName("Attributes").Interface().(attribute.Set))
	}
	return out
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if sub != "" && strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
