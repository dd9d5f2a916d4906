package cli

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/kycflow/kycflow/internal/bench"
	"github.com/kycflow/kycflow/internal/bench/rig"
)

func init() {
	register(&Command{
		Name:    "bench",
		Summary: "measure kycflow end to end and against a minimal reference on this machine",
		Usage:   "[all|e2e|ingest|migrate|soak] [flags]",
		Description: `bench e2e builds ingest, the enricher, the notifier, kycflow and nats-server
from this source tree and measures the whole pipeline: the Jumio simulator's
callbacks are posted to ingest at a fixed rate, then at saturation; results
go to a webhook receiver on loopback and to JUMIO_RESULTS. It runs once as
separate processes against an external nats-server (sync_interval: always
unless --nats-sync default), once as "kycflow run" with its embedded
server, and once in production's shape, two processes of each service on a
three-server JetStream cluster with R3 streams, whose throughput and p99 it
sets beside the single node's with their ratios; and prints accepted callbacks/s, results delivered/s, latency from
each callback's scheduled send time to the webhook's arrival (p50, p90,
p99, max), resident memory and CPU per process, and the ledger of every
callback. A counting phase after the timed ones counts, per result and
stage, the requests the stages send to JetStream (publishes, key-value
writes and reads, acks, pull requests, API calls) and what the server
stored and synced; --profile writes CPU profiles taken at saturation.
The simulator answers after --jumio-latency within a budget generous
enough that Jumio is not the bottleneck.

bench ingest drives the real ingest over loopback, at saturation and at a
fixed rate, and in the same run a minimal reference server (HTTP body ->
JetStream publish -> ack -> 200) on the same stream configuration and
subjects (the one ingest stores each callback under, one per execution,
taken from the request path), once per
store (file with JetStream's default sync, file with sync always, memory;
on request encrypted and encrypted-aes: sync always on an encrypted store,
compared with always to show what store encryption costs; --interleave
measures the stores in turns within each round, at one fixed rate, so that
the machine's drift weighs on them alike).
The two take turns in short rounds, alternating which goes first. It prints
both throughputs, their ratio, CPU per request and p50/p99 latency (from
each request's scheduled send time at the fixed rate); the p99 ratio the
target is set on pools the latencies of all rounds.

bench migrate measures the Jumio budget lanes: the live end-to-end p99 at
--migrate-live-rate alone and while "kycflow migrate-data" migrates
--migrate-scans Netverify scans (rounds of each in turn, the migration
paused for the rounds alone; the median of the rounds' ratios counts), against a simulator that enforces a budget
of --migrate-budget requests per second (the enricher is configured with
it), and the share of the budget the live traffic leaves that the
migration used. Targets: live p99 with the migration at most 1.2x the p99
alone, at least 90% of what live leaves used, no 429. It takes a few
minutes and is not part of "all".

bench soak runs ingest, the enricher and the notifier as processes against
nats-server (sync_interval: always) at --soak-rate callbacks/s for
--soak-duration (minutes), and samples every --soak-interval each
process's resident memory (VmRSS), goroutines (the services' go_goroutines,
nats-server's goroutine profile) and open file descriptors (/proc/PID/fd),
and what the streams store. It prints per process the first, last and
highest sample, and after --soak-warmup the growth and the least-squares
slope per minute, so that a leak shows as a trend; then the ledger of every
callback. Targets, after the warm-up: ingest, the enricher and the notifier
each flat, resident memory growing < 1 MiB/min and < 5 MiB in all,
goroutines < 20/min, open descriptors < 10/min; nats-server's resident
memory beyond what its streams store flat by the same memory targets (its
growth is the stored data). Not part of "all".

bench all (the default) runs e2e and ingest. Results are printed as tables and, with
--json-out, written as JSON to compare runs. It exits 1 when a ledger does
not balance or a target of the design is missed. Everything runs on this
machine: close other work for stable figures.`,
		Example: `  kycflow bench
  kycflow bench e2e --e2e-rate 200 --e2e-duration 30s --json-out e2e.json
  kycflow bench ingest --duration 10s --sync always --rate 1000
  kycflow bench ingest --sync always,encrypted,encrypted-aes --interleave --rate 200
  kycflow bench migrate --migrate-scans 10000 --json-out migrate.json
  kycflow bench soak --soak-rate 125 --soak-duration 3m --json-out soak.json`,
		Flags: func(fs *flag.FlagSet) {
			fs.String("json-out", "", "also write the results as JSON to this file")
			fs.String("log", "", "write the pipeline processes' output to this file")
			// End to end.
			fs.Float64("e2e-rate", 100, "end to end: fixed callback rate per second")
			fs.Duration("e2e-duration", 20*time.Second, "end to end: how long the fixed rate is offered")
			fs.Int("e2e-saturation", 3000, "end to end: callbacks posted at saturation")
			fs.Int("e2e-concurrency", 32, "end to end: closed-loop clients at saturation")
			fs.Int("e2e-runs", 1, "end to end: run it this many times in a row and print each run's p99 at the fixed rate; the target must hold in every run")
			fs.Int("e2e-count", 500, "end to end: callbacks of the counting phase, whose JetStream operations per result are counted (0: none)")
			fs.String("profile", "", "end to end: write CPU profiles of the enricher, the notifier and nats-server (kycflow run: the one process), taken at saturation, into this directory")
			fs.String("modes", "processes,run,cluster", "end to end: processes (separate services and nats-server), run (kycflow run), cluster (two processes of each service on three nats-servers, R3 streams)")
			fs.String("nats-sync", bench.SyncAlways, "end to end: sync setting of the external nats-server: always or default")
			fs.Duration("jumio-latency", 20*time.Millisecond, "end to end and soak: the Jumio simulator's latency per request")
			fs.Float64("jumio-budget", 10000, "end to end and soak: the Jumio simulator's request budget per second")
			// Ingest against the reference.
			fs.Duration("duration", 30*time.Second, "ingest: length of each measurement, split into alternating rounds")
			fs.Int("rounds", 30, "ingest: rounds in which the reference and ingest take turns (a p99 from fewer than about 30 one-second rounds swings with single disk stalls)")
			fs.Duration("warmup", 300*time.Millisecond, "ingest: warm-up before each round")
			fs.Int("concurrency", 32, "ingest: closed-loop clients at saturation")
			fs.Float64("rate", 0, "ingest: fixed request rate per second (0: a quarter of the reference's saturation throughput)")
			fs.String("sync", "default,always,memory", "ingest: stores to measure: default (file, JetStream's default sync), always (file, sync_interval: always), memory (memory storage, no disk), encrypted and encrypted-aes (always, on a store encrypted with ChaCha20-Poly1305 or AES-256-GCM; beside always, the cost of store encryption)")
			fs.Bool("interleave", false, "ingest: measure the stores in turns within each round, at one fixed rate, instead of one after the other: to compare stores (always,encrypted) on a machine whose load drifts; not with default")
			// Migration against live traffic.
			fs.Float64("migrate-budget", 30, "migrate: the tenant's Jumio request budget per second (simulator and enricher)")
			fs.Float64("migrate-live-rate", 10, "migrate: live callbacks per second")
			fs.Duration("migrate-window", 20*time.Second, "migrate: length of each live window (one alone and one with the migration per round)")
			fs.Int("migrate-rounds", 5, "migrate: rounds, each a live window alone and one with the migration; the median of the rounds' p99 ratios counts")
			fs.Int("migrate-scans", 10000, "migrate: Netverify scans migrated")
			fs.Int("migrate-per-user", 4, "migrate: scans per end user (one account each)")
			// Soak.
			fs.Float64("soak-rate", 125, "soak: callbacks per second")
			fs.Duration("soak-duration", 10*time.Minute, "soak: how long the rate is offered")
			fs.Duration("soak-warmup", time.Minute, "soak: the start of the run whose samples are shown but not judged")
			fs.Duration("soak-interval", 2*time.Second, "soak: time between samples")
		},
		Run: runBench,
	})
}

// runBench reads the options, runs the end-to-end and the ingest
// benchmarks asked for, writes --json-out, and fails when a ledger does
// not balance or a target is missed.
func runBench(ctx context.Context, env Env, fs *flag.FlagSet, args []string) error {
	target := "all"
	if len(args) > 0 {
		target = args[0]
	}
	if len(args) > 1 || (target != "all" && target != "e2e" && target != "ingest" && target != "migrate" && target != "soak") {
		return usageError("bench: unknown target %q (want all, e2e, ingest, migrate or soak)", strings.Join(args, " "))
	}
	e2eOpts, ingestOpts, err := benchOptions(env, fs)
	if err != nil {
		return err
	}
	if getFlag(fs, "e2e-runs").(int) < 1 {
		return usageError("bench: --e2e-runs: want at least 1")
	}
	migrateOpts := benchMigrateOptions(env, fs)
	soakOpts := benchSoakOptions(env, fs, e2eOpts)
	if err := soakOpts.Validate(); err != nil && target == "soak" {
		return usageError("%v", err)
	}
	if path := strFlag(fs, "log"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("bench: --log: %w", err)
		}
		defer f.Close()
		e2eOpts.Log = f
		migrateOpts.Log = f
		soakOpts.Log = f
	}

	res := bench.Results{Machine: bench.ThisMachine()}
	var errs []error
	var missed []string
	if target == "all" || target == "e2e" {
		failed, miss, err := benchE2ERuns(ctx, env, e2eOpts, getFlag(fs, "e2e-runs").(int), &res)
		if err != nil {
			return err
		}
		errs = append(errs, failed...)
		missed = append(missed, miss...)
	}
	if target == "all" || target == "ingest" {
		failed, miss, err := benchIngest(ctx, env, ingestOpts, &res)
		if err != nil {
			return err
		}
		errs = append(errs, failed...)
		missed = append(missed, miss...)
	}
	if target == "migrate" {
		miss, err := benchMigrate(ctx, env, migrateOpts, &res)
		if err != nil {
			return err
		}
		missed = append(missed, miss...)
	}
	if target == "soak" {
		failed, miss, err := benchSoak(ctx, env, soakOpts, &res)
		if err != nil {
			return err
		}
		errs = append(errs, failed...)
		missed = append(missed, miss...)
	}
	if path := strFlag(fs, "json-out"); path != "" {
		if err := res.WriteJSON(path); err != nil {
			return fmt.Errorf("bench: --json-out: %w", err)
		}
		fmt.Fprintf(env.Stdout, "\nresults written to %s\n", path)
	}
	if len(missed) > 0 {
		errs = append(errs, fmt.Errorf("%w (%s)", bench.ErrTargetMissed, strings.Join(missed, ", ")))
	}
	return errors.Join(errs...)
}

// benchOptions reads the options of both benchmarks from the flags.
func benchOptions(env Env, fs *flag.FlagSet) (bench.E2EOptions, bench.IngestOptions, error) {
	get := func(name string) any { return fs.Lookup(name).Value.(flag.Getter).Get() }
	e2eOpts := bench.E2EOptions{
		Rate:         get("e2e-rate").(float64),
		Duration:     get("e2e-duration").(time.Duration),
		Saturation:   get("e2e-saturation").(int),
		Concurrency:  get("e2e-concurrency").(int),
		Count:        cmp.Or(get("e2e-count").(int), -1),
		ProfileDir:   strFlag(fs, "profile"),
		JumioLatency: get("jumio-latency").(time.Duration),
		JumioBudget:  get("jumio-budget").(float64),
		Progress:     env.Stdout,
	}
	for _, m := range benchList(strFlag(fs, "modes")) {
		if m != string(rig.ModeProcesses) && m != string(rig.ModeRun) && m != string(rig.ModeCluster) {
			return e2eOpts, bench.IngestOptions{}, usageError("bench: --modes: unknown mode %q (want processes, run, cluster)", m)
		}
		e2eOpts.Modes = append(e2eOpts.Modes, rig.Mode(m))
	}
	switch strFlag(fs, "nats-sync") {
	case bench.SyncAlways:
	case bench.SyncDefault:
		e2eOpts.SyncDefault = true
	default:
		return e2eOpts, bench.IngestOptions{}, usageError("bench: --nats-sync: want always or default")
	}
	for _, s := range benchList(strFlag(fs, "sync")) {
		if !slices.Contains(bench.Syncs, s) {
			return e2eOpts, bench.IngestOptions{}, usageError("bench: --sync: unknown store %q (want %s)", s, strings.Join(bench.Syncs, ", "))
		}
	}
	interleave := boolFlag(fs, "interleave")
	if interleave && slices.Contains(benchList(strFlag(fs, "sync")), bench.SyncDefault) {
		return e2eOpts, bench.IngestOptions{}, usageError("bench: --interleave: leave --sync default out (its deferred flush falls into the other stores' rounds)")
	}
	ingestOpts := bench.IngestOptions{
		Interleave:  interleave,
		Duration:    get("duration").(time.Duration),
		Warmup:      get("warmup").(time.Duration),
		Rounds:      get("rounds").(int),
		Concurrency: get("concurrency").(int),
		Rate:        get("rate").(float64),
		Syncs:       benchList(strFlag(fs, "sync")),
		Progress:    env.Stdout,
	}
	return e2eOpts, ingestOpts, nil
}

// benchMigrateOptions reads the options of the migration benchmark.
func benchMigrateOptions(env Env, fs *flag.FlagSet) bench.MigrateOptions {
	get := func(name string) any { return fs.Lookup(name).Value.(flag.Getter).Get() }
	return bench.MigrateOptions{
		Budget:       get("migrate-budget").(float64),
		LiveRate:     get("migrate-live-rate").(float64),
		Window:       get("migrate-window").(time.Duration),
		Rounds:       get("migrate-rounds").(int),
		Scans:        get("migrate-scans").(int),
		ScansPerUser: get("migrate-per-user").(int),
		Progress:     env.Stdout,
	}
}

// benchSoakOptions reads the options of the soak; the simulator's are
// the end-to-end benchmark's.
func benchSoakOptions(env Env, fs *flag.FlagSet, e2e bench.E2EOptions) bench.SoakOptions {
	get := func(name string) any { return fs.Lookup(name).Value.(flag.Getter).Get() }
	return bench.SoakOptions{
		Rate:         get("soak-rate").(float64),
		Duration:     get("soak-duration").(time.Duration),
		Warmup:       get("soak-warmup").(time.Duration),
		Interval:     get("soak-interval").(time.Duration),
		JumioLatency: e2e.JumioLatency,
		JumioBudget:  e2e.JumioBudget,
		Progress:     env.Stdout,
	}
}

// benchSoak runs the soak into res and prints it; failed holds an
// unbalanced ledger, missed "soak" when a target is missed.
func benchSoak(ctx context.Context, env Env, opts bench.SoakOptions, res *bench.Results) (failed []error, missed []string, err error) {
	fmt.Fprintln(env.Stdout, "kycflow bench soak")
	r, err := bench.RunSoak(ctx, opts)
	if err != nil {
		return nil, nil, benchInterrupted(err)
	}
	res.Soak = &r
	r.Write(env.Stdout, res.Machine)
	if r.Ledger == nil || r.LedgerError != "" {
		failed = append(failed, fmt.Errorf("bench: the soak's ledger does not balance: %s", r.LedgerError))
	}
	if len(r.TargetsMissed) > 0 {
		missed = append(missed, "soak")
	}
	return failed, missed, nil
}

// benchMigrate runs the migration benchmark into res and prints it;
// missed holds "migrate" when a target is missed. err ends the command.
func benchMigrate(ctx context.Context, env Env, opts bench.MigrateOptions, res *bench.Results) (missed []string, err error) {
	fmt.Fprintln(env.Stdout, "kycflow bench migrate")
	r, err := bench.RunMigrate(ctx, opts)
	if err != nil {
		return nil, benchInterrupted(err)
	}
	res.Migrate = &r
	bench.WriteMigrate(env.Stdout, r, res.Machine)
	if len(r.TargetsMissed) > 0 {
		missed = append(missed, "migrate")
	}
	return missed, nil
}

// benchE2ERuns runs the end-to-end benchmark runs times in a row (see
// benchE2E), and with more than one run prints the p99 at the fixed rate
// of each (bench.E2ESeries), which must meet the target in every run.
func benchE2ERuns(ctx context.Context, env Env, opts bench.E2EOptions, runs int, res *bench.Results) (failed []error, missed []string, err error) {
	if runs <= 1 {
		return benchE2E(ctx, env, opts, res)
	}
	series := &bench.E2ESeries{}
	anyMissed := false
	for i := range runs {
		fmt.Fprintf(env.Stdout, "run %d of %d: ", i+1, runs)
		f, m, err := benchE2E(ctx, env, opts, res)
		if err != nil {
			return nil, nil, err
		}
		failed = append(failed, f...)
		anyMissed = anyMissed || len(m) > 0
		series.Add(res.E2E)
	}
	res.E2ESeries = series
	series.Write(env.Stdout)
	if anyMissed || len(series.Missed()) > 0 {
		missed = append(missed, "e2e")
	}
	return failed, missed, nil
}

// benchE2E runs the end-to-end benchmark into res and prints it; failed
// holds an unbalanced ledger, missed "e2e" when a target is missed. err
// ends the command (interrupted, or nothing measured).
func benchE2E(ctx context.Context, env Env, opts bench.E2EOptions, res *bench.Results) (failed []error, missed []string, err error) {
	fmt.Fprintln(env.Stdout, "kycflow bench e2e")
	results, err := bench.RunE2E(ctx, opts)
	if err != nil {
		return nil, nil, benchInterrupted(err)
	}
	res.E2E = bench.NewE2EReport(opts, results)
	res.E2E.Write(env.Stdout, res.Machine)
	if len(res.E2E.Unbalanced) > 0 {
		failed = append(failed, fmt.Errorf("bench: the ledger does not balance (%s)", strings.Join(res.E2E.Unbalanced, ", ")))
	}
	if len(res.E2E.TargetsMissed) > 0 {
		missed = append(missed, "e2e")
	}
	return failed, missed, nil
}

// benchIngest runs the ingest comparison into res and prints it; missed
// holds "ingest" when a target is missed.
func benchIngest(ctx context.Context, env Env, opts bench.IngestOptions, res *bench.Results) (failed []error, missed []string, err error) {
	fmt.Fprintln(env.Stdout, "\nkycflow bench ingest")
	results, err := bench.RunIngest(ctx, opts)
	if err != nil {
		return nil, nil, benchInterrupted(err)
	}
	res.Ingest = bench.NewIngestSummary(opts, results)
	switch err := bench.Report(env.Stdout, opts, results); {
	case errors.Is(err, bench.ErrTargetMissed):
		missed = append(missed, "ingest")
	case err != nil:
		failed = append(failed, err)
	}
	return failed, missed, nil
}

func benchInterrupted(err error) error {
	if errors.Is(err, context.Canceled) {
		return errors.New("bench: interrupted")
	}
	return err
}

func benchList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
