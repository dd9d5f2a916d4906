package rig

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
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

// NATSServer is a nats-server process with JetStream, a fixed address and
// a store that survive Kill and Restart, and a monitoring endpoint.
type NATSServer struct {
	*Process
	name    string
	url     string
	monitor string
	// prof serves the server's Go profiles (prof_port).
	prof string
}

// serverSpec is one server's configuration.
type serverSpec struct {
	// name is the server_name; proc the process's name in the rig
	// (default name).
	name, proc string
	binary     string
	dir        string
	host       string
	port       int
	httpPort   int
	// profPort serves Go profiles (0: none).
	profPort   int
	syncAlways bool
	// cluster: the cluster port and every member's route URL (none for a
	// single server).
	clusterPort int
	routes      []string
	// wrap runs the server through another program (ip netns exec …).
	wrap []string
	log  io.Writer
}

// StartNATS writes a configuration file, starts nats-server with it and
// waits until JetStream answers.
func StartNATS(ctx context.Context, cfg NATSConfig) (*NATSServer, error) {
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	return startServer(ctx, serverSpec{
		name: "kycflow-rig", proc: "nats-server", binary: cfg.Binary, dir: cfg.Dir, host: "127.0.0.1", port: ports[0], httpPort: ports[1],
		profPort: ports[2], syncAlways: cfg.SyncAlways, log: cfg.Log,
	}, jetStreamReady)
}

// startServer writes the configuration of spec and starts the server,
// waiting until ready says so.
func startServer(ctx context.Context, spec serverSpec, ready func(ctx context.Context, url string) error) (*NATSServer, error) {
	store := filepath.Join(spec.dir, "jetstream")
	if err := os.MkdirAll(store, 0o750); err != nil {
		return nil, fmt.Errorf("rig: %w", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "server_name: %s\nhost: %s\nport: %d\nhttp: \"%s:%d\"\nmax_payload: 1MB\n", spec.name, spec.host, spec.port, spec.host, spec.httpPort)
	// A server that stops answering is noticed within seconds (by its
	// routes and its clients' servers). Lame-duck mode closes the clients
	// at most a second apart, whatever its duration (at least 30 s), so
	// with a handful of clients it takes seconds.
	b.WriteString("ping_interval: \"1s\"\nping_max: 3\nlame_duck_duration: \"30s\"\nlame_duck_grace_period: \"1s\"\n")
	if spec.profPort != 0 {
		fmt.Fprintf(&b, "prof_port: %d\n", spec.profPort)
	}
	fmt.Fprintf(&b, "jetstream {\n  store_dir: %q\n", store)
	if spec.syncAlways {
		b.WriteString("  sync_interval: always\n")
	}
	b.WriteString("}\n")
	if spec.clusterPort != 0 {
		fmt.Fprintf(&b, "cluster {\n  name: %s\n  host: %s\n  port: %d\n  routes: [%s]\n}\n", clusterName, spec.host, spec.clusterPort, strings.Join(spec.routes, ", "))
	}
	path := filepath.Join(spec.dir, "nats-server.conf")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return nil, fmt.Errorf("rig: %w", err)
	}
	url := "nats://" + net.JoinHostPort(spec.host, strconv.Itoa(spec.port))
	prog, args := spec.binary, []string{"-c", path}
	if len(spec.wrap) > 0 {
		prog, args = spec.wrap[0], append(append(spec.wrap[1:], spec.binary), args...)
	}
	p, err := StartProcess(ctx, ProcessConfig{
		Name:  cmp.Or(spec.proc, spec.name),
		Path:  prog,
		Args:  args,
		Ready: func(ctx context.Context, _ string) error { return ready(ctx, url) },
		Log:   spec.log,
	})
	if err != nil {
		return nil, err
	}
	ns := &NATSServer{Process: p, name: spec.name, url: url, monitor: "http://" + net.JoinHostPort(spec.host, strconv.Itoa(spec.httpPort))}
	if spec.profPort != 0 {
		ns.prof = "http://" + net.JoinHostPort(spec.host, strconv.Itoa(spec.profPort))
	}
	return ns, nil
}

// CPUProfile records the server's CPU profile for d (ErrNoProfiles when
// it serves none).
func (s *NATSServer) CPUProfile(ctx context.Context, d time.Duration) ([]byte, error) {
	if s.prof == "" {
		return nil, ErrNoProfiles
	}
	return cpuProfile(ctx, s.prof, d)
}

// URL is the client URL.
func (s *NATSServer) URL() string { return s.url }

// Name is the server's name (server_name).
func (s *NATSServer) ServerName() string { return s.name }

// LameDuck puts the server into lame-duck mode (SIGUSR2, what
// "nats-server --signal ldm" sends): it hands its leaderships over, stops
// accepting clients, closes its clients over lame_duck_duration so that
// they move to the other servers, and exits. LameDuck waits for the exit.
func (s *NATSServer) LameDuck(ctx context.Context) error {
	if err := s.Signal(syscall.SIGUSR2); err != nil {
		return err
	}
	return s.Wait(ctx)
}

// Healthz asks the server's /healthz: 200 once it is connected to its
// cluster and JetStream (the meta layer, every stream and consumer) is
// current.
func (s *NATSServer) Healthz(ctx context.Context) error {
	var out struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	code, err := s.monitorJSON(ctx, "/healthz", &out)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("rig: %s: /healthz: %d %s", s.name, code, out.Error)
	}
	return nil
}

// monitorJSON gets a monitoring endpoint and decodes its JSON.
func (s *NATSServer) monitorJSON(ctx context.Context, path string, v any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.monitor+path, nil)
	if err != nil {
		return 0, err
	}
	resp, err := monitorClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("rig: %s: %s: %w", s.name, path, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(v); err != nil {
		return resp.StatusCode, fmt.Errorf("rig: %s: %s: %w", s.name, path, err)
	}
	return resp.StatusCode, nil
}

var monitorClient = &http.Client{Timeout: 5 * time.Second}

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
	ps, err := freePorts(1)
	if err != nil {
		return 0, err
	}
	return ps[0], nil
}

// freePorts returns n distinct ports free on 127.0.0.1 a moment ago.
func freePorts(n int) ([]int, error) {
	var out []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("rig: %w", err)
		}
		defer ln.Close()
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}
