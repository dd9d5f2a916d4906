package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/config"
	"github.com/kycflow/kycflow/internal/ingest"
	"github.com/kycflow/kycflow/internal/telemetry"
	"github.com/kycflow/kycflow/pkg/events"
)

func init() {
	register(&Command{
		Name:    "run",
		Summary: "run kycflow in one process with an embedded JetStream server",
		Usage:   "[flags]",
		Description: `Starts an embedded NATS JetStream server (data kept in --data-dir across
restarts, every write synced to disk) and the kycflow stages on it, and
prints the callback URLs to give Jumio. For trying kycflow and for small
installations. Sender checks are relaxed for local use and the ones that are
off are listed at start; set the KYCFLOW_INGEST_* variables to turn them on.
Ctrl-C stops it cleanly: in-flight callbacks are finished and stored first.`,
		Example: `  kycflow run
  kycflow run --data-dir /var/lib/kycflow --addr :9000
  curl -i -H 'Content-Type: application/json' \
    --data @pkg/jumio/testdata/platform/callback-processed.json \
    http://localhost:8080/callbacks/platform`,
		Flags: func(fs *flag.FlagSet) {
			fs.String("data-dir", "kycflow-data", "directory for JetStream data, kept across restarts")
			fs.String("addr", "", "listen address of the callback endpoints (default KYCFLOW_INGEST_ADDR or :8080)")
			fs.String("nats-listen", "127.0.0.1:4222", "listen address of the embedded NATS server (port 0: any free port)")
		},
		Run: runRun,
	})
}

func runRun(ctx context.Context, env Env, fs *flag.FlagSet, args []string) error {
	if len(args) > 0 {
		return usageError("run: unexpected argument %q", args[0])
	}
	dataDir := fs.Lookup("data-dir").Value.String()
	natsListen := fs.Lookup("nats-listen").Value.String()

	e := config.New(env.Getenv)
	cfg := ingest.LoadConfig(e)
	tcfg := telemetry.LoadConfig(e, "kycflow")
	if err := e.Err(); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if addr := fs.Lookup("addr").Value.String(); addr != "" {
		cfg.Server.Addr = addr
	}
	// Local use: callbacks come from curl, the simulator or a tunnel, not
	// from Jumio's addresses. An explicit setting still wins.
	if env.Getenv("KYCFLOW_INGEST_CHECK_SOURCE_IP") == "" {
		cfg.CheckSourceIP = false
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}

	host, port, err := splitListen(natsListen)
	if err != nil {
		return usageError("run: --nats-listen: %v", err)
	}
	storeDir := filepath.Join(dataDir, "jetstream")
	if err := os.MkdirAll(storeDir, 0o750); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	emb, err := broker.RunEmbedded(broker.EmbeddedConfig{StoreDir: storeDir, Host: host, Port: port, SyncAlways: true})
	if err != nil {
		return fmt.Errorf("embedded JetStream on %s: %w", natsListen, err)
	}
	defer emb.Stop()
	cfg.NATS.URL = emb.URL()

	tel, err := telemetry.Setup(ctx, tcfg, env.Stderr)
	if err != nil {
		return err
	}
	defer tel.Shutdown(context.WithoutCancel(ctx)) //nolint:errcheck // best effort at exit

	ln, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Server.Addr, err)
	}
	printBanner(env.Stdout, cfg, ln.Addr(), emb.URL(), dataDir)

	// Each stage runs until ctx ends; the first to fail stops the others.
	// The enricher, the notifier and the simulator join this list.
	return runAll(ctx,
		func(ctx context.Context) error { return ingest.Run(ctx, cfg, tel, ln) },
	)
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

// printBanner says where things are, and loudly which checks are off.
func printBanner(w io.Writer, cfg ingest.Config, addr net.Addr, natsURL, dataDir string) {
	base := "http://" + displayAddr(addr)
	suffix := ""
	if cfg.PathSecret.IsSet() {
		suffix = "/<KYCFLOW_INGEST_PATH_SECRET>"
	}
	fmt.Fprintf(w, "kycflow run\n")
	fmt.Fprintf(w, "  JetStream  %s (embedded; data in %s, every write synced to disk)\n", natsURL, dataDir)
	fmt.Fprintf(w, "  Callback URLs for Jumio:\n")
	fmt.Fprintf(w, "    Platform   POST %s/callbacks/%s%s\n", base, events.APIPlatform, suffix)
	fmt.Fprintf(w, "    Netverify  POST %s/callbacks/%s%s\n", base, events.APINetverify, suffix)
	fmt.Fprintf(w, "  Health     %s/healthz  %s/readyz  metrics %s/metrics\n", base, base, base)
	if off := cfg.ChecksOff(); len(off) > 0 {
		fmt.Fprintf(w, "\n  !! SENDER CHECKS OFF (fine on a laptop, not on the internet):\n")
		for _, o := range off {
			fmt.Fprintf(w, "  !!   - %s\n", o)
		}
	}
	fmt.Fprintf(w, "\nCtrl-C to stop.\n")
}

func displayAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
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
