// Command jumiosim serves the Jumio simulator (pkg/jumio/jumiotest) over
// HTTP for demos and docker compose: OAuth2 tokens (expiring, and revoked
// on a schedule if asked), the Account API, the Platform and Netverify
// Retrieval APIs with generated executions and workflow details files, a
// request budget, fault injection, and callbacks posted to a URL.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) { // -h printed the flags
			fmt.Fprintln(os.Stderr, "jumiosim:", err)
		}
		os.Exit(exitCode(err))
	}
}
