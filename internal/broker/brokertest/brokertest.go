// Package brokertest runs a real in-process JetStream server for tests, on
// a random loopback port with a temporary store, and can stop and restart
// it on the same port and store to test broker outages. StartWith secures
// it: user and password, token, NKey, operator mode with a credentials
// file, TLS with a CA made for the test (NewCA), client certificates.
package brokertest

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/broker/embedded"
)

// Server is an embedded JetStream server owned by one test.
type Server struct {
	t   testing.TB
	mu  sync.Mutex
	cfg embedded.Config
	emb *embedded.Server
	url string
	// client logs in to the server (StartWith's Options).
	client []nats.Option
}

// Option changes the server configuration.
type Option func(*embedded.Config)

// WithSyncAlways fsyncs every write (sync_interval: always).
func WithSyncAlways() Option { return func(c *embedded.Config) { c.SyncAlways = true } }

// WithStoreKey encrypts the store with key (embedded.Config.StoreKey).
func WithStoreKey(key string) Option { return func(c *embedded.Config) { c.StoreKey = key } }

// WithStoreDir uses dir instead of a fresh temporary directory.
func WithStoreDir(dir string) Option { return func(c *embedded.Config) { c.StoreDir = dir } }

// WithMaxPayload sets the largest message the server accepts.
func WithMaxPayload(n int32) Option { return func(c *embedded.Config) { c.MaxPayload = n } }

// Start runs a server that lets anyone in and stops it when the test
// ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	return StartWith(t, Options{}, opts...)
}

// StartWith runs a server secured by o and stops it when the test ends.
// Conn and JetStream log in as o says.
func StartWith(t testing.TB, o Options, opts ...Option) *Server {
	t.Helper()
	cfg := embedded.Config{StoreDir: t.TempDir(), Host: "127.0.0.1", Port: -1}
	for _, opt := range opts {
		opt(&cfg)
	}
	if configure, next := cfg.Configure, o.configure(t); configure != nil {
		cfg.Configure = func(so *server.Options) { configure(so); next(so) }
	} else {
		cfg.Configure = next
	}
	s := &Server{t: t, cfg: cfg, client: o.clientOptions(t)}
	s.start()
	_, port, _ := net.SplitHostPort(s.emb.Addr().String())
	s.cfg.Port, _ = strconv.Atoi(port)
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start() {
	s.t.Helper()
	var emb *embedded.Server
	var err error
	// The port of a stopped server can take a moment to free up.
	for range 50 {
		emb, err = embedded.Run(s.cfg)
		if err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("brokertest: start: %v", err)
	}
	s.mu.Lock()
	s.emb = emb
	s.url = emb.URL()
	s.mu.Unlock()
}

// URL is the server's client URL; it stays the same across restarts.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// StoreDir is the server's JetStream store directory.
func (s *Server) StoreDir() string { return s.cfg.StoreDir }

// Stop shuts the server down (idempotent).
func (s *Server) Stop() {
	s.mu.Lock()
	emb := s.emb
	s.emb = nil
	s.mu.Unlock()
	if emb != nil {
		emb.Stop()
	}
}

// Restart starts a stopped server again on the same port and store.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

// RestartWith restarts the server on the same port and store with opts
// applied to its configuration.
func (s *Server) RestartWith(opts ...Option) {
	s.t.Helper()
	s.Stop()
	s.mu.Lock()
	for _, opt := range opts {
		opt(&s.cfg)
	}
	s.mu.Unlock()
	s.start()
}

// Conn connects to the server, logged in as StartWith's Options say; the
// connection reconnects forever and is closed when the test ends.
func (s *Server) Conn(t testing.TB) *nats.Conn {
	t.Helper()
	opts := append([]nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(50 * time.Millisecond)}, s.client...)
	nc, err := nats.Connect(s.URL(), opts...)
	if err != nil {
		t.Fatalf("brokertest: connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// JetStream returns a JetStream context over a new connection, with the
// four kycflow streams created with their default configuration.
func (s *Server) JetStream(t testing.TB) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc := s.Conn(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("brokertest: jetstream: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := broker.EnsureStreams(ctx, js, broker.DefaultStreamsConfig()); err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	return nc, js
}

// Connect opens a JetStream client on urls (any server: a cluster's, a
// run's), closed when the test ends.
func Connect(t testing.TB, urls string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(urls)
	if err != nil {
		t.Fatalf("brokertest: connect: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("brokertest: jetstream: %v", err)
	}
	return js
}

// Messages returns every message stored in stream, oldest first.
func Messages(t testing.TB, js jetstream.JetStream, stream string) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("brokertest: stream %s: %v", stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatalf("brokertest: stream info %s: %v", stream, err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			continue // deleted or purged
		}
		out = append(out, m)
	}
	return out
}

// WaitGone waits for a stage's run to end with an error wrapping
// broker.ErrGone, which it returns; it fails the test when the run ends
// otherwise, or has not ended after 30 s (a stage that did not notice
// that what it needs is gone).
func WaitGone(t testing.TB, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		if !errors.Is(err, broker.ErrGone) {
			t.Fatalf("run ended with %v, want ErrGone", err)
		}
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("still running 30 s after what it needs was removed")
		return nil
	}
}
