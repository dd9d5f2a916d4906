// Command kycflow runs kycflow in one process ("kycflow run") and holds the
// operator commands. "kycflow --help" lists them.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/kycflow/kycflow/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
