package enricher

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/httpserver"
	"github.com/kycflow/kycflow/internal/telemetry"
)

// Serve is the enricher process: it connects to NATS, creates or updates
// the streams, builds the Jumio client and the enricher, serves /healthz,
// /readyz and /metrics on ln (cfg.Server.Addr when ln is nil), and
// enriches until ctx ends. Then /readyz turns 503, the enricher drains,
// the HTTP server stops, and the NATS connection is flushed and closed
// last, so that every ack and release reaches the server.
//
// A ctx that ends while Serve is still starting is a clean stop.
func Serve(ctx context.Context, cfg Config, tel *telemetry.Telemetry, ln net.Listener) error {
	err := serve(ctx, cfg, tel, ln)
	if err != nil && ctx.Err() != nil && !errors.Is(err, broker.ErrGone) {
		tel.Logger.Info("enricher stopped while starting", "error", err)
		return nil
	}
	return err
}

func serve(ctx context.Context, cfg Config, tel *telemetry.Telemetry, ln net.Listener) error {
	e, closeConn, err := Open(ctx, cfg, tel)
	if err != nil {
		return err
	}
	defer closeConn()
	srv := httpserver.New(e.cfg.Server, nil, e.Ready, tel.MetricsHandler(), tel.Logger)
	if ln == nil {
		if ln, err = srv.Listen(); err != nil {
			return err
		}
	}
	tel.Logger.Info("enricher listening", "addr", ln.Addr().String())

	// The enricher and the HTTP server stop together: when ctx ends, or
	// when either fails.
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	httpErr := make(chan error, 1)
	go func() {
		err := srv.Serve(rctx, ln)
		stop()
		httpErr <- err
	}()
	runErr := e.Run(rctx)
	stop()
	return errors.Join(runErr, <-httpErr)
}

// Open connects to NATS (cfg.NATS), creates or updates the streams, and
// returns an enricher over that connection, with a Jumio client built from
// cfg.Jumio, and a function that flushes and closes the connection: call
// it once Run has returned. For processes that run the enricher next to
// other stages and serve their own HTTP endpoints ("kycflow run"); Serve
// is Open plus the probe server.
func Open(ctx context.Context, cfg Config, tel *telemetry.Telemetry) (*Enricher, func(), error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	nc, _, err := broker.Open(ctx, cfg.NATS, tel.Logger)
	if err != nil {
		return nil, nil, fmt.Errorf("enricher: %w", err)
	}
	e, err := New(cfg, nc, nil, tel)
	if err != nil {
		broker.Close(nc)
		return nil, nil, err
	}
	return e, func() {
		e.Client().CloseIdleConnections()
		broker.Close(nc)
	}, nil
}
