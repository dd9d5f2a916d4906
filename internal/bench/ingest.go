package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/broker/embedded"
	"github.com/kycflow/kycflow/internal/config"
	"github.com/kycflow/kycflow/internal/ingest"
	"github.com/kycflow/kycflow/internal/telemetry"
	"github.com/kycflow/kycflow/pkg/events"
)

// Sync settings of the JetStream server.
const (
	SyncDefault = "default" // JetStream's default: fsync every two minutes
	SyncAlways  = "always"  // sync_interval: always, an fsync per write
)

// IngestOptions configures RunIngest.
type IngestOptions struct {
	// Duration of each measurement, split into Rounds in which the
	// reference and ingest take turns.
	Duration time.Duration
	// Rounds the measurement is split into.
	Rounds int
	// Warmup before each round.
	Warmup time.Duration
	// Concurrency is the number of closed-loop clients at saturation.
	Concurrency int
	// Rate is the fixed request rate per second; 0 means a quarter of the
	// reference's saturation throughput in the same run (moderate load:
	// on a shared 2-core machine half of it already queues).
	Rate float64
	// MaxInFlight bounds the open-loop clients at the fixed rate.
	MaxInFlight int
	// Syncs are the JetStream sync settings to measure (SyncDefault,
	// SyncAlways).
	Syncs []string
	// Dir holds the JetStream stores (a temporary directory when empty).
	Dir string
	// Progress, when not nil, gets a line per measurement.
	Progress io.Writer
}

func (o *IngestOptions) setDefaults() {
	if o.Duration <= 0 {
		o.Duration = 30 * time.Second
	}
	if o.Warmup <= 0 {
		o.Warmup = 300 * time.Millisecond
	}
	if o.Rounds <= 0 {
		o.Rounds = 30
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 32
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 512
	}
	if len(o.Syncs) == 0 {
		o.Syncs = []string{SyncDefault, SyncAlways}
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// IngestResult compares ingest with the reference server under one sync
// setting.
type IngestResult struct {
	Sync string
	// Saturation throughput.
	Reference, Ingest Measurement
	// At the fixed Rate.
	Rate                  float64
	ReferenceAt, IngestAt Measurement
	// RoundP99Ratios are ingest's p99 over the reference's at the fixed
	// rate in each round, where the two ran one after the other.
	RoundP99Ratios []float64
}

// ThroughputRatio is ingest's saturation throughput over the reference's.
func (r IngestResult) ThroughputRatio() float64 {
	if t := r.Reference.Throughput(); t > 0 {
		return r.Ingest.Throughput() / t
	}
	return 0
}

// CPURatio is the reference's CPU per request over ingest's at
// saturation: the throughput ratio the two would have on an otherwise idle
// machine where the CPU is the limit.
func (r IngestResult) CPURatio() float64 {
	if c := r.Ingest.CPUPerRequest(); c > 0 {
		return float64(r.Reference.CPUPerRequest()) / float64(c)
	}
	return 0
}

// P99Ratio compares ingest's p99 with the reference's at the fixed rate:
// the median of the rounds' ratios, each of two runs a few seconds apart.
// One disk stall (an fsync taking tens of milliseconds, on a machine that
// other work shares) moves the p99 of the run it falls in; pairing the
// rounds and taking the median keeps one stall from deciding the
// comparison, where the p99s of all rounds together (PooledP99Ratio) let
// it. Without rounds it is the pooled ratio.
func (r IngestResult) P99Ratio() float64 {
	if len(r.RoundP99Ratios) == 0 {
		return r.PooledP99Ratio()
	}
	s := slices.Sorted(slices.Values(r.RoundP99Ratios))
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// PooledP99Ratio is ingest's p99 over the reference's at the fixed rate,
// each over all rounds.
func (r IngestResult) PooledP99Ratio() float64 {
	return p99Ratio(r.IngestAt, r.ReferenceAt)
}

func p99Ratio(ingest, ref Measurement) float64 {
	if p := ref.Quantile(0.99); p > 0 {
		return float64(ingest.Quantile(0.99)) / float64(p)
	}
	return 0
}

// Errors counts failed requests of all four measurements.
func (r IngestResult) Errors() int {
	return r.Reference.Errors + r.Ingest.Errors + r.ReferenceAt.Errors + r.IngestAt.Errors
}

// Targets of ingest (docs/architecture.md#performance-targets).
const (
	TargetThroughputRatio = 0.70
	TargetP99Ratio        = 1.5
)

// Met reports whether ingest meets the targets.
func (r IngestResult) Met() bool {
	return r.ThroughputRatio() >= TargetThroughputRatio && r.P99Ratio() <= TargetP99Ratio && r.Errors() == 0
}

// RunIngest measures the real ingest against a minimal reference server
// (read the body, publish it to JetStream, wait for the ack, answer 200)
// on the same machine, over loopback, against one embedded JetStream
// server per sync setting with the same stream configuration. Each is
// driven at saturation and then at a fixed rate, one at a time.
func RunIngest(ctx context.Context, opts IngestOptions) ([]IngestResult, error) {
	opts.setDefaults()
	dir := opts.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "kycflow-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	var out []IngestResult
	for _, sync := range opts.Syncs {
		if sync != SyncDefault && sync != SyncAlways {
			return nil, fmt.Errorf("bench: unknown sync setting %q", sync)
		}
		r, err := runIngestSync(ctx, opts, dir, sync)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func runIngestSync(ctx context.Context, opts IngestOptions, dir, sync string) (IngestResult, error) {
	flushDisk()
	emb, err := embedded.Run(embedded.Config{
		StoreDir:   fmt.Sprintf("%s/%s", dir, sync),
		Port:       -1,
		SyncAlways: sync == SyncAlways,
		ServerName: "kycflow-bench-" + sync,
	})
	if err != nil {
		return IngestResult{}, err
	}
	defer emb.Stop()

	ref, err := startReference(ctx, emb.URL())
	if err != nil {
		return IngestResult{}, err
	}
	defer ref.stop()
	ing, err := startIngest(ctx, emb.URL())
	if err != nil {
		return IngestResult{}, err
	}
	defer ing.stop()

	run := 0
	series := func(name string) func(int) Callback {
		run++
		seed := sync + "/" + name + "/" + strconv.Itoa(run)
		return func(n int) Callback { return MixedCallback(seed, n) }
	}
	res := IngestResult{Sync: sync}
	progress := func(what string, m Measurement) {
		fmt.Fprintf(opts.Progress, "  sync %-7s %-26s %8.0f req/s  p50 %8s  p99 %8s  errors %d\n",
			sync, what, m.Throughput(), round(m.Quantile(0.5)), round(m.Quantile(0.99)), m.Errors)
	}
	// The machine's load drifts (other processes, disk flushes), so the
	// two servers take turns in short rounds and each round's figures are
	// added up: drift then weighs on both alike.
	rounds := opts.Rounds
	slice := opts.Duration / time.Duration(rounds)
	for i := range rounds {
		res.Reference = res.Reference.Merge(Saturate(ctx, ref.target, opts.Concurrency, opts.Warmup, slice, series("ref-sat")))
		res.Ingest = res.Ingest.Merge(Saturate(ctx, ing.target, opts.Concurrency, opts.Warmup, slice, series("ingest-sat")))
		if ctx.Err() != nil || i == rounds-1 {
			break
		}
	}
	progress("reference, saturation", res.Reference)
	progress("ingest, saturation", res.Ingest)
	res.Rate = opts.Rate
	if res.Rate <= 0 {
		res.Rate = max(1, res.Reference.Throughput()/4)
	}
	// The fixed rate starts from an empty stream with nothing left to
	// write back: JetStream's periodic flush of what the saturation phase
	// wrote (hundreds of megabytes with the default sync) stalls writes
	// for seconds, whichever server's round it falls in.
	if err := purgeCallbacks(ctx, emb.URL()); err != nil {
		return res, err
	}
	flushDisk()
	for i := range rounds {
		r := FixedRate(ctx, ref.target, res.Rate, opts.MaxInFlight, opts.Warmup, slice, series("ref-rate"))
		g := FixedRate(ctx, ing.target, res.Rate, opts.MaxInFlight, opts.Warmup, slice, series("ingest-rate"))
		res.ReferenceAt, res.IngestAt = res.ReferenceAt.Merge(r), res.IngestAt.Merge(g)
		if ratio := p99Ratio(g, r); ratio > 0 {
			res.RoundP99Ratios = append(res.RoundP99Ratios, ratio)
		}
		if ctx.Err() != nil || i == rounds-1 {
			break
		}
	}
	progress(fmt.Sprintf("reference, %.0f/s", res.Rate), res.ReferenceAt)
	progress(fmt.Sprintf("ingest, %.0f/s", res.Rate), res.IngestAt)
	return res, ctx.Err()
}

// purgeCallbacks empties JUMIO_CALLBACKS.
func purgeCallbacks(ctx context.Context, url string) error {
	nc, js, err := ensureStreams(ctx, url)
	if err != nil {
		return err
	}
	defer nc.Close()
	st, err := js.Stream(ctx, events.StreamCallbacks)
	if err != nil {
		return err
	}
	return st.Purge(ctx)
}

func round(d time.Duration) time.Duration {
	switch {
	case d > 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d > time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

type server struct {
	target Target
	stop   func()
}

func ensureStreams(ctx context.Context, url string) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(url)
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	if err := broker.EnsureStreams(ctx, js, broker.DefaultStreamsConfig()); err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// startReference runs the minimal reference server: read the body,
// publish it to JUMIO_CALLBACKS with a unique Nats-Msg-Id, wait for the
// ack, answer 200 (503 on any error).
func startReference(ctx context.Context, url string) (*server, error) {
	nc, js, err := ensureStreams(ctx, url)
	if err != nil {
		return nil, err
	}
	var seq atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		msg := nats.NewMsg(events.SubjectCallbacks + ".reference.bench.x")
		msg.Data = body
		msg.Header.Set(events.HeaderMsgID, strconv.FormatInt(seq.Add(1), 10))
		pctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if _, err := js.PublishMsg(pctx, msg); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		nc.Close()
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return &server{
		target: Target{Name: "reference", Base: "http://" + ln.Addr().String(), Path: func(Callback) string { return "/" }},
		stop: func() {
			_ = srv.Close()
			nc.Close()
		},
	}, nil
}

// startIngest runs the real ingest service as deployed: every sender check
// it can run over loopback on (source address allowlisted, content type,
// parsing, region), logs at info level (to nowhere), metrics and tracing
// on. The per-address rate limit is off: all load comes from one address.
func startIngest(ctx context.Context, url string) (*server, error) {
	nc, _, err := ensureStreams(ctx, url)
	if err != nil {
		return nil, err
	}
	tel, err := telemetry.Setup(ctx, telemetry.Config{ServiceName: "ingest", LogFormat: "json", LogLevel: "info"}, io.Discard)
	if err != nil {
		nc.Close()
		return nil, err
	}
	cfg := ingest.LoadConfig(config.FromMap(map[string]string{
		"KYCFLOW_INGEST_ALLOWED_SOURCES": "127.0.0.1",
		"KYCFLOW_INGEST_RATE_LIMIT":      "0",
	}))
	svc, err := ingest.New(cfg, nc, tel)
	if err != nil {
		nc.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		nc.Close()
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- svc.Serve(sctx, ln) }()
	return &server{
		target: Target{Name: "ingest", Base: "http://" + ln.Addr().String(), Path: func(cb Callback) string { return "/callbacks/" + string(cb.API) }},
		stop: func() {
			cancel()
			<-done
			nc.Close()
			_ = tel.Shutdown(context.Background())
		},
	}, nil
}

// Report writes the results as a table with the targets.
func Report(w io.Writer, opts IngestOptions, results []IngestResult) error {
	opts.setDefaults()
	fmt.Fprintf(w, "\ningest vs reference (HTTP body -> JetStream publish -> ack -> 200), %d CPUs (GOMAXPROCS %d), %s\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version())
	fmt.Fprintf(w, "bodies: alternating Platform JSON (~0.6 KiB) and Netverify forms (~1 KiB); %s per measurement in %d alternating rounds, each after %s warm-up; %d clients at saturation\n\n",
		opts.Duration, opts.Rounds, opts.Warmup, opts.Concurrency)
	fmt.Fprintf(w, "%-8s %-10s %12s %7s %9s %7s %10s %9s %9s %8s %7s\n", "sync", "server", "saturation", "ratio", "CPU/req", "ratio", "fixed", "p50", "p99", "p99 x", "errors")
	var failed []string
	for _, r := range results {
		fmt.Fprintf(w, "%-8s %-10s %10.0f/s %7s %9s %7s %8.0f/s %9s %9s %8s %7d\n", r.Sync, "reference",
			r.Reference.Throughput(), "", round(r.Reference.CPUPerRequest()), "", r.Rate, round(r.ReferenceAt.Quantile(0.5)), round(r.ReferenceAt.Quantile(0.99)), "", r.Reference.Errors+r.ReferenceAt.Errors)
		fmt.Fprintf(w, "%-8s %-10s %10.0f/s %6.1f%% %9s %6.1f%% %8.0f/s %9s %9s %7.2fx %7d\n", r.Sync, "ingest",
			r.Ingest.Throughput(), 100*r.ThroughputRatio(), round(r.Ingest.CPUPerRequest()), 100*r.CPURatio(), r.Rate, round(r.IngestAt.Quantile(0.5)), round(r.IngestAt.Quantile(0.99)), r.P99Ratio(), r.Ingest.Errors+r.IngestAt.Errors)
		if !r.Met() {
			failed = append(failed, r.Sync)
		}
	}
	fmt.Fprintf(w, "\nCPU/req: processor time of the whole process (clients, server, JetStream) per request at saturation; its ratio is the\nthroughput ratio on an idle machine where the CPU is the limit, and is steadier than throughput on a shared one.\n")
	fmt.Fprintf(w, "p99 x: the median over the rounds of ingest's p99 over the reference's in the same round, so that one disk stall does\nnot decide it; the p99 columns and their ratio pooled over all rounds:")
	for _, r := range results {
		fmt.Fprintf(w, " %s %.2fx", r.Sync, r.PooledP99Ratio())
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "targets: throughput >= %.0f%% of the reference, p99 <= %.1fx the reference's at the same fixed rate, zero errors\n",
		100*TargetThroughputRatio, TargetP99Ratio)
	if len(failed) > 0 {
		fmt.Fprintf(w, "result: MISSED for sync %v\n", failed)
		return ErrTargetMissed
	}
	fmt.Fprintf(w, "result: met\n")
	return nil
}

// ErrTargetMissed is returned by Report when a target is missed.
var ErrTargetMissed = errors.New("bench: a performance target was missed")
