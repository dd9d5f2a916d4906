package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kycflow/kycflow/internal/broker"
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
			fs.String("data-dir", "", "directory for JetStream data and the simulator's transactions, kept across restarts (default KYCFLOW_DATA_DIR or "+DefaultDataDir+")")
			fs.String("addr", "", "listen address of the callback endpoints (default KYCFLOW_INGEST_ADDR, else 127.0.0.1:8080 with the simulator, :8080 with Jumio credentials)")
			fs.String("admin-addr", "", "listen address of ingest's /healthz, /readyz and /metrics, apart from the callback endpoints (default KYCFLOW_INGEST_ADMIN_ADDR or 127.0.0.1:9090; off: none)")
			fs.String("enricher-addr", "", "listen address of the enricher's /healthz, /readyz and /metrics (default KYCFLOW_ENRICHER_ADDR or 127.0.0.1:8081)")
			fs.String("notifier-addr", "", "listen address of the notifier's /healthz, /readyz and /metrics (default KYCFLOW_NOTIFIER_ADDR or 127.0.0.1:8082)")
			fs.String("simulator-addr", "127.0.0.1:0", "listen address of the Jumio simulator, started without Jumio credentials (port 0: the port of its last start in this data directory when free, else any)")
			fs.String("nats-listen", "", "listen address of the embedded NATS server (default KYCFLOW_NATS_LISTEN, else "+defaultNATSListen+"; port 0: any free port)")
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
	// natsURL is --nats-url: an external server; "" for the embedded one
	// on natsListen.
	natsURL    string
	natsListen string
	// simulatorAddr is where the Jumio simulator listens when there are
	// no Jumio credentials.
	simulatorAddr string
	// store is the store encryption of the embedded server.
	store storeConfig
}

// storeConfig is the store encryption of the embedded NATS server
// (KYCFLOW_NATS_STORE_*).
type storeConfig struct {
	key, previous   config.Secret
	cipher          embedded.Cipher
	encryptExisting bool
}

// Variables of the store encryption of the embedded NATS server.
const (
	varStoreKey             = "KYCFLOW_NATS_STORE_KEY"
	varStorePreviousKey     = "KYCFLOW_NATS_STORE_PREVIOUS_KEY"
	varStoreCipher          = "KYCFLOW_NATS_STORE_CIPHER"
	varStoreEncryptExisting = "KYCFLOW_NATS_STORE_ENCRYPT_EXISTING"
)

// loadStoreConfig reads the store encryption of the embedded server; the
// keys are secrets (from the variable or the file of its _FILE twin) and
// never printed. An external server (--nats-url) encrypts by its own
// configuration: a key set for it is refused rather than ignored.
func loadStoreConfig(e *config.Env, ownServer bool) storeConfig {
	sc := storeConfig{
		key: e.Secret(varStoreKey, fmt.Sprintf("key that encrypts the embedded NATS server's store, at least %d bytes, random", embedded.MinStoreKeyLen)),
		previous: e.Secret(varStorePreviousKey, "the key the embedded server's store was encrypted with before "+varStoreKey+
			" (key rotation: one start with both re-encrypts the store with the new key)"),
		cipher: embedded.Cipher(e.Enum(varStoreCipher, string(embedded.CipherChaCha), "cipher of the store encryption",
			string(embedded.CipherChaCha), string(embedded.CipherAES))),
		encryptExisting: e.Bool(varStoreEncryptExisting, false, "with "+varStoreKey+", encrypt a store written without encryption at this start"),
	}
	switch {
	case !ownServer && (sc.key.IsSet() || sc.previous.IsSet()):
		e.Invalid(varStoreKey, "encrypts the store of the embedded NATS server; with --nats-url the external server's own configuration does (jetstream { key: ... }, docs/operations.md)")
	case sc.key.IsSet() && len(sc.key.Value()) < embedded.MinStoreKeyLen:
		e.Invalid(varStoreKey, "want a key of at least %d bytes, random (openssl rand -base64 48)", embedded.MinStoreKeyLen)
	case sc.previous.IsSet() && !sc.key.IsSet():
		e.Invalid(varStorePreviousKey, "set it together with %s, the new key", varStoreKey)
	}
	return sc
}

// apply sets the embedded server's store encryption in cfg.
func (sc storeConfig) apply(cfg embedded.Config) embedded.Config {
	cfg.StoreKey, cfg.PreviousStoreKey = sc.key.Value(), sc.previous.Value()
	cfg.StoreCipher, cfg.EncryptExisting = sc.cipher, sc.encryptExisting
	return cfg
}

// describe says how the store is kept, for the banner.
func (sc storeConfig) describe() string {
	if !sc.key.IsSet() {
		return "store not encrypted (" + varStoreKey + ")"
	}
	if sc.cipher == embedded.CipherAES {
		return "store encrypted, AES-256-GCM"
	}
	return "store encrypted, ChaCha20-Poly1305"
}

// storeError says what to set when the store does not fit the keys.
func (sc storeConfig) storeError(err *embedded.StoreError) error {
	streams := strings.Join(err.Streams, ", ")
	switch {
	case errors.Is(err, embedded.ErrStoreEncrypted):
		return fmt.Errorf("embedded NATS server: the store in %s is encrypted (streams %s) and %s is not set: "+
			"set it (or %s_FILE) to the key the store was written with", err.Dir, streams, varStoreKey, varStoreKey)
	case errors.Is(err, embedded.ErrStoreNotEncrypted):
		return fmt.Errorf("embedded NATS server: %s is set and the store in %s was written without encryption (streams %s): "+
			"set %s=true to encrypt it in place at this start (copies made before, such as backups, stay in plain text), or unset %s",
			varStoreKey, err.Dir, streams, varStoreEncryptExisting, varStoreKey)
	case errors.Is(err, embedded.ErrStoreKeyWrong):
		keys := varStoreKey + " does not open"
		if sc.previous.IsSet() {
			keys = "neither " + varStoreKey + " nor " + varStorePreviousKey + " opens"
		}
		return fmt.Errorf("embedded NATS server: %s the store in %s (streams %s): it was written with another key; "+
			"set %s to that key, or, to change keys, %s to that key and %s to the new one",
			keys, err.Dir, streams, varStoreKey, varStorePreviousKey, varStoreKey)
	}
	return err
}

// ownServer reports whether run starts its embedded NATS server.
func (rc runConfig) ownServer() bool { return rc.natsURL == "" }

// runRun checks the whole configuration, claims the data directory,
// starts NATS and makes the streams, opens the stages' listeners (and the
// simulator), prints the banner, and runs the stages until ctx ends. Every
// check that can fail comes before the banner.
func runRun(ctx context.Context, env Env, fs *flag.FlagSet, args []string) error {
	if len(args) > 0 {
		return usageError("run: unexpected argument %q", args[0])
	}
	rc, err := loadRunConfig(env, fs)
	if err != nil {
		return err
	}
	if err := claimDataDir(rc.dataDir); err != nil {
		return err
	}
	nats, err := startNATS(rc)
	if err != nil {
		return err
	}
	defer nats.stop()
	rc.setNATSURL(nats.url)

	tel, err := telemetry.Setup(ctx, rc.tel, env.Stderr)
	if err != nil {
		return err
	}
	defer tel.Shutdown(context.WithoutCancel(ctx)) //nolint:errcheck // best effort at exit
	if err := ensureStreams(ctx, rc, tel); err != nil {
		return err
	}

	ls, err := listenStages(rc)
	if err != nil {
		return err
	}
	defer ls.close()
	var sim *localSimulator
	if !jumioconfig.HasCredentials(rc.enricher.Jumio) {
		// The simulator calls back ingest on loopback.
		cb := "http://" + loopbackAddr(ls.ingest.Addr()) + rc.ingest.CallbackPath(events.APIPlatform)
		if sim, err = startSimulator(rc.dataDir, rc.simulatorAddr, cb); err != nil {
			return fmt.Errorf("simulator: %w", err)
		}
		defer sim.Close()
	}

	info := ls.info(nats.url, sim)
	info.StoreDir = nats.storeDir
	rc.enricher = rc.enricherConfig(sim) // the banner names its Netverify confirmation
	if err := writeRunInfo(rc.dataDir, info); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	defer os.Remove(filepath.Join(rc.dataDir, runInfoFile))
	printBanner(env.Stdout, env.program(), rc, info, nats.embedded)

	err = runStages(ctx, rc, tel, ls, sim)
	if err == nil {
		fmt.Fprintln(env.Stdout, "kycflow run stopped")
	}
	return err
}

// runStages runs ingest, the enricher and the notifier (and the
// simulator's saving) until ctx ends or one of them fails, which stops
// the others. On Ctrl-C all of them see ctx end together: ingest stops
// accepting and finishes what is in flight, the enricher and the notifier
// drain; the embedded server stops after every one has returned.
func runStages(ctx context.Context, rc runConfig, tel *telemetry.Telemetry, ls *stageListeners, sim *localSimulator) error {
	ecfg := rc.enricherConfig(sim)
	stages := []func(context.Context) error{
		func(ctx context.Context) error { return ingest.RunWithAdmin(ctx, rc.ingest, tel, ls.ingest, ls.admin) },
		func(ctx context.Context) error { return enricher.Serve(ctx, ecfg, tel, ls.enricher) },
		func(ctx context.Context) error { return notifier.Run(ctx, rc.notifier, rc.routes, tel, ls.notifier) },
	}
	if sim != nil {
		stages = append(stages, sim.keepSaved)
	}
	return runAll(ctx, stages...)
}

// loadRunConfig reads the configuration of every stage, applies run's
// flags and local defaults, and checks it all: every problem of the
// variables is reported at once, before anything starts.
func loadRunConfig(env Env, fs *flag.FlagSet) (runConfig, error) {
	rc := runConfig{
		dataDir:       strFlag(fs, "data-dir"),
		natsURL:       strFlag(fs, "nats-url"),
		natsListen:    cmp.Or(strFlag(fs, "nats-listen"), env.Getenv("KYCFLOW_NATS_LISTEN"), defaultNATSListen),
		simulatorAddr: strFlag(fs, "simulator-addr"),
	}
	if !flagSet(fs, "data-dir") {
		rc.dataDir = dataDir(env)
	}
	e := config.New(env.Getenv)
	rc.ingest = ingest.LoadConfig(e)
	rc.notifier = notifier.LoadConfig(e)
	rc.enricher = enricher.LoadConfig(e)
	rc.tel = telemetry.LoadConfig(e, "kycflow")
	local := !jumioconfig.HasCredentials(rc.enricher.Jumio)
	switch addr := strFlag(fs, "addr"); {
	case addr != "":
		rc.ingest.Server.Addr = addr
	case local && env.Getenv("KYCFLOW_INGEST_ADDR") == "":
		// With the simulator the callbacks come from this machine: no
		// reason to accept them from the network.
		rc.ingest.Server.Addr = localIngestAddr
	}
	// Ingest's admin port and the enricher's and notifier's probes stay
	// on loopback unless asked.
	rc.ingest.AdminAddr = ingest.ParseAdminAddr(cmp.Or(strFlag(fs, "admin-addr"), env.Getenv("KYCFLOW_INGEST_ADMIN_ADDR"), localAdminAddr))
	rc.notifier.Server.Addr = cmp.Or(strFlag(fs, "notifier-addr"), env.Getenv("KYCFLOW_NOTIFIER_ADDR"), "127.0.0.1:8082")
	rc.enricher.Server.Addr = cmp.Or(strFlag(fs, "enricher-addr"), env.Getenv("KYCFLOW_ENRICHER_ADDR"), "127.0.0.1:8081")
	// Local use (no Jumio credentials): callbacks come from curl or the
	// simulator, not from Jumio's addresses. With credentials the check
	// stays on (Jumio calls back, through a proxy with trusted-proxy
	// settings). An explicit setting wins either way.
	if local && env.Getenv("KYCFLOW_INGEST_CHECK_SOURCE_IP") == "" {
		rc.ingest.CheckSourceIP = false
	}
	rc.ingest.ValidateInto(e)
	rc.store = loadStoreConfig(e, rc.ownServer())
	if r := rc.ingest.NATS.Streams.Replicas; rc.ownServer() && r > 1 {
		e.Invalid("KYCFLOW_STREAM_REPLICAS", "the embedded NATS server is a single node: want 1 (replicas need --nats-url with a JetStream cluster)")
	}
	if err := e.Err(); err != nil {
		return rc, err
	}
	// Every stage's own checks before the banner, not after it.
	if err := rc.enricher.Validate(); err != nil {
		return rc, err
	}
	if err := rc.notifier.Validate(); err != nil {
		return rc, err
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

// setNATSURL points every stage at the NATS server.
func (rc *runConfig) setNATSURL(url string) {
	rc.ingest.NATS.URL = url
	rc.notifier.NATS.URL = url
	rc.enricher.NATS.URL = url
}

// claimDataDir creates the data directory and makes sure no other
// "kycflow run" uses it: two runs on one directory would share one
// JetStream store and one simulator file.
func claimDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if ri, ok := liveRun(dir); ok {
		return fmt.Errorf("kycflow run is already running from %s (pid %d, since %s, NATS %s, ingest %s): "+
			"stop it, or start this one with another --data-dir and --nats-listen",
			dir, ri.PID, ri.StartedAt.Local().Format(time.TimeOnly), redactURL(ri.NATSURL), ri.IngestURL)
	}
	return nil
}

// liveRun reads run.json in dir and reports whether the process that
// wrote it is still alive (and is not this one).
func liveRun(dir string) (runInfo, bool) {
	b, err := os.ReadFile(filepath.Join(dir, runInfoFile))
	if err != nil {
		return runInfo{}, false
	}
	var ri runInfo
	if json.Unmarshal(b, &ri) != nil || ri.PID <= 0 || ri.PID == os.Getpid() {
		return runInfo{}, false
	}
	return ri, processAlive(ri.PID)
}

// processAlive reports whether a process with pid exists (signal 0; a
// process of another user counts). Where signals do not exist it reports
// false.
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, syscall.EPERM)
}

// natsServer is the NATS server the stages use.
type natsServer struct {
	url      string
	embedded bool
	// storeDir is the embedded server's JetStream store ("" for an
	// external server).
	storeDir string
	stop     func()
}

// startNATS starts the embedded server on rc.natsListen, with its store
// in the data directory, or returns the external server of --nats-url.
func startNATS(rc runConfig) (natsServer, error) {
	if !rc.ownServer() {
		return natsServer{url: rc.natsURL, stop: func() {}}, nil
	}
	host, port, err := splitListen(rc.natsListen)
	if err != nil {
		return natsServer{}, usageError("run: --nats-listen: %v", err)
	}
	storeDir := filepath.Join(rc.dataDir, "jetstream")
	if err := os.MkdirAll(storeDir, 0o750); err != nil {
		return natsServer{}, fmt.Errorf("data directory: %w", err)
	}
	emb, err := embedded.Run(rc.store.apply(embedded.Config{StoreDir: storeDir, Host: host, Port: port, SyncAlways: true}))
	if se := (*embedded.StoreError)(nil); errors.As(err, &se) {
		return natsServer{}, rc.store.storeError(se)
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		return natsServer{}, fmt.Errorf("embedded NATS server: %s is in use (another kycflow run, or a NATS server): "+
			"stop it, pick another address with --nats-listen (port 0: any free port), or use that server with --nats-url nats://%s",
			rc.natsListen, clientAddr(rc.natsListen, "127.0.0.1"))
	}
	if err != nil {
		return natsServer{}, fmt.Errorf("embedded NATS server on %s: %w", rc.natsListen, err)
	}
	return natsServer{url: emb.URL(), embedded: true, storeDir: storeDir, stop: emb.Stop}, nil
}

// ensureStreams creates or updates the streams once, before the stages
// start, so that a problem with them (replicas the server cannot have,
// a storage change on existing data) is reported once, by what it is.
func ensureStreams(ctx context.Context, rc runConfig, tel *telemetry.Telemetry) error {
	cfg := rc.ingest.NATS
	cfg.Name = "kycflow-run"
	nc, _, err := broker.Open(ctx, cfg, tel.Logger)
	if err != nil {
		return err
	}
	nc.Close()
	return nil
}

// stageListeners are the listeners of the three stages, opened before
// the banner so that it shows the addresses they got.
type stageListeners struct {
	ingest, enricher, notifier net.Listener
	// admin is ingest's admin port; nil when KYCFLOW_INGEST_ADMIN_ADDR is off.
	admin net.Listener
}

// listenStages opens the stages' listeners; an address in use is named
// with the flag that changes it.
func listenStages(rc runConfig) (*stageListeners, error) {
	ls := &stageListeners{}
	for _, l := range []struct {
		ln         *net.Listener
		name, addr string
		flag, env  string
	}{
		{&ls.ingest, "ingest", rc.ingest.Server.Addr, "--addr", "KYCFLOW_INGEST_ADDR"},
		{&ls.enricher, "enricher", rc.enricher.Server.Addr, "--enricher-addr", "KYCFLOW_ENRICHER_ADDR"},
		{&ls.notifier, "notifier", rc.notifier.Server.Addr, "--notifier-addr", "KYCFLOW_NOTIFIER_ADDR"},
		{&ls.admin, "ingest admin", rc.ingest.AdminAddr, "--admin-addr", "KYCFLOW_INGEST_ADMIN_ADDR"},
	} {
		if l.addr == "" {
			continue // no admin port
		}
		ln, err := net.Listen("tcp", l.addr)
		if errors.Is(err, syscall.EADDRINUSE) {
			ls.close()
			return nil, fmt.Errorf("%s: %s is in use (another kycflow run?): pick another address with %s or %s", l.name, l.addr, l.flag, l.env)
		}
		if err != nil {
			ls.close()
			return nil, fmt.Errorf("%s: listen %s: %w", l.name, l.addr, err)
		}
		*l.ln = ln
	}
	return ls, nil
}

// close closes the listeners opened; the stages close theirs when they
// stop, and closing twice is harmless.
func (ls *stageListeners) close() {
	for _, ln := range []net.Listener{ls.ingest, ls.enricher, ls.notifier, ls.admin} {
		if ln != nil {
			ln.Close()
		}
	}
}

// info is run.json's content for a run on natsURL.
func (ls *stageListeners) info(natsURL string, sim *localSimulator) runInfo {
	ri := runInfo{
		PID: os.Getpid(), StartedAt: time.Now().UTC(), NATSURL: natsURL,
		IngestURL:   "http://" + displayAddr(ls.ingest.Addr()),
		EnricherURL: "http://" + displayAddr(ls.enricher.Addr()),
		NotifierURL: "http://" + displayAddr(ls.notifier.Addr()),
	}
	if sim != nil {
		ri.SimulatorURL = sim.URL()
	}
	if ls.admin != nil {
		ri.IngestAdminURL = "http://" + displayAddr(ls.admin.Addr())
	}
	return ri
}

// defaultNATSListen is where the embedded NATS server listens unless told
// otherwise: NATS's own port, on loopback.
const defaultNATSListen = "127.0.0.1:4222"

// localIngestAddr is where "kycflow run" with the simulator listens for
// callbacks unless told otherwise; localAdminAddr is where ingest's
// /readyz and /metrics are, with or without the simulator.
const (
	localIngestAddr = "127.0.0.1:8080"
	localAdminAddr  = "127.0.0.1:9090"
)

// enricherConfig is the enricher's configuration, pointed at the
// simulator when sim is set.
func (rc runConfig) enricherConfig(sim *localSimulator) enricher.Config {
	cfg := rc.enricher
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
// program is how the user runs kycflow ("kycflow", "go run
// ./cmd/kycflow", "bin/kycflow"), so that the commands it suggests can be
// pasted as they are.
func printBanner(w io.Writer, program string, rc runConfig, info runInfo, embedded bool) {
	base := info.IngestURL
	suffix := ""
	if rc.ingest.PathSecret.IsSet() {
		suffix = "/<KYCFLOW_INGEST_PATH_SECRET>"
	}
	fmt.Fprintf(w, "kycflow run\n")
	if embedded {
		fmt.Fprintf(w, "  JetStream  %s (embedded; data in %s, every write synced to disk, %s)\n", info.NATSURL, rc.dataDir, rc.store.describe())
	} else {
		fmt.Fprintf(w, "  JetStream  %s (external)\n", redactURL(info.NATSURL))
	}
	fmt.Fprintf(w, "  Callback URLs for Jumio:\n")
	fmt.Fprintf(w, "    Platform   POST %s/callbacks/%s%s\n", base, events.APIPlatform, suffix)
	fmt.Fprintf(w, "    Netverify  POST %s/callbacks/%s%s\n", base, events.APINetverify, suffix)
	if isLoopback(base) {
		fmt.Fprintf(w, "    (this machine only; --addr or KYCFLOW_INGEST_ADDR, for example :8080, listens on the network)\n")
	}
	// Ingest's /readyz and /metrics are on its admin port; the callback
	// port answers /readyz without details and serves no metrics.
	if admin := info.IngestAdminURL; admin != "" {
		fmt.Fprintf(w, "  Health     ingest %s/readyz  enricher %s/readyz  notifier %s/readyz\n", admin, info.EnricherURL, info.NotifierURL)
		fmt.Fprintf(w, "  Metrics    %s/metrics (each stage serves its own)\n", admin)
	} else {
		fmt.Fprintf(w, "  Health     ingest %s/readyz  enricher %s/readyz  notifier %s/readyz\n", base, info.EnricherURL, info.NotifierURL)
		fmt.Fprintf(w, "  Metrics    ingest none (KYCFLOW_INGEST_ADMIN_ADDR=off); the enricher's and notifier's on their own ports\n")
	}
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
	printChecksOff(w, rc)
	fmt.Fprintf(w, "\nTry it, in another terminal in this directory:\n")
	try := [][2]string{{"send --count 10", "the simulator sends callbacks of new transactions"}}
	if info.SimulatorURL == "" {
		try = [][2]string{{"send --samples", "post sample callbacks"}}
	}
	try = append(try, [2]string{"tail", "follow the results"}, [2]string{"streams", "streams, consumers and lag"})
	if rc.dataDir != DefaultDataDir {
		for i := range try {
			try[i][0] += " --data-dir " + shellQuote(rc.dataDir)
		}
	}
	width := 0
	for _, t := range try {
		width = max(width, len(program)+1+len(t[0]))
	}
	for _, t := range try {
		fmt.Fprintf(w, "  %-*s  # %s\n", width, program+" "+t[0], t[1])
	}
	fmt.Fprintf(w, "\nCtrl-C to stop.\n")
}

// printChecksOff names, loudly and per API, the checks that are off:
// ingest's sender checks, and the enricher's confirmation of Netverify
// callbacks against Jumio.
func printChecksOff(w io.Writer, rc runConfig) {
	off := map[events.API][]string{
		events.APIPlatform:  rc.ingest.ChecksOff(events.APIPlatform),
		events.APINetverify: rc.ingest.ChecksOff(events.APINetverify),
	}
	if c := enricher.NetverifyCheckOff(rc.enricher); c != "" {
		off[events.APINetverify] = append(off[events.APINetverify], c)
	}
	if len(off[events.APIPlatform])+len(off[events.APINetverify]) == 0 {
		return
	}
	fmt.Fprintf(w, "\n  !! SENDER CHECKS OFF (fine on a laptop, not on the internet):\n")
	for _, api := range []events.API{events.APIPlatform, events.APINetverify} {
		if len(off[api]) == 0 {
			continue
		}
		name := map[events.API]string{events.APIPlatform: "Platform", events.APINetverify: "Netverify"}[api]
		fmt.Fprintf(w, "  !!   %s callbacks:\n", name)
		for _, o := range off[api] {
			fmt.Fprintf(w, "  !!     - %s\n", o)
		}
	}
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

// shellQuote quotes s for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@+,", r))
	}) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
