package notifier

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

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
	if err != nil && ctx.Err() != nil && !errors.Is(err, ErrInvalidConfig) {
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
	nc, err := broker.Connect(ctx, cfg.NATS, tel.Logger)
	if err != nil {
		return fmt.Errorf("notifier: %w", err)
	}
	defer closeConn(nc)
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("notifier: jetstream: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = broker.EnsureStreams(sctx, js, cfg.NATS.Streams)
	cancel()
	if err != nil {
		return fmt.Errorf("notifier: %w", err)
	}
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

// closeConn drains the connection (pending publishes and acks are
// flushed) and waits a moment for it to close.
func closeConn(nc *nats.Conn) {
	if err := nc.Drain(); err != nil {
		nc.Close()
		return
	}
	for deadline := time.Now().Add(5 * time.Second); !nc.IsClosed() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	nc.Close()
}
