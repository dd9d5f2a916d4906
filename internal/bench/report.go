package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/kycflow/kycflow/internal/bench/rig"
)

// Machine says where a run happened.
type Machine struct {
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	Go         string `json:"go"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	// Kernel is the Linux kernel release, when known.
	Kernel string    `json:"kernel,omitempty"`
	Time   time.Time `json:"time"`
}

// ThisMachine describes the machine the process runs on.
func ThisMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH, Time: time.Now().UTC().Truncate(time.Second)}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// Results is everything one "kycflow bench" run measured: the JSON it
// writes with --json-out, so that runs can be compared.
type Results struct {
	Machine Machine    `json:"machine"`
	E2E     *E2EReport `json:"e2e,omitempty"`
	// E2ESeries holds the p99s of every run when the end-to-end
	// benchmark ran more than once; E2E is then the last run.
	E2ESeries *E2ESeries     `json:"e2eSeries,omitempty"`
	Ingest    *IngestSummary `json:"ingest,omitempty"`
	Migrate   *MigrateResult `json:"migrate,omitempty"`
	Soak      *SoakResult    `json:"soak,omitempty"`
}

// E2EReport is the end-to-end benchmark with its options.
type E2EReport struct {
	Rate            float64     `json:"fixedRatePerSecond"`
	Duration        string      `json:"fixedDuration"`
	Saturation      int         `json:"saturationCallbacks"`
	Concurrency     int         `json:"saturationClients"`
	Count           int         `json:"countingCallbacks"`
	JumioLatencyMs  float64     `json:"jumioLatencyMs"`
	JumioBudget     float64     `json:"jumioBudgetPerSecond"`
	EnricherWorkers int         `json:"enricherConcurrency"`
	TargetP99Ms     float64     `json:"targetP99Ms"`
	TargetRSSMiB    float64     `json:"targetRssMiB"`
	Results         []E2EResult `json:"results"`
	// Cluster compares the cluster with the single node, when the run
	// measured both.
	Cluster       *ClusterComparison `json:"clusterVsSingleNode,omitempty"`
	TargetsMissed []string           `json:"targetsMissed,omitempty"`
	Unbalanced    []string           `json:"ledgersUnbalanced,omitempty"`
}

// ClusterComparison sets the cluster (three servers, R3 streams, two
// processes of each stage) beside the single node (one server, one
// process of each stage) of the same run: throughput at saturation and
// p99 at the fixed rate, with the ratios cluster / single node.
type ClusterComparison struct {
	SingleDeliveredPerSecond  float64 `json:"singleDeliveredPerSecond"`
	ClusterDeliveredPerSecond float64 `json:"clusterDeliveredPerSecond"`
	ThroughputRatio           float64 `json:"throughputRatio"`
	SingleP99Ms               float64 `json:"singleFixedP99Ms"`
	ClusterP99Ms              float64 `json:"clusterFixedP99Ms"`
	P99Ratio                  float64 `json:"p99Ratio"`
}

// compareCluster compares the cluster's phases with the processes mode's.
func compareCluster(results []E2EResult) *ClusterComparison {
	phase := func(mode, name string) *Phase {
		for _, r := range results {
			if r.Mode != mode || r.Skipped != "" {
				continue
			}
			for i := range r.Phases {
				if r.Phases[i].Name == name {
					return &r.Phases[i]
				}
			}
		}
		return nil
	}
	ss, cs := phase(string(rig.ModeProcesses), "saturation"), phase(string(rig.ModeCluster), "saturation")
	sf, cf := phase(string(rig.ModeProcesses), "fixed"), phase(string(rig.ModeCluster), "fixed")
	if ss == nil || cs == nil || sf == nil || cf == nil {
		return nil
	}
	c := &ClusterComparison{
		SingleDeliveredPerSecond: ss.DeliveredPerSecond, ClusterDeliveredPerSecond: cs.DeliveredPerSecond,
		SingleP99Ms: sf.Latency.P99, ClusterP99Ms: cf.Latency.P99,
	}
	if c.SingleDeliveredPerSecond > 0 {
		c.ThroughputRatio = c.ClusterDeliveredPerSecond / c.SingleDeliveredPerSecond
	}
	if c.SingleP99Ms > 0 {
		c.P99Ratio = c.ClusterP99Ms / c.SingleP99Ms
	}
	return c
}

// Targets for the whole pipeline (docs/architecture.md#performance-targets).
const (
	// TargetE2EP99 is the p99 from callback to delivery at moderate load,
	// on top of the simulator's latency.
	TargetE2EP99 = 50 * time.Millisecond
	// TargetRSS is the resident memory of each service at steady load.
	TargetRSS = 64 << 20
)

// NewE2EReport judges the results against the targets: the fixed-rate
// p99 of the single-node modes, and the resident memory of each service
// (ingest, the enricher and the notifier as processes; not nats-server,
// not "kycflow run", which holds them all) at the fixed rate. The cluster
// is compared with the single node instead: on one machine its nine
// processes share the CPUs that one server and three processes have to
// themselves.
func NewE2EReport(opts E2EOptions, results []E2EResult) *E2EReport {
	opts.setDefaults()
	r := &E2EReport{
		Rate: opts.Rate, Duration: opts.Duration.String(), Saturation: opts.Saturation, Concurrency: opts.Concurrency, Count: max(opts.Count, 0),
		JumioLatencyMs: ms(opts.JumioLatency), JumioBudget: opts.JumioBudget, EnricherWorkers: enricherWorkers,
		TargetP99Ms: ms(TargetE2EP99 + opts.JumioLatency), TargetRSSMiB: float64(TargetRSS) / (1 << 20),
		Results: results, Cluster: compareCluster(results),
	}
	for _, res := range results {
		if res.Skipped != "" {
			continue
		}
		if res.LedgerError != "" || res.Ledger == nil {
			r.Unbalanced = append(r.Unbalanced, res.Mode)
		}
		if res.Mode == string(rig.ModeCluster) {
			continue
		}
		for _, ph := range res.Phases {
			if ph.Name == "fixed" && ph.Latency.P99 > r.TargetP99Ms {
				r.TargetsMissed = append(r.TargetsMissed, fmt.Sprintf("%s: p99 %.1f ms > %.0f ms", res.Mode, ph.Latency.P99, r.TargetP99Ms))
			}
		}
		for _, p := range res.Processes {
			if service(p.Name) && p.RSSFixed > r.TargetRSSMiB {
				r.TargetsMissed = append(r.TargetsMissed, fmt.Sprintf("%s: %s resident %.1f MiB > %.0f MiB", res.Mode, p.Name, p.RSSFixed, r.TargetRSSMiB))
			}
		}
	}
	return r
}

func service(name string) bool { return name == "ingest" || name == "enricher" || name == "notifier" }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Write prints the report as tables.
func (r *E2EReport) Write(w io.Writer, m Machine) {
	fmt.Fprintf(w, "\nend to end: Jumio simulator -> ingest -> enricher -> notifier -> webhook on loopback (and every result to JUMIO_RESULTS)\n")
	fmt.Fprintf(w, "%d CPUs (GOMAXPROCS %d), %s %s/%s; load generator, simulator and webhook receiver run in this process, on the same CPUs\n",
		m.CPUs, m.GOMAXPROCS, m.Go, m.OS, m.Arch)
	fmt.Fprintf(w, "Jumio simulator: %.0f ms per request, budget %.0f requests/s, enricher concurrency %d: Jumio is not the bottleneck\n",
		r.JumioLatencyMs, r.JumioBudget, r.EnricherWorkers)
	fmt.Fprintf(w, "callbacks: 3 Platform (details fetched) : 1 Netverify (mapped from the form); fixed rate %.0f/s for %s, then %d at saturation from %d clients\n",
		r.Rate, r.Duration, r.Saturation, r.Concurrency)
	fmt.Fprintf(w, "latency: callback POST (its scheduled time at the fixed rate) to the webhook's arrival; at saturation it includes the backlog's queueing\n\n")
	fmt.Fprintf(w, "%-10s %-7s %-11s %9s %11s %12s %8s %8s %8s %8s  %s\n", "mode", "sync", "phase", "offered", "accepted/s", "delivered/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "ledger")
	for _, res := range r.Results {
		if res.Skipped != "" {
			fmt.Fprintf(w, "%-10s %-7s skipped: %s\n", res.Mode, res.Sync, res.Skipped)
			continue
		}
		ledger := "balanced"
		if res.LedgerError != "" {
			ledger = "DOES NOT BALANCE"
		}
		for _, ph := range res.Phases {
			offered := "-"
			if ph.Offered > 0 {
				offered = fmt.Sprintf("%.0f/s", ph.Offered)
			}
			fmt.Fprintf(w, "%-10s %-7s %-11s %9s %11.0f %12.0f %8.1f %8.1f %8.1f %8.1f  %s\n", res.Mode, res.Sync, ph.Name, offered,
				ph.AcceptedPerSecond, ph.DeliveredPerSecond, ph.Latency.P50, ph.Latency.P90, ph.Latency.P99, ph.Latency.Max, ledger)
		}
	}
	fmt.Fprintf(w, "\nresident memory in MiB (median at the fixed rate, peak sampled, kernel's VmHWM) and CPU seconds per 1000 results\n")
	fmt.Fprintf(w, "%-10s %-12s %9s %7s %7s %12s %12s\n", "mode", "process", "rss fixed", "peak", "hwm", "cpu fixed", "cpu satur.")
	for _, res := range r.Results {
		var all [2]float64
		for _, p := range res.Processes {
			var cpu [2]float64
			for i, ph := range res.Phases {
				if i < 2 {
					cpu[i] = ph.CPUPerThousand[p.Name]
					all[i] += cpu[i]
				}
			}
			fmt.Fprintf(w, "%-10s %-12s %9.1f %7.1f %7.1f %12.2f %12.2f\n", res.Mode, p.Name, p.RSSFixed, p.RSSPeak, p.HWM, cpu[0], cpu[1])
		}
		if res.Skipped == "" {
			fmt.Fprintf(w, "%-10s %-12s %9s %7s %7s %12.2f %12.2f\n", res.Mode, "all", "", "", "", all[0], all[1])
			fmt.Fprintf(w, "%-10s Jumio: %d requests, %d answered 429\n", res.Mode, res.JumioRequests, res.Jumio429s)
		}
	}
	r.writeOps(w)
	if c := r.Cluster; c != nil {
		fmt.Fprintf(w, "\ncluster (3 servers, R3 streams, 2 processes per stage) vs single node (1 server, 1 process per stage), same run:\n")
		fmt.Fprintf(w, "  delivered/s at saturation  %8.0f vs %8.0f  ratio %.2f\n", c.ClusterDeliveredPerSecond, c.SingleDeliveredPerSecond, c.ThroughputRatio)
		fmt.Fprintf(w, "  p99 at the fixed rate      %6.1f ms vs %6.1f ms  ratio %.2f\n", c.ClusterP99Ms, c.SingleP99Ms, c.P99Ratio)
	}
	for _, res := range r.Results {
		if res.Ledger != nil {
			fmt.Fprintf(w, "\n%s:\n", res.Mode)
			res.Ledger.Write(w)
		}
	}
	fmt.Fprintf(w, "\ntargets (single node; the cluster is compared above): p99 at the fixed rate <= %.0f ms (50 ms + the simulator's %.0f ms); ingest, enricher and notifier each < %.0f MiB resident\n",
		r.TargetP99Ms, r.JumioLatencyMs, r.TargetRSSMiB)
	switch {
	case len(r.Unbalanced) > 0:
		fmt.Fprintf(w, "result: LEDGER DOES NOT BALANCE for %v\n", r.Unbalanced)
	case len(r.TargetsMissed) > 0:
		fmt.Fprintf(w, "result: MISSED: %s\n", strings.Join(r.TargetsMissed, "; "))
	default:
		fmt.Fprintf(w, "result: met\n")
	}
}

// writeOps prints the JetStream operations per result of each mode's
// counting phase.
func (r *E2EReport) writeOps(w io.Writer) {
	counted := false
	for _, res := range r.Results {
		counted = counted || res.Ops != nil
	}
	if !counted {
		return
	}
	fmt.Fprintf(w, "\nJetStream operations per result (counting phase: %d callbacks from %d clients after the timed phases): requests each stage sent,\n", r.Count, r.Concurrency)
	fmt.Fprintf(w, "by kind, from a tap on the account's request subjects (answered: with a reply the server sends back); stored: messages the\n")
	fmt.Fprintf(w, "stage's streams and buckets stored, from their sequences; fsync: stored times replicas when every write is synced (sync_interval: always)\n")
	fmt.Fprintf(w, "%-10s %-9s %8s %8s %8s %8s %8s %6s %8s %6s %6s %7s %6s\n", "mode", "stage", "requests", "answered", "publish", "kv write", "kv read", "ack", "progress", "pull", "api", "stored", "fsync")
	for _, res := range r.Results {
		o := res.Ops
		if o == nil {
			continue
		}
		for _, s := range o.Stages {
			fsync := fmt.Sprintf("%6.2f", s.FsyncWrites)
			if !o.SyncAlways {
				fsync = fmt.Sprintf("%6s", "-")
			}
			fmt.Fprintf(w, "%-10s %-9s %8.2f %8.2f %8.2f %8.2f %8.2f %6.2f %8.2f %6.2f %6.2f %7.2f %s\n", res.Mode, s.Stage,
				s.Requests, s.Answered, s.Publishes, s.KVWrites, s.KVReads, s.Acks, s.Progress, s.Pulls, s.API, s.Stored, fsync)
		}
		subs := "-"
		if o.Subscriptions != nil {
			subs = fmt.Sprintf("%.2f", *o.Subscriptions)
		}
		names := make([]string, 0, len(o.Stored))
		for name := range o.Stored {
			names = append(names, name)
		}
		slices.Sort(names)
		var stored []string
		for _, name := range names {
			stored = append(stored, fmt.Sprintf("%s %.2f", name, o.Stored[name]))
		}
		fmt.Fprintf(w, "%-10s server's own count: JetStream API requests %.2f, subscriptions created %s; stored: %s\n", res.Mode, o.API, subs, strings.Join(stored, ", "))
	}
}

// IngestSummary is the ingest comparison without its raw latencies.
type IngestSummary struct {
	Duration    string             `json:"duration"`
	Rounds      int                `json:"rounds"`
	Concurrency int                `json:"concurrency"`
	Results     []IngestFigures    `json:"results"`
	Targets     map[string]float64 `json:"targets"`
}

// IngestFigures are one sync setting's figures (throughput per second,
// latencies in milliseconds, CPU per request in microseconds).
type IngestFigures struct {
	Sync                string    `json:"sync"`
	ReferenceThroughput float64   `json:"referenceThroughput"`
	IngestThroughput    float64   `json:"ingestThroughput"`
	ThroughputRatio     float64   `json:"throughputRatio"`
	ReferenceCPUus      float64   `json:"referenceCpuPerRequestUs"`
	IngestCPUus         float64   `json:"ingestCpuPerRequestUs"`
	CPURatio            float64   `json:"cpuRatio"`
	Rate                float64   `json:"fixedRate"`
	ReferenceP50        float64   `json:"referenceP50Ms"`
	ReferenceP99        float64   `json:"referenceP99Ms"`
	IngestP50           float64   `json:"ingestP50Ms"`
	IngestP99           float64   `json:"ingestP99Ms"`
	P99Ratio            float64   `json:"p99Ratio"` // pooled over all rounds: the target's figure
	RoundMedianP99Ratio float64   `json:"roundMedianP99Ratio"`
	RoundP99Ratios      []float64 `json:"roundP99Ratios"`
	Errors              int       `json:"errors"`
	Met                 bool      `json:"met"`
}

// NewIngestSummary summarizes RunIngest's results.
func NewIngestSummary(opts IngestOptions, results []IngestResult) *IngestSummary {
	opts.setDefaults()
	s := &IngestSummary{Duration: opts.Duration.String(), Rounds: opts.Rounds, Concurrency: opts.Concurrency,
		Targets: map[string]float64{"throughputRatio": TargetThroughputRatio, "p99Ratio": TargetP99Ratio}}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	for _, r := range results {
		s.Results = append(s.Results, IngestFigures{
			Sync: r.Sync, ReferenceThroughput: r.Reference.Throughput(), IngestThroughput: r.Ingest.Throughput(), ThroughputRatio: r.ThroughputRatio(),
			ReferenceCPUus: us(r.Reference.CPUPerRequest()), IngestCPUus: us(r.Ingest.CPUPerRequest()), CPURatio: r.CPURatio(),
			Rate: r.Rate, ReferenceP50: ms(r.ReferenceAt.Quantile(0.5)), ReferenceP99: ms(r.ReferenceAt.Quantile(0.99)),
			IngestP50: ms(r.IngestAt.Quantile(0.5)), IngestP99: ms(r.IngestAt.Quantile(0.99)), P99Ratio: r.P99Ratio(),
			RoundMedianP99Ratio: r.RoundMedianP99Ratio(), RoundP99Ratios: r.RoundP99Ratios,
			Errors: r.Errors(), Met: r.Met(),
		})
	}
	return s
}

// WriteJSON writes the results, indented, to path.
func (r *Results) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
