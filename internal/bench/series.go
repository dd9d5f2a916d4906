package bench

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/kycflow/kycflow/internal/bench/rig"
)

// E2ESeries is the end-to-end benchmark run several times in a row
// ("kycflow bench e2e --e2e-runs N"): per single-node mode, the p99 at
// the fixed rate of every run, in order. The p99 target counts as met
// only when every run meets it: one run says little on a machine whose
// figures move by a quarter from run to run.
type E2ESeries struct {
	TargetP99Ms float64 `json:"targetP99Ms"`
	Runs        int     `json:"runs"`
	// FixedP99Ms holds, per mode, the p99 at the fixed rate of each run
	// in ms (0 for a run that did not measure the mode).
	FixedP99Ms map[string][]float64 `json:"fixedP99MsByMode"`
}

// Add appends one run's report.
func (s *E2ESeries) Add(r *E2EReport) {
	if s.FixedP99Ms == nil {
		s.FixedP99Ms = map[string][]float64{}
	}
	s.TargetP99Ms = r.TargetP99Ms
	s.Runs++
	for _, res := range r.Results {
		if res.Mode == string(rig.ModeCluster) || res.Skipped != "" {
			continue
		}
		p99s := s.FixedP99Ms[res.Mode]
		for len(p99s) < s.Runs-1 {
			p99s = append(p99s, 0) // earlier runs without this mode
		}
		for _, ph := range res.Phases {
			if ph.Name == "fixed" {
				p99s = append(p99s, ph.Latency.P99)
			}
		}
		s.FixedP99Ms[res.Mode] = p99s
	}
}

// Over returns, per mode, how many runs missed the p99 target (a run that
// did not measure the mode counts as a miss).
func (s *E2ESeries) Over() map[string]int {
	over := map[string]int{}
	for mode, p99s := range s.FixedP99Ms {
		over[mode] = s.Runs - len(p99s)
		for _, p := range p99s {
			if p <= 0 || p > s.TargetP99Ms {
				over[mode]++
			}
		}
	}
	return over
}

// Missed lists the modes whose p99 missed the target in at least one run.
func (s *E2ESeries) Missed() []string {
	var missed []string
	for mode, n := range s.Over() {
		if n > 0 {
			missed = append(missed, fmt.Sprintf("%s: p99 over %.0f ms in %d of %d runs", mode, s.TargetP99Ms, n, s.Runs))
		}
	}
	slices.Sort(missed)
	return missed
}

// Write prints the p99s of the runs per mode and how many met the target.
func (s *E2ESeries) Write(w io.Writer) {
	fmt.Fprintf(w, "\np99 at the fixed rate, run by run (%d consecutive runs; target <= %.0f ms in every run)\n", s.Runs, s.TargetP99Ms)
	over := s.Over()
	for _, mode := range slices.Sorted(maps.Keys(s.FixedP99Ms)) {
		var b strings.Builder
		for i, p := range s.FixedP99Ms[mode] {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%.1f", p)
		}
		fmt.Fprintf(w, "%-10s %s ms: %d of %d under the target\n", mode, b.String(), s.Runs-over[mode], s.Runs)
	}
}
