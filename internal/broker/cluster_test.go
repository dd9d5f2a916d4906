package broker_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/broker"
)

// startCluster runs three in-process JetStream servers routed to each
// other on 127.0.0.1 and returns their client URLs, comma-separated, once
// JetStream answers.
func startCluster(t *testing.T) string {
	t.Helper()
	ports := make([]int, 3)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
	}
	var routes []*url.URL
	for _, p := range ports {
		routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	var urls []string
	for i, p := range ports {
		s, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: -1,
			JetStream: true, StoreDir: t.TempDir(),
			Cluster: server.ClusterOpts{Name: "c", Host: "127.0.0.1", Port: p},
			Routes:  routes,
			NoLog:   true, NoSigs: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		go s.Start()
		t.Cleanup(s.Shutdown)
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatal("server not ready")
		}
		urls = append(urls, s.ClientURL())
	}
	nc, err := nats.Connect(strings.Join(urls, ","))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		_, err := js.AccountInfo(ctx)
		cancel()
		if err == nil {
			return strings.Join(urls, ",")
		}
		if time.Now().After(deadline) {
			t.Fatalf("no JetStream on the cluster: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestEnsureStreamsConcurrentlyOnCluster: every instance of every stage
// ensures the R3 streams at start, all at once after a deploy. On a
// cluster a create or update racing another client's creation of the same
// stream can go unanswered; EnsureStreams asks again, so each client is
// done in seconds, not stuck until its deadline.
func TestEnsureStreamsConcurrentlyOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-server cluster")
	}
	urls := startCluster(t)
	cfg := broker.DefaultStreamsConfig()
	cfg.Replicas = 3
	// Without the retry a client whose request went unanswered waits for
	// this deadline, however long; with it, each is done in seconds. The
	// deadline is generous for a loaded machine.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			nc, err := nats.Connect(urls)
			if err != nil {
				t.Error(err)
				return
			}
			defer nc.Close()
			js, _ := jetstream.New(nc)
			if err := broker.EnsureStreams(ctx, js, cfg); err != nil {
				t.Errorf("client %d: %v", i, err)
			}
		})
	}
	wg.Wait()
}
