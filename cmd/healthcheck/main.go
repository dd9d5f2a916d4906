// Command healthcheck asks a kycflow service's /healthz or /readyz and
// exits 0 when it answers 2xx, 1 otherwise. It exists for container
// health checks (docker compose): the kycflow image has no shell, curl or
// wget. Kubernetes probes the endpoints itself and does not need it.
//
//	healthcheck http://127.0.0.1:8080/readyz
package main

import (
	"context"
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
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		os.Exit(1)
	}
}
