package faultsuite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/bench/rig"
	"github.com/kycflow/kycflow/internal/enricher"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

var (
	binDir    string
	buildOnce sync.Once
	bins      rig.Binaries
	buildErr  error

	lossyOnce     sync.Once
	lossyEnricher string
	lossyErr      error
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

// lossy builds, once per run, the enricher with the test-only fault hooks
// (rig.FaultHooksTag): with enricher.FaultHookDropEnv set it acks about
// one callback in that many without any output.
func lossy(t *testing.T) string {
	t.Helper()
	lossyOnce.Do(func() {
		start := time.Now()
		var b rig.Binaries
		b, lossyErr = rig.Build(context.Background(), rig.BuildConfig{Dir: filepath.Join(binDir, "lossy"), Race: raceEnabled, Tags: []string{rig.FaultHooksTag}, Programs: []string{"enricher"}})
		lossyEnricher = b.Enricher
		t.Logf("built the enricher with the fault hooks in %s", time.Since(start).Round(100*time.Millisecond))
	})
	if lossyErr != nil {
		t.Fatal(lossyErr)
	}
	return lossyEnricher
}

// Routes of every world: every result to JUMIO_RESULTS, every result to
// webhook hook-a, and only rejections and warnings to webhook hook-b.
var defaultRoutes = []rig.Route{
	{Name: "results", Policy: events.PolicyFull},
	{Name: "hook-a", Webhook: true, Policy: events.PolicyNoPII},
	{Name: "hook-b", Webhook: true, Policy: events.PolicyDecisionOnly, Filter: "{decision: [REJECTED, WARNING]}"},
}

// enricherDropEnv is enricher.FaultHookDropEnv, which only a build with
// the fault hooks declares.
const enricherDropEnv = "KYCFLOW_FAULTHOOK_ENRICHER_DROP_ONE_IN"

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
	// servers is 3 for a JetStream cluster with R3 streams (default one
	// server); netns puts its servers in network namespaces, for
	// partitions.
	servers int
	netns   bool
	// instances of each stage (default 1); several ingest instances are
	// loaded through a balancer.
	instances int
	// run runs "kycflow run" (every stage in one process, on the cluster
	// with --nats-url when servers is 3) instead of a process per stage.
	run bool
	// dropOneIn runs the enricher built with the fault hooks, losing
	// about one callback in that many (0: the normal enricher).
	dropOneIn int
	// together starts every stage process at once, as a deploy does,
	// instead of each once the one before is ready, and watches the
	// stream and bucket creates and updates they send meanwhile
	// (rig.Pipeline.SetupSeen).
	together bool
}

// world is one case's pipeline: the simulator behind a gate, the
// processes, the receiver.
type world struct {
	t     *testing.T
	sim   *jumiotest.Server
	jumio *rig.Gate
	p     *rig.Pipeline
	// probeErr is why the last probe of held work read nothing (nil when
	// it read): awaitHeld names it, so that a probe that cannot read
	// (a metrics address gone wrong) is not taken for an idle pipeline.
	probeErr error
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
	if cfg.dropOneIn > 0 {
		b.Enricher = lossy(t)
		env[enricherDropEnv] = strconv.Itoa(cfg.dropOneIn)
	}
	mode := rig.ModeProcesses
	if cfg.run {
		mode = rig.ModeRun
		// Its enricher and notifier log their stale drops and identical
		// suppressions, the ledger's evidence, at debug level.
		env["KYCFLOW_LOG_LEVEL"] = "debug"
	}
	var log io.Writer
	if os.Getenv("KYCFLOW_TEST_LOG") != "" {
		log = os.Stderr
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	w.p, err = rig.StartPipeline(ctx, rig.PipelineConfig{
		Mode: mode, Binaries: b, Dir: t.TempDir(), SyncAlways: true,
		Jumio: jc, Routes: defaultRoutes, Env: env, Log: log,
		Servers: cfg.servers, Netns: cfg.netns, Instances: cfg.instances,
		Together: cfg.together, WatchSetup: cfg.together,
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
	return w.sendCtx(ctx, o, false)
}

func (w *world) sendCtx(ctx context.Context, o jumiotest.CallbackOptions, stoppable bool) []jumiotest.SentCallback {
	o.URL = w.p.CallbackURL(events.APIPlatform)
	o.NetverifyURL = w.p.CallbackURL(events.APINetverify)
	o.Client = callbackClient
	sent, err := w.sim.SendCallbacks(ctx, o)
	if err != nil && !(stoppable && errors.Is(err, context.Canceled)) {
		w.t.Errorf("sending callbacks: %v", err)
	}
	return sent
}

// resendUntil200 posts again what was not answered 200, as Jumio does,
// until everything is (or attempts run out); it returns the new posts.
func (w *world) resendUntil200(ctx context.Context, sent []jumiotest.SentCallback) []jumiotest.SentCallback {
	var all []jumiotest.SentCallback
	pending := sent
	for range 10 {
		again := w.resend(ctx, pending)
		if len(again) == 0 {
			return all
		}
		all = append(all, again...)
		pending = again
	}
	w.t.Errorf("callbacks still not answered 200 after 10 rounds of posting them again: %v", statuses(pending))
	return all
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

// audit draws the ledger of the run and logs it.
func (w *world) audit(in rig.AuditInput) (*rig.Ledger, error) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l, err := w.p.Audit(ctx, in)
	if l != nil {
		var b strings.Builder
		l.Write(&b)
		w.t.Log("\n" + b.String())
	}
	return l, err
}

// ledger audits the run and fails the test when it does not balance.
func (w *world) ledger(in rig.AuditInput) *rig.Ledger {
	w.t.Helper()
	l, err := w.audit(in)
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

// consumer reads a durable consumer's state from the server (nil when it
// cannot be read).
func (w *world) consumer(stream, durable string) *jetstream.ConsumerInfo {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := w.p.JetStream().Consumer(ctx, stream, durable)
	if err != nil {
		w.probeErr = fmt.Errorf("consumer %s/%s: %w", stream, durable, err)
		return nil
	}
	info, err := c.Info(ctx)
	if err != nil {
		w.probeErr = fmt.Errorf("consumer %s/%s: %w", stream, durable, err)
		return nil
	}
	return info
}

// unacked is how many messages a durable consumer has delivered and not
// had acknowledged, as the server says (0 when it cannot be read).
func (w *world) unacked(stream, durable string) int {
	if info := w.consumer(stream, durable); info != nil {
		return info.NumAckPending
	}
	return 0
}

// unackedResults sums unacked over every route's consumer.
func (w *world) unackedResults() int {
	n := 0
	for _, r := range w.p.Routes() {
		n += w.unacked(events.StreamEnriched, r.Durable())
	}
	return n
}

// outstanding is the work the server holds for the stages: messages not
// yet delivered or not yet acknowledged, on the enricher's consumer and
// every route's.
func (w *world) outstanding() int {
	n := 0
	add := func(info *jetstream.ConsumerInfo) {
		if info != nil {
			n += int(info.NumPending) + info.NumAckPending
		}
	}
	add(w.consumer(events.StreamCallbacks, enricher.Durable))
	for _, r := range w.p.Routes() {
		add(w.consumer(events.StreamEnriched, r.Durable()))
	}
	return n
}

// inFlight is what one stage process holds: messages it fetched and has
// not settled (its kycflow_broker_in_flight_messages), or for ingest the
// requests it is answering (kycflow_ingest_in_flight_requests).
func (w *world) inFlight(proc *rig.Process) int {
	name := "kycflow_broker_in_flight_messages"
	if strings.HasPrefix(proc.Name(), "ingest") {
		name = "kycflow_ingest_in_flight_requests"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	v, err := proc.Metric(ctx, name, nil)
	if err != nil {
		w.probeErr = err
		return 0
	}
	return int(v)
}

// awaitHeld polls probe until it reports at least min messages held and
// returns what it reported: a fault is fired only once the pipeline is
// seen holding work. Work a stage holds only briefly (ingest answers in
// milliseconds) is seen by polling often while the load lasts. The case
// fails when the load (if any) ends first, or after a few minutes: a
// fault then could not land on anything. The failure names the probe's
// last read error, if any, as a probe that cannot read sees nothing held.
func (w *world) awaitHeld(what string, l *load, min int, probe func() int) int {
	w.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	most, reads, failed := 0, 0, 0
	var lastErr error
	for {
		w.probeErr = nil
		n := probe()
		reads++
		if w.probeErr != nil {
			failed, lastErr = failed+1, w.probeErr
		}
		if n >= min {
			return n
		}
		most = max(most, n)
		if (l != nil && l.finished()) || time.Now().After(deadline) {
			w.t.Fatalf("%s: at most %d held (%d wanted) in %d reads while callbacks flowed (%d reads failed, the last: %v): the fault would have landed on nothing",
				what, most, min, reads, failed, lastErr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// load posts callbacks in the background until it has posted them all
// or is stopped.
type load struct {
	done   chan struct{}
	cancel context.CancelFunc
	sent   []jumiotest.SentCallback
}

// startLoad posts the simulator's callbacks with o in the background.
func (w *world) startLoad(o jumiotest.CallbackOptions) *load {
	ctx, cancel := context.WithCancel(w.t.Context())
	l := &load{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(l.done)
		l.sent = w.sendCtx(ctx, o, true)
	}()
	return l
}

// finished reports whether the load has posted everything.
func (l *load) finished() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// wait waits for the load to post everything and returns the posts.
func (l *load) wait() []jumiotest.SentCallback {
	<-l.done
	l.cancel()
	return l.sent
}

// stop ends the load (the posts in flight finish) and returns the posts.
func (l *load) stop() []jumiotest.SentCallback {
	l.cancel()
	<-l.done
	return l.sent
}

// only200 fails the case unless every post was answered 200: where
// ingest and its broker are up, a 503 is a defect.
func (w *world) only200(sent []jumiotest.SentCallback) {
	w.t.Helper()
	st := statuses(sent)
	if len(sent) == 0 || st["200"] != len(sent) {
		w.t.Errorf("ingest answers %v: want all %d answered 200", st, len(sent))
	}
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
