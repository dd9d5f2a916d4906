package notifier

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/httpserver"
	"github.com/kycflow/kycflow/internal/telemetry"
)

// Run is the notifier process: it connects to NATS, creates or updates the
// streams, serves /healthz, /readyz and /metrics on ln (cfg.Server.Addr
// when ln is nil), and delivers to routes until ctx ends; then it drains
// (see Notifier.Run), stops the HTTP server and closes the connection. A
// ctx that ends while Run is still starting is a clean stop.
func Run(ctx context.Context, cfg Config, routes []Route, tel *telemetry.Telemetry, ln net.Listener) error {
	err := run(ctx, cfg, routes, tel, ln)
	if err != nil && ctx.Err() != nil && !errors.Is(err, ErrInvalidConfig) && !errors.Is(err, broker.ErrGone) {
		tel.Logger.Info("notifier stopped while starting", "error", err)
		return nil
	}
	return err
}

func run(ctx context.Context, cfg Config, routes []Route, tel *telemetry.Telemetry, ln net.Listener) error {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.NATS.Name == "" {
		cfg.NATS.Name = "kycflow-notifier"
	}
	nc, js, err := broker.Open(ctx, cfg.NATS, tel.Logger)
	if err != nil {
		return fmt.Errorf("notifier: %w", err)
	}
	defer broker.Close(nc)
	n, err := New(cfg, routes, js, tel)
	if err != nil {
		return err
	}
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Server.Addr); err != nil {
			return fmt.Errorf("notifier: listen %s: %w", cfg.Server.Addr, err)
		}
	}
	srv := httpserver.New(cfg.Server, nil, n.Ready, tel.MetricsHandler(), tel.Logger)
	tel.Logger.Info("notifier listening", "addr", ln.Addr().String(), "routes", len(routes))

	// The HTTP server outlives the deliveries: /readyz turns 503 while
	// they drain.
	sctx, stopServer := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	var serveErr error
	wg.Go(func() { serveErr = srv.Serve(sctx, ln) })
	runErr := n.Run(ctx)
	stopServer()
	wg.Wait()
	return errors.Join(runErr, serveErr)
}
