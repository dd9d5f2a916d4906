// Package embedded runs an in-process NATS server with JetStream for
// "kycflow run" and for tests. It is apart from internal/broker so that
// the service binaries (ingest, enricher, notifier), which only connect to
// a server, do not link the NATS server.
package embedded

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Config configures an in-process JetStream server.
type Config struct {
	// StoreDir holds JetStream data; it survives restarts.
	StoreDir string
	// Host and Port to listen on; Port -1 picks a free port.
	Host string
	Port int
	// SyncAlways fsyncs every write before acking (JetStream
	// sync_interval: always). A single node has no replica to cover a
	// crash, so "kycflow run" turns it on.
	SyncAlways bool
	// MaxStore caps JetStream file storage (0: server default).
	MaxStore int64
	// ServerName names the server.
	ServerName string
	// Configure, when set, changes the server options last, before the
	// server starts: authentication and TLS for tests (brokertest). It
	// runs again on every start.
	Configure func(*server.Options)
}

// Server is an in-process JetStream server.
type Server struct {
	*server.Server
}

// Run starts an in-process NATS server with JetStream and waits
// until it accepts connections.
func Run(cfg Config) (*Server, error) {
	if cfg.StoreDir == "" {
		return nil, errors.New("embedded: server needs a store directory")
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.ServerName == "" {
		cfg.ServerName = "kycflow-embedded"
	}
	opts := &server.Options{
		ServerName:            cfg.ServerName,
		Host:                  cfg.Host,
		Port:                  cfg.Port,
		JetStream:             true,
		StoreDir:              cfg.StoreDir,
		JetStreamMaxStore:     cfg.MaxStore,
		SyncAlways:            cfg.SyncAlways,
		NoSigs:                true,
		NoLog:                 true,
		MaxPayload:            8 << 20,
		DisableShortFirstPing: true,
	}
	if cfg.SyncAlways {
		opts.SyncInterval = 2 * time.Minute
	}
	if cfg.Configure != nil {
		cfg.Configure(opts)
	}
	if opts.Port > 0 {
		// The server logs nothing here (NoLog) and would only time out
		// when its address is taken: try it first, so that the error
		// says so (errors.Is(err, syscall.EADDRINUSE)).
		ln, err := net.Listen("tcp", net.JoinHostPort(opts.Host, strconv.Itoa(opts.Port)))
		if err != nil {
			return nil, fmt.Errorf("embedded: %w", err)
		}
		ln.Close()
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded: server: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, errors.New("embedded: server did not start")
	}
	return &Server{Server: s}, nil
}

// URL is the client URL of the server.
func (e *Server) URL() string { return e.ClientURL() }

// Stop shuts the server down and waits for it.
func (e *Server) Stop() {
	e.Shutdown()
	e.WaitForShutdown()
}
