// Package embedded runs an in-process NATS server with JetStream for
// "kycflow run" and for tests. It is apart from internal/broker so that
// the service binaries (ingest, enricher, notifier), which only connect to
// a server, do not link the NATS server.
//
// With a store key the server encrypts its store with JetStream's own
// store encryption (docs/operations.md, "Personal data at rest"); Run
// checks before the server starts that the key fits the store (store.go).
package embedded

import (
	"cmp"
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
	// MaxPayload is the largest message the server accepts (0: 8 MiB).
	MaxPayload int32
	// ServerName names the server.
	ServerName string
	// Configure, when set, changes the server options last, before the
	// server starts: authentication and TLS for tests (brokertest). It
	// runs again on every start.
	Configure func(*server.Options)

	// StoreKey, when set, encrypts the store: JetStream's store
	// encryption, with a key per stream and message block derived from
	// it and sealed with StoreCipher. At least MinStoreKeyLen bytes. Run
	// refuses a store that StoreKey (or PreviousStoreKey) does not open
	// (ErrStoreKeyWrong), a store written without encryption
	// (ErrStoreNotEncrypted) unless EncryptExisting, and, without a key,
	// an encrypted store (ErrStoreEncrypted): nats-server itself would
	// start and skip the streams it cannot read, and the streams created
	// next would be empty ones over their directories.
	StoreKey string
	// PreviousStoreKey is the key the store was encrypted with before
	// StoreKey (rotation): what it opens is re-encrypted with StoreKey
	// at start, after which StoreKey alone opens the store.
	PreviousStoreKey string
	// StoreCipher seals the store: CipherChaCha (the default, as in
	// nats-server) or CipherAES. Files sealed with the other one are read
	// and re-sealed at start, so it can be changed at any start.
	StoreCipher Cipher
	// EncryptExisting lets StoreKey encrypt a store written without
	// encryption: the server encrypts its streams in place at start.
	// Copies made before (backups, snapshots) stay in plain text.
	EncryptExisting bool
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
	if err := CheckStore(cfg); err != nil {
		return nil, err
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
		MaxPayload:            cmp.Or(cfg.MaxPayload, 8<<20),
		DisableShortFirstPing: true,
	}
	if cfg.SyncAlways {
		opts.SyncInterval = 2 * time.Minute
	}
	encrypt(opts, cfg)
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
