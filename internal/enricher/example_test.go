package enricher_test

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/nats-io/nats.go"

	"github.com/kycflow/kycflow/internal/config"
	"github.com/kycflow/kycflow/internal/enricher"
	"github.com/kycflow/kycflow/internal/telemetry"
	"github.com/kycflow/kycflow/pkg/jumio"
)

// The enricher inside another process (as "kycflow run" does): the
// process owns the NATS connection, the streams and the HTTP server; the
// enricher shares the process's Jumio client and adds its readiness.
// (Open does the connecting and the streams for a process that has no
// connection of its own to share.)
func ExampleNew() {
	var (
		ctx    context.Context      // the process context (signal.NotifyContext)
		nc     *nats.Conn           // connected, streams ensured (broker.EnsureStreams)
		tel    *telemetry.Telemetry // from telemetry.Setup
		getenv func(string) string  // os.Getenv
		mux    *http.ServeMux
	)
	cfg := enricher.LoadConfig(config.New(getenv))
	client, err := jumio.NewClient(cfg.Jumio, jumio.WithTracerProvider(tel.TracerProvider), jumio.WithMeterProvider(tel.MeterProvider))
	if err != nil {
		return
	}
	e, err := enricher.New(cfg, nc, client, tel)
	if err != nil {
		return
	}
	mux.HandleFunc("GET /readyz/enricher", func(w http.ResponseWriter, r *http.Request) {
		if err := e.Ready(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	})
	go func() {
		// Returns nil once ctx ends and the callbacks in flight are
		// settled.
		if err := e.Run(ctx); err != nil {
			tel.Logger.Error("enricher failed", slog.Any("error", err))
		}
	}()
}
