package faultsuite

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kycflow/kycflow/internal/bench/rig"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

var (
	binDir    string
	buildOnce sync.Once
	bins      rig.Binaries
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kycflow-faultsuite-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// binaries builds the programs once per run of the suite.
func binaries(t *testing.T) rig.Binaries {
	t.Helper()
	buildOnce.Do(func() {
		start := time.Now()
		bins, buildErr = rig.Build(context.Background(), rig.BuildConfig{Dir: binDir, Race: raceEnabled})
		t.Logf("built the binaries (race detector %v) in %s", raceEnabled, time.Since(start).Round(100*time.Millisecond))
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return bins
}

// Routes of every world: every result to JUMIO_RESULTS, every result to
// webhook hook-a, and only rejections and warnings to webhook hook-b.
var defaultRoutes = []rig.Route{
	{Name: "results", Policy: events.PolicyFull},
	{Name: "hook-a", Webhook: true, Policy: events.PolicyNoPII},
	{Name: "hook-b", Webhook: true, Policy: events.PolicyDecisionOnly, Filter: "{decision: [REJECTED, WARNING]}"},
}

// faultEnv shortens what a fault waits for, so that the suite is quick:
// redelivery after a dead process in 2 s instead of 30 s, transient
// retries from 100 ms to 1 s instead of 1 s to 5 min (with a budget that
// outlasts every outage here), and shorter drains. The simulator enforces
// no budget unless a case sets one, so the enricher's Jumio rate limit is
// raised from Jumio's 15/s.
var faultEnv = map[string]string{
	"KYCFLOW_JUMIO_RATE_LIMIT":                "500",
	"KYCFLOW_JUMIO_RATE_BURST":                "50",
	"KYCFLOW_ENRICHER_ACK_WAIT":               "2s",
	"KYCFLOW_NOTIFIER_ACK_WAIT":               "2s",
	"KYCFLOW_ENRICHER_RETRY_INITIAL_INTERVAL": "100ms",
	"KYCFLOW_ENRICHER_RETRY_MAX_INTERVAL":     "1s",
	"KYCFLOW_ENRICHER_RETRY_MAX_ATTEMPTS":     "1000",
	"KYCFLOW_ENRICHER_DRAIN_TIMEOUT":          "5s",
	"KYCFLOW_NOTIFIER_DRAIN_TIMEOUT":          "5s",
	"KYCFLOW_JUMIO_TIMEOUT":                   "5s",
}

// worldConfig varies a world.
type worldConfig struct {
	// scenario is what the simulator generates.
	scenario jumiotest.Scenario
	// budget is the simulator's request budget per second (0: none).
	budget float64
	// latency is the simulator's latency per request.
	latency time.Duration
	// env is added to faultEnv.
	env map[string]string
}

// world is one case's pipeline: the simulator behind a gate, the
// processes, the receiver.
type world struct {
	t     *testing.T
	sim   *jumiotest.Server
	jumio *rig.Gate
	p     *rig.Pipeline
}

func newWorld(t *testing.T, cfg worldConfig) *world {
	t.Helper()
	if testing.Short() {
		t.Skip("the fault suite runs processes for minutes")
	}
	b := binaries(t)
	w := &world{t: t}
	w.sim = jumiotest.NewServer(jumiotest.Config{Scenario: cfg.scenario, Budget: cfg.budget, Latency: cfg.latency})
	t.Cleanup(w.sim.Close)
	var err error
	if w.jumio, err = rig.NewGate(strings.TrimPrefix(w.sim.URL(), "http://")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.jumio.Close)
	jc := w.sim.ClientConfig(0)
	u := w.jumio.URL()
	jc.Hosts.Auth, jc.Hosts.Account, jc.Hosts.API, jc.Hosts.Retrieval, jc.Hosts.Netverify = u, u, u, u, u
	env := map[string]string{}
	for k, v := range faultEnv {
		env[k] = v
	}
	for k, v := range cfg.env {
		env[k] = v
	}
	var log io.Writer
	if os.Getenv("KYCFLOW_TEST_LOG") != "" {
		log = os.Stderr
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	w.p, err = rig.StartPipeline(ctx, rig.PipelineConfig{
		Mode: rig.ModeProcesses, Binaries: b, Dir: t.TempDir(), SyncAlways: true,
		Jumio: jc, Routes: defaultRoutes, Env: env, Log: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		callbackClient.CloseIdleConnections()
		if err := w.p.Close(); err != nil {
			t.Errorf("stopping the pipeline: %v", err)
		}
		for _, proc := range w.p.Processes() {
			for _, r := range proc.Reports() {
				t.Errorf("%s reported: %s", proc.Name(), r)
			}
		}
	})
	return w
}

// callbackClient posts callbacks as Jumio would, with a timeout of its
// own.
var callbackClient = &http.Client{Timeout: 30 * time.Second}

// send posts the simulator's callbacks to ingest with o.
func (w *world) send(ctx context.Context, o jumiotest.CallbackOptions) []jumiotest.SentCallback {
	o.URL = w.p.CallbackURL(events.APIPlatform)
	o.NetverifyURL = w.p.CallbackURL(events.APINetverify)
	o.Client = callbackClient
	sent, err := w.sim.SendCallbacks(ctx, o)
	if err != nil {
		w.t.Errorf("sending callbacks: %v", err)
	}
	return sent
}

// resend posts again, once, the callbacks that were not answered 200, as
// a sender that retries does; it returns the new posts.
func (w *world) resend(ctx context.Context, sent []jumiotest.SentCallback) []jumiotest.SentCallback {
	var ids []string
	seen := map[string]bool{}
	for _, s := range sent {
		if (s.Err != nil || s.Status != http.StatusOK) && !seen[s.Reference] {
			seen[s.Reference] = true
			ids = append(ids, s.Reference)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	return w.send(ctx, jumiotest.CallbackOptions{IDs: ids, Concurrency: 4})
}

// settle waits until the pipeline has worked off its input.
func (w *world) settle() time.Duration {
	w.t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if err := w.p.Settle(ctx); err != nil {
		w.dump()
		w.t.Fatal(err)
	}
	return time.Since(start)
}

// ledger audits the run and fails the test when it does not balance.
func (w *world) ledger(sent []jumiotest.SentCallback, allowSameIDRepeats bool) *rig.Ledger {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l, err := w.p.Audit(ctx, rig.AuditInput{Sent: sent, AllowSameIDRepeats: allowSameIDRepeats})
	if l != nil {
		var b strings.Builder
		l.Write(&b)
		w.t.Log("\n" + b.String())
	}
	if err != nil {
		w.t.Errorf("ledger: %v", err)
	}
	if l != nil && l.Accepted == 0 {
		w.t.Error("ledger: no callback was accepted")
	}
	return l
}

// dump logs the last output of every process.
func (w *world) dump() {
	for _, proc := range w.p.Processes() {
		w.t.Logf("%s, last output:\n%s", proc.Name(), proc.Tail())
	}
}

// figure logs a figure of the case.
func (w *world) figure(format string, args ...any) {
	w.t.Helper()
	w.t.Logf("figure: "+format, args...)
}

// metric sums a metric of a process (0 when it cannot be read).
func (w *world) metric(proc *rig.Process, name string, labels map[string]string) float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := proc.Metric(ctx, name, labels)
	if err != nil {
		w.t.Logf("metric %s: %v", name, err)
	}
	return v
}

// unacked is how many messages a durable consumer has delivered and not
// had acknowledged (-1 when it cannot be read).
func (w *world) unacked(stream, durable string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := w.p.JetStream().Consumer(ctx, stream, durable)
	if err != nil {
		return -1
	}
	info, err := c.Info(ctx)
	if err != nil {
		return -1
	}
	return info.NumAckPending
}

// unackedResults sums unacked over every route's consumer.
func (w *world) unackedResults() int {
	n := 0
	for _, r := range w.p.Routes() {
		n += max(0, w.unacked(events.StreamEnriched, r.Durable()))
	}
	return n
}

// statuses counts the answers of sent callbacks ("error" when none came).
func statuses(sent []jumiotest.SentCallback) map[string]int {
	out := map[string]int{}
	for _, s := range sent {
		if s.Err != nil {
			out["error"]++
		} else {
			out[fmt.Sprint(s.Status)]++
		}
	}
	return out
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// background runs fn in a goroutine and returns a function that waits
// for its result.
func background[T any](fn func() T) func() T {
	ch := make(chan T, 1)
	go func() { ch <- fn() }()
	return func() T { return <-ch }
}
