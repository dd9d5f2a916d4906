package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kycflow/kycflow/internal/bench/rig"
)

// SoakOptions configures RunSoak.
type SoakOptions struct {
	// Rate is the callback rate per second (default 125) and Duration how
	// long it is offered (default 10m).
	Rate     float64
	Duration time.Duration
	// Warmup is the start of the run whose samples are shown but not
	// judged (default 1m): the heaps, pools and connections of the
	// processes grow to their working size first. It must be shorter than
	// Duration.
	Warmup time.Duration
	// Interval is the time between samples (default 2s).
	Interval time.Duration
	// MaxInFlight bounds the open-loop clients (default 512).
	MaxInFlight int
	// JumioLatency and JumioBudget configure the simulator as in
	// E2EOptions (defaults 20ms and 10000/s).
	JumioLatency time.Duration
	JumioBudget  float64
	// Dir holds the builds and the store (a temporary directory when
	// empty); Binaries, when set, are used instead of building them.
	Dir      string
	Binaries *rig.Binaries
	// Progress gets a line per step and a line a minute; Log the
	// processes' output.
	Progress, Log io.Writer
}

func (o *SoakOptions) setDefaults() {
	if o.Rate <= 0 {
		o.Rate = 125
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Minute
	}
	if o.Warmup <= 0 {
		o.Warmup = time.Minute
	}
	if o.Interval <= 0 {
		o.Interval = 2 * time.Second
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 512
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

// ErrSoakWindow is returned by SoakOptions.Validate when too few samples
// would come after the warm-up to draw a slope from.
var ErrSoakWindow = errors.New("bench: soak: the duration must exceed the warm-up by at least three sampling intervals")

// Validate checks the options after defaults: at least minFitted samples
// after the warm-up.
func (o SoakOptions) Validate() error {
	o.setDefaults()
	if o.Duration-o.Warmup < minFitted*o.Interval {
		return fmt.Errorf("%w (duration %s, warm-up %s, interval %s)", ErrSoakWindow, o.Duration, o.Warmup, o.Interval)
	}
	return nil
}

// Soak targets: after the warm-up, each service's resident memory grows
// less than SoakRSSSlope per minute (least squares over the samples) and
// less than SoakRSSGrowth from the first sample to the last; its
// goroutines and open descriptors less than SoakGoroutineSlope and
// SoakFDSlope per minute. For nats-server the same two memory targets
// apply to its resident memory minus what its streams store: a file store
// that grows with the data is expected, and its memory beyond the data
// must be flat. A leak of one goroutine per hundred callbacks at 125/s is
// 75 per minute; the thresholds leave room for connections a stall opens
// (the load generator keeps soakIdleConns of them).
const (
	SoakRSSSlope       = 1.0 // MiB per minute
	SoakRSSGrowth      = 5.0 // MiB
	SoakGoroutineSlope = 20.0
	SoakFDSlope        = 10.0
)

// soakIdleConns are the idle connections the soak's load generator keeps
// to ingest: more, opened when a stall holds many requests at once, are
// closed once answered, so that ingest's goroutines and descriptors come
// back down instead of staying at the stall's high-water mark.
const soakIdleConns = 8

// SoakTargets are the thresholds a soak is judged by.
type SoakTargets struct {
	RSSSlopeMiBPerMinute    float64 `json:"rssSlopeMiBPerMinute"`
	RSSGrowthMiB            float64 `json:"rssGrowthMiB"`
	GoroutineSlopePerMinute float64 `json:"goroutineSlopePerMinute"`
	FDSlopePerMinute        float64 `json:"openFdSlopePerMinute"`
}

var soakTargets = SoakTargets{SoakRSSSlope, SoakRSSGrowth, SoakGoroutineSlope, SoakFDSlope}

// SoakResult is one soak run.
type SoakResult struct {
	// Mode is the pipeline's shape ("processes") and Sync the server's
	// sync setting ("always").
	Mode string `json:"mode"`
	Sync string `json:"sync"`
	// Rate, Duration, Warmup and Interval are the options.
	Rate     float64 `json:"ratePerSecond"`
	Duration string  `json:"duration"`
	Warmup   string  `json:"warmup"`
	Interval string  `json:"interval"`
	// Load is the machine's load average (1, 5 and 15 minutes) at the
	// start and the end of the fixed rate.
	LoadStart [3]float64 `json:"loadAverageStart"`
	LoadEnd   [3]float64 `json:"loadAverageEnd"`
	// Phase is the fixed rate's throughput and latency.
	Phase Phase `json:"phase"`
	// Processes are the figures of each process, in the pipeline's order.
	Processes []SoakProcess `json:"processes"`
	// Stored is what the streams store, in MiB, sampled with the
	// processes, StoredErrors the readings that failed, and StoredByStream
	// what each stream stores at the end, in MiB.
	Stored         SoakSeries         `json:"storedMiB"`
	StoredErrors   int                `json:"storedSampleErrors"`
	StoredByStream map[string]float64 `json:"storedMiBByStream,omitempty"`
	// JumioRequests and Jumio429s are what the simulator served.
	JumioRequests int `json:"jumioRequests"`
	Jumio429s     int `json:"jumio429s"`
	// Ledger is the ledger of every callback; LedgerError is empty when
	// it balances.
	Ledger      *rig.Ledger `json:"ledger,omitempty"`
	LedgerError string      `json:"ledgerError,omitempty"`
	// Targets are the thresholds and TargetsMissed what missed them.
	Targets       SoakTargets `json:"targets"`
	TargetsMissed []string    `json:"targetsMissed,omitempty"`
}

// SoakProcess is one process's figures over a soak.
type SoakProcess struct {
	Name string `json:"name"`
	// RSS is the resident memory (VmRSS) in MiB, Goroutines the
	// goroutines (go_goroutines on the services' /metrics, the goroutine
	// profile of nats-server), FDs the open file descriptors
	// (/proc/<pid>/fd).
	RSS        SoakSeries `json:"rssMiB"`
	Goroutines SoakSeries `json:"goroutines"`
	FDs        SoakSeries `json:"openFds"`
	// BeyondStored (nats-server) is the resident memory minus what the
	// streams store, in MiB.
	BeyondStored *SoakSeries `json:"rssBeyondStoredMiB,omitempty"`
	// SampleErrors counts the readings that failed; LastError is the last
	// one's error.
	SampleErrors int    `json:"sampleErrors"`
	LastError    string `json:"lastError,omitempty"`
}

// natsServerName is the name of the pipeline's nats-server process.
const natsServerName = "nats-server"

// RunSoak runs the pipeline as processes (ingest, the enricher and the
// notifier against an external nats-server with sync_interval: always)
// at a fixed rate for a long time, sampling each process's resident
// memory, goroutines and open file descriptors, and what the streams
// store, every interval; then it settles the pipeline, draws the ledger
// and judges the samples after the warm-up against the targets.
func RunSoak(ctx context.Context, opts SoakOptions) (SoakResult, error) {
	opts.setDefaults()
	res := SoakResult{Mode: string(rig.ModeProcesses), Sync: SyncAlways, Rate: opts.Rate, Duration: opts.Duration.String(),
		Warmup: opts.Warmup.String(), Interval: opts.Interval.String(), Targets: soakTargets}
	if err := opts.Validate(); err != nil {
		return res, err
	}
	dir, bins, cleanup, err := setUp(ctx, opts.Dir, "kycflow-bench-soak-", opts.Binaries, opts.Progress)
	if err != nil {
		return res, err
	}
	defer cleanup()
	pdir := filepath.Join(dir, "soak")
	if err := os.MkdirAll(pdir, 0o750); err != nil {
		return res, err
	}
	flushDisk()
	n := sendCount(opts.Rate, opts.Duration)
	sim := benchSimulator(opts.JumioBudget, opts.JumioLatency, 1, warmupCallbacks+n)
	defer sim.Close()
	jc := sim.ClientConfig(0)
	jc.RateLimit, jc.RateBurst = opts.JumioBudget, 100
	fmt.Fprintf(opts.Progress, "  starting ingest, enricher, notifier and nats-server\n")
	p, err := rig.StartPipeline(ctx, rig.PipelineConfig{
		Mode: rig.ModeProcesses, Binaries: bins, Dir: pdir, SyncAlways: true, Jumio: jc, Routes: benchRoutes,
		Env: map[string]string{"KYCFLOW_ENRICHER_CONCURRENCY": strconv.Itoa(enricherWorkers)},
		Log: opts.Log,
	})
	if err != nil {
		return res, err
	}
	defer p.Close()

	d := newDriver(sim, p)
	d.client = newClientIdle(opts.MaxInFlight, soakIdleConns)
	defer d.client.CloseIdleConnections()
	d.fire(ctx, d.take(warmupCallbacks), 0, 8)
	if err := settle(ctx, p); err != nil {
		return res, err
	}

	fmt.Fprintf(opts.Progress, "  %d callbacks at %g/s for %s, sampled every %s\n", n, opts.Rate, opts.Duration, opts.Interval)
	res.LoadStart = loadAverage()
	s := newSoakSampler(soakProbes(p), storedBytes(p), natsServerName, opts.Progress)
	s.run(ctx, opts.Interval)
	posted := d.fire(ctx, d.take(n), opts.Rate, opts.MaxInFlight)
	s.stop()
	res.LoadEnd = loadAverage()
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	if err := settle(ctx, p); err != nil {
		return res, err
	}
	res.Phase = d.measure("soak", opts.Rate, posted)
	res.figures(s, p, opts.Warmup)
	if by, err := p.StoredBytes(ctx); err == nil {
		res.StoredByStream = map[string]float64{}
		for name, b := range by {
			res.StoredByStream[name] = mib(int64(b))
		}
	}
	res.JumioRequests, res.Jumio429s = jumioAnswers(sim)
	if err := audit(ctx, p, d, &res.Ledger, &res.LedgerError); err != nil {
		return res, err
	}
	res.TargetsMissed = res.judge()
	return res, nil
}

// soakProbes are the pipeline's processes, each with its goroutine
// count: a service's from its /metrics, nats-server's from its profile.
func soakProbes(p *rig.Pipeline) []soakProbe {
	var out []soakProbe
	for _, proc := range p.Processes() {
		pr := soakProbe{name: proc.Name(), pid: func() (int, error) {
			if proc.Exited() {
				return 0, fmt.Errorf("bench: %s is not running", proc.Name())
			}
			return proc.PID(), nil
		}, goroutines: proc.Goroutines}
		if ns := p.NATS(); ns != nil && proc == ns.Process {
			pr.goroutines = ns.Goroutines
		}
		out = append(out, pr)
	}
	return out
}

// storedBytes sums what the pipeline's streams store.
func storedBytes(p *rig.Pipeline) func(context.Context) (int64, error) {
	return func(ctx context.Context) (int64, error) {
		by, err := p.StoredBytes(ctx)
		if err != nil {
			return 0, err
		}
		var sum int64
		for _, b := range by {
			sum += int64(b)
		}
		return sum, nil
	}
}

// figures draws every process's series from the samples.
func (r *SoakResult) figures(s *soakSampler, p *rig.Pipeline, warmup time.Duration) {
	stored, storeErrors, beyond := s.storedSamples()
	r.Stored, r.StoredErrors = summarize(stored, warmup), storeErrors
	for _, proc := range p.Processes() {
		ps := s.samples(proc.Name())
		f := SoakProcess{Name: proc.Name(), RSS: summarize(ps.rss, warmup), Goroutines: summarize(ps.goroutines, warmup),
			FDs: summarize(ps.fds, warmup), SampleErrors: ps.errors, LastError: ps.lastError}
		if proc.Name() == natsServerName {
			b := summarize(beyond, warmup)
			f.BeyondStored = &b
		}
		r.Processes = append(r.Processes, f)
	}
}

// judge returns what missed the targets: for each service its memory,
// goroutines and descriptors after the warm-up, for nats-server its
// memory beyond the stored data. A series without a slope (too few
// samples after the warm-up) or a process with failed readings misses:
// what was not measured is not met.
func (r *SoakResult) judge() []string {
	t := r.Targets
	var missed []string
	miss := func(format string, args ...any) { missed = append(missed, fmt.Sprintf(format, args...)) }
	check := func(proc, what string, s SoakSeries, slope, growth float64, unit string) {
		switch {
		case !s.Sloped:
			miss("%s: %s: %d samples after the warm-up, too few for a slope", proc, what, s.Fitted)
		case s.SlopePerMinute >= slope:
			miss("%s: %s grows %.2f%s per minute after the warm-up (target < %g)", proc, what, s.SlopePerMinute, unit, slope)
		}
		if growth > 0 && s.Growth >= growth {
			miss("%s: %s grew %.1f%s after the warm-up (target < %g)", proc, what, s.Growth, unit, growth)
		}
	}
	if r.StoredErrors > 0 {
		miss("stored data: %d readings failed", r.StoredErrors)
	}
	for _, p := range r.Processes {
		if p.SampleErrors > 0 {
			miss("%s: %d readings failed (last: %s)", p.Name, p.SampleErrors, p.LastError)
		}
		switch {
		case service(p.Name):
			check(p.Name, "resident memory", p.RSS, t.RSSSlopeMiBPerMinute, t.RSSGrowthMiB, " MiB")
			check(p.Name, "goroutines", p.Goroutines, t.GoroutineSlopePerMinute, 0, "")
			check(p.Name, "open descriptors", p.FDs, t.FDSlopePerMinute, 0, "")
		case p.BeyondStored != nil:
			check(p.Name, "resident memory beyond the stored data", *p.BeyondStored, t.RSSSlopeMiBPerMinute, t.RSSGrowthMiB, " MiB")
		}
	}
	return missed
}

// loadAverage reads the machine's load average (/proc/loadavg; zeros
// when unreadable).
func loadAverage() [3]float64 {
	var out [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return out
	}
	for i, f := range strings.Fields(string(b)) {
		if i >= 3 {
			break
		}
		out[i], _ = strconv.ParseFloat(f, 64)
	}
	return out
}

// Write prints the soak as a table, with its targets and verdict.
func (r *SoakResult) Write(w io.Writer, m Machine) {
	fmt.Fprintf(w, "\nsoak: ingest, enricher, notifier as processes against nats-server (sync_interval: %s), %g callbacks/s for %s,\n", r.Sync, r.Rate, r.Duration)
	fmt.Fprintf(w, "sampled every %s; the first %s is warm-up, shown but not judged; slopes are least squares over the samples after it\n", r.Interval, r.Warmup)
	fmt.Fprintf(w, "%d CPUs (GOMAXPROCS %d), %s %s/%s; load average %.2f %.2f %.2f at the start, %.2f %.2f %.2f at the end\n",
		m.CPUs, m.GOMAXPROCS, m.Go, m.OS, m.Arch, r.LoadStart[0], r.LoadStart[1], r.LoadStart[2], r.LoadEnd[0], r.LoadEnd[1], r.LoadEnd[2])
	ph := r.Phase
	fmt.Fprintf(w, "posted %d, accepted %d (%.0f/s), delivered %d; latency p50 %.1f ms, p99 %.1f ms, max %.1f ms; Jumio: %d requests, %d answered 429\n\n",
		ph.Posted, ph.Accepted, ph.AcceptedPerSecond, ph.Delivered, ph.Latency.P50, ph.Latency.P99, ph.Latency.Max, r.JumioRequests, r.Jumio429s)
	fmt.Fprintf(w, "%-12s %-22s %9s %9s %9s %11s %9s %11s\n", "process", "figure", "first", "last", "max", "after w-up", "growth", "slope/min")
	row := func(proc, what string, s SoakSeries) {
		slope := "-"
		if s.Sloped {
			slope = fmt.Sprintf("%+.2f", s.SlopePerMinute)
		}
		fmt.Fprintf(w, "%-12s %-22s %9.1f %9.1f %9.1f %11.1f %+9.1f %11s\n", proc, what, s.First, s.Last, s.Max, s.AfterWarmup, s.Growth, slope)
	}
	for _, p := range r.Processes {
		row(p.Name, "resident MiB", p.RSS)
		row("", "goroutines", p.Goroutines)
		row("", "open fds", p.FDs)
		if p.BeyondStored != nil {
			row("", "stored MiB (streams)", r.Stored)
			row("", "resident − stored MiB", *p.BeyondStored)
		}
		if p.SampleErrors > 0 {
			fmt.Fprintf(w, "%-12s %d readings failed, the last: %s\n", "", p.SampleErrors, p.LastError)
		}
	}
	if len(r.StoredByStream) > 0 {
		var parts []string
		for _, name := range slices.Sorted(maps.Keys(r.StoredByStream)) {
			parts = append(parts, fmt.Sprintf("%s %.1f", name, r.StoredByStream[name]))
		}
		fmt.Fprintf(w, "stored at the end, MiB: %s\n", strings.Join(parts, ", "))
	}
	if r.Ledger != nil {
		fmt.Fprintln(w)
		r.Ledger.Write(w)
	}
	t := r.Targets
	fmt.Fprintf(w, "\ntargets after the warm-up: ingest, enricher and notifier each flat: resident memory < %g MiB/min and grown < %g MiB,\n", t.RSSSlopeMiBPerMinute, t.RSSGrowthMiB)
	fmt.Fprintf(w, "goroutines < %g/min, open fds < %g/min; nats-server's resident memory beyond its stored data < %g MiB/min and grown < %g MiB\n",
		t.GoroutineSlopePerMinute, t.FDSlopePerMinute, t.RSSSlopeMiBPerMinute, t.RSSGrowthMiB)
	switch {
	case r.Ledger == nil || r.LedgerError != "":
		fmt.Fprintf(w, "result: LEDGER DOES NOT BALANCE: %s\n", r.LedgerError)
	case len(r.TargetsMissed) > 0:
		fmt.Fprintf(w, "result: MISSED: %s\n", strings.Join(r.TargetsMissed, "; "))
	default:
		fmt.Fprintf(w, "result: met\n")
	}
}
