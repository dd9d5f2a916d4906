// Package httpserver runs kycflow's HTTP servers: an http.Server with
// header, read, write and idle timeouts, /healthz (the process is alive),
// /readyz (its dependencies are usable), /metrics, and a graceful shutdown
// that stops accepting, then waits for in-flight requests.
//
// A service whose public endpoints must not share a port with its metrics
// and the details of its health runs two servers: NewPublic (bare health
// answers) or NewBare (none) for the public handler, and New without a
// handler on an admin address, both through ServeAll, which shuts them
// down together.
//
// It also writes RFC 9457 problem details (Problem), the error format of
// every kycflow HTTP endpoint.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kycflow/kycflow/internal/config"
	"github.com/kycflow/kycflow/internal/telemetry"
)

// Config configures a server.
type Config struct {
	// Addr is the listen address, for example ":8080".
	Addr string
	// ReadHeaderTimeout bounds the time to read request headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds the time to read a whole request.
	ReadTimeout time.Duration
	// WriteTimeout bounds the time from the end of the headers to the end
	// of the response.
	WriteTimeout time.Duration
	// IdleTimeout bounds keep-alive idle time.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request header size.
	MaxHeaderBytes int
	// ShutdownTimeout bounds the wait for in-flight requests on shutdown.
	ShutdownTimeout time.Duration
	// Profiling serves the Go runtime's profiles (net/http/pprof) under
	// /debug/pprof/ on a server built by New: for measuring ("kycflow
	// bench e2e --profile"), on an address only operators reach. A CPU
	// profile is limited to WriteTimeout.
	Profiling bool
}

// LoadConfig reads a server's variables under prefix (for example
// "KYCFLOW_INGEST_") with the given default address.
func LoadConfig(e *config.Env, prefix, addr string) Config {
	return Config{
		Addr:              e.String(prefix+"ADDR", addr, "listen address"),
		ReadHeaderTimeout: e.PositiveDuration(prefix+"READ_HEADER_TIMEOUT", 5*time.Second, "time allowed to read request headers"),
		ReadTimeout:       e.PositiveDuration(prefix+"READ_TIMEOUT", 10*time.Second, "time allowed to read a whole request"),
		WriteTimeout:      e.PositiveDuration(prefix+"WRITE_TIMEOUT", 15*time.Second, "time allowed to write a response"),
		IdleTimeout:       e.PositiveDuration(prefix+"IDLE_TIMEOUT", 60*time.Second, "keep-alive idle timeout"),
		MaxHeaderBytes:    e.IntMin(prefix+"MAX_HEADER_BYTES", 16<<10, 1, "largest request header accepted, in bytes"),
		ShutdownTimeout:   e.PositiveDuration(prefix+"SHUTDOWN_TIMEOUT", 20*time.Second, "time allowed for in-flight requests at shutdown"),
	}
}

func (c *Config) setDefaults() {
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = 5 * time.Second
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = 10 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 15 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 60 * time.Second
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = 16 << 10
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 20 * time.Second
	}
}

// ReadyFunc reports whether the service can do its work; a non-nil error
// makes /readyz answer 503.
type ReadyFunc func(ctx context.Context) error

// Server is an HTTP server with health endpoints and graceful shutdown.
type Server struct {
	cfg      Config
	srv      *http.Server
	logger   *slog.Logger
	draining atomic.Bool
}

// New returns a server for handler. The mux it builds serves /healthz,
// /readyz (through ready, nil meaning always ready; a 503 says why) and,
// when metrics is not nil, /metrics; every other path goes to handler.
func New(cfg Config, handler http.Handler, ready ReadyFunc, metrics http.Handler, logger *slog.Logger) *Server {
	return newServer(cfg, handler, ready, metrics, true, logger)
}

// NewPublic returns a server for a service's public handler, on a port
// the internet reaches: it answers /healthz and /readyz (through ready)
// barely, "ok", "ready" or a 503 without saying why (the cause may name
// hosts, addresses or errors of the infrastructure), serves no /metrics,
// and gives every other path to handler. The details and the metrics are
// for an admin server (New) on a port the internet does not reach;
// ServeAll runs both.
func NewPublic(cfg Config, handler http.Handler, ready ReadyFunc, logger *slog.Logger) *Server {
	return newServer(cfg, handler, ready, nil, false, logger)
}

func newServer(cfg Config, handler http.Handler, ready ReadyFunc, metrics http.Handler, details bool, logger *slog.Logger) *Server {
	cfg.setDefaults()
	s := &Server{cfg: cfg, logger: logger}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			Problem(w, r, http.StatusServiceUnavailable, "shutting-down", "Shutting down", "the server is draining")
			return
		}
		if ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			if err := ready(ctx); err != nil {
				detail := ""
				if details {
					detail = err.Error()
				}
				Problem(w, r, http.StatusServiceUnavailable, "not-ready", "Not ready", detail)
				return
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ready\n"))
	})
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	if cfg.Profiling {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	var h http.Handler = mux
	switch {
	case handler != nil && !details:
		// The public port: the health endpoints by their exact paths,
		// everything else to handler as sent. ServeMux would answer a
		// path it cleans ("//callbacks/x", "/a/./b") with a bare 307
		// that repeats the path (a secret segment in it) instead of
		// the handler's 404 problem, and uncounted.
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if (r.URL.Path == "/healthz" || r.URL.Path == "/readyz") && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
				mux.ServeHTTP(w, r)
				return
			}
			handler.ServeHTTP(w, r)
		})
	case handler != nil:
		mux.Handle("/", handler)
	}
	s.srv = newHTTPServer(cfg, h, logger)
	return s
}

// NewBare returns a server that gives every request to handler: no
// /healthz, /readyz or /metrics. It is the public half of a service whose
// health endpoints and metrics are on a separate admin address (a second
// server, New(adminCfg, nil, ready, metrics, logger)); ServeAll runs both.
func NewBare(cfg Config, handler http.Handler, logger *slog.Logger) *Server {
	cfg.setDefaults()
	if handler == nil {
		handler = http.NotFoundHandler() // not http.DefaultServeMux
	}
	return &Server{cfg: cfg, logger: logger, srv: newHTTPServer(cfg, handler, logger)}
}

func newHTTPServer(cfg Config, handler http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              cfg.Addr,
		Handler:           handler,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		// net/http's server log quotes what a client sent when it
		// cannot read it ("bogus greeting …"); the quote is left out.
		ErrorLog: log.New(telemetry.StdlibLogWriter(logger, slog.LevelDebug), "", 0),
	}
}

// Listen opens the configured address.
func (s *Server) Listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("httpserver: listen %s: %w", s.cfg.Addr, err)
	}
	return ln, nil
}

// Serve serves on ln until ctx is done, then shuts down gracefully: /readyz
// turns 503, the listener closes, and in-flight requests get up to
// ShutdownTimeout to finish. It returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("httpserver: %w", err)
	case <-ctx.Done():
	}
	s.draining.Store(true)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("httpserver: shutdown: %w", err)
	}
	return nil
}

// ListenAndServe is Listen followed by Serve.
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := s.Listen()
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}

// Binding is a server and the listener it serves on, for ServeAll.
type Binding struct {
	Server   *Server
	Listener net.Listener
}

// ServeAll serves each binding's server on its listener until ctx is done
// or one of them stops with an error, then shuts all of them down
// gracefully at once (each as Serve does: /readyz turns 503, the listeners
// close, in-flight requests get up to their ShutdownTimeout). It returns
// when every server has stopped, with their errors joined; nil after a
// clean shutdown.
func ServeAll(ctx context.Context, bindings ...Binding) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(bindings))
	var wg sync.WaitGroup
	for i, b := range bindings {
		wg.Go(func() {
			errs[i] = b.Server.Serve(ctx, b.Listener)
			cancel() // one stopped: stop the others
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
