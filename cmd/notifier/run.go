package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/kycflow/kycflow/internal/config"
	"github.com/kycflow/kycflow/internal/notifier"
	"github.com/kycflow/kycflow/internal/telemetry"
)

// errUsage marks bad flags (exit code 2).
var errUsage = errors.New("usage")

func exitCode(err error) int {
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	return 1
}

// run is the notifier: configuration from getenv, secrets from the
// environment and files only, logs to stderr.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("notifier", flag.ContinueOnError)
	fs.SetOutput(stderr)
	check := fs.Bool("check", false, "validate the routes file (KYCFLOW_NOTIFIER_ROUTES_FILE) and its secrets, print the routes and exit")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: notifier [-check]  (configured by KYCFLOW_* environment variables; see the README)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	e := config.New(getenv)
	cfg := notifier.LoadConfig(e)
	tcfg := telemetry.LoadConfig(e, "notifier")
	if err := e.Err(); err != nil {
		return err
	}
	routes, err := notifier.LoadRoutes(cfg.RoutesFile, getenv)
	if err != nil {
		return err
	}
	if *check {
		fmt.Fprintf(stdout, "%s: %d routes\n", cfg.RoutesFile, len(routes))
		for _, r := range routes {
			fmt.Fprintf(stdout, "  %-24s %-8s %-14s consumer %s\n", r.Name, r.SinkKind(), r.Policy, r.Durable())
		}
		return nil
	}
	tel, err := telemetry.Setup(ctx, tcfg, stderr)
	if err != nil {
		return err
	}
	defer tel.Shutdown(context.WithoutCancel(ctx)) //nolint:errcheck // best effort at exit
	return notifier.Run(ctx, cfg, routes, tel, nil)
}
