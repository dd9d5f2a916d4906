package ingest

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/httpserver"
	"github.com/kycflow/kycflow/internal/telemetry"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// Handlers are what ingest does: one handler per callback endpoint. Each
// runs the sender checks, reads and validates the callback, stores it and
// answers; routing, the secret segment and the method are checked before
// (Service.ServeHTTP).
type Handlers struct {
	// Platform handles POST /callbacks/platform: Jumio Platform JSON.
	Platform http.Handler
	// Netverify handles POST /callbacks/netverify: Netverify form bodies
	// and query strings.
	Netverify http.Handler
}

// Service is the ingest HTTP service. It is safe for concurrent use.
type Service struct {
	Handlers Handlers

	cfg        Config
	region     wire.Region
	nc         *nats.Conn
	js         jetstream.JetStream
	logger     *slog.Logger
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
	metrics    *metrics
	metricsH   http.Handler

	allowed    prefixSet
	trusted    prefixSet
	limiters   *limiters
	secretHash [sha256.Size]byte
	refSecrets [][]byte

	spanOpts     []trace.SpanStartOption
	producerOpts []trace.SpanStartOption

	// public answers the callback port's /readyz (see publicReady).
	public readyCache
}

// New returns the service for cfg, storing callbacks through nc. It does
// not create the streams (see Run) and does not close nc.
func New(cfg Config, nc *nats.Conn, tel *telemetry.Telemetry) (*Service, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("ingest: config: %w", err)
	}
	if err := fitsPayload(cfg.MaxBodyBytes, nc.MaxPayload()); err != nil {
		return nil, fmt.Errorf("ingest: config: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("ingest: jetstream: %w", err)
	}
	m, err := newMetrics(tel.MeterProvider)
	if err != nil {
		return nil, fmt.Errorf("ingest: metrics: %w", err)
	}
	trusted, _ := parsePrefixes(cfg.TrustedProxies)
	s := &Service{
		cfg:    cfg,
		region: cfg.region(),
		nc:     nc,
		js:     js,
		logger: tel.Logger.With("stage", "ingest"),
		tracer: tel.TracerProvider.Tracer("github.com/kycflow/kycflow/internal/ingest"),
		// Ingest is where the internet ends: whatever the telemetry
		// propagates elsewhere, a callback's message carries its own
		// trace context only, never a caller's baggage (see startSpan).
		propagator: propagation.TraceContext{},
		metrics:    m,
		metricsH:   tel.MetricsHandler(),
		allowed:    cfg.allowedSources(),
		trusted:    trusted,
		limiters:   newLimiters(cfg.RateLimit, cfg.RateBurst, cfg.RateLimitSources, cfg.RateLimitIPv6Prefix),
		refSecrets: cfg.userReferenceSecrets(),
	}
	s.public.check = s.Ready
	if cfg.PathSecret.IsSet() {
		s.secretHash = sha256.Sum256([]byte(cfg.PathSecret.Value()))
	}
	s.Handlers = Handlers{
		Platform:  s.callback(events.APIPlatform, s.readPlatform),
		Netverify: s.callback(events.APINetverify, s.readNetverify),
	}
	// Jumio is outside our trace: each request starts a new one (see
	// startSpan).
	s.spanOpts = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}
	s.producerOpts = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindProducer)}
	return s, nil
}

// route is what ServeHTTP found in the path.
type route struct {
	api     events.API
	segment string // the secret segment as sent, "" when none
	matched bool
}

// ServeHTTP routes and traces a request. The server span never sees the
// path as sent: it is named by the route pattern, with "{secret}" for the
// secret segment, and a path that matches no route is "{unmatched}" in the
// span and in the problem document (it may hold a misplaced secret).
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt := splitPath(r.URL.Path)
	ctx, span := s.startSpan(r, rt)
	var sw *statusWriter
	if span.IsRecording() {
		sw = &statusWriter{ResponseWriter: w}
		w = sw
	}
	defer endSpan(span, sw)
	s.route(w, r.WithContext(ctx), rt)
}

// splitPath matches /callbacks/<api> and /callbacks/<api>/<segment>.
func splitPath(p string) route {
	rest, ok := strings.CutPrefix(p, "/callbacks/")
	if !ok {
		return route{}
	}
	name, seg, _ := strings.Cut(rest, "/")
	var api events.API
	switch name {
	case string(events.APIPlatform):
		api = events.APIPlatform
	case string(events.APINetverify):
		api = events.APINetverify
	default:
		return route{}
	}
	if strings.Contains(seg, "/") {
		return route{}
	}
	if seg == "" && strings.HasSuffix(rest, "/") {
		return route{}
	}
	return route{api: api, segment: seg, matched: true}
}

func (s *Service) route(w http.ResponseWriter, r *http.Request, rt route) {
	if !rt.matched {
		s.fail(w, r, apiNone, errUnknownPath)
		return
	}
	if !s.secretOK(rt.segment) {
		// Guesses at the secret segment count against the sender's rate
		// limit (and meet the source check) like callbacks do, so that
		// guessing is throttled too.
		if rj := s.checkSource(clientAddr(r, s.trusted), time.Now(), w); rj != nil {
			s.fail(w, r, string(rt.api), rj)
			return
		}
		s.fail(w, r, string(rt.api), errWrongSecret)
		return
	}
	if r.Method != http.MethodPost {
		// Checked as a callback's sender first: a 405 only for an
		// allowed sender would otherwise tell anyone else that the path
		// secret was right (a wrong one is a 403 from the same checks),
		// without counting against the rate limit.
		if rj := s.checkSource(clientAddr(r, s.trusted), time.Now(), w); rj != nil {
			s.fail(w, r, string(rt.api), rj)
			return
		}
		w.Header().Set("Allow", http.MethodPost)
		s.fail(w, r, string(rt.api), reject(http.StatusMethodNotAllowed, ReasonMethodNotAllowed, "Method not allowed", "callbacks are POSTed"))
		return
	}
	switch rt.api {
	case events.APIPlatform:
		s.Handlers.Platform.ServeHTTP(w, r)
	case events.APINetverify:
		s.Handlers.Netverify.ServeHTTP(w, r)
	}
}

// storedOverhead bounds what a stored callback adds to its body: the
// event's other fields and the message headers.
const storedOverhead = 4 << 10

// fitsPayload checks that the largest body accepted can be stored: JSON
// escaping makes a control character six bytes (\u0001), so a body of
// limit bytes can take 6×limit once stored, and a message larger than the
// server's max_payload (maxPayload, 0 when not known yet) could never be
// stored: ingest would answer 503 to a callback Jumio then retries in
// vain.
func fitsPayload(limit, maxPayload int64) error {
	if maxPayload <= 0 || 6*limit+storedOverhead <= maxPayload {
		return nil
	}
	return fmt.Errorf("KYCFLOW_INGEST_MAX_BODY_BYTES=%d: a callback this large can take up to %d bytes once stored, more than the NATS server's max_payload of %d; set it to at most %d, or raise max_payload",
		limit, 6*limit+storedOverhead, maxPayload, (maxPayload-storedOverhead)/6)
}

// secretOK compares the segment with the configured secret in constant
// time (hashes of both are compared, so not even the length leaks).
func (s *Service) secretOK(segment string) bool {
	if !s.cfg.PathSecret.IsSet() {
		return segment == ""
	}
	h := sha256.Sum256([]byte(segment))
	return subtle.ConstantTimeCompare(h[:], s.secretHash[:]) == 1
}

// fail answers with a problem document, counts it and logs it (reason and
// client address only).
func (s *Service) fail(w http.ResponseWriter, r *http.Request, api string, rj *rejection) {
	ctx := r.Context()
	s.metrics.reject(api, rj.counted())
	level := slog.LevelInfo
	if rj.status == http.StatusTooManyRequests || rj.status == http.StatusNotFound {
		level = slog.LevelDebug
	}
	s.logger.Log(ctx, level, "callback rejected", "api", api, "reason", rj.counted(), "status", rj.status, "peer", r.RemoteAddr)
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(attrReason(rj.counted()))
	}
	problem(w, r, rj.status, rj.reason, rj.title, rj.detail)
}

// problem writes a problem document whose instance is the route pattern
// (the secret segment as "{secret}"), or none when no route matched: the
// path as sent may hold the secret.
func problem(w http.ResponseWriter, r *http.Request, status int, reason, title, detail string) {
	p := httpserver.ProblemDetails{Type: httpserver.ProblemTypeBase + reason, Title: title, Status: status, Detail: detail}
	if rt := splitPath(r.URL.Path); rt.matched {
		p.Instance = rt.routePath()
	}
	httpserver.WriteProblem(w, p)
}

// Ready reports whether callbacks can be stored: NATS connected and the
// JUMIO_CALLBACKS stream present.
func (s *Service) Ready(ctx context.Context) error {
	return broker.Ready(ctx, s.nc, s.js, events.StreamCallbacks)
}

// publicReady is Ready for the callback port's /readyz, which anyone who
// reaches that port can ask, as often as they like (the rate limit is the
// callbacks'). Ready asks JetStream's API about the stream, an API every
// stage shares: answered that way, requests from the internet were
// requests to it, one for one. The connection is looked at every time (it
// costs nothing); the stream is asked about at most once per
// readyCacheFor. The admin port, which only the cluster reaches, asks
// every time.
func (s *Service) publicReady(ctx context.Context) error {
	if !s.nc.IsConnected() {
		return errNotConnected
	}
	return s.public.ready(ctx)
}

var errNotConnected = errors.New("nats not connected")

// readyCacheFor is how long the callback port's /readyz answers from the
// last time it asked about the stream.
const readyCacheFor = time.Second

// readyCache remembers the last answer of check for readyCacheFor. One
// caller asks while the others wait for its answer.
type readyCache struct {
	check func(context.Context) error

	mu  sync.Mutex
	at  time.Time
	err error
}

func (c *readyCache) ready(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && time.Since(c.at) < readyCacheFor {
		return c.err
	}
	// The answer is everyone's: a caller that leaves must not make it
	// "canceled" (unready) for the others.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	c.err, c.at = c.check(cctx), time.Now()
	return c.err
}

// Serve serves the callback endpoints on ln, and bare /healthz and
// /readyz answers ("ok", "ready", or a 503 that does not say why; see
// publicReady), until
// ctx is done; then it stops accepting and waits for in-flight requests
// (up to Server.ShutdownTimeout). Every other path answers the 404
// problem: no /metrics, no error details on the port the internet
// reaches. Every 200 it gave was stored. ServeWithAdmin adds the admin
// port; Run listens on Config.AdminAddr for it. It stops as well, with
// an error wrapping broker.ErrGone, once JUMIO_CALLBACKS has been missing
// for NATS.GoneGrace.
func (s *Service) Serve(ctx context.Context, ln net.Listener) error {
	return s.watching(ctx, func(ctx context.Context) error {
		return httpserver.NewPublic(s.cfg.Server, s, s.publicReady, s.logger).Serve(ctx, ln)
	})
}

// watching runs serve until ctx ends, or until JUMIO_CALLBACKS has been
// missing for NATS.GoneGrace (broker.WatchGone): then serve stops as at
// shutdown (requests in flight finish) and the service returns the
// error, so that a restart creates the stream again.
func (s *Service) watching(ctx context.Context, serve func(context.Context) error) error {
	ctx, stop := broker.WhileNeeded(ctx, s.cfg.NATS.GoneGrace, s.Ready, s.logger)
	err := serve(ctx)
	if g := stop(); g != nil {
		return fmt.Errorf("ingest: %w", g)
	}
	return err
}

// ServeWithAdmin serves ln as Serve does and /healthz, /readyz (with the
// reason when not ready) and /metrics on admin, with the same timeouts,
// until ctx is done or one of the two fails; then both stop accepting
// together and in-flight requests finish (up to Server.ShutdownTimeout).
// Every 200 it gave was stored.
func (s *Service) ServeWithAdmin(ctx context.Context, ln, admin net.Listener) error {
	acfg := s.cfg.Server
	acfg.Addr = admin.Addr().String()
	return s.watching(ctx, func(ctx context.Context) error {
		return httpserver.ServeAll(ctx,
			httpserver.Binding{Server: httpserver.NewPublic(s.cfg.Server, s, s.publicReady, s.logger), Listener: ln},
			httpserver.Binding{Server: httpserver.New(acfg, nil, s.Ready, s.metricsH, s.logger), Listener: admin},
		)
	})
}
