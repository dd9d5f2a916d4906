package rig

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
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/enricher"
	"github.com/kycflow/kycflow/internal/notifier"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
)

// Mode is how a pipeline runs.
type Mode string

// Modes.
const (
	// ModeProcesses runs ingest, the enricher and the notifier as separate
	// processes against an external nats-server process.
	ModeProcesses Mode = "processes"
	// ModeRun runs "kycflow run": every stage and an embedded JetStream
	// server (every write synced) in one process.
	ModeRun Mode = "run"
	// ModeCluster is ModeProcesses in production's shape: two processes of
	// each stage on a three-server JetStream cluster with R3 streams (at
	// least PipelineConfig's Servers and Instances).
	ModeCluster Mode = "cluster"
)

// Route is a notifier route of a pipeline.
type Route struct {
	// Name is the route's name.
	Name string
	// Webhook routes post to the pipeline's Receiver, through a Gate of
	// their own; the others publish to JUMIO_RESULTS.
	Webhook bool
	// Policy is the field policy (default no_pii for webhooks, full for
	// NATS).
	Policy events.Policy
	// Filter is the route's filter as a YAML flow mapping, for example
	// "{decision: [REJECTED]}"; empty selects every result.
	Filter string
	// Retry is the route's retry budget as a YAML flow mapping; empty is
	// DefaultRetry.
	Retry string
}

// DefaultRetry outlasts the outages the rig makes: attempts every 200 ms
// growing to 2 s, for about half an hour.
const DefaultRetry = "{maxAttempts: 1000, initialInterval: 200ms, maxInterval: 2s}"

// PipelineConfig configures StartPipeline.
type PipelineConfig struct {
	Mode     Mode
	Binaries Binaries
	// Dir holds the JetStream store, the routes file and the data
	// directory of "kycflow run".
	Dir string
	// SyncAlways sets sync_interval: always on the external nats-server
	// (ModeProcesses); "kycflow run" always syncs.
	SyncAlways bool
	// Jumio is where the enricher fetches from: hosts, credentials,
	// User-Agent and, when set, the client's rate limit and burst (the
	// simulator's ClientConfig, its hosts perhaps behind a Gate).
	Jumio jumio.Config
	// Routes are the notifier's routes.
	Routes []Route
	// Env is added to every service's environment last: it overrides the
	// rig's settings (shorter ack waits, retry intervals, …).
	Env map[string]string
	// Log gets a copy of every process's output.
	Log io.Writer
	// Servers is how many nats-server processes run (ModeProcesses): 1
	// (the default), or 3 for a JetStream cluster with R3 streams
	// (KYCFLOW_STREAM_REPLICAS=3), production's shape.
	Servers int
	// Netns runs the cluster's servers in network namespaces, so that
	// Cluster().Partition can cut one off (ClusterConfig.Netns).
	Netns bool
	// Instances is how many processes of each stage run (ModeProcesses,
	// default 1). Several ingest instances sit behind a balancer
	// (CallbackURL); several enrichers and notifiers share their durable
	// consumers.
	Instances int
	// Profiling makes the enricher and the notifier (and "kycflow run")
	// serve Go profiles for Pipeline.Profile.
	Profiling bool
	// Together starts every stage process at once, as a deploy does
	// (ModeProcesses), instead of each once the one before is ready: on
	// an empty server they all create the streams, buckets and consumers
	// at the same moment.
	Together bool
	// WatchSetup watches, from before the stages start until
	// Pipeline.SetupSeen, the requests that create or update a
	// stream or bucket and JetStream's answers to them. Not with the
	// embedded server of "kycflow run", which starts with it.
	WatchSetup bool
}

// Pipeline is a running kycflow pipeline with a webhook receiver.
type Pipeline struct {
	cfg      PipelineConfig
	natsURL  string
	nats     *NATSServer
	cluster  *Cluster
	ingest   []*Process
	enricher []*Process
	notifier []*Process
	run      *Process
	balancer *Gate
	receiver *Receiver
	gates    map[string]*Gate
	routes   []notifier.Route
	nc       *nats.Conn
	js       jetstream.JetStream
	// setup watches the stages' creates and updates while they start.
	setup *setupWatch
}

// webhookSecretsEnv is the variable the routes file names for the
// receiver's signing secret.
const webhookSecretsEnv = "KYCFLOW_RIG_WEBHOOK_SECRETS"

// StartPipeline starts the receiver and a gate per webhook route, then
// the pipeline, and waits until every process is ready. Close it.
func StartPipeline(ctx context.Context, cfg PipelineConfig) (_ *Pipeline, err error) {
	if cfg.Mode == "" {
		cfg.Mode = ModeProcesses
	}
	switch cfg.Mode {
	case ModeProcesses, ModeRun:
	case ModeCluster:
		cfg.Servers, cfg.Instances = max(cfg.Servers, 3), max(cfg.Instances, 2)
	default:
		return nil, fmt.Errorf("rig: unknown mode %q", cfg.Mode)
	}
	p := &Pipeline{cfg: cfg, gates: map[string]*Gate{}}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	if p.receiver, err = NewReceiver(); err != nil {
		return nil, err
	}
	for _, r := range cfg.Routes {
		if r.Webhook {
			if p.gates[r.Name], err = NewGate(p.receiver.Addr()); err != nil {
				return nil, err
			}
		}
	}
	routesFile := filepath.Join(cfg.Dir, "routes.yaml")
	if err := os.WriteFile(routesFile, []byte(p.routesFile()), 0o600); err != nil {
		return nil, fmt.Errorf("rig: %w", err)
	}
	env := p.env(routesFile)
	if p.routes, err = notifier.LoadRoutes(routesFile, func(k string) string { return env[k] }); err != nil {
		return nil, fmt.Errorf("rig: %w", err)
	}

	switch cfg.Mode {
	case ModeProcesses, ModeCluster:
		if err := p.startProcesses(ctx, env); err != nil {
			return nil, err
		}
	case ModeRun:
		args := []string{"run", "--data-dir", filepath.Join(cfg.Dir, "run")}
		if cfg.Servers > 1 {
			// "kycflow run --nats-url" on the cluster instead of its
			// embedded server.
			if err := p.startCluster(ctx, env); err != nil {
				return nil, err
			}
			if err := p.watchSetup(ctx); err != nil {
				return nil, err
			}
			args = append(args, "--nats-url", p.natsURL)
		} else {
			port, err := FreePort()
			if err != nil {
				return nil, err
			}
			p.natsURL = "nats://127.0.0.1:" + strconv.Itoa(port)
			args = append(args, "--nats-listen", "127.0.0.1:"+strconv.Itoa(port))
		}
		profAddr := ""
		if cfg.Profiling {
			// The enricher's address serves the profiles of the whole
			// process.
			port, err := FreePort()
			if err != nil {
				return nil, err
			}
			profAddr = "127.0.0.1:" + strconv.Itoa(port)
			env["KYCFLOW_ENRICHER_ADDR"], env["KYCFLOW_ENRICHER_PPROF"] = profAddr, "true"
		}
		maps.Copy(env, cfg.Env)
		p.run, err = StartProcess(ctx, ProcessConfig{
			Name: "kycflow run", Path: cfg.Binaries.Kycflow,
			Args: args,
			Env:  env, AddrEnv: "KYCFLOW_INGEST_ADDR", ListenMessage: "ingest listening", Log: cfg.Log,
			Records:   slices.Concat(evidenceStale, evidenceCollapsed, evidenceSuppressed),
			Profiling: cfg.Profiling, ProfilingAddr: profAddr,
		})
		if err != nil {
			return nil, err
		}
	}
	// Short pings: on a partitioned server the connection hangs without
	// an error until they fail.
	// Its own inbox prefix tells its requests apart (Tap).
	if p.nc, err = nats.Connect(p.natsURL, nats.Name("kycflow-rig"), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond),
		nats.PingInterval(time.Second), nats.MaxPingsOutstanding(3), nats.CustomInboxPrefix(rigInboxPrefix)); err != nil {
		return nil, fmt.Errorf("rig: %w", err)
	}
	if p.js, err = jetstream.New(p.nc); err != nil {
		return nil, fmt.Errorf("rig: %w", err)
	}
	return p, nil
}

// startProcesses starts the nats-server (or the cluster) and the stage
// processes.
func (p *Pipeline) startProcesses(ctx context.Context, env map[string]string) (err error) {
	cfg := p.cfg
	switch {
	case cfg.Servers <= 1:
		if p.nats, err = StartNATS(ctx, NATSConfig{Binary: cfg.Binaries.NATSServer, Dir: cfg.Dir, SyncAlways: cfg.SyncAlways, Log: cfg.Log}); err != nil {
			return err
		}
		p.natsURL = p.nats.URL()
	default:
		if err := p.startCluster(ctx, env); err != nil {
			return err
		}
	}
	env["KYCFLOW_NATS_URL"] = p.natsURL
	maps.Copy(env, cfg.Env)
	if err := p.watchSetup(ctx); err != nil {
		return err
	}
	n := max(cfg.Instances, 1)
	name := func(stage string, i int) string {
		if n == 1 {
			return stage
		}
		return stage + "-" + strconv.Itoa(i+1)
	}
	// Evidence: the stages' account of what they drop, event by event.
	// The enricher logs its stale drops, and the notifier its identical
	// and in-flight suppressions, at debug level.
	stageEnv := maps.Clone(env)
	stageEnv["KYCFLOW_LOG_LEVEL"] = "debug"
	if cfg.Profiling {
		stageEnv["KYCFLOW_ENRICHER_PPROF"] = "true"
		stageEnv["KYCFLOW_NOTIFIER_PPROF"] = "true"
	}
	p.ingest, p.enricher, p.notifier = make([]*Process, n), make([]*Process, n), make([]*Process, n)
	var starts []func() error
	for _, s := range []struct {
		procs        []*Process
		stage, path  string
		addrEnv, msg string
		env          map[string]string
		records      []string
		profiling    bool
	}{
		{p.ingest, "ingest", cfg.Binaries.Ingest, "KYCFLOW_INGEST_ADDR", "ingest listening", env, nil, false},
		{p.enricher, "enricher", cfg.Binaries.Enricher, "KYCFLOW_ENRICHER_ADDR", "enricher listening", stageEnv, slices.Concat(evidenceStale, evidenceCollapsed), cfg.Profiling},
		{p.notifier, "notifier", cfg.Binaries.Notifier, "KYCFLOW_NOTIFIER_ADDR", "notifier listening", stageEnv, evidenceSuppressed, cfg.Profiling},
	} {
		for i := range n {
			starts = append(starts, func() (err error) {
				s.procs[i], err = StartProcess(ctx, ProcessConfig{Name: name(s.stage, i), Path: s.path, Env: s.env, AddrEnv: s.addrEnv, ListenMessage: s.msg, Log: cfg.Log, Records: s.records, Profiling: s.profiling})
				return err
			})
		}
	}
	if err := startAll(cfg.Together, starts); err != nil {
		return err
	}
	if n > 1 {
		var addrs []string
		for _, proc := range p.ingest {
			addrs = append(addrs, proc.Addr())
		}
		if p.balancer, err = NewGate(addrs[0], addrs[1:]...); err != nil {
			return err
		}
	}
	return nil
}

// startAll runs the starts one after the other, stopping at the first
// error, or all at once (together), returning every error.
func startAll(together bool, starts []func() error) error {
	if !together {
		for _, start := range starts {
			if err := start(); err != nil {
				return err
			}
		}
		return nil
	}
	errs := make([]error, len(starts))
	var wg sync.WaitGroup
	for i, start := range starts {
		wg.Go(func() { errs[i] = start() })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// watchSetup starts the watch of PipelineConfig.WatchSetup, if asked.
func (p *Pipeline) watchSetup(ctx context.Context) (err error) {
	if p.cfg.WatchSetup {
		p.setup, err = watchSetup(ctx, p.natsURL)
	}
	return err
}

// startCluster starts the JetStream cluster and sets what the services
// need for it in env.
func (p *Pipeline) startCluster(ctx context.Context, env map[string]string) (err error) {
	cfg := p.cfg
	if p.cluster, err = StartCluster(ctx, ClusterConfig{Binary: cfg.Binaries.NATSServer, Dir: cfg.Dir, Size: cfg.Servers, SyncAlways: cfg.SyncAlways, Netns: cfg.Netns, Log: cfg.Log}); err != nil {
		return err
	}
	p.natsURL = p.cluster.URLs()
	env["KYCFLOW_STREAM_REPLICAS"] = strconv.Itoa(min(cfg.Servers, 3))
	// A client on a server cut off by a partition hears nothing: its
	// pings tell it to move.
	env["KYCFLOW_NATS_PING_INTERVAL"] = "1s"
	return nil
}

// env is the environment every service gets (before cfg.Env).
func (p *Pipeline) env(routesFile string) map[string]string {
	j := p.cfg.Jumio
	env := map[string]string{
		"KYCFLOW_LOG_FORMAT":                 "json",
		"KYCFLOW_LOG_LEVEL":                  "info",
		"KYCFLOW_INGEST_ADDR":                "127.0.0.1:0",
		"KYCFLOW_INGEST_ADMIN_ADDR":          "127.0.0.1:0",
		"KYCFLOW_ENRICHER_ADDR":              "127.0.0.1:0",
		"KYCFLOW_NOTIFIER_ADDR":              "127.0.0.1:0",
		"KYCFLOW_INGEST_ALLOWED_SOURCES":     "127.0.0.1",
		"KYCFLOW_INGEST_RATE_LIMIT":          "0", // all load comes from one address
		"KYCFLOW_NOTIFIER_ROUTES_FILE":       routesFile,
		webhookSecretsEnv:                    p.receiver.Secret(),
		"KYCFLOW_JUMIO_AUTH_URL":             j.Hosts.Auth,
		"KYCFLOW_JUMIO_ACCOUNT_URL":          j.Hosts.Account,
		"KYCFLOW_JUMIO_API_URL":              j.Hosts.API,
		"KYCFLOW_JUMIO_RETRIEVAL_URL":        j.Hosts.Retrieval,
		"KYCFLOW_JUMIO_NETVERIFY_URL":        j.Hosts.Netverify,
		"KYCFLOW_JUMIO_STATUS_URL":           j.Hosts.Status,
		"KYCFLOW_JUMIO_CLIENT_ID":            j.ClientID,
		"KYCFLOW_JUMIO_CLIENT_SECRET":        j.ClientSecret,
		"KYCFLOW_JUMIO_NETVERIFY_API_TOKEN":  j.NetverifyAPIToken,
		"KYCFLOW_JUMIO_NETVERIFY_API_SECRET": j.NetverifyAPISecret,
		"KYCFLOW_JUMIO_USER_AGENT":           j.UserAgent,
	}
	if j.RateLimit > 0 {
		env["KYCFLOW_JUMIO_RATE_LIMIT"] = strconv.FormatFloat(j.RateLimit, 'f', -1, 64)
	}
	if j.RateBurst > 0 {
		env["KYCFLOW_JUMIO_RATE_BURST"] = strconv.Itoa(j.RateBurst)
	}
	return env
}

// routesFile is the notifier's routes file.
func (p *Pipeline) routesFile() string {
	var b strings.Builder
	b.WriteString("routes:\n")
	for _, r := range p.cfg.Routes {
		fmt.Fprintf(&b, "  - name: %s\n", r.Name)
		policy := r.Policy
		if policy == "" {
			policy = events.PolicyFull
			if r.Webhook {
				policy = events.PolicyNoPII
			}
		}
		fmt.Fprintf(&b, "    policy: %s\n", policy)
		if r.Filter != "" {
			fmt.Fprintf(&b, "    filter: %s\n", r.Filter)
		}
		if r.Webhook {
			fmt.Fprintf(&b, "    webhook: {url: %q, allowPrivate: true, secretEnv: %s, timeout: 5s}\n",
				p.gates[r.Name].URL()+"/hooks/"+r.Name, webhookSecretsEnv)
		} else {
			b.WriteString("    nats: {}\n")
		}
		retry := r.Retry
		if retry == "" {
			retry = DefaultRetry
		}
		fmt.Fprintf(&b, "    retry: %s\n", retry)
	}
	return b.String()
}

// Mode is how the pipeline runs.
func (p *Pipeline) Mode() Mode { return p.cfg.Mode }

// CallbackURL is ingest's endpoint for api: the balancer's when several
// ingest instances run.
func (p *Pipeline) CallbackURL(api events.API) string {
	return "http://" + p.IngestAddr() + "/callbacks/" + string(api)
}

// IngestAddr is the address ingest listens on (the balancer's in front of
// several instances).
func (p *Pipeline) IngestAddr() string {
	switch {
	case p.balancer != nil:
		return p.balancer.Addr()
	case len(p.ingest) > 0:
		return p.ingest[0].Addr()
	}
	return p.run.Addr()
}

// NATSURL is the URL (comma-separated URLs of a cluster) the services
// connect to.
func (p *Pipeline) NATSURL() string { return p.natsURL }

// NATS is the external nats-server (nil in ModeRun and with a cluster).
func (p *Pipeline) NATS() *NATSServer { return p.nats }

// Cluster is the JetStream cluster (nil unless PipelineConfig.Servers is
// above 1).
func (p *Pipeline) Cluster() *Cluster { return p.cluster }

// Ingest, Enricher and Notifier are the first process of each stage (nil
// in ModeRun); Run is "kycflow run" (nil in ModeProcesses).
func (p *Pipeline) Ingest() *Process   { return first(p.ingest) }
func (p *Pipeline) Enricher() *Process { return first(p.enricher) }
func (p *Pipeline) Notifier() *Process { return first(p.notifier) }
func (p *Pipeline) Run() *Process      { return p.run }

// Ingests, Enrichers and Notifiers are every instance of each stage.
func (p *Pipeline) Ingests() []*Process   { return slices.Clone(p.ingest) }
func (p *Pipeline) Enrichers() []*Process { return p.enrichers() }
func (p *Pipeline) Notifiers() []*Process { return p.notifiers() }

// enrichers and notifiers are the processes that run each stage, "kycflow
// run" included.
func (p *Pipeline) enrichers() []*Process {
	if p.run != nil {
		return []*Process{p.run}
	}
	return slices.Clone(p.enricher)
}

func (p *Pipeline) notifiers() []*Process {
	if p.run != nil {
		return []*Process{p.run}
	}
	return slices.Clone(p.notifier)
}

func first(ps []*Process) *Process {
	if len(ps) == 0 {
		return nil
	}
	return ps[0]
}

// Processes are every process of the pipeline, nats-servers included.
func (p *Pipeline) Processes() []*Process {
	out := slices.Concat(p.ingest, p.enricher, p.notifier)
	if p.run != nil {
		out = append(out, p.run)
	}
	if p.nats != nil {
		out = append(out, p.nats.Process)
	}
	if p.cluster != nil {
		for _, s := range p.cluster.Servers() {
			out = append(out, s.Process)
		}
	}
	return out
}

// Receiver is the webhook receiver of every webhook route.
func (p *Pipeline) Receiver() *Receiver { return p.receiver }

// Gate is the gate in front of the receiver for a webhook route.
func (p *Pipeline) Gate(route string) *Gate { return p.gates[route] }

// Routes are the routes as the notifier reads them.
func (p *Pipeline) Routes() []notifier.Route { return p.routes }

// JetStream is the rig's own connection to the pipeline's server; it
// reconnects across restarts.
func (p *Pipeline) JetStream() jetstream.JetStream { return p.js }

// StoredBytes is what each stream of the account stores (its state's
// bytes, key-value buckets' streams included), by stream, from the
// streams' information.
func (p *Pipeline) StoredBytes(ctx context.Context) (map[string]uint64, error) {
	out := map[string]uint64{}
	lister := p.js.ListStreams(ctx)
	for info := range lister.Info() {
		out[info.Config.Name] = info.State.Bytes
	}
	if err := lister.Err(); err != nil {
		return nil, fmt.Errorf("rig: streams: %w", err)
	}
	return out, nil
}

// ClusterStreams are the streams of a pipeline: the four of the design
// and the key-value buckets of the enricher and the notifier.
var ClusterStreams = []string{
	events.StreamCallbacks, events.StreamEnriched, events.StreamResults, events.StreamDLQ,
	"KV_" + enricher.StateBucket, "KV_" + notifier.DeliveriesBucket,
}

// WaitClusterHealthy waits until every server of the cluster is up and
// healthy and every stream of the pipeline has a leader and current
// replicas. Without a cluster it returns at once.
func (p *Pipeline) WaitClusterHealthy(ctx context.Context) error {
	if p.cluster == nil {
		return nil
	}
	if err := p.cluster.WaitHealthy(ctx); err != nil {
		return err
	}
	waited := p.cluster.WaitedOn()
	err := p.cluster.WaitStreams(ctx, p.js, ClusterStreams...)
	if w := p.cluster.WaitedOn(); w == "" && waited != "" {
		p.cluster.setWaitedOn(errors.New(waited))
	}
	return err
}

// consumer names a durable consumer.
type consumer struct{ stream, durable string }

func (p *Pipeline) consumers() []consumer {
	out := []consumer{{events.StreamCallbacks, enricher.Durable}}
	for _, r := range p.routes {
		out = append(out, consumer{events.StreamEnriched, r.Durable()})
	}
	return out
}

// Settle waits until every stage has worked off its input: the
// enricher's consumer and every route's consumer have nothing pending and
// nothing unacknowledged (delayed retries included), three times in a row.
// Call it once every callback has been answered. It fails when ctx ends
// first, saying what is still in flight.
func (p *Pipeline) Settle(ctx context.Context) error {
	return p.settle(ctx, p.consumers())
}

// SettleRoutes is Settle for the enricher and the named routes only.
func (p *Pipeline) SettleRoutes(ctx context.Context, routes ...string) error {
	var cs []consumer
	for _, c := range p.consumers() {
		if c.stream == events.StreamCallbacks || slices.Contains(routes, strings.TrimPrefix(c.durable, notifier.DurablePrefix)) {
			cs = append(cs, c)
		}
	}
	return p.settle(ctx, cs)
}

func (p *Pipeline) settle(ctx context.Context, cs []consumer) error {
	clean := 0
	for {
		busy := p.busy(ctx, cs)
		if busy == "" {
			if clean++; clean == 3 {
				return nil
			}
		} else {
			clean = 0
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("rig: pipeline not settled (%s): %w", busy, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// busy says which consumers have work left ("" when none).
func (p *Pipeline) busy(ctx context.Context, cs []consumer) string {
	var busy []string
	for _, c := range cs {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		info, err := p.consumerInfo(cctx, c)
		cancel()
		switch {
		case err != nil:
			busy = append(busy, c.durable+": "+err.Error())
		case info.NumPending > 0 || info.NumAckPending > 0:
			busy = append(busy, fmt.Sprintf("%s: %d pending, %d unacknowledged", c.durable, info.NumPending, info.NumAckPending))
		}
	}
	return strings.Join(busy, "; ")
}

func (p *Pipeline) consumerInfo(ctx context.Context, c consumer) (*jetstream.ConsumerInfo, error) {
	cons, err := p.js.Consumer(ctx, c.stream, c.durable)
	if err != nil {
		return nil, err
	}
	return cons.Info(ctx)
}

// Close stops every process (SIGTERM), the gates and the receiver.
// It returns the processes' exit errors.
func (p *Pipeline) Close() error {
	if p.nc != nil {
		p.nc.Close()
	}
	if p.setup != nil {
		p.setup.nc.Close()
	}
	var errs []error
	if p.balancer != nil {
		p.balancer.Close()
	}
	for _, proc := range slices.Concat(p.ingest, []*Process{p.run}, p.enricher, p.notifier) {
		if proc != nil {
			_ = proc.Thaw()
			errs = append(errs, proc.Stop())
		}
	}
	if p.nats != nil {
		errs = append(errs, p.nats.Stop())
	}
	if p.cluster != nil {
		errs = append(errs, p.cluster.Close())
	}
	for _, g := range p.gates {
		g.Close()
	}
	if p.receiver != nil {
		errs = append(errs, p.receiver.Close())
	}
	return errors.Join(errs...)
}
