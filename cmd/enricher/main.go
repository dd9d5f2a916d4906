// Command enricher is kycflow's enrich stage: it turns every callback
// stored in JUMIO_CALLBACKS into one enriched result in JUMIO_ENRICHED,
// through Jumio's Retrieval API, and serves /healthz, /readyz and
// /metrics. It is configured by KYCFLOW_* environment variables (see the
// README, "Enricher").
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/kycflow/kycflow/internal/config"
	"github.com/kycflow/kycflow/internal/enricher"
	"github.com/kycflow/kycflow/internal/jumioconfig"
	"github.com/kycflow/kycflow/internal/telemetry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		// The packages' errors start with their name too: say it once.
		fmt.Fprintln(os.Stderr, "enricher:", strings.TrimPrefix(err.Error(), "enricher: "))
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		fmt.Fprintln(stdout, "usage: enricher (configured by KYCFLOW_* environment variables; see the README)")
		if len(args) == 1 && slices.Contains([]string{"-h", "-help", "--help", "help"}, args[0]) {
			return nil
		}
		return errors.New("enricher takes no arguments")
	}
	e := config.New(getenv)
	cfg := enricher.LoadConfig(e)
	tcfg := telemetry.LoadConfig(e, "enricher")
	jumioconfig.RequireCredentials(e, cfg.Jumio)
	if err := e.Err(); err != nil {
		return err
	}
	tel, err := telemetry.Setup(ctx, tcfg, stderr)
	if err != nil {
		return err
	}
	defer tel.Shutdown(context.WithoutCancel(ctx)) //nolint:errcheck // best effort at exit
	return enricher.Serve(ctx, cfg, tel, nil)
}
