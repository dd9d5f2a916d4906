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
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/internal/broker/embedded"
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
		{"store key too short", map[string]string{"KYCFLOW_NATS_STORE_KEY": "0123456789"},
			[]string{"kycflow: configuration: KYCFLOW_NATS_STORE_KEY: want a key of at least 32 bytes, random (openssl rand -base64 48)"}},
		{"previous store key alone", map[string]string{"KYCFLOW_NATS_STORE_PREVIOUS_KEY": testStoreKey},
			[]string{"kycflow: configuration: KYCFLOW_NATS_STORE_PREVIOUS_KEY: set it together with KYCFLOW_NATS_STORE_KEY, the new key"}},
		{"unknown store cipher", map[string]string{"KYCFLOW_NATS_STORE_KEY": testStoreKey, "KYCFLOW_NATS_STORE_CIPHER": "des"},
			[]string{"kycflow: configuration: KYCFLOW_NATS_STORE_CIPHER=des: want one of chacha, aes"}},
		// The notifier's and the reconciler's own checks, before the
		// banner (they came after it, once the stages had started).
		{"deliveries TTL below the results' retention", map[string]string{"KYCFLOW_NOTIFIER_DELIVERIES_TTL": "7d"},
			[]string{"kycflow: notifier: invalid configuration: deliveries TTL 7d (KYCFLOW_NOTIFIER_DELIVERIES_TTL) is shorter than the retention of JUMIO_ENRICHED, 30d (KYCFLOW_STREAM_ENRICHED_MAX_AGE): keep it at least as long"}},
		{"reconcile recheck above its maximum", map[string]string{"KYCFLOW_RECONCILE_RECHECK": "2h", "KYCFLOW_RECONCILE_MAX_RECHECK": "1h"},
			[]string{"kycflow: enricher: invalid configuration: max recheck (KYCFLOW_RECONCILE_MAX_RECHECK) must not be below recheck (KYCFLOW_RECONCILE_RECHECK)"}},
		{"zero read as the default", map[string]string{"KYCFLOW_NOTIFIER_ACK_WAIT": "0"},
			[]string{"kycflow: configuration: KYCFLOW_NOTIFIER_ACK_WAIT=0: want a duration above zero, such as 500ms, 30s or 5m"}},
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

// TestRunStoreKeyErrors: a store the store key settings do not fit is
// refused before the embedded server starts, with an error that names
// the variable to set and never the key; a key meant for an external
// server is refused rather than ignored.
func TestRunStoreKeyErrors(t *testing.T) {
	other := strings.Repeat("k", 40)
	for _, tc := range []struct {
		name    string
		written string            // the store was written with this key
		env     map[string]string // kycflow run starts with these
		want    []string          // in stderr
	}{
		{"encrypted store, no key", testStoreKey, nil,
			[]string{"is encrypted (streams KYC)", "KYCFLOW_NATS_STORE_KEY is not set"}},
		{"plain store, a key", "", map[string]string{"KYCFLOW_NATS_STORE_KEY": testStoreKey},
			[]string{"KYCFLOW_NATS_STORE_KEY is set", "written without encryption (streams KYC)", "KYCFLOW_NATS_STORE_ENCRYPT_EXISTING=true"}},
		{"another key", testStoreKey, map[string]string{"KYCFLOW_NATS_STORE_KEY": other},
			[]string{"KYCFLOW_NATS_STORE_KEY does not open the store", "(streams KYC): it was written with another key"}},
		{"another key, another previous key", testStoreKey, map[string]string{"KYCFLOW_NATS_STORE_KEY": other, "KYCFLOW_NATS_STORE_PREVIOUS_KEY": other + "x"},
			[]string{"neither KYCFLOW_NATS_STORE_KEY nor KYCFLOW_NATS_STORE_PREVIOUS_KEY opens the store"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeKYCStream(t, filepath.Join(dir, "jetstream"), tc.written)
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			code, out, errOut := runOnce(ctx, t, tc.env, "--data-dir", dir, "--nats-listen", "127.0.0.1:0")
			if code != 1 || out != "" {
				t.Errorf("exit %d, stdout %q; want 1 and nothing printed", code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			for _, key := range []string{testStoreKey, other} {
				if strings.Contains(errOut, key) {
					t.Errorf("stderr holds a key:\n%s", errOut)
				}
			}
		})
	}
	t.Run("external server", func(t *testing.T) {
		code, _, errOut := runOnce(t.Context(), t, map[string]string{"KYCFLOW_NATS_STORE_KEY": testStoreKey},
			"--data-dir", t.TempDir(), "--nats-url", "nats://127.0.0.1:1")
		if want := "KYCFLOW_NATS_STORE_KEY: encrypts the store of the embedded NATS server"; code != 1 || !strings.Contains(errOut, want) {
			t.Errorf("exit %d, stderr %q; want 1 and %q", code, errOut, want)
		}
	})
}

// writeKYCStream makes stream KYC with one message in a JetStream store
// in storeDir, encrypted with key when it is set.
func writeKYCStream(t *testing.T, storeDir, key string) {
	t.Helper()
	s, err := embedded.Run(embedded.Config{StoreDir: storeDir, Port: -1, StoreKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	js := brokertest.Connect(t, s.URL())
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "KYC", Subjects: []string{"kyc.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(t.Context(), "kyc.a", []byte("x")); err != nil {
		t.Fatal(err)
	}
}
