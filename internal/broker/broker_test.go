package broker_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/internal/config"
	"github.com/kycflow/kycflow/pkg/events"
)

func TestEnsureStreamsIsIdempotentAndApplyUpdates(t *testing.T) {
	srv := brokertest.Start(t)
	nc, err := broker.Connect(t.Context(), broker.Config{URL: srv.URL(), ConnectTimeout: 2 * time.Second}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cfg := broker.DefaultStreamsConfig()
	for range 2 {
		if err := broker.EnsureStreams(t.Context(), js, cfg); err != nil {
			t.Fatalf("EnsureStreams: %v", err)
		}
	}
	if err := broker.Ready(t.Context(), nc, js, broker.StreamNames...); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	cfg.DLQMaxAge = 7 * 24 * time.Hour
	cfg.DuplicateWindow = 10 * time.Minute
	if err := broker.EnsureStreams(t.Context(), js, cfg); err != nil {
		t.Fatalf("EnsureStreams update: %v", err)
	}
	st, err := js.Stream(t.Context(), events.StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := info.Config.MaxAge, 7*24*time.Hour; got != want {
		t.Errorf("MaxAge: got %v, want %v", got, want)
	}
	if got, want := info.Config.Duplicates, 10*time.Minute; got != want {
		t.Errorf("Duplicates: got %v, want %v", got, want)
	}
	if got, want := info.Config.Subjects, []string{"jumio.dlq.>"}; len(got) != 1 || got[0] != want[0] {
		t.Errorf("Subjects: got %v, want %v", got, want)
	}
}

func TestConnectFailsWhenNoServer(t *testing.T) {
	srv := brokertest.Start(t)
	url := srv.URL()
	srv.Stop()
	_, err := broker.Connect(t.Context(), broker.Config{URL: url, ConnectTimeout: 500 * time.Millisecond}, slog.New(slog.DiscardHandler))
	var ce *broker.ConnectError
	if !errors.As(err, &ce) || ce.URL != url {
		t.Fatalf("Connect: got %v, want a ConnectError naming %s", err, url)
	}
}

// TestConnectWaitsForAServerStarting: a service started beside NATS (a
// first install, NATS restarting) connects once the server answers,
// within KYCFLOW_NATS_CONNECT_TIMEOUT; it gave up at the first refused
// dial and exited.
func TestConnectWaitsForAServerStarting(t *testing.T) {
	srv := brokertest.Start(t)
	url := srv.URL()
	srv.Stop()
	restarted := make(chan struct{})
	go func() {
		defer close(restarted)
		time.Sleep(time.Second)
		srv.Restart()
	}()
	nc, err := broker.Connect(t.Context(), broker.Config{URL: url, ConnectTimeout: time.Minute}, slog.New(slog.DiscardHandler))
	<-restarted
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	nc.Close()
}

// TestConnectTriesAgainWhateverTheDialSays: a server not answering yet
// may refuse the connection, or accept it and close it before it speaks
// (a load balancer with no backend yet), or have a name that does not
// resolve yet. Only the first was tried again; now each attempt that
// fails for a reason other than a refusal of the credentials or TLS is.
func TestConnectTriesAgainWhateverTheDialSays(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	_, err = broker.Connect(t.Context(), broker.Config{URL: "nats://" + ln.Addr().String(), ConnectTimeout: 2 * time.Second}, slog.New(slog.DiscardHandler))
	var ce *broker.ConnectError
	if !errors.As(err, &ce) {
		t.Fatalf("Connect: %v, want a ConnectError", err)
	}
	if n := accepted.Load(); n < 2 {
		t.Errorf("%d connection attempts, want it tried again: %v", n, err)
	}
}

// TestConnectRefusedCredentialsEndAtOnce: credentials the server refuses
// are not tried again for the whole connect timeout; a deadline on the
// caller's context shorter than the timeout sees the refusal, not its
// own expiry.
func TestConnectRefusedCredentialsEndAtOnce(t *testing.T) {
	srv := brokertest.StartWith(t, brokertest.Options{User: "kycflow", Password: "right-password-0123456789"})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := broker.Connect(ctx, broker.Config{URL: srv.URL(), User: "kycflow", Password: config.NewSecret("wrong-password-0123456789"), ConnectTimeout: time.Hour}, slog.New(slog.DiscardHandler))
	if !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("Connect: %v, want the refusal (nats.ErrAuthorization)", err)
	}
}

// TestEnsureStreamsNamesWhatTheServerCannotTake: a storage change on
// streams that exist, and replicas on a server without a cluster, come
// back as configuration problems of the variable to change.
func TestEnsureStreamsNamesWhatTheServerCannotTake(t *testing.T) {
	srv := brokertest.Start(t)
	_, js := srv.JetStream(t)
	cfg := broker.DefaultStreamsConfig()
	if err := broker.EnsureStreams(t.Context(), js, cfg); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change func(*broker.StreamsConfig)
		key    string
		want   error
	}{
		{"storage", func(c *broker.StreamsConfig) { c.Storage = "memory" }, "KYCFLOW_STREAM_STORAGE", broker.ErrStorageChange},
		{"replicas", func(c *broker.StreamsConfig) { c.Replicas = 3 }, "KYCFLOW_STREAM_REPLICAS", broker.ErrReplicasNotClustered},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg
			tc.change(&c)
			err := broker.EnsureStreams(t.Context(), js, c)
			var p *config.Problem
			if !errors.Is(err, tc.want) || !errors.As(err, &p) || p.Key != tc.key {
				t.Errorf("got %v, want %v as a problem of %s", err, tc.want, tc.key)
			}
		})
	}
}

func TestReadyFailsWithoutStreams(t *testing.T) {
	srv := brokertest.Start(t)
	nc := srv.Conn(t)
	js, _ := jetstream.New(nc)
	if err := broker.Ready(t.Context(), nc, js, events.StreamCallbacks); err == nil {
		t.Fatal("Ready: got nil error without streams")
	}
}

func TestRestartKeepsMessages(t *testing.T) {
	srv := brokertest.Start(t)
	_, js := srv.JetStream(t)
	if _, err := js.Publish(t.Context(), events.CallbackSubject(events.APIPlatform, "a", "e"), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	srv.Restart()
	_, js2 := srv.JetStream(t)
	if got := len(brokertest.Messages(t, js2, events.StreamCallbacks)); got != 1 {
		t.Fatalf("messages after restart: got %d, want 1", got)
	}
}

// TestFullStreamRefusesNewMessages: at its size cap a stream refuses new
// messages instead of dropping old ones a stage may not have processed.
func TestFullStreamRefusesNewMessages(t *testing.T) {
	srv := brokertest.Start(t)
	nc := srv.Conn(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cfg := broker.DefaultStreamsConfig()
	cfg.MaxBytes = 4 << 10
	if err := broker.EnsureStreams(t.Context(), js, cfg); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 1<<10)
	var refused error
	stored := 0
	for i := range 10 {
		_, err := js.Publish(t.Context(), events.CallbackSubject(events.APIPlatform, "a", fmt.Sprint(i)), body)
		if err != nil {
			refused = err
			break
		}
		stored++
	}
	if refused == nil {
		t.Fatal("a full stream accepted every message")
	}
	msgs := brokertest.Messages(t, js, events.StreamCallbacks)
	if len(msgs) != stored || msgs[0].Subject != events.CallbackSubject(events.APIPlatform, "a", "0") {
		t.Errorf("stored %d messages, stream holds %d starting at %s; want the first ones kept", stored, len(msgs), msgs[0].Subject)
	}
}

// TestZeroRetentionIsRefused: a max age of 0 is JetStream's "no limit";
// the streams hold personal data that must expire, so 0 (in any unit)
// and negative ages are configuration errors, not a stream kept for ever.
func TestZeroRetentionIsRefused(t *testing.T) {
	for _, key := range []string{"KYCFLOW_STREAM_CALLBACKS_MAX_AGE", "KYCFLOW_STREAM_ENRICHED_MAX_AGE", "KYCFLOW_STREAM_RESULTS_MAX_AGE", "KYCFLOW_STREAM_DLQ_MAX_AGE", "KYCFLOW_STREAM_EXECUTIONS_MAX_AGE"} {
		for _, v := range []string{"0", "0s", "0d", "-1h"} {
			e := config.FromMap(map[string]string{key: v})
			c := broker.LoadStreamsConfig(e)
			if err := e.Err(); err == nil || !strings.Contains(err.Error(), key+"="+v+": want a positive duration") {
				t.Errorf("%s=%s: got %v, want a configuration error", key, v, err)
			}
			for _, sc := range c.StreamConfigs() {
				if sc.MaxAge <= 0 {
					t.Errorf("%s=%s: %s has max age %s", key, v, sc.Name, sc.MaxAge)
				}
			}
		}
	}
}

// TestRedactURLHidesEveryCredential: the URL forms nats.go takes, a
// scheme or none, one server or a list; the password (or a token or user
// alone) never shows. Without a scheme, url.Parse failed and the URL was
// printed as given, password and all.
func TestRedactURLHidesEveryCredential(t *testing.T) {
	for in, want := range map[string]string{
		"nats://bob:hunter2secret@127.0.0.1:4222":        "nats://bob:xxxxx@127.0.0.1:4222",
		"bob:hunter2secret@127.0.0.1:4222":               "bob:xxxxx@127.0.0.1:4222",
		"s3cr3ttoken@127.0.0.1:4222":                     "xxxxx@127.0.0.1:4222",
		"tls://bob:hunter2secret@n1:4222, tls://n2:4222": "tls://bob:xxxxx@n1:4222,tls://n2:4222",
		"nats://127.0.0.1:4222":                          "nats://127.0.0.1:4222",
		"127.0.0.1:4222":                                 "127.0.0.1:4222",
		"bob:hunter2%zzsecret@127.0.0.1:4222":            "xxxxx@127.0.0.1:4222",
	} {
		got := broker.RedactURL(in)
		if got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
		for _, secret := range []string{"hunter2", "s3cr3ttoken"} {
			if strings.Contains(got, secret) {
				t.Errorf("RedactURL(%q) = %q shows a secret", in, got)
			}
		}
	}
}

// recordsHandler keeps the level, message and attributes of every record.
type recordsHandler struct {
	mu      *sync.Mutex
	records *[]string
}

func (h recordsHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h recordsHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h recordsHandler) WithGroup(string) slog.Handler            { return h }
func (h recordsHandler) Handle(_ context.Context, r slog.Record) error {
	line := r.Level.String() + " " + r.Message
	r.Attrs(func(a slog.Attr) bool {
		line += " " + a.String()
		return true
	})
	h.mu.Lock()
	*h.records = append(*h.records, line)
	h.mu.Unlock()
	return nil
}

// TestWatchGoneWarnsWhenTheCountdownStarts: the first report of something
// missing is a WARN naming it and the time left before the stage stops,
// its return an INFO; a second absence starts a new countdown, which ends
// in ErrGone. Before, nothing was logged until the stage stopped.
func TestWatchGoneWarnsWhenTheCountdownStarts(t *testing.T) {
	missing := fmt.Errorf("stream %s: %w", events.StreamCallbacks, jetstream.ErrStreamNotFound)
	// What check answers at each tick: missing twice, back, then missing
	// for good.
	answers := []error{missing, missing, nil, missing}
	var calls atomic.Int64
	check := func(context.Context) error {
		i := int(calls.Add(1)) - 1
		return answers[min(i, len(answers)-1)]
	}
	var (
		mu      sync.Mutex
		records []string
	)
	log := slog.New(recordsHandler{mu: &mu, records: &records})
	err := broker.WatchGone(t.Context(), 600*time.Millisecond, check, log)
	if !errors.Is(err, broker.ErrGone) {
		t.Fatalf("WatchGone: got %v, want ErrGone", err)
	}
	mu.Lock()
	defer mu.Unlock()
	var warns, infos int
	for _, r := range records {
		switch {
		case strings.HasPrefix(r, "WARN "):
			warns++
			if !strings.Contains(r, events.StreamCallbacks) || !strings.Contains(r, "stopping_in=600ms") {
				t.Errorf("warning %q does not name what is missing and the time left", r)
			}
		case strings.HasPrefix(r, "INFO ") && strings.Contains(r, "is back"):
			infos++
		}
	}
	if warns != 2 || infos != 1 {
		t.Errorf("got %d warnings and %d returns logged, want 2 and 1: %q", warns, infos, records)
	}
}
