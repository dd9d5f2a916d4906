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
}

// Pipeline is a running kycflow pipeline with a webhook receiver.
type Pipeline struct {
	cfg      PipelineConfig
	natsURL  string
	nats     *NATSServer
	ingest   *Process
	enricher *Process
	notifier *Process
	run      *Process
	receiver *Receiver
	gates    map[string]*Gate
	routes   []notifier.Route
	nc       *nats.Conn
	js       jetstream.JetStream
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
	if cfg.Mode != ModeProcesses && cfg.Mode != ModeRun {
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
	case ModeProcesses:
		if p.nats, err = StartNATS(ctx, NATSConfig{Binary: cfg.Binaries.NATSServer, Dir: cfg.Dir, SyncAlways: cfg.SyncAlways, Log: cfg.Log}); err != nil {
			return nil, err
		}
		p.natsURL = p.nats.URL()
		env["KYCFLOW_NATS_URL"] = p.natsURL
		maps.Copy(env, cfg.Env)
		for _, s := range []struct {
			proc         **Process
			name, path   string
			addrEnv, msg string
		}{
			{&p.ingest, "ingest", cfg.Binaries.Ingest, "KYCFLOW_INGEST_ADDR", "ingest listening"},
			{&p.enricher, "enricher", cfg.Binaries.Enricher, "KYCFLOW_ENRICHER_ADDR", "enricher listening"},
			{&p.notifier, "notifier", cfg.Binaries.Notifier, "KYCFLOW_NOTIFIER_ADDR", "notifier listening"},
		} {
			if *s.proc, err = StartProcess(ctx, ProcessConfig{Name: s.name, Path: s.path, Env: env, AddrEnv: s.addrEnv, ListenMessage: s.msg, Log: cfg.Log}); err != nil {
				return nil, err
			}
		}
	case ModeRun:
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		p.natsURL = "nats://127.0.0.1:" + strconv.Itoa(port)
		maps.Copy(env, cfg.Env)
		p.run, err = StartProcess(ctx, ProcessConfig{
			Name: "kycflow run", Path: cfg.Binaries.Kycflow,
			Args: []string{"run", "--data-dir", filepath.Join(cfg.Dir, "run"), "--nats-listen", "127.0.0.1:" + strconv.Itoa(port)},
			Env:  env, AddrEnv: "KYCFLOW_INGEST_ADDR", ListenMessage: "ingest listening", Log: cfg.Log,
		})
		if err != nil {
			return nil, err
		}
	}
	if p.nc, err = nats.Connect(p.natsURL, nats.Name("kycflow-rig"), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond)); err != nil {
		return nil, fmt.Errorf("rig: %w", err)
	}
	if p.js, err = jetstream.New(p.nc); err != nil {
		return nil, fmt.Errorf("rig: %w", err)
	}
	return p, nil
}

// env is the environment every service gets (before cfg.Env).
func (p *Pipeline) env(routesFile string) map[string]string {
	j := p.cfg.Jumio
	env := map[string]string{
		"KYCFLOW_LOG_FORMAT":                 "json",
		"KYCFLOW_LOG_LEVEL":                  "info",
		"KYCFLOW_INGEST_ADDR":                "127.0.0.1:0",
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

// CallbackURL is ingest's endpoint for api.
func (p *Pipeline) CallbackURL(api events.API) string {
	proc := p.ingest
	if proc == nil {
		proc = p.run
	}
	return "http://" + proc.Addr() + "/callbacks/" + string(api)
}

// IngestAddr is the address ingest listens on.
func (p *Pipeline) IngestAddr() string {
	if p.ingest != nil {
		return p.ingest.Addr()
	}
	return p.run.Addr()
}

// NATS is the external nats-server (nil in ModeRun).
func (p *Pipeline) NATS() *NATSServer { return p.nats }

// Ingest, Enricher and Notifier are the service processes (nil in
// ModeRun); Run is "kycflow run" (nil in ModeProcesses).
func (p *Pipeline) Ingest() *Process   { return p.ingest }
func (p *Pipeline) Enricher() *Process { return p.enricher }
func (p *Pipeline) Notifier() *Process { return p.notifier }
func (p *Pipeline) Run() *Process      { return p.run }

// Processes are every process of the pipeline, nats-server included.
func (p *Pipeline) Processes() []*Process {
	var out []*Process
	for _, proc := range []*Process{p.ingest, p.enricher, p.notifier, p.run} {
		if proc != nil {
			out = append(out, proc)
		}
	}
	if p.nats != nil {
		out = append(out, p.nats.Process)
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
	var errs []error
	for _, proc := range []*Process{p.ingest, p.run, p.enricher, p.notifier} {
		if proc != nil {
			errs = append(errs, proc.Stop())
		}
	}
	if p.nats != nil {
		errs = append(errs, p.nats.Stop())
	}
	for _, g := range p.gates {
		g.Close()
	}
	if p.receiver != nil {
		errs = append(errs, p.receiver.Close())
	}
	return errors.Join(errs...)
}
