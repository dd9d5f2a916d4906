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
	env := cli.Env{Getenv: os.Getenv, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Program: cli.Invocation(os.Args[0])}
	code := cli.MainEnv(ctx, env, os.Args[1:])
	stop()
	os.Exit(code)
}
