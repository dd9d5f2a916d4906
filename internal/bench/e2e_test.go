package bench

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestRunE2ESmoke runs the three modes briefly: each must complete with a
// balanced ledger and results in both phases (figures are not asserted).
// The report must render them and compare the cluster with the single
// node.
func TestRunE2ESmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries and runs load for a few seconds")
	}
	dir := t.TempDir()
	bins := testBinaries(t)
	opts := E2EOptions{Rate: 50, Duration: time.Second, Saturation: 150, Concurrency: 8, Dir: dir, Binaries: &bins, Progress: testWriter{t}}
	if os.Getenv("KYCFLOW_TEST_LOG") != "" {
		opts.Log = os.Stderr
	}
	res, err := RunE2E(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 {
		t.Fatalf("got %d results, want one per mode", len(res))
	}
	for _, r := range res {
		switch {
		case r.Skipped != "":
			t.Errorf("%s skipped: %s", r.Mode, r.Skipped)
		case r.LedgerError != "":
			t.Errorf("%s: %s", r.Mode, r.LedgerError)
		case len(r.Phases) != 2 || r.Phases[0].Delivered == 0 || r.Phases[1].Delivered == 0:
			t.Errorf("%s: phases %+v", r.Mode, r.Phases)
		}
	}
	var b strings.Builder
	NewE2EReport(opts, res).Write(&b, ThisMachine())
	t.Log("\n" + b.String())
	rep := NewE2EReport(opts, res)
	if c := rep.Cluster; c == nil || c.ThroughputRatio <= 0 || c.P99Ratio <= 0 {
		t.Errorf("cluster vs single node: %+v, want both ratios", rep.Cluster)
	}
	for _, want := range []string{"processes", "run", "cluster", "fixed", "saturation", "balanced", "vs single node"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the report does not mention %q", want)
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
