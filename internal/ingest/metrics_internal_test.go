package ingest

import (
	"testing"

	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// TestOutcomeLabels: the (api, outcome) sets found by index are those of
// the map, for every label value and for one outside them.
func TestOutcomeLabels(t *testing.T) {
	m, err := newMetrics(sdkmetric.NewMeterProvider())
	if err != nil {
		t.Fatal(err)
	}
	for _, api := range append(metricLabelValues["api"], "other") {
		for _, outcome := range append(metricLabelValues["outcome"], "other") {
			got := metric.NewAddConfig(m.outcomeLabels(api, outcome).add).Attributes()
			want := metric.NewAddConfig(m.labelsOf(api, "outcome", outcome).add).Attributes()
			if !got.Equals(&want) {
				t.Errorf("(%s, %s): got %v, want %v", api, outcome, got.ToSlice(), want.ToSlice())
			}
		}
	}
}

// TestInFlightObserved: kycflow_ingest_in_flight_requests reads the
// requests being handled when collected.
func TestInFlightObserved(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	m, err := newMetrics(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	if err != nil {
		t.Fatal(err)
	}
	m.inFlightAdd(1)
	m.inFlightAdd(1)
	m.inFlightAdd(-1)
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, md := range sm.Metrics {
			if md.Name != "kycflow_ingest_in_flight_requests" {
				continue
			}
			sum, ok := md.Data.(metricdata.Sum[int64])
			if !ok || len(sum.DataPoints) != 1 || sum.IsMonotonic {
				t.Fatalf("got %#v, want one non-monotonic sum", md.Data)
			}
			if got := sum.DataPoints[0].Value; got != 1 {
				t.Errorf("got %d in flight, want 1", got)
			}
			return
		}
	}
	t.Error("kycflow_ingest_in_flight_requests not collected")
}
