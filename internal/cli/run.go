package cli

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/kycflow/kycflow/internal/broker/embedded"
	"github.com/kycflow/kycflow/internal/config"
	"github.com/kycflow/kycflow/internal/enricher"
	"github.com/kycflow/kycflow/internal/ingest"
	"github.com/kycflow/kycflow/internal/jumioconfig"
	"github.com/kycflow/kycflow/internal/notifier"
	"github.com/kycflow/kycflow/internal/telemetry"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

func init() {
	register(&Command{
		Name:    "run",
		Summary: "run kycflow in one process with an embedded JetStream server",
		Usage:   "[flags]",
		Description: `Starts an embedded NATS JetStream server (data kept in --data-dir across
restarts, every write synced to disk) and the three stages on it: ingest,
the enricher and the notifier, with the same code as the separate services.
Without Jumio credentials (KYCFLOW_JUMIO_CLIENT_ID, ...) it also starts a
Jumio simulator on loopback and points the enricher at it, so that
"kycflow send" yields real results; ingest then listens on 127.0.0.1:8080
and accepts callbacks from any address. With credentials ingest listens on
:8080 and accepts callbacks from Jumio's addresses only (behind a proxy,
set KYCFLOW_INGEST_TRUSTED_PROXIES). Without a routes file
(KYCFLOW_NOTIFIER_ROUTES_FILE) every result goes to JUMIO_RESULTS, which
"kycflow tail" shows.

It prints the callback URLs to give Jumio and, loudly, the sender checks
that are off (set the KYCFLOW_INGEST_* variables to turn them on or off). --nats-url uses an external NATS server instead of the embedded one.
Ctrl-C (or SIGTERM) stops it cleanly: ingest stops accepting and finishes
the callbacks in flight, the stages drain, then the server stops.`,
		Example: `  kycflow run
  kycflow run --data-dir /var/lib/kycflow --addr :9000
  kycflow run --nats-url nats://nats.internal:4222`,
		Flags: func(fs *flag.FlagSet) {
			fs.String("data-dir", DefaultDataDir, "directory for JetStream data and the simulator's transactions, kept across restarts (default KYCFLOW_DATA_DIR or "+DefaultDataDir+")")
			fs.String("addr", "", "listen address of the callback endpoints (default KYCFLOW_INGEST_ADDR, else 127.0.0.1:8080 with the simulator, :8080 with Jumio credentials)")
			fs.String("enricher-addr", "", "listen address of the enricher's /healthz, /readyz and /metrics (default KYCFLOW_ENRICHER_ADDR or 127.0.0.1:8081)")
			fs.String("notifier-addr", "", "listen address of the notifier's /healthz, /readyz and /metrics (default KYCFLOW_NOTIFIER_ADDR or 127.0.0.1:8082)")
			fs.String("simulator-addr", "127.0.0.1:0", "listen address of the Jumio simulator, started without Jumio credentials (port 0: any free port)")
			fs.String("nats-listen", "127.0.0.1:4222", "listen address of the embedded NATS server (port 0: any free port)")
			fs.String("nats-url", "", "use this NATS server instead of the embedded one (credentials from the KYCFLOW_NATS_* variables)")
		},
		Run: runRun,
	})
}

// runConfig is everything "kycflow run" starts.
type runConfig struct {
	dataDir   string
	ingest    ingest.Config
	notifier  notifier.Config
	routes    []notifier.Route
	routesSrc string
	enricher  enricher.Config
	tel       telemetry.Config
}

func runRun(ctx context.Context, env Env, fs *flag.FlagSet, args []string) error {
	if len(args) > 0 {
		return usageError("run: unexpected argument %q", args[0])
	}
	rc, err := loadRunConfig(env, fs)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(rc.dataDir, 0o750); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}

	// NATS: embedded unless --nats-url names a server.
	natsURL := strFlag(fs, "nats-url")
	ownServer := natsURL == ""
	if ownServer {
		natsListen := strFlag(fs, "nats-listen")
		host, port, err := splitListen(natsListen)
		if err != nil {
			return usageError("run: --nats-listen: %v", err)
		}
		storeDir := filepath.Join(rc.dataDir, "jetstream")
		if err := os.MkdirAll(storeDir, 0o750); err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
		emb, err := embedded.Run(embedded.Config{StoreDir: storeDir, Host: host, Port: port, SyncAlways: true})
		if err != nil {
			return fmt.Errorf("embedded JetStream on %s: %w", natsListen, err)
		}
		defer emb.Stop()
		natsURL = emb.URL()
	}
	rc.ingest.NATS.URL = natsURL
	rc.notifier.NATS.URL = natsURL

	tel, err := telemetry.Setup(ctx, rc.tel, env.Stderr)
	if err != nil {
		return err
	}
	defer tel.Shutdown(context.WithoutCancel(ctx)) //nolint:errcheck // best effort at exit

	listeners := map[string]net.Listener{}
	defer func() {
		for _, ln := range listeners {
			ln.Close()
		}
	}()
	listen := func(name, addr string) (net.Listener, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("%s: listen %s: %w", name, addr, err)
		}
		listeners[name] = ln
		return ln, nil
	}
	ingestLn, err := listen("ingest", rc.ingest.Server.Addr)
	if err != nil {
		return err
	}
	notifierLn, err := listen("notifier", rc.notifier.Server.Addr)
	if err != nil {
		return err
	}
	ingestBase := "http://" + displayAddr(ingestLn.Addr())

	var stages []func(context.Context) error
	var sim *localSimulator
	if !jumioconfig.HasCredentials(rc.enricher.Jumio) {
		// The simulator calls back ingest on loopback.
		cb := "http://" + loopbackAddr(ingestLn.Addr()) + rc.ingest.CallbackPath(events.APIPlatform)
		sim, err = startSimulator(rc.dataDir, strFlag(fs, "simulator-addr"), cb)
		if err != nil {
			return fmt.Errorf("simulator: %w", err)
		}
		defer sim.Close()
		stages = append(stages, sim.keepSaved)
	}
	ecfg := rc.enricherConfig(natsURL, sim)
	if sim != nil && ecfg.MigrationCallbackURL == "" {
		// Scans migrated on the simulator call back this run's ingest.
		ecfg.MigrationCallbackURL = "http://" + loopbackAddr(ingestLn.Addr()) + rc.ingest.CallbackPath(events.APIPlatform)
	}
	enricherLn, err := listen("enricher", ecfg.Server.Addr)
	if err != nil {
		return err
	}

	info := runInfo{
		PID: os.Getpid(), StartedAt: time.Now().UTC(), NATSURL: natsURL, IngestURL: ingestBase,
		EnricherURL: "http://" + displayAddr(enricherLn.Addr()), NotifierURL: "http://" + displayAddr(notifierLn.Addr()),
	}
	if sim != nil {
		info.SimulatorURL = sim.URL()
	}
	if err := writeRunInfo(rc.dataDir, info); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	defer os.Remove(filepath.Join(rc.dataDir, runInfoFile))
	printBanner(env.Stdout, rc, info, ownServer)

	// Each stage runs until ctx ends; the first to fail stops the others.
	// On Ctrl-C all of them see ctx end together: ingest stops accepting
	// and finishes what is in flight, the enricher and the notifier drain;
	// the embedded server stops after every one has returned.
	stages = append(stages,
		func(ctx context.Context) error { return ingest.Run(ctx, rc.ingest, tel, ingestLn) },
		func(ctx context.Context) error { return enricher.Serve(ctx, ecfg, tel, enricherLn) },
		func(ctx context.Context) error { return notifier.Run(ctx, rc.notifier, rc.routes, tel, notifierLn) },
	)
	err = runAll(ctx, stages...)
	if err == nil {
		fmt.Fprintln(env.Stdout, "kycflow run stopped")
	}
	return err
}

// loadRunConfig reads the configuration of every stage and applies run's
// flags and local defaults.
func loadRunConfig(env Env, fs *flag.FlagSet) (runConfig, error) {
	rc := runConfig{dataDir: strFlag(fs, "data-dir")}
	if !flagSet(fs, "data-dir") {
		rc.dataDir = dataDir(env)
	}
	e := config.New(env.Getenv)
	rc.ingest = ingest.LoadConfig(e)
	rc.notifier = notifier.LoadConfig(e)
	rc.enricher = enricher.LoadConfig(e)
	rc.tel = telemetry.LoadConfig(e, "kycflow")
	if err := e.Err(); err != nil {
		return rc, fmt.Errorf("configuration: %w", err)
	}
	local := !jumioconfig.HasCredentials(rc.enricher.Jumio)
	switch addr := strFlag(fs, "addr"); {
	case addr != "":
		rc.ingest.Server.Addr = addr
	case local && env.Getenv("KYCFLOW_INGEST_ADDR") == "":
		// With the simulator the callbacks come from this machine: no
		// reason to accept them from the network.
		rc.ingest.Server.Addr = localIngestAddr
	}
	// The enricher's and notifier's probes stay on loopback unless asked.
	rc.notifier.Server.Addr = cmp.Or(strFlag(fs, "notifier-addr"), env.Getenv("KYCFLOW_NOTIFIER_ADDR"), "127.0.0.1:8082")
	rc.enricher.Server.Addr = cmp.Or(strFlag(fs, "enricher-addr"), env.Getenv("KYCFLOW_ENRICHER_ADDR"), "127.0.0.1:8081")
	// Local use (no Jumio credentials): callbacks come from curl or the
	// simulator, not from Jumio's addresses. With credentials the check
	// stays on (Jumio calls back, through a proxy with trusted-proxy
	// settings). An explicit setting wins either way.
	if local && env.Getenv("KYCFLOW_INGEST_CHECK_SOURCE_IP") == "" {
		rc.ingest.CheckSourceIP = false
	}
	if err := rc.ingest.Validate(); err != nil {
		return rc, fmt.Errorf("configuration: %w", err)
	}
	if rc.notifier.RoutesFile != "" {
		routes, err := notifier.LoadRoutes(rc.notifier.RoutesFile, env.Getenv)
		if err != nil {
			return rc, err
		}
		rc.routes, rc.routesSrc = routes, rc.notifier.RoutesFile
	} else {
		rc.routes, rc.routesSrc = notifier.DefaultRoutes(), ""
	}
	return rc, nil
}

// localIngestAddr is where "kycflow run" with the simulator listens for
// callbacks unless told otherwise.
const localIngestAddr = "127.0.0.1:8080"

// enricherConfig is the enricher's configuration on natsURL, pointed at
// the simulator when sim is set.
func (rc runConfig) enricherConfig(natsURL string, sim *localSimulator) enricher.Config {
	cfg := rc.enricher
	cfg.NATS.URL = natsURL
	if sim != nil {
		sc := sim.ClientConfig(0)
		cfg.Jumio.Hosts = sc.Hosts
		cfg.Jumio.ClientID, cfg.Jumio.ClientSecret = sc.ClientID, sc.ClientSecret
		cfg.Jumio.NetverifyAPIToken, cfg.Jumio.NetverifyAPISecret = sc.NetverifyAPIToken, sc.NetverifyAPISecret
	}
	return cfg
}

// jumioTarget says which Jumio the enricher talks to.
func (rc runConfig) jumioTarget() string {
	h := cmp.Or(rc.enricher.Jumio.Hosts.Retrieval, wire.RegionHosts(rc.enricher.Jumio.Region).Retrieval)
	return h + " (region " + string(rc.enricher.Jumio.Region) + ")"
}

func splitListen(s string) (string, int, error) {
	host, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, err
	}
	var port int
	if _, err := fmt.Sscan(p, &port); err != nil {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	if port == 0 {
		port = -1 // the NATS server's "any free port"
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, port, nil
}

// printBanner says where things are, what to try, and loudly which checks
// are off.
func printBanner(w io.Writer, rc runConfig, info runInfo, embedded bool) {
	base := info.IngestURL
	suffix := ""
	if rc.ingest.PathSecret.IsSet() {
		suffix = "/<KYCFLOW_INGEST_PATH_SECRET>"
	}
	fmt.Fprintf(w, "kycflow run\n")
	if embedded {
		fmt.Fprintf(w, "  JetStream  %s (embedded; data in %s, every write synced to disk)\n", info.NATSURL, rc.dataDir)
	} else {
		fmt.Fprintf(w, "  JetStream  %s (external)\n", redactURL(info.NATSURL))
	}
	fmt.Fprintf(w, "  Callback URLs for Jumio:\n")
	fmt.Fprintf(w, "    Platform   POST %s/callbacks/%s%s\n", base, events.APIPlatform, suffix)
	fmt.Fprintf(w, "    Netverify  POST %s/callbacks/%s%s\n", base, events.APINetverify, suffix)
	if isLoopback(base) {
		fmt.Fprintf(w, "    (this machine only; --addr or KYCFLOW_INGEST_ADDR, for example :8080, listens on the network)\n")
	}
	admin := base // ingest's /readyz and /metrics, on its own port when set
	if rc.ingest.AdminAddr != "" {
		admin = "http://" + clientAddr(rc.ingest.AdminAddr, "localhost")
	}
	fmt.Fprintf(w, "  Health     ingest %s/readyz  enricher %s/readyz  notifier %s/readyz\n", admin, info.EnricherURL, info.NotifierURL)
	fmt.Fprintf(w, "  Metrics    %s/metrics (each stage serves its own)\n", admin)
	if info.SimulatorURL != "" {
		fmt.Fprintf(w, "  Jumio      simulator at %s (no Jumio credentials set; it calls back the Platform URL)\n", info.SimulatorURL)
	} else {
		fmt.Fprintf(w, "  Jumio      %s\n", rc.jumioTarget())
	}
	if rc.routesSrc != "" {
		fmt.Fprintf(w, "  Routes     %d from %s\n", len(rc.routes), rc.routesSrc)
	} else {
		fmt.Fprintf(w, "  Routes     every result to %s (%s.>); set KYCFLOW_NOTIFIER_ROUTES_FILE for others\n", events.StreamResults, events.SubjectResults)
	}
	if rc.ingest.CheckSourceIP {
		fmt.Fprintf(w, "  Senders    only Jumio's callback addresses (region %s, or KYCFLOW_INGEST_ALLOWED_SOURCES)\n", rc.ingest.Region)
		if len(rc.ingest.TrustedProxies) == 0 {
			fmt.Fprintf(w, "             behind a tunnel, load balancer or reverse proxy, set KYCFLOW_INGEST_TRUSTED_PROXIES\n")
			fmt.Fprintf(w, "             to its addresses so that the sender is read from X-Forwarded-For;\n")
			fmt.Fprintf(w, "             KYCFLOW_INGEST_CHECK_SOURCE_IP=false turns the check off\n")
		} else {
			fmt.Fprintf(w, "             X-Forwarded-For read from the proxies of KYCFLOW_INGEST_TRUSTED_PROXIES\n")
		}
	}
	if off := rc.ingest.ChecksOff(); len(off) > 0 {
		fmt.Fprintf(w, "\n  !! SENDER CHECKS OFF (fine on a laptop, not on the internet):\n")
		for _, o := range off {
			fmt.Fprintf(w, "  !!   - %s\n", o)
		}
	}
	fmt.Fprintf(w, "\nTry it, in another terminal:\n")
	if info.SimulatorURL != "" {
		fmt.Fprintf(w, "  kycflow send --count 10      # the simulator sends callbacks of new transactions\n")
	} else {
		fmt.Fprintf(w, "  kycflow send --samples       # post sample callbacks\n")
	}
	fmt.Fprintf(w, "  kycflow tail                 # follow the results\n")
	fmt.Fprintf(w, "  kycflow streams              # streams, consumers and lag\n")
	fmt.Fprintf(w, "\nCtrl-C to stop.\n")
}

// isLoopback reports whether a base URL's host is a loopback address.
func isLoopback(base string) bool {
	u, err := url.Parse(base)
	if err != nil {
		return false
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.IsLoopback()
}

// displayAddr is a listen address as a client on this machine writes it.
func displayAddr(a net.Addr) string { return clientAddr(a.String(), "localhost") }

// loopbackAddr is a listen address reached over loopback.
func loopbackAddr(a net.Addr) string { return clientAddr(a.String(), "127.0.0.1") }

// clientAddr replaces an unspecified listen host with host.
func clientAddr(addr, host string) string {
	h, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(h); ip != nil && !ip.IsUnspecified() {
		host = h
	}
	return net.JoinHostPort(host, port)
}

// runAll runs each function until ctx ends or one of them returns an
// error, which cancels the others; it returns the errors joined.
func runAll(ctx context.Context, fns ...func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, fn := range fns {
		wg.Go(func() {
			if err := fn(ctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				cancel()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
