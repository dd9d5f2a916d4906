// Command notifier delivers normalized results from JUMIO_ENRICHED along
// the routes of a routes file: to JUMIO_RESULTS subjects and to signed
// webhooks. It is configured by KYCFLOW_* environment variables (see the
// README); "notifier -check" validates the routes file and exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			// The package's errors start with its name too: say it once.
			fmt.Fprintln(os.Stderr, "notifier:", strings.TrimPrefix(err.Error(), "notifier: "))
		}
		os.Exit(exitCode(err))
	}
}
