package bench

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// report is one run's report with the given fixed-rate p99 per mode.
func report(target float64, p99s map[string]float64) *E2EReport {
	r := &E2EReport{TargetP99Ms: target}
	for _, mode := range []string{"processes", "run", "cluster"} {
		p, ok := p99s[mode]
		if !ok {
			continue
		}
		r.Results = append(r.Results, E2EResult{Mode: mode, Phases: []Phase{
			{Name: "fixed", Latency: Percentiles{P99: p}},
			{Name: "saturation", Latency: Percentiles{P99: 10 * p}},
		}})
	}
	return r
}

// TestE2ESeries: the series keeps each single-node mode's fixed-rate p99
// run by run (the cluster is compared, not judged); the target is met only
// when every run meets it, and a run that did not measure a mode counts
// as a miss.
func TestE2ESeries(t *testing.T) {
	var s E2ESeries
	s.Add(report(70, map[string]float64{"processes": 41.7, "run": 34.9, "cluster": 90}))
	s.Add(report(70, map[string]float64{"processes": 70, "run": 37.4}))
	s.Add(report(70, map[string]float64{"processes": 46.6, "run": 38.2}))
	if got, want := s.FixedP99Ms["processes"], []float64{41.7, 70, 46.6}; !slices.Equal(got, want) {
		t.Errorf("processes %v, want %v", got, want)
	}
	if _, ok := s.FixedP99Ms["cluster"]; ok {
		t.Error("the cluster's p99 is judged; it is only compared")
	}
	if m := s.Missed(); len(m) != 0 {
		t.Errorf("missed %v; every p99 is within 70 ms", m)
	}

	s.Add(report(70, map[string]float64{"processes": 70.1}))
	if got, want := s.Over(), map[string]int{"processes": 1, "run": 1}; len(got) != 2 || got["processes"] != want["processes"] || got["run"] != want["run"] {
		t.Errorf("over %v, want %v (a p99 of 70.1 ms, a run without mode run)", got, want)
	}
	want := []string{"processes: p99 over 70 ms in 1 of 4 runs", "run: p99 over 70 ms in 1 of 4 runs"}
	if got := s.Missed(); !slices.Equal(got, want) {
		t.Errorf("missed %v, want %v", got, want)
	}

	var b bytes.Buffer
	s.Write(&b)
	for _, line := range []string{"4 consecutive runs; target <= 70 ms in every run", "processes  41.7, 70.0, 46.6, 70.1 ms: 3 of 4 under the target"} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("printed\n%s\nwithout %q", b.String(), line)
		}
	}
}
