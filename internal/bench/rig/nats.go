package rig

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATSConfig configures an external nats-server process.
type NATSConfig struct {
	// Binary is the nats-server program (Binaries.NATSServer).
	Binary string
	// Dir holds its configuration file and its JetStream store.
	Dir string
	// SyncAlways sets sync_interval: always (an fsync per write, as in
	// production); otherwise JetStream's default applies (fsync every two
	// minutes).
	SyncAlways bool
	// Log gets a copy of the server's log.
	Log io.Writer
}

// NATSServer is a nats-server process with JetStream on 127.0.0.1, a
// fixed port and a store that survive Kill and Restart.
type NATSServer struct {
	*Process
	url string
}

// StartNATS writes a configuration file, starts nats-server with it and
// waits until JetStream answers.
func StartNATS(ctx context.Context, cfg NATSConfig) (*NATSServer, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	store := filepath.Join(cfg.Dir, "jetstream")
	if err := os.MkdirAll(store, 0o750); err != nil {
		return nil, fmt.Errorf("rig: %w", err)
	}
	sync := ""
	if cfg.SyncAlways {
		sync = "  sync_interval: always\n"
	}
	conf := fmt.Sprintf("server_name: kycflow-rig\nhost: 127.0.0.1\nport: %d\nmax_payload: 1MB\njetstream {\n  store_dir: %q\n%s}\n",
		port, store, sync)
	path := filepath.Join(cfg.Dir, "nats-server.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return nil, fmt.Errorf("rig: %w", err)
	}
	url := "nats://127.0.0.1:" + strconv.Itoa(port)
	p, err := StartProcess(ctx, ProcessConfig{
		Name:  "nats-server",
		Path:  cfg.Binary,
		Args:  []string{"-c", path},
		Ready: func(ctx context.Context, _ string) error { return jetStreamReady(ctx, url) },
		Log:   cfg.Log,
	})
	if err != nil {
		return nil, err
	}
	return &NATSServer{Process: p, url: url}, nil
}

// URL is the client URL.
func (s *NATSServer) URL() string { return s.url }

// jetStreamReady connects and asks for the account's JetStream figures.
func jetStreamReady(ctx context.Context, url string) error {
	nc, err := nats.Connect(url, nats.Timeout(time.Second), nats.NoReconnect())
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	_, err = js.AccountInfo(ctx)
	return err
}

// FreePort returns a TCP port free on 127.0.0.1 a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("rig: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
