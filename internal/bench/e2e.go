package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/kycflow/kycflow/internal/bench/rig"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// E2EOptions configures RunE2E.
type E2EOptions struct {
	// Modes to measure: rig.ModeProcesses (ingest, enricher and notifier
	// as processes against an external nats-server), rig.ModeRun
	// ("kycflow run" with its embedded server) and rig.ModeCluster (two
	// processes of each stage on a three-server cluster with R3 streams).
	// Default all three.
	Modes []rig.Mode
	// Rate is the fixed callback rate per second (default 100: moderate
	// load) and Duration how long it is offered (default 20s).
	Rate     float64
	Duration time.Duration
	// Saturation is how many callbacks the saturation phase posts (default
	// 3000) from Concurrency closed-loop clients (default 32).
	Saturation  int
	Concurrency int
	// MaxInFlight bounds the open-loop clients at the fixed rate (default
	// 512).
	MaxInFlight int
	// Count is how many callbacks the counting phase posts, after the
	// timed ones, from Concurrency closed-loop clients (default 500; -1:
	// no counting phase). A tap on the account counts every request the
	// stages send to JetStream, and the server's figures what it stored.
	Count int
	// ProfileDir, when set, receives CPU profiles of the enricher, the
	// notifier and nats-server ("kycflow run": the one process) taken
	// during the saturation phase, ProfileTime long (default 5s), one
	// directory per mode.
	ProfileDir  string
	ProfileTime time.Duration
	// SyncDefault runs the external nats-server with JetStream's default
	// sync instead of sync_interval: always (production's setting and the
	// embedded server's).
	SyncDefault bool
	// JumioLatency is the simulator's latency per request (default 20ms)
	// and JumioBudget its request budget per second (default 10000, so
	// that Jumio is not the bottleneck; the enricher's rate limit is set to
	// it).
	JumioLatency time.Duration
	JumioBudget  float64
	// Dir holds the builds and the stores (a temporary directory when
	// empty).
	Dir string
	// Binaries, when set, are used instead of building them.
	Binaries *rig.Binaries
	// Progress gets a line per step; Log the processes' output.
	Progress, Log io.Writer
}

func (o *E2EOptions) setDefaults() {
	if len(o.Modes) == 0 {
		o.Modes = []rig.Mode{rig.ModeProcesses, rig.ModeRun, rig.ModeCluster}
	}
	if o.Rate <= 0 {
		o.Rate = 100
	}
	if o.Duration <= 0 {
		o.Duration = 20 * time.Second
	}
	if o.Saturation <= 0 {
		o.Saturation = 3000
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 32
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 512
	}
	if o.Count == 0 {
		o.Count = 500
	}
	if o.ProfileTime <= 0 {
		o.ProfileTime = 5 * time.Second
	}
	if o.JumioLatency == 0 {
		o.JumioLatency = 20 * time.Millisecond
	}
	if o.JumioBudget <= 0 {
		o.JumioBudget = 10000
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// E2EResult is one mode's end-to-end measurement.
type E2EResult struct {
	// Mode is "processes", "run" or "cluster".
	Mode string `json:"mode"`
	// Skipped says why the mode was not measured.
	Skipped string `json:"skipped,omitempty"`
	// Sync is the JetStream sync setting: "always" or "default".
	Sync string `json:"sync"`
	// Phases are the fixed-rate and the saturation phase.
	Phases []Phase `json:"phases,omitempty"`
	// Processes are the pipeline's processes over the whole run.
	Processes []ProcessFigures `json:"processes,omitempty"`
	// JumioRequests and Jumio429s are what the simulator served.
	JumioRequests int `json:"jumioRequests"`
	Jumio429s     int `json:"jumio429s"`
	// Ops are the JetStream operations per result of the counting phase.
	Ops *rig.OpsCount `json:"jetstreamOpsPerResult,omitempty"`
	// Profiles are the CPU profiles taken at saturation.
	Profiles []string `json:"profiles,omitempty"`
	// Ledger is the ledger of the whole run; LedgerError is empty when it
	// balances.
	Ledger      *rig.Ledger `json:"ledger,omitempty"`
	LedgerError string      `json:"ledgerError,omitempty"`
}

// Phase is one load phase of an end-to-end run.
type Phase struct {
	// Name is "fixed" or "saturation".
	Name string `json:"name"`
	// Offered is the fixed rate per second (0 at saturation).
	Offered float64 `json:"offeredPerSecond,omitempty"`
	// Posted, Accepted (200) and Delivered (webhook route results).
	Posted    int `json:"posted"`
	Accepted  int `json:"accepted"`
	Delivered int `json:"delivered"`
	// AcceptedPerSecond is accepted callbacks over the time they took to
	// post; DeliveredPerSecond results received by the webhook over the
	// time from the first post to the last result.
	AcceptedPerSecond  float64 `json:"acceptedPerSecond"`
	DeliveredPerSecond float64 `json:"deliveredPerSecond"`
	// Latency from the callback's scheduled send time (fixed rate) or its
	// send time (saturation) to the webhook's arrival at the receiver.
	Latency Percentiles `json:"latencyMs"`
	// CPU is the processor time each process used in the phase, per
	// thousand results, in seconds.
	CPUPerThousand map[string]float64 `json:"cpuSecondsPerThousandResults"`
}

// Percentiles of a latency distribution, in milliseconds.
type Percentiles struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// ProcessFigures are one process's resident memory (MiB) and CPU time.
type ProcessFigures struct {
	Name string `json:"name"`
	// RSSFixed is the median resident memory during the fixed-rate
	// phase; RSSPeak the highest sampled; HWM the kernel's peak (VmHWM).
	RSSFixed float64 `json:"rssFixedMiB"`
	RSSPeak  float64 `json:"rssPeakMiB"`
	HWM      float64 `json:"hwmMiB"`
	// CPU is the processor time of the whole run, in seconds.
	CPU float64 `json:"cpuSeconds"`
}

// webhookRoute is the route whose arrivals are timed.
const webhookRoute = "hook"

// benchRoutes: a webhook to the loopback receiver and every result to
// JUMIO_RESULTS.
var benchRoutes = []rig.Route{
	{Name: "results", Policy: events.PolicyFull},
	{Name: webhookRoute, Webhook: true, Policy: events.PolicyNoPII},
}

// enricherWorkers is the enricher's concurrency in the benchmark: enough
// to cover the simulator's latency at saturation (rate × latency), so that
// Jumio is not the bottleneck.
const enricherWorkers = 64

// warmupCallbacks are posted and settled before the phases.
const warmupCallbacks = 100

// RunE2E builds the binaries (unless given) and measures each mode: a
// warm-up, callbacks at a fixed rate, then a saturation burst, each
// settled before the next; then it draws the ledger of the whole run.
func RunE2E(ctx context.Context, opts E2EOptions) ([]E2EResult, error) {
	opts.setDefaults()
	dir, bins, cleanup, err := setUp(ctx, opts.Dir, "kycflow-bench-e2e-", opts.Binaries, opts.Progress)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	var out []E2EResult
	for i, mode := range opts.Modes {
		r, err := runMode(ctx, opts, bins, filepath.Join(dir, string(mode)), mode, uint64(i+1))
		if err != nil {
			return out, fmt.Errorf("bench: %s: %w", mode, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// setUp returns the directory a benchmark works in (dir, or a temporary
// one named after prefix that cleanup removes) and the binaries (bins, or
// built into it).
func setUp(ctx context.Context, dir, prefix string, bins *rig.Binaries, progress io.Writer) (_ string, _ rig.Binaries, cleanup func(), err error) {
	cleanup = func() {}
	if dir == "" {
		d, err := os.MkdirTemp("", prefix)
		if err != nil {
			return "", rig.Binaries{}, cleanup, err
		}
		dir, cleanup = d, func() { os.RemoveAll(d) }
	}
	if bins != nil {
		return dir, *bins, cleanup, nil
	}
	fmt.Fprintf(progress, "  building ingest, enricher, notifier, kycflow and nats-server\n")
	b, err := rig.Build(ctx, rig.BuildConfig{Dir: filepath.Join(dir, "bin")})
	if err != nil {
		cleanup()
		return "", rig.Binaries{}, func() {}, err
	}
	return dir, b, cleanup, nil
}

// runMode measures one mode: it starts the simulator and the pipeline,
// warms up, runs the fixed-rate and saturation phases (measurePhase), and
// reads the processes' figures, the simulator's answers and the ledger.
func runMode(ctx context.Context, opts E2EOptions, bins rig.Binaries, dir string, mode rig.Mode, seed uint64) (E2EResult, error) {
	res := E2EResult{Mode: string(mode), Sync: SyncAlways}
	if mode != rig.ModeRun && opts.SyncDefault {
		res.Sync = SyncDefault
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return res, err
	}
	flushDisk()
	fixed := sendCount(opts.Rate, opts.Duration)
	sim := benchSimulator(opts.JumioBudget, opts.JumioLatency, seed, warmupCallbacks+fixed+opts.Saturation+max(opts.Count, 0))
	defer sim.Close()
	jc := sim.ClientConfig(0)
	jc.RateLimit, jc.RateBurst = opts.JumioBudget, 100
	fmt.Fprintf(opts.Progress, "  %s: starting\n", mode)
	p, err := rig.StartPipeline(ctx, rig.PipelineConfig{
		Mode: mode, Binaries: bins, Dir: dir, SyncAlways: res.Sync == SyncAlways, Jumio: jc, Routes: benchRoutes,
		Env: map[string]string{"KYCFLOW_ENRICHER_CONCURRENCY": strconv.Itoa(enricherWorkers)},
		Log: opts.Log, Profiling: opts.ProfileDir != "",
	})
	if err != nil {
		return res, err
	}
	defer p.Close()
	if mode == rig.ModeRun {
		if why := runWired(ctx, p.Run()); why != "" {
			res.Skipped = why
			fmt.Fprintf(opts.Progress, "  %s: skipped: %s\n", mode, why)
			return res, nil
		}
	}

	d := newDriver(sim, p)
	defer d.client.CloseIdleConnections()
	sampler := startSampling(p.Processes())
	defer sampler.stop()
	d.fire(ctx, d.take(warmupCallbacks), 0, opts.Concurrency)
	if err := settle(ctx, p); err != nil {
		return res, err
	}
	for _, ph := range []benchPhase{{"fixed", fixed, opts.Rate}, {"saturation", opts.Saturation, 0}} {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		phase, err := measurePhase(ctx, opts, mode, p, d, sampler, ph, &res.Profiles)
		if err != nil {
			return res, err
		}
		res.Phases = append(res.Phases, phase)
	}
	sampler.stop()
	res.Processes = sampler.figures(p.Processes())
	if opts.Count > 0 {
		ops, err := count(ctx, d, p, opts, res.Sync == SyncAlways)
		if err != nil {
			return res, err
		}
		res.Ops = ops
		fmt.Fprintf(opts.Progress, "  %s: counted %d callbacks\n", mode, opts.Count)
	}
	res.JumioRequests, res.Jumio429s = jumioAnswers(sim)
	err = audit(ctx, p, d, &res.Ledger, &res.LedgerError)
	return res, err
}

// benchSimulator is the Jumio simulator of a run, with total
// transactions: three Platform callbacks for one Netverify one (Platform
// results are fetched from the simulator, Netverify ones mapped from the
// form).
func benchSimulator(budget float64, latency time.Duration, seed uint64, total int) *jumiotest.Server {
	return jumiotest.NewServer(jumiotest.Config{
		Budget:      budget,
		BudgetBurst: int(budget),
		Latency:     latency,
		Scenario:    jumiotest.Scenario{Seed: seed, Executions: total - total/4, NetverifyScans: total / 4},
	})
}

// benchPhase is one measured phase: n callbacks at rate per second (0: as
// fast as the clients go).
type benchPhase struct {
	name string
	n    int
	rate float64
}

// measurePhase sends the phase's callbacks, waits until the pipeline
// settled, and measures throughput, latency and CPU per 1000 results. At
// saturation with opts.ProfileDir set it takes the stages' CPU profiles
// meanwhile, whose files it stores in profiles.
func measurePhase(ctx context.Context, opts E2EOptions, mode rig.Mode, p *rig.Pipeline, d *driver, sampler *sampler, ph benchPhase, profiles *[]string) (Phase, error) {
	cpu0 := cpuTimes(p.Processes())
	sampler.phase(ph.name)
	shots := d.take(ph.n)
	conc := opts.Concurrency
	if ph.rate > 0 {
		conc = opts.MaxInFlight
	}
	fmt.Fprintf(opts.Progress, "  %s: %s, %d callbacks\n", mode, ph.name, ph.n)
	var profiled chan []string
	if ph.name == "saturation" && opts.ProfileDir != "" {
		profiled = make(chan []string, 1)
		go func() {
			// Past the start, where the backlog builds up.
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				profiled <- nil
				return
			}
			files, err := p.Profile(ctx, opts.ProfileTime, filepath.Join(opts.ProfileDir, string(mode)))
			if err != nil {
				fmt.Fprintf(opts.Progress, "  %s: profiles: %v\n", mode, err)
			}
			profiled <- files
		}()
	}
	posted := d.fire(ctx, shots, ph.rate, conc)
	if profiled != nil {
		*profiles = <-profiled
	}
	if err := settle(ctx, p); err != nil {
		return Phase{}, err
	}
	phase := d.measure(ph.name, ph.rate, posted)
	phase.CPUPerThousand = map[string]float64{}
	for name, c := range cpuTimes(p.Processes()) {
		if phase.Delivered > 0 {
			phase.CPUPerThousand[name] = (c - cpu0[name]).Seconds() * 1000 / float64(phase.Delivered)
		}
	}
	fmt.Fprintf(opts.Progress, "  %s: %s: %.0f accepted/s, %.0f delivered/s, p50 %.1f ms, p99 %.1f ms\n",
		mode, ph.name, phase.AcceptedPerSecond, phase.DeliveredPerSecond, phase.Latency.P50, phase.Latency.P99)
	return phase, nil
}

// jumioAnswers counts the simulator's answers to everything but token
// requests, and the 429s among them.
func jumioAnswers(sim *jumiotest.Server) (requests, throttled int) {
	for k, n := range sim.Counts() {
		if k.Endpoint == jumio.EndpointToken {
			continue
		}
		requests += n
		if k.Status == http.StatusTooManyRequests {
			throttled += n
		}
	}
	return requests, throttled
}

// audit draws the ledger of every callback d sent, given two minutes, and
// fills a result's Ledger and LedgerError (E2EResult's or SoakResult's)
// through ledger and ledgerError: the ledger, and why it does not balance
// ("" when it does). When no ledger can be drawn it fills neither and
// returns the error.
func audit(ctx context.Context, p *rig.Pipeline, d *driver, ledger **rig.Ledger, ledgerError *string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	l, err := p.Audit(ctx, rig.AuditInput{Sent: d.sent()})
	if l == nil {
		return err
	}
	*ledger = l
	if err != nil {
		*ledgerError = err.Error()
	}
	return nil
}

// count runs the counting phase: opts.Count callbacks at saturation with a
// tap on the account, settled, divided by the callbacks accepted.
func count(ctx context.Context, d *driver, p *rig.Pipeline, opts E2EOptions, syncAlways bool) (*rig.OpsCount, error) {
	ctx, cancel := context.WithTimeout(ctx, settleTimeout+time.Minute)
	defer cancel()
	tap, err := p.StartTap(ctx)
	if err != nil {
		return nil, err
	}
	before, err := p.ServerFigures(ctx, tap)
	if err != nil {
		_, _ = tap.Stop(ctx)
		return nil, err
	}
	posted := d.fire(ctx, d.take(opts.Count), 0, opts.Concurrency)
	if err := settle(ctx, p); err != nil {
		_, _ = tap.Stop(ctx)
		return nil, err
	}
	after, err := p.ServerFigures(ctx, tap)
	ops, serr := tap.Stop(ctx)
	if err = errors.Join(err, serr); err != nil {
		return nil, err
	}
	accepted := 0
	for _, ps := range posted {
		if ps.cb.Err == nil && ps.cb.Status == http.StatusOK {
			accepted++
		}
	}
	return rig.NewOpsCount(accepted, ops, before, after, syncAlways), nil
}

// runWired reports why "kycflow run" cannot be measured ("" when it can):
// it must run the enricher and the notifier next to ingest.
func runWired(ctx context.Context, run *rig.Process) string {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if run.Logged("enricher running") && run.Logged("notifier running") {
			return ""
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "this build of \"kycflow run\" does not run the enricher and the notifier"
}

// settleTimeout bounds the wait for a pipeline to work off its input.
const settleTimeout = 10 * time.Minute

func settle(ctx context.Context, p *rig.Pipeline) error {
	ctx, cancel := context.WithTimeout(ctx, settleTimeout)
	defer cancel()
	return p.Settle(ctx)
}

// shot is one callback to post.
type shot struct {
	api events.API
	ref string
	// platform or netverify is set.
	platform  *jumiotest.Execution
	netverify *jumiotest.NetverifyScan
}

// driver posts the simulator's callbacks to a pipeline and keeps what it
// sent and when.
type driver struct {
	sim    *jumiotest.Server
	p      *rig.Pipeline
	client *http.Client
	queue  []shot

	mu    sync.Mutex
	posts []post
}

// post is one callback posted: when it was due, its answer and when that
// came.
type post struct {
	cb       jumiotest.SentCallback
	due      time.Time
	answered time.Time
}

func newDriver(sim *jumiotest.Server, p *rig.Pipeline) *driver {
	d := &driver{sim: sim, p: p, client: newClient(512)}
	execs, scans := sim.Executions(), sim.NetverifyScans()
	// Interleave: three Platform callbacks, then a Netverify one.
	for i, j, k := 0, 0, 0; i < len(execs) || j < len(scans); k++ {
		if k%4 == 3 && j < len(scans) || i >= len(execs) {
			d.queue = append(d.queue, shot{api: events.APINetverify, ref: scans[j].Reference, netverify: &scans[j]})
			j++
		} else {
			d.queue = append(d.queue, shot{api: events.APIPlatform, ref: execs[i].ID, platform: &execs[i]})
			i++
		}
	}
	return d
}

// take removes the next n shots from the queue.
func (d *driver) take(n int) []shot {
	n = min(n, len(d.queue))
	out := d.queue[:n]
	d.queue = d.queue[n:]
	return out
}

// fire posts shots at rate per second (open loop, up to conc in flight)
// or, with rate 0, from conc closed-loop clients; it returns the posts.
func (d *driver) fire(ctx context.Context, shots []shot, rate float64, conc int) []post {
	out := make([]post, len(shots))
	dispatch(ctx, len(shots), rate, conc, func(n int, due time.Time) {
		out[n] = d.post(ctx, shots[n], due)
	})
	var posted []post
	for _, p := range out {
		if !p.due.IsZero() {
			posted = append(posted, p)
		}
	}
	d.mu.Lock()
	d.posts = append(d.posts, posted...)
	d.mu.Unlock()
	return posted
}

// dispatch calls one(i, due) for i = 0 … n−1, each exactly once unless
// ctx ends first: at rate per second (open loop, up to conc calls at
// once, due the scheduled time) or, with rate 0, from conc closed-loop
// clients (due the time of the call).
func dispatch(ctx context.Context, n int, rate float64, conc int, one func(i int, due time.Time)) {
	if rate > 0 {
		openLoop(ctx, conc, countSchedule(time.Now(), rate, n), one)
		return
	}
	closedLoop(ctx, conc, n, func(i int) { one(i, time.Now()) })
}

// post sends one callback, Jumio's way, with its due time as
// callbackSentAt.
func (d *driver) post(ctx context.Context, s shot, due time.Time) post {
	sentAt := due.UTC().Truncate(time.Millisecond)
	cb := jumiotest.SentCallback{API: s.api, Reference: s.ref, SentAt: sentAt}
	if s.platform != nil {
		cb.AccountID, cb.ContentType = s.platform.AccountID, "application/json"
		cb.Body = d.sim.PlatformCallback(*s.platform, sentAt, s.platform.UserReference)
	} else {
		cb.ContentType = "application/x-www-form-urlencoded"
		cb.Body = d.sim.NetverifyCallback(*s.netverify, sentAt)
	}
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodPost, d.p.CallbackURL(s.api), bytes.NewReader(cb.Body))
	if err == nil {
		req.Header.Set("Content-Type", cb.ContentType)
		req.Header.Set("User-Agent", "Jumio Callback (kycflow bench)")
		var resp *http.Response
		if resp, err = d.client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			cb.Status = resp.StatusCode
		}
	}
	cb.Err = err
	cb.Body = nil // kept small: the ledger needs ids and times only
	return post{cb: cb, due: due, answered: time.Now()}
}

// sent returns every callback posted.
func (d *driver) sent() []jumiotest.SentCallback {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]jumiotest.SentCallback, len(d.posts))
	for i, p := range d.posts {
		out[i] = p.cb
	}
	return out
}

// measure computes a phase's figures from its posts and the receiver's
// log.
func (d *driver) measure(name string, rate float64, posts []post) Phase {
	ph := Phase{Name: name, Offered: rate, Posted: len(posts)}
	if len(posts) == 0 {
		return ph
	}
	first := map[string]time.Time{} // execution → first arrival
	for _, del := range d.p.Receiver().Deliveries(webhookRoute) {
		if t, ok := first[del.ExecutionID]; !ok || del.At.Before(t) {
			first[del.ExecutionID] = del.At
		}
	}
	begin, lastAnswer, lastArrival := posts[0].due, posts[0].due, posts[0].due
	var lats []time.Duration
	for _, p := range posts {
		begin = minTime(begin, p.due)
		if p.cb.Err != nil || p.cb.Status != http.StatusOK {
			continue
		}
		ph.Accepted++
		lastAnswer = maxTime(lastAnswer, p.answered)
		at, ok := first[p.cb.Reference]
		if !ok {
			continue
		}
		ph.Delivered++
		lastArrival = maxTime(lastArrival, at)
		lats = append(lats, at.Sub(p.due))
	}
	if rate > 0 {
		ph.AcceptedPerSecond = float64(ph.Accepted) / (float64(len(posts)) / rate)
	} else if s := lastAnswer.Sub(begin).Seconds(); s > 0 {
		ph.AcceptedPerSecond = float64(ph.Accepted) / s
	}
	if s := lastArrival.Sub(begin).Seconds(); s > 0 {
		ph.DeliveredPerSecond = float64(ph.Delivered) / s
	}
	ph.Latency = percentiles(lats)
	return ph
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func percentiles(lats []time.Duration) Percentiles {
	if len(lats) == 0 {
		return Percentiles{}
	}
	slices.Sort(lats)
	q := func(f float64) float64 {
		return float64(lats[int(f*float64(len(lats)-1))]) / float64(time.Millisecond)
	}
	return Percentiles{P50: q(0.5), P90: q(0.9), P99: q(0.99), Max: q(1)}
}

// cpuTimes reads each process's CPU time.
func cpuTimes(procs []*rig.Process) map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, p := range procs {
		if s, err := p.Stats(); err == nil {
			out[p.Name()] = s.CPU
		}
	}
	return out
}

// sampler reads the processes' resident memory every 200 ms.
type sampler struct {
	done chan struct{}
	once sync.Once
	wg   sync.WaitGroup

	mu    sync.Mutex
	cur   string
	rss   map[string]map[string][]int64 // phase → process → samples
	peak  map[string]int64
	final map[string]rig.Stats
}

func startSampling(procs []*rig.Process) *sampler {
	s := &sampler{done: make(chan struct{}), rss: map[string]map[string][]int64{}, peak: map[string]int64{}, final: map[string]rig.Stats{}}
	s.wg.Go(func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			s.sample(procs)
			select {
			case <-s.done:
				return
			case <-t.C:
			}
		}
	})
	return s
}

func (s *sampler) sample(procs []*rig.Process) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range procs {
		st, err := p.Stats()
		if err != nil {
			continue
		}
		s.final[p.Name()] = st
		s.peak[p.Name()] = max(s.peak[p.Name()], st.RSS)
		if s.cur != "" {
			if s.rss[s.cur] == nil {
				s.rss[s.cur] = map[string][]int64{}
			}
			s.rss[s.cur][p.Name()] = append(s.rss[s.cur][p.Name()], st.RSS)
		}
	}
}

func (s *sampler) phase(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur = name
}

func (s *sampler) stop() {
	s.once.Do(func() { close(s.done) })
	s.wg.Wait()
}

func (s *sampler) figures(procs []*rig.Process) []ProcessFigures {
	s.mu.Lock()
	defer s.mu.Unlock()
	mib := func(b int64) float64 { return float64(b) / (1 << 20) }
	var out []ProcessFigures
	for _, p := range procs {
		st := s.final[p.Name()]
		f := ProcessFigures{Name: p.Name(), RSSPeak: mib(s.peak[p.Name()]), HWM: mib(st.HWM), CPU: st.CPU.Seconds()}
		if xs := slices.Clone(s.rss["fixed"][p.Name()]); len(xs) > 0 {
			sort.Slice(xs, func(i, j int) bool { return xs[i] < xs[j] })
			f.RSSFixed = mib(xs[len(xs)/2])
		}
		out = append(out, f)
	}
	return out
}
