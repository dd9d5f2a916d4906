// Command ingest is the HTTP service Jumio calls: it verifies each callback
// and stores it in JetStream before it answers 200. It is configured by
// KYCFLOW_* environment variables (see the README).
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
	"github.com/kycflow/kycflow/internal/ingest"
	"github.com/kycflow/kycflow/internal/telemetry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		// The packages' errors start with their name too: say it once.
		fmt.Fprintln(os.Stderr, "ingest:", strings.TrimPrefix(err.Error(), "ingest: "))
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		fmt.Fprintln(stdout, "usage: ingest (configured by KYCFLOW_* environment variables; see the README)")
		if len(args) == 1 && slices.Contains([]string{"-h", "-help", "--help", "help"}, args[0]) {
			return nil
		}
		return errors.New("ingest takes no arguments")
	}
	e := config.New(getenv)
	cfg := ingest.LoadConfig(e)
	tcfg := telemetry.LoadConfig(e, "ingest")
	cfg.ValidateInto(e)
	if err := e.Err(); err != nil {
		return err
	}
	tel, err := telemetry.Setup(ctx, tcfg, stderr)
	if err != nil {
		return err
	}
	defer tel.Shutdown(context.WithoutCancel(ctx)) //nolint:errcheck // best effort at exit
	return ingest.Run(ctx, cfg, tel, nil)
}
