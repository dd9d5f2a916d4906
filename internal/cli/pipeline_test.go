package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/internal/ingest/ingesttest"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// pipeline is "kycflow run" in this process, on a JetStream server of its
// own, talking to a Jumio simulator the test holds: the whole pipeline
// (ingest, enricher, notifier) with real parts, for commands run with
// Main against it.
type pipeline struct {
	t      *testing.T
	srv    *brokertest.Server
	js     jetstream.JetStream
	sim    *jumiotest.Server
	ingest string // base URL
	// vars is the environment of the commands: the NATS URL and the
	// simulator's Jumio credentials.
	vars map[string]string
}

// startPipeline runs "kycflow run --nats-url" against sim until the test
// ends.
func startPipeline(t *testing.T, sim *jumiotest.Server) *pipeline {
	t.Helper()
	return startPipelineWith(t, sim, nil)
}

// startPipelineWith is startPipeline with the variables of extra set for
// "kycflow run".
func startPipelineWith(t *testing.T, sim *jumiotest.Server, extra map[string]string) *pipeline {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the whole pipeline; runs without -short")
	}
	p := &pipeline{t: t, srv: brokertest.Start(t), sim: sim}
	_, p.js = p.srv.JetStream(t)
	addr := ingesttest.FreeAddr(t)
	p.ingest = "http://" + addr
	p.vars = jumioVars(sim)
	p.vars["KYCFLOW_NATS_URL"] = p.srv.URL()
	p.vars["KYCFLOW_DATA_DIR"] = t.TempDir()
	runVars := maps.Clone(p.vars)
	maps.Copy(runVars, map[string]string{
		"KYCFLOW_JUMIO_ACCOUNT_RATE_LIMIT":        "100",
		"KYCFLOW_JUMIO_RATE_LIMIT":                "200",
		"KYCFLOW_JUMIO_RATE_BURST":                "20",
		"KYCFLOW_ENRICHER_MIGRATION_CALLBACK_URL": p.ingest + "/callbacks/platform",
	})
	maps.Copy(runVars, extra)
	runInBackground(t, runVars, "--data-dir", t.TempDir(), "--addr", addr, "--nats-url", p.srv.URL(),
		"--enricher-addr", "127.0.0.1:0", "--notifier-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0")
	ingesttest.WaitReady(t, p.ingest)
	return p
}

// jumioVars is the environment that points kycflow at sim's default
// tenant: its URLs and credentials.
func jumioVars(sim *jumiotest.Server) map[string]string {
	jc := sim.ClientConfig(0)
	return map[string]string{
		"KYCFLOW_JUMIO_AUTH_URL":             sim.URL(),
		"KYCFLOW_JUMIO_ACCOUNT_URL":          sim.URL(),
		"KYCFLOW_JUMIO_RETRIEVAL_URL":        sim.URL(),
		"KYCFLOW_JUMIO_NETVERIFY_URL":        sim.URL(),
		"KYCFLOW_JUMIO_API_URL":              sim.URL(),
		"KYCFLOW_JUMIO_CLIENT_ID":            jc.ClientID,
		"KYCFLOW_JUMIO_CLIENT_SECRET":        jc.ClientSecret,
		"KYCFLOW_JUMIO_NETVERIFY_API_TOKEN":  jc.NetverifyAPIToken,
		"KYCFLOW_JUMIO_NETVERIFY_API_SECRET": jc.NetverifyAPISecret,
		"KYCFLOW_JUMIO_USER_AGENT":           jc.UserAgent,
	}
}

// runInBackground runs "kycflow run" with args in this process, with vars
// over JSON logs at warn and ingest's source-address check off, until
// stop is called or the test ends. stop fails the test unless the run
// exits 0; calling it again does nothing. The caller waits for readiness.
func runInBackground(t *testing.T, vars map[string]string, args ...string) (stop func()) {
	t.Helper()
	env := map[string]string{
		"KYCFLOW_LOG_FORMAT":             "json",
		"KYCFLOW_LOG_LEVEL":              "warn",
		"KYCFLOW_INGEST_CHECK_SOURCE_IP": "false",
	}
	maps.Copy(env, vars)
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	var out, errOut ingesttest.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, append([]string{"run"}, args...), func(k string) string { return env[k] }, nil, &out, &errOut)
	}()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("kycflow run: exit %d; stderr:\n%s", code, errOut.String())
		}
	}
	t.Cleanup(stop)
	return stop
}

// sendCallbacks posts sim's callbacks as opts says and returns them; it
// fails the test unless every one was answered 200.
func sendCallbacks(t *testing.T, sim *jumiotest.Server, opts jumiotest.CallbackOptions) []jumiotest.SentCallback {
	t.Helper()
	sent, err := sim.SendCallbacks(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sent {
		if s.Status != http.StatusOK {
			t.Fatalf("callback of %s: %d %v", s.Reference, s.Status, s.Err)
		}
	}
	return sent
}

// kycflow runs a command against the pipeline and returns its output; it
// fails the test unless the command exits with code.
func (p *pipeline) kycflow(ctx context.Context, code int, args ...string) string {
	p.t.Helper()
	var out, errOut bytes.Buffer
	if got := Main(ctx, args, func(k string) string { return p.vars[k] }, nil, &out, &errOut); got != code {
		p.t.Fatalf("kycflow %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), got, code, out.String(), errOut.String())
	}
	return out.String() + errOut.String()
}

// results returns the results in JUMIO_RESULTS.
func (p *pipeline) results() []events.Result {
	p.t.Helper()
	var out []events.Result
	for _, m := range brokertest.Messages(p.t, p.js, events.StreamResults) {
		var r events.Result
		if err := json.Unmarshal(m.Data, &r); err != nil {
			p.t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// eventually polls cond until it holds, failing after a generous deadline
// (a hung test, not a slow one).
func (p *pipeline) eventually(what string, cond func() bool) {
	p.t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			p.t.Fatalf("gave up waiting: %s", what)
		}
	}
}

// sendNetverify posts the simulator's Netverify callbacks to ingest and
// waits for their results.
func (p *pipeline) sendNetverify(refs []string) {
	p.t.Helper()
	before := len(p.results())
	sent := sendCallbacks(p.t, p.sim, jumiotest.CallbackOptions{
		NetverifyURL: p.ingest + "/callbacks/netverify", SkipPlatform: true, IDs: refs, Concurrency: 4})
	p.eventually("the Netverify results delivered", func() bool { return len(p.results()) >= before+len(sent) })
}

// newTestClient is a Jumio client of the simulator's default tenant.
func newTestClient(t *testing.T, sim *jumiotest.Server) *jumio.Client {
	t.Helper()
	c, err := jumio.NewClient(sim.ClientConfig(0), jumio.WithTransport(sim.Transport()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// writeInput writes content to a file of the test's own and returns its
// path.
func writeInput(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "input.txt")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
