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
	checkShutdownWaits(t, func(h http.Handler) (string, context.CancelFunc, <-chan error) { return start(t, h, nil) })
}

// checkShutdownWaits serves a handler that blocks until released, ends
// the serving ctx while a request is in flight, and checks that the
// request finishes and serving returns nil.
func checkShutdownWaits(t *testing.T, serve func(http.Handler) (base string, cancel context.CancelFunc, done <-chan error)) {
	t.Helper()
	entered := make(chan struct{})
	release := make(chan struct{})
	base, cancel, done := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		_, _ = io.WriteString(w, "finished")
	}))
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
		t.Errorf("serving: %v", err)
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

// serveAll starts a bare server for handler and an admin server through
// ServeAll on loopback; it returns their base URLs.
func serveAll(t *testing.T, handler http.Handler) (public, admin string, cancel context.CancelFunc, done <-chan error, lns [2]net.Listener) {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	for i := range lns {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[i] = ln
	}
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "metrics\n") })
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	errc := make(chan error, 1)
	go func() {
		errc <- ServeAll(ctx,
			Binding{NewBare(Config{}, handler, logger), lns[0]},
			Binding{New(Config{}, nil, nil, metrics, logger), lns[1]},
		)
	}()
	return "http://" + lns[0].Addr().String(), "http://" + lns[1].Addr().String(), cancel, errc, lns
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestNewBareAndAdmin: the bare server gives every path to its handler,
// the health endpoints and metrics included; the admin server serves
// those and nothing else.
func TestNewBareAndAdmin(t *testing.T) {
	public, admin, _, _, _ := serveAll(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Problem(w, r, http.StatusNotFound, "not-found", "Not found", "")
	}))
	for _, tc := range []struct {
		url  string
		want int
	}{
		{public + "/healthz", 404},
		{public + "/readyz", 404},
		{public + "/metrics", 404},
		{admin + "/healthz", 200},
		{admin + "/readyz", 200},
		{admin + "/metrics", 200},
		{admin + "/callbacks/platform", 404},
	} {
		if got := getStatus(t, tc.url); got != tc.want {
			t.Errorf("GET %s: got %d, want %d", tc.url, got, tc.want)
		}
	}
}

// TestServeAllShutsDownTogether: when ctx ends, an in-flight request
// finishes and both listeners close.
func TestServeAllShutsDownTogether(t *testing.T) {
	var lns [2]net.Listener
	checkShutdownWaits(t, func(h http.Handler) (string, context.CancelFunc, <-chan error) {
		public, _, cancel, done, l := serveAll(t, h)
		lns = l
		return public, cancel, done
	})
	for _, ln := range lns {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after ServeAll returned", ln.Addr())
		}
	}
}

// TestServeAllStopsOthersOnFailure: a server whose listener fails stops
// the other one, and ServeAll reports the failure.
func TestServeAllStopsOthersOnFailure(t *testing.T) {
	_, _, _, done, lns := serveAll(t, nil)
	lns[0].Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Errorf("ServeAll: got %v, want net.ErrClosed", err)
	}
	if c, err := net.Dial("tcp", lns[1].Addr().String()); err == nil {
		c.Close()
		t.Error("the admin server still accepts connections")
	}
}
