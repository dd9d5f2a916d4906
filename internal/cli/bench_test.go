package cli

import (
	"bytes"
	"strings"
	"testing"
)

// TestBenchUsage: bench refuses unknown targets, modes and sync settings,
// and a soak with too few samples after its warm-up, before it builds or
// starts anything, and its help names every target.
func TestBenchUsage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"help", []string{"bench", "--help"}, 0, "bench e2e", ""},
		{"unknown target", []string{"bench", "everything"}, 2, "", `unknown target "everything"`},
		{"two targets", []string{"bench", "e2e", "ingest"}, 2, "", "unknown target"},
		{"unknown mode", []string{"bench", "e2e", "--modes", "processes,threads"}, 2, "", `unknown mode "threads"`},
		{"unknown sync", []string{"bench", "e2e", "--nats-sync", "sometimes"}, 2, "", "--nats-sync"},
		{"no run", []string{"bench", "e2e", "--e2e-runs", "0"}, 2, "", "--e2e-runs: want at least 1"},
		{"unknown store", []string{"bench", "ingest", "--sync", "default,tape"}, 2, "", `--sync: unknown store "tape"`},
		{"help names the soak", []string{"bench", "--help"}, 0, "bench soak", ""},
		{"soak warm-up as long as the run", []string{"bench", "soak", "--soak-duration", "1m", "--soak-warmup", "1m"}, 2, "", "warm-up"},
		{"soak too few samples after the warm-up", []string{"bench", "soak", "--soak-duration", "65s", "--soak-warmup", "1m", "--soak-interval", "2s"}, 2, "", "three sampling intervals"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Main(t.Context(), tc.args, noEnv, nil, &out, &errOut)
			if code != tc.code {
				t.Errorf("exit: got %d, want %d (stderr %q)", code, tc.code, errOut.String())
			}
			if !strings.Contains(out.String(), tc.stdout) {
				t.Errorf("stdout: got %q, want it to contain %q", out.String(), tc.stdout)
			}
			if !strings.Contains(errOut.String(), tc.stderr) {
				t.Errorf("stderr: got %q, want it to contain %q", errOut.String(), tc.stderr)
			}
		})
	}
}
