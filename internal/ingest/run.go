package ingest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/telemetry"
	"github.com/kycflow/kycflow/pkg/events"
)

// Run is the ingest process: it connects to NATS, creates or updates the
// streams, serves the callbacks on ln (cfg.Server.Addr when ln is nil)
// and the admin endpoints on cfg.AdminAddr when set (see
// Service.ServeWithAdmin), until ctx is done, lets in-flight requests
// finish, and only then closes the NATS connection, so that every request
// answered 200 was stored.
//
// A ctx that ends while Run is still starting is a clean stop, not an
// error.
func Run(ctx context.Context, cfg Config, tel *telemetry.Telemetry, ln net.Listener) error {
	return RunWithAdmin(ctx, cfg, tel, ln, nil)
}

// RunWithAdmin is Run with the admin listener given (nil: Run's
// cfg.AdminAddr, or none when it is empty).
func RunWithAdmin(ctx context.Context, cfg Config, tel *telemetry.Telemetry, ln, admin net.Listener) error {
	err := run(ctx, cfg, tel, ln, admin)
	if err != nil && ctx.Err() != nil && !errors.Is(err, broker.ErrGone) {
		tel.Logger.Info("ingest stopped while starting", "error", err)
		return nil
	}
	return err
}

func run(ctx context.Context, cfg Config, tel *telemetry.Telemetry, ln, admin net.Listener) error {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("ingest: config: %w", err)
	}
	logger := tel.Logger
	nc, _, err := broker.Open(ctx, cfg.NATS, logger)
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	defer broker.Close(nc)
	svc, err := New(cfg, nc, tel)
	if err != nil {
		return err
	}
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Server.Addr); err != nil {
			return fmt.Errorf("ingest: listen %s: %w", cfg.Server.Addr, err)
		}
	}
	if admin == nil && cfg.AdminAddr != "" {
		if admin, err = net.Listen("tcp", cfg.AdminAddr); err != nil {
			ln.Close()
			return fmt.Errorf("ingest: listen %s: %w", cfg.AdminAddr, err)
		}
	}
	for _, api := range []events.API{events.APIPlatform, events.APINetverify} {
		if off := cfg.ChecksOff(api); len(off) > 0 {
			logger.Warn("sender checks off", "api", string(api), "checks", strings.Join(off, "; "))
		}
	}
	if admin == nil {
		logger.Info("ingest listening", "addr", ln.Addr().String(), "region", cfg.Region)
		err = svc.Serve(ctx, ln)
	} else {
		logger.Info("ingest listening", "addr", ln.Addr().String(), "admin_addr", admin.Addr().String(), "region", cfg.Region)
		err = svc.ServeWithAdmin(ctx, ln, admin)
	}
	logger.Info("ingest stopped")
	return err
}
