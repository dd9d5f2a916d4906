package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kycflow/kycflow/internal/bench/rig"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// MigrateOptions configures RunMigrate.
type MigrateOptions struct {
	// Budget is the tenant's Jumio request budget per second, which the
	// simulator enforces (429 past it) and the enricher is configured
	// with (KYCFLOW_JUMIO_RATE_LIMIT, and the account limiter); default
	// 30, twice Jumio's default retrieval budget.
	Budget float64
	// LiveRate is the live callback rate per second (default 10: a third
	// of the budget), offered for Window (default 20s) in each of Rounds
	// rounds (default 5) alone and as many with the migration, taking
	// turns: the p99s are compared round by round and the median ratio
	// counts, so that one stall of this shared machine does not decide it.
	LiveRate float64
	Window   time.Duration
	Rounds   int
	// Scans is the number of Netverify scans migrated (default 10000),
	// ScansPerUser how many belong to one end user (one account; default
	// 4), Batch the scans per batch and MaxPending the scans waiting for
	// their callback at most (defaults 16 and 64, half the enricher's
	// concurrency).
	Scans, ScansPerUser, Batch, MaxPending int
	// JumioLatency is the simulator's latency per request (default 20ms).
	JumioLatency time.Duration
	// Dir holds the builds and the store (a temporary directory when
	// empty); Binaries, when set, are used instead of building them.
	Dir      string
	Binaries *rig.Binaries
	// Progress gets a line per step; Log the processes' output.
	Progress, Log io.Writer
}

func (o *MigrateOptions) setDefaults() {
	if o.Budget <= 0 {
		o.Budget = 30
	}
	if o.LiveRate <= 0 {
		o.LiveRate = 10
	}
	if o.Window <= 0 {
		o.Window = 20 * time.Second
	}
	if o.Rounds <= 0 {
		o.Rounds = 5
	}
	if o.Scans <= 0 {
		o.Scans = 10000
	}
	if o.ScansPerUser <= 0 {
		o.ScansPerUser = 4
	}
	if o.Batch <= 0 {
		o.Batch = 16
	}
	if o.MaxPending <= 0 {
		o.MaxPending = migrateEnricherWorkers / 2
	}
	if o.JumioLatency == 0 {
		o.JumioLatency = 20 * time.Millisecond
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// migrateEnricherWorkers is the enricher's concurrency in the migration
// benchmark: MaxPending migrated callbacks may wait in the migrate lane
// while live callbacks keep the other half.
const migrateEnricherWorkers = 128

// Targets of the migration benchmark (docs/architecture.md#performance-targets).
const (
	// TargetLiveP99Ratio bounds the live end-to-end p99 with a migration
	// running, against the live p99 alone.
	TargetLiveP99Ratio = 1.2
	// TargetMigrationShare is the least share of the budget the live
	// traffic leaves that the migration must use.
	TargetMigrationShare = 0.9
)

// MigrateResult is one run of the migration benchmark.
type MigrateResult struct {
	Budget         float64 `json:"budgetPerSecond"`
	LiveRate       float64 `json:"liveRatePerSecond"`
	Window         string  `json:"window"`
	Scans          int     `json:"scans"`
	ScansPerUser   int     `json:"scansPerUser"`
	JumioLatencyMs float64 `json:"jumioLatencyMs"`
	// LiveAlone and LiveWithMigration are the live callbacks' phases:
	// latency from each callback's scheduled send time to the webhook.
	LiveAlone         Phase `json:"liveAlone"`
	LiveWithMigration Phase `json:"liveWithMigration"`
	// Rounds are each round's live p99s; P99Ratio is the median of their
	// ratios (the target's measure), PooledP99Ratio the ratio of the p99s
	// of all rounds pooled.
	Rounds         []MigrateRound `json:"rounds"`
	P99Ratio       float64        `json:"p99Ratio"`
	PooledP99Ratio float64        `json:"pooledP99Ratio"`
	// Stages split each live phase's latency by where it went: to
	// ingest (scheduled send → received), the enricher (received →
	// enriched) and the notifier (enriched → webhook).
	StagesAlone         StageLatency `json:"stagesAlone"`
	StagesWithMigration StageLatency `json:"stagesWithMigration"`
	// In the window with the migration: Jumio requests per second of the
	// live callbacks, of the migration (migration requests and the
	// retrieval of migrated scans), what the live traffic left of the
	// budget, and the share of it the migration used.
	LiveRequestsPerSecond      float64 `json:"liveRequestsPerSecond"`
	MigrationRequestsPerSecond float64 `json:"migrationRequestsPerSecond"`
	LeftOverPerSecond          float64 `json:"leftOverPerSecond"`
	MigrationShare             float64 `json:"migrationShare"`
	// Migrated and Failed count the scans at the end; MigrationTime is
	// from the first batch to the last callback.
	Migrated      int    `json:"migrated"`
	Failed        int    `json:"failed"`
	MigrationTime string `json:"migrationTime"`
	// Jumio429s over the whole run, and JumioRequests (token requests
	// left out).
	Jumio429s     int      `json:"jumio429s"`
	JumioRequests int      `json:"jumioRequests"`
	TargetsMissed []string `json:"targetsMissed,omitempty"`
}

// RunMigrate measures the live end-to-end latency at LiveRate alone, then
// again while "kycflow migrate-data" migrates Scans Netverify scans,
// against a simulator that enforces the Budget, and what share of the
// budget the live traffic leaves the migration used. The pipeline runs as
// processes on an external nats-server (sync_interval: always).
func RunMigrate(ctx context.Context, opts MigrateOptions) (MigrateResult, error) {
	opts.setDefaults()
	res := MigrateResult{Budget: opts.Budget, LiveRate: opts.LiveRate, Window: opts.Window.String(), Scans: opts.Scans,
		ScansPerUser: opts.ScansPerUser, JumioLatencyMs: ms(opts.JumioLatency)}
	dir := opts.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "kycflow-bench-migrate-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	bins := opts.Binaries
	if bins == nil {
		fmt.Fprintf(opts.Progress, "  building ingest, enricher, notifier, kycflow and nats-server\n")
		b, err := rig.Build(ctx, rig.BuildConfig{Dir: filepath.Join(dir, "bin")})
		if err != nil {
			return res, err
		}
		bins = &b
	}
	flushDisk()
	sim, p, err := startMigrateRig(ctx, opts, *bins, dir)
	if err != nil {
		return res, err
	}
	defer sim.Close()
	defer p.Close()
	d := newDriver(sim, p)
	defer d.client.CloseIdleConnections()
	// Live traffic is Platform callbacks only: their details are the
	// live lane's requests.
	d.queue = slices.DeleteFunc(d.queue, func(s shot) bool { return s.api != events.APIPlatform })

	fmt.Fprintf(opts.Progress, "  warm-up, %d callbacks\n", warmupCallbacks)
	d.fire(ctx, d.take(warmupCallbacks), 0, 8)
	if err := settle(ctx, p); err != nil {
		return res, err
	}
	m, err := startMigration(ctx, opts, bins.Kycflow, dir, sim, p)
	if err != nil {
		return res, err
	}
	defer m.stop()
	w, err := migrateRounds(ctx, opts, sim, p, d, m, &res)
	if err != nil {
		return res, err
	}
	if len(acceptedScans(sim)) >= opts.Scans {
		res.TargetsMissed = append(res.TargetsMissed, "the migration ended before the last round did: use more scans")
	}
	res.LiveAlone = d.measure("live alone", opts.LiveRate, w.alone)
	res.LiveWithMigration = d.measure("live with migration", opts.LiveRate, w.with)
	res.StagesAlone, res.StagesWithMigration = stages(p, w.alone), stages(p, w.with)
	if res.LiveAlone.Latency.P99 > 0 {
		res.PooledP99Ratio = res.LiveWithMigration.Latency.P99 / res.LiveAlone.Latency.P99
	}
	res.P99Ratio = medianRatio(res.Rounds)

	fmt.Fprintf(opts.Progress, "  waiting for the migration to finish\n")
	if err := m.wait(); err != nil {
		return res, err
	}
	res.MigrationTime = time.Since(m.started).Round(time.Second).String()
	res.Migrated = len(acceptedScans(sim))
	for _, c := range sim.MigrationCalls() {
		if c.Status != http.StatusOK {
			res.Failed++
		}
	}
	res.budgetShares(opts.Budget, w, sim.Counts())
	res.checkTargets(opts.Scans)
	return res, nil
}

// startMigrateRig starts the simulator, with the tenant's budget, and the
// pipeline as separate processes, its enricher told where Jumio posts
// the migrated scans' callbacks.
func startMigrateRig(ctx context.Context, opts MigrateOptions, bins rig.Binaries, dir string) (*jumiotest.Server, *rig.Pipeline, error) {
	live := warmupCallbacks + 2*opts.Rounds*int(opts.LiveRate*opts.Window.Seconds())
	// The tenant's budget, with bursts of half a second's worth as
	// Jumio's per-5-seconds limits allow; the enricher's own burst is 10,
	// of which the bulk lanes use 1.
	sim := jumiotest.NewServer(jumiotest.Config{
		Budget: opts.Budget, BudgetBurst: max(10, int(opts.Budget/2)), Latency: opts.JumioLatency,
		Scenario: jumiotest.Scenario{Seed: 42, Executions: live, NetverifyScans: opts.Scans,
			NetverifyMix: jumiotest.NetverifyMix{Approved: 8, DeniedFraud: 1, NotReadable: 1}},
	})
	jc := sim.ClientConfig(0)
	jc.RateLimit, jc.RateBurst = opts.Budget, 10
	// Ingest on a port chosen here, so that the enricher can be told
	// where Jumio posts the migrated scans' callbacks.
	port, err := rig.FreePort()
	if err != nil {
		sim.Close()
		return nil, nil, err
	}
	ingestAddr := "127.0.0.1:" + strconv.Itoa(port)
	pdir := filepath.Join(dir, "pipeline")
	if err := os.MkdirAll(pdir, 0o750); err != nil {
		sim.Close()
		return nil, nil, err
	}
	p, err := rig.StartPipeline(ctx, rig.PipelineConfig{
		Mode: rig.ModeProcesses, Binaries: bins, Dir: pdir, SyncAlways: true, Jumio: jc, Routes: benchRoutes,
		Env: map[string]string{
			"KYCFLOW_INGEST_ADDR":                     ingestAddr,
			"KYCFLOW_ENRICHER_MIGRATION_CALLBACK_URL": "http://" + ingestAddr + "/callbacks/platform",
			"KYCFLOW_ENRICHER_CONCURRENCY":            strconv.Itoa(migrateEnricherWorkers),
			"KYCFLOW_ENRICHER_WORK_CONCURRENCY":       "4",
			"KYCFLOW_JUMIO_ACCOUNT_RATE_LIMIT":        strconv.FormatFloat(opts.Budget, 'f', -1, 64),
		},
		Log: opts.Log,
	})
	if err != nil {
		sim.Close()
		return nil, nil, err
	}
	return sim, p, nil
}

// migration is the "kycflow migrate-data" process of the benchmark.
type migration struct {
	sim     *jumiotest.Server
	proc    *exec.Cmd
	out     *strings.Builder
	started time.Time
	done    chan error
	ended   bool
}

// startMigration starts the migration as an operator does, and waits
// until Jumio accepted the first --max-pending scans. Jumio holds the
// migration for the rounds alone (HoldMigrations): it accepts but does
// not migrate, so the scans waiting for their callback reach
// --max-pending, migrate-data queues nothing more, and the pipeline
// drains.
func startMigration(ctx context.Context, opts MigrateOptions, kycflow, dir string, sim *jumiotest.Server, p *rig.Pipeline) (*migration, error) {
	input := filepath.Join(dir, "scans.txt")
	if err := writeScans(input, sim.NetverifyScans(), opts.ScansPerUser); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, kycflow, "migrate-data", input, "--group-by", "user",
		"--batch", strconv.Itoa(opts.Batch), "--max-pending", strconv.Itoa(opts.MaxPending), "--stall", "10m")
	cmd.Env = []string{"KYCFLOW_NATS_URL=" + p.NATS().URL(), "HOME=" + dir}
	m := &migration{sim: sim, proc: cmd, out: &strings.Builder{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = m.out, m.out
	m.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { m.done <- cmd.Wait() }()
	fmt.Fprintf(opts.Progress, "  migration of %d scans started\n", opts.Scans)
	if err := m.accepted(ctx, opts.MaxPending); err != nil {
		m.stop()
		return nil, err
	}
	return m, nil
}

// accepted waits until Jumio accepted n scans (or the migration ended).
func (m *migration) accepted(ctx context.Context, n int) error {
	if err := waitAccepted(ctx, m.sim, n, m.done); err != nil {
		return fmt.Errorf("%w\n%s", err, m.out.String())
	}
	return nil
}

// wait waits for the migration to finish.
func (m *migration) wait() error {
	err := <-m.done
	m.ended = true
	if err != nil {
		return fmt.Errorf("migrate-data: %w\n%s", err, m.out.String())
	}
	return nil
}

// stop ends a migration that did not finish: Jumio releases what it
// held, and the process is killed.
func (m *migration) stop() {
	if m.ended {
		return
	}
	m.sim.ReleaseMigrations()
	_ = m.proc.Process.Kill()
	<-m.done
	m.ended = true
}

// windows are the live posts of the rounds, alone and with the
// migration, and the Jumio requests of the windows with it.
type windows struct {
	alone, with []post
	// span is the time of the windows with the migration; requests the
	// simulator's answers in them (tokens aside), details those of the
	// live callbacks.
	span              time.Duration
	requests, details int
}

// migrateRounds runs the rounds: the live traffic alone (the migration
// held and the pipeline drained), then with the migration running at
// full speed again. Each round's p99s go to res.Rounds.
func migrateRounds(ctx context.Context, opts MigrateOptions, sim *jumiotest.Server, p *rig.Pipeline, d *driver, m *migration, res *MigrateResult) (windows, error) {
	var w windows
	n := int(opts.LiveRate * opts.Window.Seconds())
	for round := 1; round <= opts.Rounds; round++ {
		sim.HoldMigrations()
		if err := waitDrained(ctx, p, sim); err != nil {
			return w, err
		}
		posted := d.fire(ctx, d.take(n), opts.LiveRate, 64)
		if err := waitDelivered(ctx, p, posted); err != nil {
			return w, err
		}
		alone := d.measure("live alone", opts.LiveRate, posted)
		w.alone = append(w.alone, posted...)

		sim.ReleaseMigrations()
		if err := m.accepted(ctx, len(acceptedScans(sim))+opts.MaxPending); err != nil {
			return w, err
		}
		before := sim.Counts()
		t0 := time.Now()
		posted = d.fire(ctx, d.take(n), opts.LiveRate, 64)
		w.span += time.Since(t0)
		after := sim.Counts()
		if err := waitDelivered(ctx, p, posted); err != nil {
			return w, err
		}
		with := d.measure("live with migration", opts.LiveRate, posted)
		w.with = append(w.with, posted...)
		for k, v := range after {
			if k.Endpoint != jumio.EndpointToken {
				w.requests += v - before[k]
			}
		}
		for _, ps := range posted {
			if ps.cb.Status == http.StatusOK {
				w.details++
			}
		}
		r := MigrateRound{AloneP99: alone.Latency.P99, WithP99: with.Latency.P99}
		if r.AloneP99 > 0 {
			r.Ratio = r.WithP99 / r.AloneP99
		}
		res.Rounds = append(res.Rounds, r)
		fmt.Fprintf(opts.Progress, "  round %d: live p99 alone %.1f ms, with the migration %.1f ms (%.2fx)\n", round, r.AloneP99, r.WithP99, r.Ratio)
	}
	return w, nil
}

// medianRatio is the median of the rounds' p99 ratios.
func medianRatio(rounds []MigrateRound) float64 {
	if len(rounds) == 0 {
		return 0
	}
	ratios := make([]float64, 0, len(rounds))
	for _, r := range rounds {
		ratios = append(ratios, r.Ratio)
	}
	slices.Sort(ratios)
	if len(ratios)%2 == 0 {
		return (ratios[len(ratios)/2-1] + ratios[len(ratios)/2]) / 2
	}
	return ratios[len(ratios)/2]
}

// budgetShares sets the shares of the budget in the windows with the
// migration, and the run's Jumio requests and 429s from counts.
func (res *MigrateResult) budgetShares(budget float64, w windows, counts map[jumiotest.Key]int) {
	secs := w.span.Seconds()
	res.LiveRequestsPerSecond = float64(w.details) / secs
	res.MigrationRequestsPerSecond = float64(w.requests-w.details) / secs
	res.LeftOverPerSecond = budget - res.LiveRequestsPerSecond
	if res.LeftOverPerSecond > 0 {
		res.MigrationShare = res.MigrationRequestsPerSecond / res.LeftOverPerSecond
	}
	for k, v := range counts {
		if k.Endpoint == jumio.EndpointToken {
			continue
		}
		res.JumioRequests += v
		if k.Status == http.StatusTooManyRequests {
			res.Jumio429s += v
		}
	}
}

// checkTargets notes the targets the run missed.
func (res *MigrateResult) checkTargets(scans int) {
	if res.P99Ratio > TargetLiveP99Ratio {
		res.TargetsMissed = append(res.TargetsMissed, fmt.Sprintf("live p99 with the migration %.2fx the p99 alone (target at most %.1fx)", res.P99Ratio, TargetLiveP99Ratio))
	}
	if res.MigrationShare < TargetMigrationShare {
		res.TargetsMissed = append(res.TargetsMissed, fmt.Sprintf("the migration used %.0f%% of the budget the live traffic left (target at least %.0f%%)", 100*res.MigrationShare, 100*TargetMigrationShare))
	}
	if res.Jumio429s > 0 {
		res.TargetsMissed = append(res.TargetsMissed, fmt.Sprintf("%d 429s from the simulator (target none)", res.Jumio429s))
	}
	if res.Migrated != scans {
		res.TargetsMissed = append(res.TargetsMissed, fmt.Sprintf("%d of %d scans migrated", res.Migrated, scans))
	}
}

// MigrateRound is one round: the live p99 alone and with the migration,
// in ms, and their ratio.
type MigrateRound struct {
	AloneP99 float64 `json:"aloneP99Ms"`
	WithP99  float64 `json:"withP99Ms"`
	Ratio    float64 `json:"ratio"`
}

// StageLatency is the p50 and p99 of each stage of a phase, in ms.
type StageLatency struct {
	Ingest Percentiles `json:"ingestMs"`
	Enrich Percentiles `json:"enrichMs"`
	Notify Percentiles `json:"notifyMs"`
}

// stages splits the latency of the posts by stage, from the times the
// results carry.
func stages(p *rig.Pipeline, posts []post) StageLatency {
	first := map[string]rig.Delivery{}
	for _, d := range p.Receiver().Deliveries(webhookRoute) {
		if f, ok := first[d.ExecutionID]; !ok || d.At.Before(f.At) {
			first[d.ExecutionID] = d
		}
	}
	var in, en, no []time.Duration
	for _, ps := range posts {
		d, ok := first[ps.cb.Reference]
		if !ok || d.Received.IsZero() || d.Enriched.IsZero() {
			continue
		}
		in = append(in, d.Received.Sub(ps.due))
		en = append(en, d.Enriched.Sub(d.Received))
		no = append(no, d.At.Sub(d.Enriched))
	}
	return StageLatency{Ingest: percentiles(in), Enrich: percentiles(en), Notify: percentiles(no)}
}

// writeScans writes the migration's input: every scan reference, with a
// user reference shared by perUser scans.
func writeScans(path string, scans []jumiotest.NetverifyScan, perUser int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for i, sc := range scans {
		fmt.Fprintf(w, "%s,bench-user-%d\n", sc.Reference, i/perUser)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// acceptedScans are the scans Jumio accepted to migrate.
func acceptedScans(sim *jumiotest.Server) []string {
	var out []string
	for _, c := range sim.MigrationCalls() {
		if c.Status == http.StatusOK {
			out = append(out, c.ScanReferences...)
		}
	}
	return out
}

// waitAccepted waits until Jumio accepted n scans.
func waitAccepted(ctx context.Context, sim *jumiotest.Server, n int, done <-chan error) error {
	ctx, cancel := context.WithTimeout(ctx, settleTimeout)
	defer cancel()
	for len(acceptedScans(sim)) < n {
		select {
		case err := <-done:
			return fmt.Errorf("migrate-data ended early: %v", err)
		case <-ctx.Done():
			return fmt.Errorf("the migration did not get going: %w (%d scans accepted)", ctx.Err(), len(acceptedScans(sim)))
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// waitDrained waits, with the migrations held, until the enricher makes
// no more migration requests (none for two seconds: migrate-data waits
// at --max-pending) and the pipeline has worked off the callbacks.
func waitDrained(ctx context.Context, p *rig.Pipeline, sim *jumiotest.Server) error {
	last, since := len(sim.MigrationCalls()), time.Now()
	for time.Since(since) < 2*time.Second {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if n := len(sim.MigrationCalls()); n != last {
			last, since = n, time.Now()
		}
	}
	return settle(ctx, p)
}

// waitDelivered waits until every accepted post of the window reached
// the webhook route.
func waitDelivered(ctx context.Context, p *rig.Pipeline, posts []post) error {
	want := map[string]bool{}
	for _, ps := range posts {
		if ps.cb.Status == http.StatusOK {
			want[ps.cb.Reference] = true
		}
	}
	ctx, cancel := context.WithTimeout(ctx, settleTimeout)
	defer cancel()
	for {
		got := maps.Clone(want)
		for _, del := range p.Receiver().Deliveries(webhookRoute) {
			delete(got, del.ExecutionID)
		}
		if len(got) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("live results of the window not delivered")
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// WriteMigrate prints a migration benchmark run.
func WriteMigrate(w io.Writer, r MigrateResult, m Machine) {
	fmt.Fprintf(w, "\n%d CPUs, %s, %s/%s\n", m.CPUs, m.Go, m.OS, m.Arch)
	fmt.Fprintf(w, "budget %g requests/s (simulator and enricher), live callbacks at %g/s, %d rounds of %s alone and with the migration, Jumio latency %.0f ms\n",
		r.Budget, r.LiveRate, len(r.Rounds), r.Window, r.JumioLatencyMs)
	fmt.Fprintf(w, "%-22s %8s %8s %8s %8s\n", "live callbacks, pooled", "p50", "p90", "p99", "max")
	for _, ph := range []struct {
		name string
		p    Phase
	}{{"alone", r.LiveAlone}, {"with the migration", r.LiveWithMigration}} {
		fmt.Fprintf(w, "%-22s %6.1fms %6.1fms %6.1fms %6.1fms\n", ph.name, ph.p.Latency.P50, ph.p.Latency.P90, ph.p.Latency.P99, ph.p.Latency.Max)
	}
	fmt.Fprintf(w, "p50/p99 by stage    ingest          enricher        notifier\n")
	for _, st := range []struct {
		name string
		s    StageLatency
	}{{"alone", r.StagesAlone}, {"with the migration", r.StagesWithMigration}} {
		fmt.Fprintf(w, "%-19s %5.1f/%6.1fms  %5.1f/%6.1fms  %5.1f/%6.1fms\n", st.name,
			st.s.Ingest.P50, st.s.Ingest.P99, st.s.Enrich.P50, st.s.Enrich.P99, st.s.Notify.P50, st.s.Notify.P99)
	}
	var rs []string
	for _, rd := range r.Rounds {
		rs = append(rs, fmt.Sprintf("%.2f", rd.Ratio))
	}
	fmt.Fprintf(w, "live p99 with the migration: %.2fx alone, the median of %d rounds (%s; pooled %.2fx; target at most %.1fx)\n",
		r.P99Ratio, len(r.Rounds), strings.Join(rs, ", "), r.PooledP99Ratio, TargetLiveP99Ratio)
	fmt.Fprintf(w, "Jumio requests in the windows with the migration: live %.1f/s, migration %.1f/s of the %.1f/s left: %.1f%% (target at least %.0f%%)\n",
		r.LiveRequestsPerSecond, r.MigrationRequestsPerSecond, r.LeftOverPerSecond, 100*r.MigrationShare, 100*TargetMigrationShare)
	fmt.Fprintf(w, "migrated %d of %d scans (%d refused) in %s; %d Jumio requests, %d 429s (target none)\n",
		r.Migrated, r.Scans, r.Failed, r.MigrationTime, r.JumioRequests, r.Jumio429s)
	for _, t := range r.TargetsMissed {
		fmt.Fprintf(w, "TARGET MISSED: %s\n", t)
	}
}
