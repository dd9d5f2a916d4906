package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/internal/config"
	"github.com/kycflow/kycflow/internal/enricher"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// childEnv marks the test binary re-executed as the enricher process.
const childEnv = "KYCFLOW_ENRICHER_TEST_CHILD"

// TestMain runs the enricher itself when the test binary is started as a
// child process (by the kill test and the benchmark): the real run
// function, with the real signal handling, in a process of its own.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := run(ctx, nil, os.Getenv, os.Stdout, os.Stderr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "enricher:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func getenv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// world is a JetStream server and a Jumio simulator, and the environment
// an enricher process needs to use them.
type world struct {
	broker *brokertest.Server
	js     jetstream.JetStream
	jumio  *jumiotest.Server
	env    map[string]string
}

func newWorld(tb testing.TB, jcfg jumiotest.Config) *world {
	tb.Helper()
	w := &world{broker: brokertest.Start(tb)}
	_, w.js = w.broker.JetStream(tb)
	w.jumio = jumiotest.NewServer(jcfg)
	tb.Cleanup(w.jumio.Close)
	jc := w.jumio.ClientConfig(0)
	w.env = map[string]string{
		"KYCFLOW_NATS_URL":                    w.broker.URL(),
		"KYCFLOW_ENRICHER_ADDR":               "127.0.0.1:0",
		"KYCFLOW_ENRICHER_ACK_WAIT":           "2s",
		"KYCFLOW_LOG_FORMAT":                  "json",
		"KYCFLOW_LOG_LEVEL":                   "info",
		"KYCFLOW_JUMIO_AUTH_URL":              jc.Hosts.Auth,
		"KYCFLOW_JUMIO_RETRIEVAL_URL":         jc.Hosts.Retrieval,
		"KYCFLOW_JUMIO_NETVERIFY_URL":         jc.Hosts.Netverify,
		"KYCFLOW_JUMIO_ACCOUNT_URL":           jc.Hosts.Account,
		"KYCFLOW_JUMIO_API_URL":               jc.Hosts.API,
		"KYCFLOW_JUMIO_CLIENT_ID":             jc.ClientID,
		"KYCFLOW_JUMIO_CLIENT_SECRET":         jc.ClientSecret,
		"KYCFLOW_JUMIO_NETVERIFY_API_TOKEN":   jc.NetverifyAPIToken,
		"KYCFLOW_JUMIO_NETVERIFY_API_SECRET":  jc.NetverifyAPISecret,
		"KYCFLOW_JUMIO_USER_AGENT":            jc.UserAgent,
		"KYCFLOW_JUMIO_RATE_LIMIT":            "200",
		"KYCFLOW_JUMIO_RATE_BURST":            "20",
		"KYCFLOW_ENRICHER_RETRY_MAX_INTERVAL": "1s",
	}
	return w
}

// callbacks adds n generated executions to the simulator and stores one
// callback for each in JUMIO_CALLBACKS, as ingest would.
func (w *world) callbacks(tb testing.TB, n int, seed uint64) []events.CallbackEvent {
	tb.Helper()
	execs, _ := jumiotest.Generate(jumiotest.Scenario{Seed: seed, Executions: n})
	now := time.Now()
	evs := make([]events.CallbackEvent, 0, n)
	for _, x := range execs {
		if err := w.jumio.AddExecution(x); err != nil {
			tb.Fatal(err)
		}
		raw := w.jumio.PlatformCallback(x, now, "")
		cb, err := wire.ParsePlatformCallback(raw)
		if err != nil {
			tb.Fatal(err)
		}
		ev := cb.Event(wire.RegionAMER, now, raw)
		b, _ := json.Marshal(ev)
		m := nats.NewMsg(ev.Subject())
		m.Data = b
		m.Header.Set(nats.MsgIdHdr, ev.EventID)
		m.Header.Set(events.HeaderEventID, ev.EventID)
		if _, err := w.js.PublishMsg(context.Background(), m); err != nil {
			tb.Fatal(err)
		}
		evs = append(evs, ev)
	}
	return evs
}

func (w *world) count(tb testing.TB, stream string) int {
	tb.Helper()
	st, err := w.js.Stream(context.Background(), stream)
	if err != nil {
		tb.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return int(info.State.Msgs)
}

func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// child is an enricher process.
type child struct {
	cmd  *exec.Cmd
	addr string
	done chan error
	logs *bytes.Buffer
	mu   *sync.Mutex
}

// startChild starts the test binary as an enricher process with env and
// waits until it listens.
func startChild(tb testing.TB, env map[string]string) *child {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	c := &child{cmd: cmd, done: make(chan error, 1), logs: &bytes.Buffer{}, mu: &sync.Mutex{}}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			c.mu.Lock()
			c.logs.Write(line)
			c.logs.WriteByte('\n')
			c.mu.Unlock()
			var rec struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "enricher listening" {
				addrc <- rec.Addr
			}
		}
		c.done <- cmd.Wait()
	}()
	tb.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-c.done
		}
	})
	select {
	case c.addr = <-addrc:
	case err := <-c.done:
		tb.Fatalf("enricher exited at start: %v\n%s", err, c.output())
	case <-time.After(time.Minute):
		tb.Fatalf("enricher did not start:\n%s", c.output())
	}
	eventually(tb, "the enricher is ready", func() bool { return c.get(tb, "/readyz") == http.StatusOK })
	return c
}

func (c *child) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.logs.String()
}

func (c *child) get(tb testing.TB, path string) int {
	status, _ := c.fetch(tb, path)
	return status
}

func (c *child) fetch(tb testing.TB, path string) (int, string) {
	tb.Helper()
	resp, err := http.Get("http://" + c.addr + path)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestRunRejectsBadConfiguration: bad variables are problems that name
// them, all at once, before anything connects: missing or half Jumio
// credentials included; -h prints the usage and is no error.
func TestRunRejectsBadConfiguration(t *testing.T) {
	creds := map[string]string{"KYCFLOW_JUMIO_CLIENT_ID": "c", "KYCFLOW_JUMIO_CLIENT_SECRET": "s"}
	with := func(kv ...string) map[string]string {
		m := maps.Clone(creds)
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		vars []string // variables with a problem; nil: another error
	}{
		{"argument", []string{"serve"}, nil, nil},
		{"unparseable", nil, with("KYCFLOW_ENRICHER_CONCURRENCY", "many"), []string{"KYCFLOW_ENRICHER_CONCURRENCY"}},
		{"invalid", nil, with("KYCFLOW_ENRICHER_CONCURRENCY", "-1", "KYCFLOW_STREAM_REPLICAS", "abc"), []string{"KYCFLOW_STREAM_REPLICAS", "KYCFLOW_ENRICHER_CONCURRENCY"}},
		{"no credentials", nil, nil, []string{"KYCFLOW_JUMIO_CLIENT_ID"}},
		{"half credentials", nil, map[string]string{"KYCFLOW_JUMIO_NETVERIFY_API_TOKEN": "t"}, []string{"KYCFLOW_JUMIO_NETVERIFY_API_SECRET", "KYCFLOW_JUMIO_CLIENT_ID"}},
		{"no broker", nil, with("KYCFLOW_NATS_URL", "nats://127.0.0.1:1", "KYCFLOW_NATS_CONNECT_TIMEOUT", "200ms"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := run(t.Context(), tc.args, getenv(tc.env), io.Discard, io.Discard)
			if err == nil {
				t.Fatal("run: got nil, want an error")
			}
			var ce *config.Error
			var keys []string
			if errors.As(err, &ce) {
				for _, p := range ce.Problems {
					keys = append(keys, p.Key)
				}
			}
			if diff := cmp.Diff(tc.vars, keys); diff != "" {
				t.Errorf("problems (-want +got):\n%s\n%v", diff, err)
			}
		})
	}
	var out bytes.Buffer
	if err := run(t.Context(), []string{"--help"}, getenv(nil), &out, io.Discard); err != nil || !strings.Contains(out.String(), "usage:") {
		t.Errorf("--help: got %v and %q, want the usage and no error", err, out.String())
	}
}

// TestRunServes runs the enricher in-process: it enriches a callback,
// answers /healthz, /readyz and /metrics with the enricher's metrics,
// and stops cleanly when its context ends.
func TestRunServes(t *testing.T) {
	w := newWorld(t, jumiotest.Config{})
	w.callbacks(t, 3, 1)
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, nil, getenv(w.env), io.Discard, pw)
		pw.Close()
	}()
	c := &child{logs: &bytes.Buffer{}, mu: &sync.Mutex{}}
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "enricher listening" {
			c.addr = rec.Addr
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if c.addr == "" {
		t.Fatalf("no listen address logged: %v", <-done)
	}
	eventually(t, "three callbacks enriched", func() bool { return w.count(t, events.StreamEnriched) == 3 })
	if s := c.get(t, "/healthz"); s != http.StatusOK {
		t.Errorf("/healthz %d", s)
	}
	eventually(t, "ready", func() bool { return c.get(t, "/readyz") == http.StatusOK })
	_, metrics := c.fetch(t, "/metrics")
	for _, name := range []string{
		`kycflow_enricher_results_total{api="platform"`,
		`kycflow_enricher_fetches_total{endpoint="platform.details",outcome="ok"`,
		`kycflow_enricher_fetch_duration_seconds_bucket{endpoint="platform.details"`,
		`kycflow_consumer_lag_messages{consumer="enricher",stream="JUMIO_CALLBACKS"`,
		`kycflow_broker_settled_messages_total`,
	} {
		if !strings.Contains(metrics, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

// TestKilledMidBatch: the enricher process is killed (SIGKILL) in the
// middle of a batch and started again; every callback is enriched exactly
// once, and the second process stops cleanly on SIGTERM.
func TestKilledMidBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes; skipped with -short")
	}
	w := newWorld(t, jumiotest.Config{Latency: 20 * time.Millisecond})
	evs := w.callbacks(t, 150, 2)
	first := startChild(t, w.env)
	eventually(t, "a third enriched", func() bool { return w.count(t, events.StreamEnriched) >= len(evs)/3 })
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-first.done
	if n := w.count(t, events.StreamEnriched); n == len(evs) {
		t.Log("every callback was enriched before the kill")
	}

	second := startChild(t, w.env)
	eventually(t, "every callback enriched", func() bool { return w.count(t, events.StreamEnriched) >= len(evs) })
	c, err := w.js.Consumer(context.Background(), events.StreamCallbacks, enricher.Durable)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "nothing in flight", func() bool {
		info, err := c.Info(context.Background())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	})
	if err := second.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-second.done; err != nil {
		t.Errorf("enricher after SIGTERM: %v\n%s", err, second.output())
	}

	seen := map[string]int{}
	for _, m := range brokertest.Messages(t, w.js, events.StreamEnriched) {
		seen[m.Header.Get(events.HeaderCEID)]++
	}
	for _, ev := range evs {
		if seen[ev.EventID] != 1 {
			t.Errorf("event %s enriched %d times, want once", ev.EventID, seen[ev.EventID])
		}
	}
	if n := w.count(t, events.StreamEnriched); n != len(evs) {
		t.Errorf("JUMIO_ENRICHED holds %d messages, want %d", n, len(evs))
	}
	if n := w.count(t, events.StreamDLQ); n != 0 {
		t.Errorf("%d dead letters, want none", n)
	}
}
