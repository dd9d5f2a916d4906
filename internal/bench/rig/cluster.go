package rig

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ClusterConfig configures StartCluster.
type ClusterConfig struct {
	// Binary is the nats-server program (Binaries.NATSServer).
	Binary string
	// Dir holds a directory per server (configuration and store).
	Dir string
	// Size is the number of servers (default 3: what production runs,
	// deploy/nats/values.yaml).
	Size int
	// SyncAlways sets sync_interval: always on every server.
	SyncAlways bool
	// Netns runs each server in a network namespace of its own, joined to
	// the others and to this process by a bridge, so that Partition can
	// cut one off. It needs Linux, root and iproute2 (NetnsUnavailable
	// says why not); without it every server listens on 127.0.0.1.
	Netns bool
	// Log gets a copy of every server's log.
	Log io.Writer
}

// Cluster is a JetStream cluster of nats-server processes: routes between
// every pair, one meta leader, R3 streams placed on all three. Its
// methods are safe for concurrent use.
type Cluster struct {
	servers []*NATSServer
	net     *bridgeNet

	mu       sync.Mutex
	waitedOn string
}

// WaitedOn says what the last WaitHealthy or WaitStreams waited for
// longest: the condition that failed last before it held ("" when it held
// at once).
func (c *Cluster) WaitedOn() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.waitedOn
}

func (c *Cluster) setWaitedOn(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waitedOn = ""
	if err != nil {
		c.waitedOn = err.Error()
	}
}

// clusterName is the cluster's name (cluster.name).
const clusterName = "kycflow-rig"

// StartCluster starts the servers and waits until they form a cluster
// with a meta leader and report themselves healthy. Close it.
func StartCluster(ctx context.Context, cfg ClusterConfig) (_ *Cluster, err error) {
	if cfg.Size == 0 {
		cfg.Size = 3
	}
	c := &Cluster{}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	specs := make([]serverSpec, cfg.Size)
	if cfg.Netns {
		if c.net, err = newBridgeNet(ctx, cfg.Size); err != nil {
			return nil, err
		}
		for i := range specs {
			// Each server has an address of its own: the usual ports.
			specs[i] = serverSpec{host: c.net.addr(i), port: 4222, clusterPort: 6222, httpPort: 8222, wrap: c.net.exec(i)}
		}
	} else {
		ports, err := freePorts(3 * cfg.Size)
		if err != nil {
			return nil, err
		}
		for i := range specs {
			specs[i] = serverSpec{host: "127.0.0.1", port: ports[3*i], clusterPort: ports[3*i+1], httpPort: ports[3*i+2]}
		}
	}
	var routes []string
	for _, s := range specs {
		routes = append(routes, "nats-route://"+s.host+":"+strconv.Itoa(s.clusterPort))
	}
	for i := range specs {
		s := &specs[i]
		s.name = "nats-" + strconv.Itoa(i+1)
		s.binary, s.syncAlways, s.log, s.routes = cfg.Binary, cfg.SyncAlways, cfg.Log, routes
		s.dir = filepath.Join(cfg.Dir, s.name)
	}
	// All at once: JetStream on one server waits for the others.
	c.servers = make([]*NATSServer, cfg.Size)
	errs := make([]error, cfg.Size)
	var wg sync.WaitGroup
	for i, s := range specs {
		wg.Go(func() { c.servers[i], errs[i] = startServer(ctx, s, clientReady) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := c.WaitHealthy(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// clientReady: the server accepts a client connection.
func clientReady(_ context.Context, url string) error {
	nc, err := nats.Connect(url, nats.Timeout(time.Second), nats.NoReconnect())
	if err != nil {
		return err
	}
	defer nc.Close()
	return nc.FlushTimeout(time.Second)
}

// URLs are the servers' client URLs, comma-separated, as
// KYCFLOW_NATS_URL takes them.
func (c *Cluster) URLs() string {
	var urls []string
	for _, s := range c.servers {
		urls = append(urls, s.URL())
	}
	return strings.Join(urls, ",")
}

// Servers are the cluster's servers.
func (c *Cluster) Servers() []*NATSServer { return c.servers }

// Server is the server named name (nil when none is).
func (c *Cluster) Server(name string) *NATSServer {
	for _, s := range c.servers {
		if s.ServerName() == name {
			return s
		}
	}
	return nil
}

// jsz is the part of a server's /jsz the rig reads.
type jsz struct {
	Meta *struct {
		Leader string `json:"leader"`
	} `json:"meta_cluster"`
}

// MetaLeader is the server that leads the JetStream meta group (stream and
// consumer placement), as the running servers report it.
func (c *Cluster) MetaLeader(ctx context.Context) (*NATSServer, error) {
	var errs []error
	for _, s := range c.servers {
		if s.Exited() {
			continue
		}
		var out jsz
		if _, err := s.monitorJSON(ctx, "/jsz", &out); err != nil {
			errs = append(errs, err)
			continue
		}
		if out.Meta != nil && out.Meta.Leader != "" {
			if l := c.Server(out.Meta.Leader); l != nil {
				return l, nil
			}
		}
	}
	return nil, fmt.Errorf("rig: no meta leader: %w", errors.Join(append(errs, errNoLeader)...))
}

var errNoLeader = errors.New("no server reports a leader")

// StreamLeader is the server that leads stream, as the cluster reports it.
func (c *Cluster) StreamLeader(ctx context.Context, js jetstream.JetStream, stream string) (*NATSServer, error) {
	info, err := streamInfo(ctx, js, stream)
	if err != nil {
		return nil, err
	}
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return nil, fmt.Errorf("rig: stream %s: %w", stream, errNoLeader)
	}
	if l := c.Server(info.Cluster.Leader); l != nil {
		return l, nil
	}
	return nil, fmt.Errorf("rig: stream %s: leader %q is not in the cluster", stream, info.Cluster.Leader)
}

func streamInfo(ctx context.Context, js jetstream.JetStream, stream string) (*jetstream.StreamInfo, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("rig: stream %s: %w", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("rig: stream %s: %w", stream, err)
	}
	return info, nil
}

// WaitHealthy waits until every server runs and answers /healthz with 200
// (routed to the others, JetStream current) and a meta leader is known,
// or ctx ends.
func (c *Cluster) WaitHealthy(ctx context.Context) error {
	var last error
	defer func() { c.setWaitedOn(last) }()
	for {
		err := c.healthy(ctx)
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("rig: cluster not healthy: %w (%w)", err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *Cluster) healthy(ctx context.Context) error {
	for _, s := range c.servers {
		if s.Exited() {
			return fmt.Errorf("rig: %s is not running", s.ServerName())
		}
		hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := s.Healthz(hctx)
		cancel()
		if err != nil {
			return err
		}
	}
	mctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := c.MetaLeader(mctx)
	return err
}

// ErrNoPartition is returned by Partition on a cluster without network
// namespaces.
var ErrNoPartition = errors.New("rig: the cluster runs without network namespaces: it cannot be partitioned")

// Partition cuts server i off from the others and from every client: its
// link to the bridge goes down, packets are dropped, connections hang
// until their pings fail (no reset, no FIN), as in a network partition.
func (c *Cluster) Partition(ctx context.Context, i int) error {
	if c.net == nil {
		return ErrNoPartition
	}
	return c.net.cut(ctx, i)
}

// Heal joins server i again after Partition.
func (c *Cluster) Heal(ctx context.Context, i int) error {
	if c.net == nil {
		return ErrNoPartition
	}
	return c.net.heal(ctx, i)
}

// Close stops every server (SIGTERM) and removes the namespaces.
func (c *Cluster) Close() error {
	var errs []error
	for _, s := range c.servers {
		if s != nil {
			_ = s.Thaw()
			errs = append(errs, s.Stop())
		}
	}
	if c.net != nil {
		errs = append(errs, c.net.close())
	}
	return errors.Join(errs...)
}

// WaitStreams waits until each stream has a leader and every other
// replica is current (online, caught up with the leader), or ctx ends.
func (c *Cluster) WaitStreams(ctx context.Context, js jetstream.JetStream, streams ...string) error {
	var last error
	defer func() { c.setWaitedOn(last) }()
	for {
		err := c.streamsCurrent(ctx, js, streams)
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("rig: streams not current: %w (%w)", err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *Cluster) streamsCurrent(ctx context.Context, js jetstream.JetStream, streams []string) error {
	for _, name := range streams {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		info, err := streamInfo(sctx, js, name)
		cancel()
		if err != nil {
			return err
		}
		ci := info.Cluster
		switch {
		case ci == nil || ci.Leader == "":
			return fmt.Errorf("rig: stream %s: %w", name, errNoLeader)
		case len(ci.Replicas) != len(c.servers)-1:
			return fmt.Errorf("rig: stream %s: %d replicas besides the leader, want %d", name, len(ci.Replicas), len(c.servers)-1)
		}
		for _, r := range ci.Replicas {
			if !r.Current || r.Offline {
				return fmt.Errorf("rig: stream %s: replica %s not current (lag %d, offline %v)", name, r.Name, r.Lag, r.Offline)
			}
		}
	}
	return nil
}
