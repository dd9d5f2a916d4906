package broker_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/pkg/events"
)

// cluster is three in-process JetStream servers routed to each other on
// 127.0.0.1.
type cluster struct {
	servers []*server.Server
}

// urls are the servers' client URLs, comma-separated.
func (c *cluster) urls() string {
	var urls []string
	for _, s := range c.servers {
		urls = append(urls, s.ClientURL())
	}
	return strings.Join(urls, ",")
}

// startCluster runs the three servers and returns once JetStream answers.
func startCluster(t *testing.T) *cluster {
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
	c := &cluster{}
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
		c.servers = append(c.servers, s)
	}
	nc, err := nats.Connect(c.urls())
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
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("no JetStream on the cluster: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// connect opens a JetStream client on urls, closed when the test ends.
func connect(t *testing.T, urls string) jetstream.JetStream {
	t.Helper()
	return brokertest.Connect(t, urls)
}

// stageStart is what a stage instance creates or updates at start: the
// streams, three buckets and a durable consumer, with replicas.
func stageStart(ctx context.Context, js jetstream.JetStream, replicas int) error {
	cfg := broker.DefaultStreamsConfig()
	cfg.Replicas = replicas
	if err := broker.EnsureStreams(ctx, js, cfg); err != nil {
		return err
	}
	for _, kv := range []jetstream.KeyValueConfig{
		{Bucket: "test_state", Description: "test", History: 1, TTL: time.Hour},
		{Bucket: "test_deliveries", Description: "test", History: 1, TTL: time.Hour},
		{Bucket: "test_executions", Description: "test", History: 1, LimitMarkerTTL: time.Hour},
	} {
		kv.Replicas = replicas
		if _, err := broker.EnsureKeyValue(ctx, js, kv); err != nil {
			return err
		}
	}
	sub, err := broker.NewSubscriber(broker.SubscriberConfig{
		Stream: events.StreamCallbacks, Durable: "test", Description: "test",
		FilterSubjects: []string{events.SubjectCallbacks + ".>"}, AckWait: time.Minute,
		Logger: slog.New(slog.DiscardHandler),
	}, js)
	if err != nil {
		return err
	}
	defer sub.Close()
	return sub.SubscribeInitialize("")
}

// TestEnsureConcurrentlyOnCluster: every instance of every stage creates
// or updates the R3 streams, its buckets and its durable consumers at
// start, all at once after a first deploy on an empty cluster. Each comes
// up, and JetStream answers every create and update of a stream or bucket
// they send: an update that overtakes another client's create of the
// same stream leaves both unanswered, and their clients waiting.
func TestEnsureConcurrentlyOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-server cluster")
	}
	c := startCluster(t)
	unanswered := watchAnswers(t, c.urls())
	// Generous for a loaded machine: the setup timeout of the stages.
	ctx, cancel := context.WithTimeout(t.Context(), broker.DefaultSetupTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for i := range 6 {
		js := connect(t, c.urls())
		wg.Go(func() {
			if err := stageStart(ctx, js, 3); err != nil {
				t.Errorf("client %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if un := unanswered(); len(un) > 0 {
		t.Errorf("JetStream never answered %v", un)
	}
}

// watchAnswers watches the requests that create or update a stream (a
// bucket is one) and the answers sent to the clients' inboxes; the
// function it returns gives the subjects of the requests not answered,
// waiting a few seconds for answers still on their way.
func watchAnswers(t *testing.T, urls string) func() []string {
	t.Helper()
	nc, err := nats.Connect(urls, nats.CustomInboxPrefix("_WATCH"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	var mu sync.Mutex
	var requests [][2]string // subject, reply
	answered := map[string]bool{}
	for _, subject := range []string{"$JS.API.STREAM.CREATE.>", "$JS.API.STREAM.UPDATE.>"} {
		if _, err := nc.Subscribe(subject, func(m *nats.Msg) {
			mu.Lock()
			requests = append(requests, [2]string{m.Subject, m.Reply})
			mu.Unlock()
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := nc.Subscribe("_INBOX.>", func(m *nats.Msg) {
		mu.Lock()
		answered[m.Subject] = true
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return func() []string {
		deadline := time.Now().Add(10 * time.Second)
		for {
			if err := nc.Flush(); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			var un []string
			for _, r := range requests {
				if !answered[r[1]] {
					un = append(un, r[0])
				}
			}
			mu.Unlock()
			if len(un) == 0 || time.Now().After(deadline) {
				return un
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// TestEnsureAsksNothingWhenCurrent: once the streams, buckets and
// consumers are as configured, a stage that starts sends no create and
// no update (the lookups say they are current), on a single server and
// on the cluster with R3: after a deploy, the instances that start after
// the first ask nothing that could race another's creation.
func TestEnsureAsksNothingWhenCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-server cluster")
	}
	for _, tc := range []struct {
		name     string
		urls     func(t *testing.T) string
		replicas int
	}{
		{"single server", func(t *testing.T) string { return brokertest.Start(t).URL() }, 1},
		{"cluster R3", func(t *testing.T) string { return startCluster(t).urls() }, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			urls := tc.urls(t)
			js := connect(t, urls)
			if err := stageStart(t.Context(), js, tc.replicas); err != nil {
				t.Fatal(err)
			}
			watch, err := nats.Connect(urls)
			if err != nil {
				t.Fatal(err)
			}
			defer watch.Close()
			var mu sync.Mutex
			var asked []string
			for _, subject := range []string{"$JS.API.STREAM.CREATE.>", "$JS.API.STREAM.UPDATE.>", "$JS.API.CONSUMER.CREATE.>", "$JS.API.CONSUMER.DURABLE.CREATE.>"} {
				if _, err := watch.Subscribe(subject, func(m *nats.Msg) {
					mu.Lock()
					asked = append(asked, m.Subject)
					mu.Unlock()
				}); err != nil {
					t.Fatal(err)
				}
			}
			if err := watch.Flush(); err != nil {
				t.Fatal(err)
			}
			if err := stageStart(t.Context(), connect(t, urls), tc.replicas); err != nil {
				t.Fatal(err)
			}
			// The watcher has seen everything the second start sent once
			// its own round trip through the server is done.
			if err := watch.Flush(); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(asked) > 0 {
				t.Errorf("a start on current assets asked %v, want nothing", asked)
			}
		})
	}
}

// TestEnsureNamesWhatTheClusterCannotCreate: when the cluster cannot
// create a stream (more replicas than servers; R3 with one server of
// three left), EnsureStreams gives up when its time is up, with one error
// that names the stream and JetStream's last answer.
func TestEnsureNamesWhatTheClusterCannotCreate(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-server cluster")
	}
	for _, tc := range []struct {
		name     string
		replicas int
		// stop is how many servers are shut down first.
		stop int
		// answers are the error codes JetStream may answer with;
		// silent, that it may answer nothing (the error then says so).
		answers []jetstream.ErrorCode
		silent  bool
	}{
		{"replicas above the servers", 5, 0, []jetstream.ErrorCode{10005}, false},
		// No quorum: "temporarily unavailable", "no suitable peers, peer
		// offline" from a meta leader that has not noticed yet, or no
		// answer at all from a server that has no meta leader.
		{"one server of three", 3, 2, []jetstream.ErrorCode{10008, 10005}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startCluster(t)
			for _, s := range c.servers[:tc.stop] {
				s.Shutdown()
			}
			js := connect(t, c.servers[len(c.servers)-1].ClientURL())
			cfg := broker.DefaultStreamsConfig()
			cfg.Replicas = tc.replicas
			ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
			defer cancel()
			err := broker.EnsureStreams(ctx, js, cfg)
			t.Logf("EnsureStreams: %v", err)
			var ee *broker.EnsureError
			if !errors.As(err, &ee) || ee.Kind != "stream" || ee.Name != events.StreamCallbacks || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("got %v, want an *EnsureError naming stream %s at the deadline", err, events.StreamCallbacks)
			}
			if ee.Answer == nil && tc.silent {
				if !strings.Contains(err.Error(), "no answer from JetStream") {
					t.Errorf("got %q, want it to say that JetStream did not answer", err)
				}
				return
			}
			var ae *jetstream.APIError
			if !errors.As(err, &ae) || !slices.Contains(tc.answers, ae.ErrorCode) {
				t.Errorf("JetStream's answer: got %v, want an error code of %v", ee.Answer, tc.answers)
			}
		})
	}
}
