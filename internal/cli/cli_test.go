package cli

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kycflow/kycflow/internal/bench"
	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/internal/ingest/ingesttest"
	"github.com/kycflow/kycflow/pkg/events"
)

func noEnv(string) string { return "" }

func TestMainUsage(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		stdout   string // substring
		stderrRE string // substring of stderr
	}{
		{"no command", nil, 2, "Commands:", "no command given"},
		{"help", []string{"--help"}, 0, "kycflow run", ""},
		{"help word", []string{"help", "run"}, 0, "Example:", ""},
		{"command help", []string{"run", "--help"}, 0, "--data-dir", ""},
		{"command -h", []string{"run", "-h"}, 0, "Example:", ""},
		{"unknown command", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"unknown flag", []string{"run", "--nope"}, 2, "", "flag provided but not defined"},
		{"extra argument", []string{"run", "extra"}, 2, "", "unexpected argument"},
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
			if !strings.Contains(errOut.String(), tc.stderrRE) {
				t.Errorf("stderr: got %q, want it to contain %q", errOut.String(), tc.stderrRE)
			}
			if n := strings.Count(errOut.String(), "kycflow:"); n > 1 {
				t.Errorf("stderr: %d error lines, want at most 1", n)
			}
		})
	}
}

// TestRunStoresAndKeepsData: "kycflow run" prints the callback URLs and the
// checks that are off, stores a callback from loopback, stops cleanly when
// its context ends, and leaves the callback in --data-dir.
func TestRunStoresAndKeepsData(t *testing.T) {
	dataDir := t.TempDir()
	addr := ingesttest.FreeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	var out, errOut ingesttest.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"run", "--data-dir", dataDir, "--addr", addr, "--nats-listen", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--enricher-addr", "127.0.0.1:0", "--notifier-addr", "127.0.0.1:0"},
			func(k string) string {
				if k == "KYCFLOW_LOG_FORMAT" {
					return "json"
				}
				return ""
			}, nil, &out, &errOut)
	}()
	client := &http.Client{Timeout: 10 * time.Second}
	cb := bench.PlatformCallback(t.Name(), 1)
	var status int
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := client.Post("http://"+addr+"/callbacks/platform", cb.ContentType, bytes.NewReader(cb.Body))
		if err != nil {
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		status = resp.StatusCode
		break
	}
	if status != http.StatusOK {
		t.Fatalf("callback: got %d, want 200; stderr:\n%s", status, errOut.String())
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit: got %d, want 0; stderr:\n%s", code, errOut.String())
	}
	for _, want := range []string{"http://" + addr + "/callbacks/platform", "http://" + addr + "/callbacks/netverify", "SENDER CHECKS OFF", "KYCFLOW_INGEST_CHECK_SOURCE_IP=false"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, out.String())
		}
	}

	// Memory storage on the file streams it left is refused before the
	// banner, saying what to do.
	code, out2, errOut2 := runOnce(t.Context(), t, map[string]string{"KYCFLOW_STREAM_STORAGE": "memory"}, "--data-dir", dataDir, "--nats-listen", "127.0.0.1:0")
	if want := "kycflow: configuration: KYCFLOW_STREAM_STORAGE=memory: JetStream cannot change the storage of a stream that exists: JUMIO_CALLBACKS exists with file storage. Set KYCFLOW_STREAM_STORAGE=file again"; code != 1 || out2 != "" || !strings.HasPrefix(errOut2, want) {
		t.Errorf("storage change: exit %d, stdout %q, stderr %q; want %q…", code, out2, errOut2, want)
	}

	// The data outlives the process.
	srv := brokertest.Start(t, brokertest.WithStoreDir(filepath.Join(dataDir, "jetstream")))
	_, js := srv.JetStream(t)
	msgs := brokertest.Messages(t, js, events.StreamCallbacks)
	if len(msgs) != 1 || !strings.Contains(msgs[0].Subject, cb.ExecutionID) {
		t.Errorf("stored after exit: got %d messages, want the one callback", len(msgs))
	}
}

// TestRunKeepsExplicitChecks: an explicit KYCFLOW_INGEST_CHECK_SOURCE_IP
// wins over run's relaxed default, and the secret is never printed.
func TestRunKeepsExplicitChecks(t *testing.T) {
	addr := ingesttest.FreeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	var out, errOut ingesttest.SyncBuffer
	done := make(chan int, 1)
	secret := "s3cr3t-segment-0123456789"
	go func() {
		done <- Main(ctx, []string{"run", "--data-dir", t.TempDir(), "--addr", addr, "--nats-listen", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--enricher-addr", "127.0.0.1:0", "--notifier-addr", "127.0.0.1:0"},
			func(k string) string {
				return map[string]string{
					"KYCFLOW_INGEST_CHECK_SOURCE_IP": "true",
					"KYCFLOW_INGEST_PATH_SECRET":     secret,
					"KYCFLOW_LOG_FORMAT":             "json",
				}[k]
			}, nil, &out, &errOut)
	}()
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(out.String(), "Ctrl-C") && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit: got %d; stderr:\n%s", code, errOut.String())
	}
	if strings.Contains(out.String()+errOut.String(), secret) {
		t.Errorf("the path secret was printed")
	}
	if strings.Contains(out.String(), "source address") {
		t.Errorf("banner says the source check is off:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "/callbacks/platform/<KYCFLOW_INGEST_PATH_SECRET>") {
		t.Errorf("banner lacks the secret placeholder:\n%s", out.String())
	}
}

// TestRunExternalNATS: with --nats-url "kycflow run" starts no server of
// its own and stores callbacks in the one it is given.
func TestRunExternalNATS(t *testing.T) {
	srv := brokertest.Start(t)
	addr := ingesttest.FreeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	var out, errOut ingesttest.SyncBuffer
	done := make(chan int, 1)
	dir := t.TempDir()
	go func() {
		done <- Main(ctx, []string{"run", "--data-dir", dir, "--addr", addr, "--nats-url", srv.URL(),
			"--admin-addr", "127.0.0.1:0", "--enricher-addr", "127.0.0.1:0", "--notifier-addr", "127.0.0.1:0"},
			func(k string) string { return map[string]string{"KYCFLOW_LOG_FORMAT": "json"}[k] }, nil, &out, &errOut)
	}()
	ingesttest.WaitReady(t, "http://"+addr)
	cb := bench.PlatformCallback(t.Name(), 1)
	resp, err := http.Post("http://"+addr+"/callbacks/platform", cb.ContentType, bytes.NewReader(cb.Body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	if code := <-done; code != 0 || resp.StatusCode != http.StatusOK {
		t.Fatalf("callback %d, exit %d; stderr:\n%s", resp.StatusCode, code, errOut.String())
	}
	if !strings.Contains(out.String(), "(external)") {
		t.Errorf("banner does not say the server is external:\n%s", out.String())
	}
	_, js := srv.JetStream(t)
	if n := len(brokertest.Messages(t, js, events.StreamCallbacks)); n != 1 {
		t.Errorf("callbacks in the external server: got %d, want 1", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "jetstream")); err == nil {
		t.Errorf("an embedded store was created")
	}
}

// TestHelpLayout: the command list is aligned whatever the longest name,
// and every command's flags read as the documentation writes them, with
// their default said once.
func TestHelpLayout(t *testing.T) {
	var out bytes.Buffer
	Main(t.Context(), []string{"--help"}, noEnv, nil, &out, io.Discard)
	_, list, _ := strings.Cut(out.String(), "Commands:\n")
	list, _, _ = strings.Cut(list, "\n\n")
	column := -1
	for _, l := range strings.Split(list, "\n") {
		name := strings.Fields(l)[0]
		col := len(l) - len(strings.TrimLeft(strings.TrimPrefix(l, "  "+name), " ")) // where the summary starts
		if column == -1 {
			column = col
		}
		if col != column {
			t.Errorf("summary of %s starts at column %d, want %d:\n%s", name, col, column, list)
		}
	}
	for _, c := range commands {
		var b bytes.Buffer
		_ = c.help(&b)
		for _, l := range strings.Split(b.String(), "\n") {
			if strings.Count(l, "(default") > 1 {
				t.Errorf("%s --help says the default twice: %q", c.Name, l)
			}
			if strings.HasPrefix(l, "  -") && !strings.HasPrefix(l, "  --") {
				t.Errorf("%s --help: flag %q, want --name", c.Name, l)
			}
		}
	}
	for n, want := range map[int]string{0: "0 dead letters", 1: "1 dead letter", 2: "2 dead letters"} {
		if got := count(n, "dead letter"); got != want {
			t.Errorf("count(%d): got %q, want %q", n, got, want)
		}
	}
}
