package notifier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/telemetry"
	"github.com/kycflow/kycflow/pkg/events"
)

// Errors of New and Run.
var (
	// ErrNoRoutes: New was given no routes.
	ErrNoRoutes = errors.New("notifier: no routes")
	// ErrRunning: Run was called twice.
	ErrRunning = errors.New("notifier: already running")
	// ErrNotReady is returned by Ready before Run has started every route.
	ErrNotReady = errors.New("notifier: not running")
)

// Notifier delivers enriched results to routes: each route reads
// JUMIO_ENRICHED through its own durable consumer (notifier-<route>),
// filters, projects by its field policy, suppresses what it delivered
// already, and hands the result to its sink. A route whose endpoint is
// slow or failing holds back no other route.
type Notifier struct {
	cfg     Config
	js      jetstream.JetStream
	tel     *telemetry.Telemetry
	logger  *slog.Logger
	metrics *metrics
	routes  []*route

	running atomic.Bool
	mu      sync.Mutex
	ledger  *ledger
	ready   bool
	// enriched is JUMIO_ENRICHED, read by superseded.
	enriched jetstream.Stream
	// decoded shares each message's decoded result among the routes.
	decoded *decodings

	// hook, set by tests only, runs in each route's handler before the
	// delivery (a panic there is a panic of the handler).
	hook func(route, eventID string)
}

// New returns a notifier for routes (from LoadRoutes or ParseRoutes)
// over js. It checks the configuration and builds every sink; it does no
// I/O (Run does). The streams must exist (broker.EnsureStreams) before
// Run.
func New(cfg Config, routes []Route, js jetstream.JetStream, tel *telemetry.Telemetry) (*Notifier, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := checkRoutes(routes); err != nil {
		return nil, err
	}
	if js == nil || tel == nil {
		return nil, fmt.Errorf("%w: JetStream and telemetry are required", ErrInvalidConfig)
	}
	names := make([]string, len(routes))
	for i, r := range routes {
		names[i] = r.Name
	}
	m, err := newMetrics(tel.MeterProvider, names)
	if err != nil {
		return nil, err
	}
	n := &Notifier{cfg: cfg, js: js, tel: tel, logger: tel.Logger.With("stage", string(events.StageNotify)), metrics: m, decoded: newDecodings(len(routes))}
	pub, err := broker.NewPublisher(broker.PublisherConfig{PublishTimeout: cfg.NATS.PublishTimeout, Logger: n.logger, MeterProvider: tel.MeterProvider}, js)
	if err != nil {
		return nil, err
	}
	traced, err := broker.TracePublisher(tel.TracerProvider, tel.Propagator)(pub)
	if err != nil {
		return nil, err
	}
	for _, r := range routes {
		rt := &route{Route: r, n: n, log: n.logger.With("route", r.Name)}
		if rt.Concurrency == 0 {
			rt.Concurrency = cfg.Concurrency
		}
		switch {
		case r.Webhook != nil:
			rt.sink, err = NewWebhookSink(WebhookSinkConfig{
				Route: r.Name, Webhook: r.Webhook, MaxConns: rt.Concurrency, RootCAs: cfg.RootCAs,
				TracerProvider: tel.TracerProvider, Propagator: tel.Propagator, Now: cfg.Now,
			})
			rt.hold = r.Webhook.Timeout + 30*time.Second
		default:
			rt.sink, err = NewNATSSink(r.Name, r.NATS, traced, cfg.Now)
			rt.hold = max(cfg.NATS.PublishTimeout, 5*time.Second) + 30*time.Second
		}
		if err != nil {
			return nil, err
		}
		n.routes = append(n.routes, rt)
	}
	return n, nil
}

// checkRoutes repeats the checks of the routes file that New relies on,
// for routes built in code.
func checkRoutes(routes []Route) error {
	if len(routes) == 0 {
		return ErrNoRoutes
	}
	seen := map[string]bool{}
	for _, r := range routes {
		switch {
		case !routeName.MatchString(r.Name) || len(r.Name) > maxRouteNameLen:
			return fmt.Errorf("%w: route name %q", ErrInvalidConfig, r.Name)
		case seen[r.Name]:
			return fmt.Errorf("%w: %w %q", ErrInvalidConfig, ErrDuplicateRoute, r.Name)
		case (r.Webhook == nil) == (r.NATS == nil):
			return fmt.Errorf("%w: route %q: %w", ErrInvalidConfig, r.Name, ErrSink)
		case !slices.Contains(events.Policies, r.Policy):
			return fmt.Errorf("%w: route %q: %w %q", ErrInvalidConfig, r.Name, events.ErrUnknownPolicy, r.Policy)
		case r.Retry.MaxAttempts < 1 || r.Retry.InitialInterval <= 0 || r.Retry.MaxInterval < r.Retry.InitialInterval:
			return fmt.Errorf("%w: route %q: retry %+v", ErrInvalidConfig, r.Name, r.Retry)
		}
		seen[r.Name] = true
	}
	return nil
}

// Routes returns the names of the routes, in file order.
func (n *Notifier) Routes() []string {
	out := make([]string, len(n.routes))
	for i, r := range n.routes {
		out[i] = r.Name
	}
	return out
}

// Run creates or updates the delivery bucket and every route's durable
// consumer, and delivers until ctx ends. Then it stops fetching, lets
// deliveries in progress finish for up to DrainTimeout, releases the rest
// (never acked: another replica or the next start delivers them), and
// returns nil. A route disabled by a 410 stops on its own; when every
// route is disabled Run idles until ctx ends. A stream or the delivery
// bucket missing from JetStream for NATS.GoneGrace stops it with an error
// wrapping broker.ErrGone. Run may be called once.
func (n *Notifier) Run(ctx context.Context) error {
	if !n.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer n.setReady(false)
	if err := n.ensureBucket(ctx); err != nil {
		return err
	}
	router, err := broker.NewRouter(broker.RouterConfig{
		CloseTimeout:   n.cfg.DrainTimeout + 10*time.Second,
		TracerProvider: n.tel.TracerProvider,
		Propagator:     n.tel.Propagator,
	}, n.logger)
	if err != nil {
		return err
	}
	for _, rt := range n.routes {
		sub, err := broker.NewSubscriber(broker.SubscriberConfig{
			Stream:         events.StreamEnriched,
			Durable:        rt.Durable(),
			Description:    "kycflow notifier route " + rt.Name,
			FilterSubjects: []string{events.SubjectEnriched + ".>"},
			AckWait:        n.cfg.AckWait,
			MaxAckPending:  max(n.cfg.MaxAckPending, rt.Concurrency),
			Concurrency:    rt.Concurrency,
			DrainTimeout:   n.cfg.DrainTimeout,
			PullExpiry:     n.cfg.PullExpiry,
			SetupTimeout:   n.cfg.NATS.SetupTimeout,
			Logger:         rt.log,
			MeterProvider:  n.tel.MeterProvider,
		}, n.js)
		if err != nil {
			return fmt.Errorf("notifier: route %s: %w", rt.Name, err)
		}
		rt.handler = router.AddConsumerHandler("notify-"+rt.Name, "", sub, rt.handle)
		// A result whose delivery panics is retried with the route's
		// back-off and dead-lettered (class panic) once a delivery at
		// its maxAttempts panics.
		rt.handler.AddMiddleware(broker.Recoverer(broker.PanicPolicy{
			MaxAttempts: rt.Retry.MaxAttempts,
			Backoff:     func(attempt int) time.Duration { return rt.Retry.delay(attempt, 0) },
			DeadLetter:  rt.deadLetterPanic,
			OnPanic:     rt.countPanic,
			Logger:      rt.log,
		}))
	}
	// kycflow_consumer_lag_messages and _ack_pending_messages per route, as
	// the enricher reports its own: a route falling behind shows here.
	refs := make([]broker.ConsumerRef, len(n.routes))
	for i, rt := range n.routes {
		refs[i] = broker.ConsumerRef{Stream: events.StreamEnriched, Durable: rt.Durable()}
	}
	reg, err := broker.RegisterConsumerLag(n.tel.MeterProvider, n.js, refs...)
	if err != nil {
		return fmt.Errorf("notifier: %w", err)
	}
	defer reg.Unregister() //nolint:errcheck // nothing to do at shutdown
	// The router stops, as at shutdown, when what the notifier needs has
	// been missing from JetStream for GoneGrace (broker.WatchGone), so
	// that a restart creates it again.
	rctx, stopWatch := broker.WhileNeeded(ctx, n.cfg.NATS.GoneGrace, n.Ready, n.logger)
	errc := make(chan error, 1)
	go func() { errc <- router.Run(rctx) }()
	select {
	case <-router.Running():
		n.setReady(true)
		n.logger.Info("notifier running", "routes", len(n.routes))
		err = <-errc
		if err == nil && rctx.Err() == nil && n.allDisabled() {
			n.logger.Error("every route is disabled; restart with a fixed routes file to resume")
			<-rctx.Done()
		}
		n.logger.Info("notifier stopped")
	case err = <-errc:
	}
	if g := stopWatch(); g != nil {
		return fmt.Errorf("notifier: %w", g)
	}
	return routerError(ctx, err)
}

func routerError(ctx context.Context, err error) error {
	if err != nil {
		return fmt.Errorf("notifier: %w", err)
	}
	if ctx.Err() == nil {
		return errors.New("notifier: every route stopped")
	}
	return nil
}

func (n *Notifier) ensureBucket(ctx context.Context) error {
	storage := jetstream.FileStorage
	if n.cfg.DeliveriesStorage == "memory" {
		storage = jetstream.MemoryStorage
	}
	cctx, cancel := n.cfg.NATS.SetupContext(ctx)
	defer cancel()
	kv, err := broker.EnsureKeyValue(cctx, n.js, jetstream.KeyValueConfig{
		Bucket:      DeliveriesBucket,
		Description: "what each notifier route delivered, per execution status",
		History:     1,
		TTL:         n.cfg.DeliveriesTTL,
		Storage:     storage,
		Replicas:    n.cfg.DeliveriesReplicas,
	})
	if err != nil {
		return fmt.Errorf("notifier: delivery bucket: %w", err)
	}
	enriched, err := n.js.Stream(cctx, events.StreamEnriched)
	if err != nil {
		return fmt.Errorf("notifier: %s: %w", events.StreamEnriched, err)
	}
	n.mu.Lock()
	n.ledger = &ledger{kv: kv, now: n.cfg.Now}
	n.enriched = enriched
	n.mu.Unlock()
	return nil
}

func (n *Notifier) setReady(v bool) {
	n.mu.Lock()
	n.ready = v
	n.mu.Unlock()
}

func (n *Notifier) allDisabled() bool {
	for _, rt := range n.routes {
		if !rt.disabled.Load() {
			return false
		}
	}
	return true
}

// Ready reports whether the notifier is delivering: Run has started every
// route, NATS is connected, and the streams it reads and writes and the
// delivery bucket exist. A route disabled by a 410 does not make it
// unready (the metric and the log say so).
func (n *Notifier) Ready(ctx context.Context) error {
	n.mu.Lock()
	ready := n.ready
	n.mu.Unlock()
	if !ready {
		return ErrNotReady
	}
	if err := broker.Ready(ctx, n.js.Conn(), n.js, events.StreamEnriched, events.StreamResults, events.StreamDLQ); err != nil {
		return err
	}
	if _, err := n.js.KeyValue(ctx, DeliveriesBucket); err != nil {
		return fmt.Errorf("bucket %s: %w", DeliveriesBucket, err)
	}
	return nil
}

// route is one route at work.
type route struct {
	Route
	n        *Notifier
	sink     Sink
	log      *slog.Logger
	hold     time.Duration // how long a delivery claims its record
	handler  *message.Handler
	disabled atomic.Bool
}

// disable stops the route after its endpoint answered 410 Gone. Its
// messages stay pending in its durable consumer; a restart resumes them.
func (rt *route) disable(err error) {
	if !rt.disabled.CompareAndSwap(false, true) {
		return
	}
	rt.n.metrics.setDisabled(rt.Name, true)
	rt.log.Error("route disabled: the endpoint answered 410 Gone; its results wait in its consumer until a restart with a fixed routes file",
		"consumer", rt.Durable(), "error", err)
	if rt.handler != nil {
		rt.handler.Stop()
	}
}
