package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/kycflow/kycflow/internal/bench"
)

func init() {
	register(&Command{
		Name:    "bench",
		Summary: "measure a service against a minimal reference on this machine",
		Usage:   "ingest [flags]",
		Description: `bench ingest drives the real ingest over loopback, at saturation and at a
fixed rate, and in the same run a minimal reference server (HTTP body ->
JetStream publish -> ack -> 200) on the same stream configuration, once per
JetStream sync setting. It prints both throughputs, their ratio and p50/p99
latency (measured from each request's scheduled send time at the fixed rate),
and exits 1 when a target of the design is missed. Everything runs in this
process: close other work for stable figures.`,
		Example: `  kycflow bench ingest
  kycflow bench ingest --duration 10s --sync always --rate 1000`,
		Flags: func(fs *flag.FlagSet) {
			fs.Duration("duration", 10*time.Second, "length of each measurement, split into alternating rounds")
			fs.Int("rounds", 10, "rounds in which the reference and ingest take turns")
			fs.Duration("warmup", 300*time.Millisecond, "warm-up before each round")
			fs.Int("concurrency", 32, "closed-loop clients at saturation")
			fs.Float64("rate", 0, "fixed request rate per second (0: a quarter of the reference's saturation throughput)")
			fs.String("sync", "default,always", "JetStream sync settings to measure: default, always")
		},
		Run: runBench,
	})
}

func runBench(ctx context.Context, env Env, fs *flag.FlagSet, args []string) error {
	target := "ingest"
	if len(args) > 0 {
		target = args[0]
	}
	if target != "ingest" || len(args) > 1 {
		return usageError("bench: unknown target %q (want ingest)", strings.Join(args, " "))
	}
	get := func(name string) flag.Getter { return fs.Lookup(name).Value.(flag.Getter) }
	opts := bench.IngestOptions{
		Duration:    get("duration").Get().(time.Duration),
		Warmup:      get("warmup").Get().(time.Duration),
		Rounds:      get("rounds").Get().(int),
		Concurrency: get("concurrency").Get().(int),
		Rate:        get("rate").Get().(float64),
		Progress:    env.Stdout,
	}
	for s := range strings.SplitSeq(get("sync").String(), ",") {
		if s = strings.TrimSpace(s); s != "" {
			opts.Syncs = append(opts.Syncs, s)
		}
	}
	fmt.Fprintln(env.Stdout, "kycflow bench ingest")
	results, err := bench.RunIngest(ctx, opts)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return errors.New("bench: interrupted")
		}
		return err
	}
	return bench.Report(env.Stdout, opts, results)
}
