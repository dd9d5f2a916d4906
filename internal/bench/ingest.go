package bench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
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

// Store settings of the JetStream server and its streams.
const (
	SyncDefault = "default" // file storage, JetStream's default: fsync every two minutes
	SyncAlways  = "always"  // file storage, sync_interval: always, an fsync per write
	// SyncMemory keeps the streams in memory: no disk at all, so that
	// the comparison shows ingest's own latency apart from the disk's.
	SyncMemory = "memory"
	// SyncEncrypted is SyncAlways on a store encrypted with a key made
	// for the run, with nats-server's default cipher ChaCha20-Poly1305;
	// SyncEncryptedAES the same with AES-256-GCM. Measured beside
	// SyncAlways in one run, they show what store encryption costs.
	SyncEncrypted    = "encrypted"
	SyncEncryptedAES = "encrypted-aes"
)

// Syncs lists the store settings.
var Syncs = []string{SyncDefault, SyncAlways, SyncMemory, SyncEncrypted, SyncEncryptedAES}

// encryptedSync reports whether a store setting encrypts the store.
func encryptedSync(sync string) bool { return sync == SyncEncrypted || sync == SyncEncryptedAES }

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
	// Syncs are the store settings to measure (SyncDefault, SyncAlways,
	// SyncMemory, SyncEncrypted, SyncEncryptedAES).
	Syncs []string
	// Dir holds the JetStream stores (a temporary directory when empty).
	Dir string
	// Progress, when not nil, gets a line per measurement.
	Progress io.Writer
	// Interleave measures the stores in turns within each round, at one
	// fixed rate, rather than one after the other: to compare stores
	// (encrypted against always) on a machine whose load drifts. Leave
	// SyncDefault out then: its deferred flush falls into the other
	// stores' rounds.
	Interleave bool
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
		o.Syncs = []string{SyncDefault, SyncAlways, SyncMemory}
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// IngestResult compares ingest with the reference server under one store
// setting.
type IngestResult struct {
	Sync string
	// Saturation throughput.
	Reference, Ingest Measurement
	// At the fixed Rate.
	Rate                  float64
	ReferenceAt, IngestAt Measurement
	// RoundP99Ratios are ingest's p99 over the reference's at the fixed
	// rate in each round, where the two ran one after the other (which
	// one first alternates from round to round).
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
// each one's p99 over the latencies of all rounds together. It is the
// figure the target is set on. The median of the rounds' ratios is
// steadier against one disk stall but hides how often ingest is slow
// (it swung from 1.02x to 1.91x between two runs on the same code); a
// stall in a pooled p99 weighs on both servers alike, as they take turns
// in short rounds and alternate which one goes first.
func (r IngestResult) P99Ratio() float64 {
	return p99Ratio(r.IngestAt, r.ReferenceAt)
}

// RoundMedianP99Ratio is the median of the rounds' p99 ratios, printed
// beside P99Ratio to show how much single rounds swing.
func (r IngestResult) RoundMedianP99Ratio() float64 {
	if len(r.RoundP99Ratios) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(r.RoundP99Ratios))
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
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
	TargetThroughputRatio = 0.85
	TargetP99Ratio        = 1.5
)

// Met reports whether ingest meets the targets: the throughput ratio, the
// pooled p99 ratio, no errors.
func (r IngestResult) Met() bool {
	return r.ThroughputRatio() >= TargetThroughputRatio && r.P99Ratio() <= TargetP99Ratio && r.Errors() == 0
}

// RunIngest measures the real ingest against a minimal reference server
// (read the body, publish it to JetStream, wait for the ack, answer 200)
// on the same machine, over loopback, against one embedded JetStream
// server per store setting with the same stream configuration. Each is
// driven at saturation and then at a fixed rate, one at a time, in rounds
// that alternate which goes first. The stores are measured one after the
// other, or, with Interleave, in turns within each round.
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
	for _, sync := range opts.Syncs {
		if !slices.Contains(Syncs, sync) {
			return nil, fmt.Errorf("bench: unknown store setting %q (want one of %s)", sync, strings.Join(Syncs, ", "))
		}
	}
	if opts.Interleave {
		return runInterleaved(ctx, opts, dir)
	}
	var out []IngestResult
	for _, sync := range opts.Syncs {
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
	st, err := startStore(ctx, opts, dir, sync)
	if err != nil {
		return IngestResult{}, err
	}
	defer st.stop()
	slice := opts.Duration / time.Duration(opts.Rounds)
	// The machine's load drifts (other processes, disk flushes), so the
	// two servers take turns in short rounds, alternating which goes
	// first, and each round's figures are added up: drift then weighs on
	// both alike.
	alternate(ctx, opts.Rounds, func(i int) { st.saturationRound(ctx, i, slice) })
	st.progress("reference, saturation", st.res.Reference)
	st.progress("ingest, saturation", st.res.Ingest)
	st.res.Rate = opts.Rate
	if st.res.Rate <= 0 {
		st.res.Rate = max(1, st.res.Reference.Throughput()/4)
	}
	// The fixed rate starts from an empty stream with nothing left to
	// write back: JetStream's periodic flush of what the saturation phase
	// wrote (hundreds of megabytes with the default sync) stalls writes
	// for seconds, whichever server's round it falls in.
	if err := purgeCallbacks(ctx, st.emb.URL(), st.streams); err != nil {
		return st.res, err
	}
	flushDisk()
	alternate(ctx, opts.Rounds, func(i int) { st.fixedRound(ctx, i, slice) })
	st.progress(fmt.Sprintf("reference, %.0f/s", st.res.Rate), st.res.ReferenceAt)
	st.progress(fmt.Sprintf("ingest, %.0f/s", st.res.Rate), st.res.IngestAt)
	return st.res, ctx.Err()
}

// runInterleaved measures every store in turns: each round runs every
// store's reference and ingest (which store goes first rotates from round
// to round), so that the machine's drift weighs on the stores alike and
// they compare within one run. The fixed rate is one for all: Rate, or a
// quarter of the slowest reference's saturation throughput. Only stores
// without a deferred flush belong together (JetStream's default sync
// writes back the saturation phase's data for seconds, into another
// store's rounds).
func runInterleaved(ctx context.Context, opts IngestOptions, dir string) ([]IngestResult, error) {
	flushDisk()
	var stores []*storeRun
	defer func() {
		for _, st := range stores {
			st.stop()
		}
	}()
	for _, sync := range opts.Syncs {
		st, err := startStore(ctx, opts, dir, sync)
		if err != nil {
			return nil, err
		}
		stores = append(stores, st)
	}
	slice := opts.Duration / time.Duration(opts.Rounds)
	turns := func(run func(st *storeRun, i int)) {
		inTurns(ctx, opts.Rounds, len(stores), func(k, i int) { run(stores[k], i) })
	}
	turns(func(st *storeRun, i int) { st.saturationRound(ctx, i, slice) })
	rate := opts.Rate
	for _, st := range stores {
		st.progress("reference, saturation", st.res.Reference)
		st.progress("ingest, saturation", st.res.Ingest)
		if opts.Rate <= 0 && (rate <= 0 || st.res.Reference.Throughput()/4 < rate) {
			rate = max(1, st.res.Reference.Throughput()/4)
		}
	}
	for _, st := range stores {
		st.res.Rate = rate
		if err := purgeCallbacks(ctx, st.emb.URL(), st.streams); err != nil {
			return nil, err
		}
	}
	flushDisk()
	turns(func(st *storeRun, i int) { st.fixedRound(ctx, i, slice) })
	out := make([]IngestResult, len(stores))
	for i, st := range stores {
		st.progress(fmt.Sprintf("reference, %.0f/s", rate), st.res.ReferenceAt)
		st.progress(fmt.Sprintf("ingest, %.0f/s", rate), st.res.IngestAt)
		out[i] = st.res
	}
	return out, ctx.Err()
}

// storeRun is one store setting's JetStream server, reference and
// ingest, and their figures so far.
type storeRun struct {
	sync     string
	opts     IngestOptions
	emb      *embedded.Server
	streams  broker.StreamsConfig
	ref, ing *server
	res      IngestResult
	runs     int
}

// startStore starts the JetStream server of a store setting, with the
// reference and ingest on it.
func startStore(ctx context.Context, opts IngestOptions, dir, sync string) (*storeRun, error) {
	cfg := embedded.Config{
		StoreDir:   fmt.Sprintf("%s/%s", dir, sync),
		Port:       -1,
		SyncAlways: sync == SyncAlways || encryptedSync(sync),
		ServerName: "kycflow-bench-" + sync,
	}
	if encryptedSync(sync) {
		cfg.StoreKey = rand.Text() + rand.Text() // 52 random characters, 260 bits
		if sync == SyncEncryptedAES {
			cfg.StoreCipher = embedded.CipherAES
		}
	}
	emb, err := embedded.Run(cfg)
	if err != nil {
		return nil, err
	}
	st := &storeRun{sync: sync, opts: opts, emb: emb, streams: streamsConfig(sync), res: IngestResult{Sync: sync}}
	if st.ref, err = startReference(ctx, emb.URL(), st.streams); err != nil {
		st.stop()
		return nil, err
	}
	if st.ing, err = startIngest(ctx, emb.URL(), st.streams); err != nil {
		st.stop()
		return nil, err
	}
	return st, nil
}

func (st *storeRun) stop() {
	if st.ing != nil {
		st.ing.stop()
	}
	if st.ref != nil {
		st.ref.stop()
	}
	st.emb.Stop()
}

// series names the callbacks of one measurement, new ones each time.
func (st *storeRun) series(name string) func(int) Callback {
	st.runs++
	seed := st.sync + "/" + name + "/" + strconv.Itoa(st.runs)
	return func(n int) Callback { return MixedCallback(seed, n) }
}

// saturationRound drives the reference and ingest at saturation for a
// slice each, in the order of round i.
func (st *storeRun) saturationRound(ctx context.Context, i int, slice time.Duration) {
	o := st.opts
	inTurn(i, func() {
		st.res.Reference = st.res.Reference.Merge(Saturate(ctx, st.ref.target, o.Concurrency, o.Warmup, slice, st.series("ref-sat")))
	}, func() {
		st.res.Ingest = st.res.Ingest.Merge(Saturate(ctx, st.ing.target, o.Concurrency, o.Warmup, slice, st.series("ingest-sat")))
	})
}

// fixedRound drives the reference and ingest at the fixed rate for a
// slice each, in the order of round i, and keeps the round's p99 ratio.
func (st *storeRun) fixedRound(ctx context.Context, i int, slice time.Duration) {
	o := st.opts
	var r, g Measurement
	inTurn(i, func() {
		r = FixedRate(ctx, st.ref.target, st.res.Rate, o.MaxInFlight, o.Warmup, slice, st.series("ref-rate"))
		st.res.ReferenceAt = st.res.ReferenceAt.Merge(r)
	}, func() {
		g = FixedRate(ctx, st.ing.target, st.res.Rate, o.MaxInFlight, o.Warmup, slice, st.series("ingest-rate"))
		st.res.IngestAt = st.res.IngestAt.Merge(g)
	})
	if ratio := p99Ratio(g, r); ratio > 0 {
		st.res.RoundP99Ratios = append(st.res.RoundP99Ratios, ratio)
	}
}

func (st *storeRun) progress(what string, m Measurement) {
	fmt.Fprintf(st.opts.Progress, "  sync %-13s %-26s %8.0f req/s  p50 %8s  p99 %8s  errors %d\n",
		st.sync, what, m.Throughput(), round(m.Quantile(0.5)), round(m.Quantile(0.99)), m.Errors)
}

// alternate runs rounds 0 to rounds-1 of one store, stopping early when
// ctx ends.
func alternate(ctx context.Context, rounds int, run func(i int)) {
	for i := range rounds {
		run(i)
		if ctx.Err() != nil {
			return
		}
	}
}

// inTurns runs rounds 0 to rounds-1 of n stores: in round i every store
// k once, store i mod n first, so that no store always runs on what the
// same other one left behind. It stops early when ctx ends.
func inTurns(ctx context.Context, rounds, n int, run func(k, i int)) {
	for i := range rounds {
		for j := range n {
			run((i+j)%n, i)
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// inTurn runs ref and ing in the order of round i: the reference first in
// even rounds and ingest first in odd ones, so that neither always runs
// on what the other left behind (a disk flush, a collection).
func inTurn(i int, ref, ing func()) {
	if i%2 == 0 {
		ref()
		ing()
		return
	}
	ing()
	ref()
}

// streamsConfig is the streams' configuration for a store setting: the
// defaults, in memory for SyncMemory.
func streamsConfig(sync string) broker.StreamsConfig {
	c := broker.DefaultStreamsConfig()
	if sync == SyncMemory {
		c.Storage = "memory"
	}
	return c
}

// purgeCallbacks empties JUMIO_CALLBACKS.
func purgeCallbacks(ctx context.Context, url string, streams broker.StreamsConfig) error {
	nc, js, err := ensureStreams(ctx, url, streams)
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

func ensureStreams(ctx context.Context, url string, streams broker.StreamsConfig) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(url)
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	if err := broker.EnsureStreams(ctx, js, streams); err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// startReference runs the minimal reference server: read the body,
// publish it to JUMIO_CALLBACKS with a unique Nats-Msg-Id, wait for the
// ack, answer 200 (503 on any error). The request path is the subject
// ingest stores the callback under (Callback.Subject, one per execution):
// JetStream indexes every subject a stream holds, which costs the server
// about as much CPU per request as all of ingest's checks together, and
// the reference must pay for the stream layout the pipeline needs (the
// enricher's per-execution order, erasure's purge by subject) as ingest
// does. It reads the subject from the path instead of the body, which is
// the parsing the reference leaves out.
func startReference(ctx context.Context, url string, streams broker.StreamsConfig) (*server, error) {
	nc, js, err := ensureStreams(ctx, url, streams)
	if err != nil {
		return nil, err
	}
	var seq atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		subject := strings.TrimPrefix(r.URL.Path, "/")
		if !strings.HasPrefix(subject, events.SubjectCallbacks+".") {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		msg := nats.NewMsg(subject)
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
		target: Target{Name: "reference", Base: "http://" + ln.Addr().String(), Path: func(cb Callback) string { return "/" + cb.Subject }},
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
func startIngest(ctx context.Context, url string, streams broker.StreamsConfig) (*server, error) {
	nc, _, err := ensureStreams(ctx, url, streams)
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
	fmt.Fprintf(w, "bodies: alternating Platform JSON (~0.6 KiB) and Netverify forms (~1 KiB); %s per measurement in %d rounds alternating which server goes first, each after %s warm-up; %d clients at saturation\n\n",
		opts.Duration, opts.Rounds, opts.Warmup, opts.Concurrency)
	fmt.Fprintf(w, "%-13s %-10s %12s %7s %9s %7s %10s %9s %9s %8s %8s %7s\n", "store", "server", "saturation", "ratio", "CPU/req", "ratio", "fixed", "p50", "p99", "p99 x", "median x", "errors")
	var failed []string
	for _, r := range results {
		fmt.Fprintf(w, "%-13s %-10s %10.0f/s %7s %9s %7s %8.0f/s %9s %9s %8s %8s %7d\n", r.Sync, "reference",
			r.Reference.Throughput(), "", round(r.Reference.CPUPerRequest()), "", r.Rate, round(r.ReferenceAt.Quantile(0.5)), round(r.ReferenceAt.Quantile(0.99)), "", "", r.Reference.Errors+r.ReferenceAt.Errors)
		fmt.Fprintf(w, "%-13s %-10s %10.0f/s %6.1f%% %9s %6.1f%% %8.0f/s %9s %9s %7.2fx %7.2fx %7d\n", r.Sync, "ingest",
			r.Ingest.Throughput(), 100*r.ThroughputRatio(), round(r.Ingest.CPUPerRequest()), 100*r.CPURatio(), r.Rate, round(r.IngestAt.Quantile(0.5)), round(r.IngestAt.Quantile(0.99)), r.P99Ratio(), r.RoundMedianP99Ratio(), r.Ingest.Errors+r.IngestAt.Errors)
		if !r.Met() {
			failed = append(failed, r.Sync)
		}
	}
	fmt.Fprintf(w, "\nstore: default and always are file storage with JetStream's default sync and sync_interval: always; memory keeps\nthe streams in memory, so that ingest's own latency shows apart from the disk's; encrypted and encrypted-aes are always\non a store encrypted with ChaCha20-Poly1305 and AES-256-GCM.\n")
	writeEncryptionCost(w, results)
	fmt.Fprintf(w, "CPU/req: processor time of the whole process (clients, server, JetStream) per request at saturation; its ratio is the\nthroughput ratio on an idle machine where the CPU is the limit, and is steadier than throughput on a shared one.\n")
	fmt.Fprintf(w, "p99 x: ingest's p99 over the reference's, each pooled over all rounds (the target is set on it); median x: the median\nof the rounds' ratios, to show how much single rounds swing.\n")
	fmt.Fprintf(w, "targets: throughput >= %.0f%% of the reference, pooled p99 <= %.1fx the reference's at the same fixed rate, zero errors\n",
		100*TargetThroughputRatio, TargetP99Ratio)
	if len(failed) > 0 {
		fmt.Fprintf(w, "result: MISSED for store %v\n", failed)
		return ErrTargetMissed
	}
	fmt.Fprintf(w, "result: met\n")
	return nil
}

// writeEncryptionCost compares each encrypted store with always, measured
// in the same run: what store encryption costs ingest and the reference.
func writeEncryptionCost(w io.Writer, results []IngestResult) {
	i := slices.IndexFunc(results, func(r IngestResult) bool { return r.Sync == SyncAlways })
	if i < 0 {
		return
	}
	base := results[i]
	pct := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return 100 * (a/b - 1)
	}
	for _, r := range results {
		if !encryptedSync(r.Sync) {
			continue
		}
		fmt.Fprintf(w, "%s vs always: saturation ingest %+.1f%%, reference %+.1f%%; CPU/req ingest %s vs %s, reference %s vs %s; p99 at the fixed rate ingest %s vs %s, reference %s vs %s",
			r.Sync, pct(r.Ingest.Throughput(), base.Ingest.Throughput()), pct(r.Reference.Throughput(), base.Reference.Throughput()),
			round(r.Ingest.CPUPerRequest()), round(base.Ingest.CPUPerRequest()), round(r.Reference.CPUPerRequest()), round(base.Reference.CPUPerRequest()),
			round(r.IngestAt.Quantile(0.99)), round(base.IngestAt.Quantile(0.99)), round(r.ReferenceAt.Quantile(0.99)), round(base.ReferenceAt.Quantile(0.99)))
		if r.Rate != base.Rate {
			fmt.Fprintf(w, " (fixed rates differ, %.0f/s and %.0f/s: set --rate to compare at one)", r.Rate, base.Rate)
		}
		fmt.Fprintln(w)
	}
}

// ErrTargetMissed is returned by Report when a target is missed.
var ErrTargetMissed = errors.New("bench: a performance target was missed")
