package httpserver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
)

func start(t *testing.T, handler http.Handler, ready ReadyFunc) (string, context.CancelFunc, <-chan error) {
	t.Helper()
	s := New(Config{Addr: "127.0.0.1:0"}, handler, ready, nil, slog.New(slog.DiscardHandler))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(cancel)
	return "http://" + ln.Addr().String(), cancel, done
}

func TestHealthAndReady(t *testing.T) {
	var notReady error
	var mu sync.Mutex
	base, _, _ := start(t, nil, func(context.Context) error { mu.Lock(); defer mu.Unlock(); return notReady })
	for _, tc := range []struct {
		path string
		err  error
		want int
	}{
		{"/healthz", nil, 200},
		{"/readyz", nil, 200},
		{"/readyz", errors.New("broker down"), 503},
		{"/healthz", errors.New("broker down"), 200},
	} {
		mu.Lock()
		notReady = tc.err
		mu.Unlock()
		resp, err := http.Get(base + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s with ready error %v: got %d, want %d", tc.path, tc.err, resp.StatusCode, tc.want)
		}
	}
}

func TestProblemJSON(t *testing.T) {
	base, _, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Problem(w, r, http.StatusForbidden, "ip-not-allowed", "Sender not allowed", "")
	}), nil)
	resp, err := http.Get(base + "/x")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if got, want := resp.Header.Get("Content-Type"), "application/problem+json"; got != want {
		t.Errorf("content type: got %q, want %q", got, want)
	}
	var p ProblemDetails
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatal(err)
	}
	if p.Status != 403 || p.Type != ProblemTypeBase+"ip-not-allowed" || p.Instance != "/x" {
		t.Errorf("got %+v", p)
	}
}

func TestShutdownWaitsForInFlight(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	base, cancel, done := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		_, _ = io.WriteString(w, "finished")
	}), nil)
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get(base + "/slow")
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-entered
	cancel()
	close(release)
	if body := <-got; body != "finished" {
		t.Errorf("in-flight request: got %q, want %q", body, "finished")
	}
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

func TestMaxBytes(t *testing.T) {
	base, _, _ := start(t, MaxBytes(4, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			Problem(w, r, http.StatusRequestEntityTooLarge, "body-too-large", "Body too large", "")
			return
		}
		w.WriteHeader(204)
	})), nil)
	resp, err := http.Post(base+"/", "text/plain", strings.NewReader("0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("got %d, want 413", resp.StatusCode)
	}
}
