package cli

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// runOnce runs "kycflow run" with free ports, the extra arguments and env,
// until it exits or ctx ends, and returns its exit status and outputs.
func runOnce(ctx context.Context, t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	base := []string{"run", "--addr", "127.0.0.1:0", "--enricher-addr", "127.0.0.1:0", "--notifier-addr", "127.0.0.1:0"}
	code := Main(ctx, append(base, args...), func(k string) string { return env[k] }, nil, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestRunConfigurationErrors: every problem of the configuration is
// reported before anything starts (no banner), once, one per line, naming
// the variable, its value and what it accepts.
func TestRunConfigurationErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want []string // stderr, line by line
	}{
		{"replicas not a number", map[string]string{"KYCFLOW_STREAM_REPLICAS": "abc"},
			[]string{"kycflow: configuration: KYCFLOW_STREAM_REPLICAS=abc: want an integer"}},
		{"negative concurrency", map[string]string{"KYCFLOW_ENRICHER_CONCURRENCY": "-1"},
			[]string{"kycflow: configuration: KYCFLOW_ENRICHER_CONCURRENCY=-1: want an integer of at least 1"}},
		{"replicas on the embedded server", map[string]string{"KYCFLOW_STREAM_REPLICAS": "3"},
			[]string{"kycflow: configuration: KYCFLOW_STREAM_REPLICAS=3: the embedded NATS server is a single node: want 1 (replicas need --nats-url with a JetStream cluster)"}},
		{"half the Jumio credentials", map[string]string{"KYCFLOW_JUMIO_CLIENT_ID": "client"},
			[]string{"kycflow: configuration: KYCFLOW_JUMIO_CLIENT_SECRET: KYCFLOW_JUMIO_CLIENT_ID is set but not KYCFLOW_JUMIO_CLIENT_SECRET: set both (the OAuth2 client of the Platform APIs) or neither"}},
		{"several", map[string]string{"KYCFLOW_INGEST_RATE_LIMIT": "fast", "KYCFLOW_JUMIO_REGION": "mars-1", "KYCFLOW_STREAM_STORAGE": "disk"},
			[]string{"kycflow: configuration:",
				"  KYCFLOW_STREAM_STORAGE=disk: want one of file, memory",
				"  KYCFLOW_INGEST_RATE_LIMIT=fast: want a number",
				"  KYCFLOW_JUMIO_REGION=mars-1: jumio: unknown region \"mars-1\" (want amer-1, emea-1 or apac-1)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runOnce(t.Context(), t, tc.env, "--data-dir", t.TempDir(), "--nats-listen", "127.0.0.1:0")
			if code != 1 || out != "" {
				t.Errorf("exit %d, stdout %q; want 1 and nothing printed", code, out)
			}
			if diff := cmp.Diff(tc.want, strings.Split(strings.TrimRight(errOut, "\n"), "\n")); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRunRefusesATakenPlace: a live "kycflow run" on the data directory,
// and a NATS address in use, are named as such at once, with the flag
// that gets around them.
func TestRunRefusesATakenPlace(t *testing.T) {
	t.Run("live run in the data directory", func(t *testing.T) {
		dir := t.TempDir()
		// The test's parent process stands in for the other run.
		if err := writeRunInfo(dir, runInfo{PID: os.Getppid(), StartedAt: time.Now(), NATSURL: "nats://127.0.0.1:4222", IngestURL: "http://127.0.0.1:8080"}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second) // a run that starts stops
		defer cancel()
		code, _, errOut := runOnce(ctx, t, nil, "--data-dir", dir, "--nats-listen", "127.0.0.1:0")
		if code != 1 || !strings.Contains(errOut, "kycflow run is already running from "+dir) || !strings.Contains(errOut, "--data-dir") {
			t.Errorf("exit %d, stderr %q; want a refusal naming the run", code, errOut)
		}
		if _, err := os.Stat(filepath.Join(dir, "jetstream")); err == nil {
			t.Errorf("a second JetStream store was started in the directory")
		}
	})
	t.Run("stale run.json", func(t *testing.T) {
		dir := t.TempDir()
		if err := writeRunInfo(dir, runInfo{PID: 1 << 30, NATSURL: "nats://127.0.0.1:4222"}); err != nil {
			t.Fatal(err)
		}
		if _, ok := liveRun(dir); ok {
			t.Errorf("a run.json of a process that is gone counts as a live run")
		}
	})
	t.Run("NATS address in use", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second) // not the server's 10 s start timeout
		defer cancel()
		code, _, errOut := runOnce(ctx, t, nil, "--data-dir", t.TempDir(), "--nats-listen", ln.Addr().String())
		want := fmt.Sprintf("kycflow: embedded NATS server: %s is in use", ln.Addr())
		if code != 1 || !strings.HasPrefix(errOut, want) || !strings.Contains(errOut, "--nats-listen") || ctx.Err() != nil {
			t.Errorf("exit %d, stderr %q; want %q naming --nats-listen", code, errOut, want)
		}
	})
}
