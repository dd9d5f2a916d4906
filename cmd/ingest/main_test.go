package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kycflow/kycflow/internal/bench"
	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/internal/config"
	"github.com/kycflow/kycflow/internal/ingest/ingesttest"
	"github.com/kycflow/kycflow/pkg/events"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// TestRunRejectsBadConfiguration: a bad variable is a problem that names
// it (all of them at once), a missing broker an error that names the URL
// tried; -h prints the usage and is no error.
func TestRunRejectsBadConfiguration(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		vars []string // variables with a problem; nil: another error
		url  string   // the NATS URL a connect error names
	}{
		{"argument", []string{"serve"}, nil, nil, ""},
		{"unparseable", nil, map[string]string{"KYCFLOW_INGEST_RATE_LIMIT": "fast", "KYCFLOW_STREAM_REPLICAS": "abc"}, []string{"KYCFLOW_STREAM_REPLICAS", "KYCFLOW_INGEST_RATE_LIMIT"}, ""},
		{"invalid", nil, map[string]string{"KYCFLOW_JUMIO_REGION": "mars-1", "KYCFLOW_NATS_URL": "nats://127.0.0.1:1"}, []string{"KYCFLOW_JUMIO_REGION"}, ""},
		{"no broker", nil, map[string]string{"KYCFLOW_NATS_URL": "nats://127.0.0.1:1", "KYCFLOW_NATS_CONNECT_TIMEOUT": "200ms"}, nil, "nats://127.0.0.1:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(t.Context(), tc.args, env(tc.env), &out, &errOut)
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
			var cerr *broker.ConnectError
			if tc.url != "" && (!errors.As(err, &cerr) || cerr.URL != tc.url) {
				t.Errorf("got %v, want a connect error naming %s", err, tc.url)
			}
		})
	}
	var out bytes.Buffer
	if err := run(t.Context(), []string{"-h"}, env(nil), &out, io.Discard); err != nil || !strings.Contains(out.String(), "usage:") {
		t.Errorf("-h: got %v and %q, want the usage and no error", err, out.String())
	}
}

// TestRunServesUntilCancelled runs ingest in-process against a real
// broker, stores a callback, and stops cleanly when its context ends.
func TestRunServesUntilCancelled(t *testing.T) {
	broker := brokertest.Start(t)
	_, js := broker.JetStream(t)
	addr := ingesttest.FreeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	var logs bytes.Buffer
	go func() {
		done <- run(ctx, nil, env(map[string]string{
			"KYCFLOW_NATS_URL":               broker.URL(),
			"KYCFLOW_INGEST_ADDR":            addr,
			"KYCFLOW_INGEST_ADMIN_ADDR":      ingesttest.FreeAddr(t),
			"KYCFLOW_INGEST_ALLOWED_SOURCES": "127.0.0.1",
			"KYCFLOW_LOG_FORMAT":             "json",
		}), io.Discard, &logs)
	}()
	ingesttest.WaitReady(t, "http://"+addr)
	cb := bench.PlatformCallback(t.Name(), 0)
	if status, _ := post(t, "http://"+addr, cb); status != http.StatusOK {
		t.Fatalf("status: got %d, want 200", status)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if n := len(brokertest.Messages(t, js, events.StreamCallbacks)); n != 1 {
		t.Errorf("stored: got %d, want 1", n)
	}
}

var client = &http.Client{Timeout: 10 * time.Second}

// post sends cb and returns the status and the event id answered; status
// 0 means the request failed (connection refused or closed).
func post(t *testing.T, base string, cb bench.Callback) (int, string) {
	t.Helper()
	resp, err := client.Post(base+"/callbacks/"+string(cb.API), cb.ContentType, bytes.NewReader(cb.Body))
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get(events.HeaderEventID)
}

// TestSIGTERMUnderLoad runs the real binary, sends it SIGTERM while
// callbacks are arriving, and checks that every callback answered 200 is
// in the stream and that the process exits cleanly.
func TestSIGTERMUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(t.TempDir(), "ingest")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	broker := brokertest.Start(t)
	_, js := broker.JetStream(t)
	addr := ingesttest.FreeAddr(t)
	base := "http://" + addr

	cmd := exec.Command(bin)
	cmd.Env = []string{
		"KYCFLOW_NATS_URL=" + broker.URL(),
		"KYCFLOW_INGEST_ADDR=" + addr,
		"KYCFLOW_INGEST_ADMIN_ADDR=" + ingesttest.FreeAddr(t),
		"KYCFLOW_INGEST_ALLOWED_SOURCES=127.0.0.1",
		"KYCFLOW_INGEST_RATE_LIMIT=0",
		"KYCFLOW_LOG_FORMAT=json",
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var logs []string
	logsDone := make(chan struct{})
	go func() {
		defer close(logsDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs = append(logs, sc.Text())
		}
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	ingesttest.WaitReady(t, base)

	var (
		mu       sync.Mutex
		accepted []string
		answered = map[int]int{}
		wg       sync.WaitGroup
		next     int
	)
	enough := make(chan struct{})
	var once sync.Once
	for range 8 {
		wg.Go(func() {
			for {
				mu.Lock()
				n := next
				next++
				mu.Unlock()
				status, id := post(t, base, bench.MixedCallback(t.Name(), n))
				mu.Lock()
				answered[status]++
				if status == http.StatusOK {
					accepted = append(accepted, id)
					if len(accepted) >= 300 {
						once.Do(func() { close(enough) })
					}
				}
				mu.Unlock()
				if status == 0 {
					return // the server has stopped accepting
				}
			}
		})
	}
	select {
	case <-enough:
	case <-time.After(60 * time.Second):
		t.Fatal("load did not get going")
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	werr := cmd.Wait()
	<-logsDone
	if werr != nil {
		t.Errorf("ingest exited with %v; logs:\n%s", werr, strings.Join(logs, "\n"))
	}

	stored := map[string]bool{}
	for _, m := range brokertest.Messages(t, js, events.StreamCallbacks) {
		stored[m.Header.Get(events.HeaderMsgID)] = true
	}
	for _, id := range accepted {
		if !stored[id] {
			t.Errorf("event %s was answered 200 but is not in the stream", id)
		}
	}
	for status, n := range answered {
		if status != http.StatusOK && status != 0 {
			t.Errorf("%d requests answered %d", n, status)
		}
	}
	t.Logf("answered: %v; stored %d", answered, len(stored))
	var sawStopped bool
	for _, l := range logs {
		var rec struct{ Msg string }
		if json.Unmarshal([]byte(l), &rec) == nil && rec.Msg == "ingest stopped" {
			sawStopped = true
		}
	}
	if !sawStopped {
		t.Errorf("no \"ingest stopped\" log line")
	}
}
