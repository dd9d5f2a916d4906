package enricher

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/erasure"
	"github.com/kycflow/kycflow/internal/migration"
	"github.com/kycflow/kycflow/internal/reconcile"
	"github.com/kycflow/kycflow/internal/telemetry"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
	"github.com/kycflow/kycflow/pkg/mapping"
)

// Handlers are what the enricher does.
type Handlers struct {
	// Enrich handles one message of JUMIO_CALLBACKS: it enriches the
	// callback, drops it as a duplicate or stale, asks for its delayed
	// redelivery, or dead-letters it. It settles the message itself
	// (broker.Redeliver) and always returns nil, so the router acks only
	// what it did not nack and logs no error per retry.
	Enrich message.NoPublishHandlerFunc
	// Work handles one item of the work stream (a migration batch): it
	// runs it in the migrate lane, asks for its delayed redelivery, or
	// dead-letters it; like Enrich it settles the message itself.
	Work message.NoPublishHandlerFunc
}

// Enricher turns stored callbacks into enriched results: one durable
// consumer of JUMIO_CALLBACKS in, JUMIO_ENRICHED and JUMIO_DLQ out, one
// Jumio client shared by every worker. Build it with New, run it with
// Run; Ready reports readiness for /readyz. Its methods are safe for
// concurrent use.
type Enricher struct {
	Handlers Handlers

	cfg     Config
	nc      *nats.Conn
	js      jetstream.JetStream
	jumio   *jumio.Client
	region  wire.Region
	tables  *mapping.Tables
	policy  retryPolicy
	metrics *metrics
	health  *healthWatch
	pub     message.Publisher

	logger *slog.Logger
	mp     metric.MeterProvider
	tp     trace.TracerProvider
	prop   propagation.TextMapPropagator
	now    func() time.Time
	// confirm: Netverify callbacks are confirmed (ConfirmsNetverify).
	confirm bool
	// omitRaw leaves the raw Jumio document out of the enriched events
	// (Config.OmitRawDocument).
	omitRaw bool
	// hook, set by tests only, runs before each retrieval (a panic
	// there is a panic of the handler).
	hook func(eventID string)
	// markFault, set by tests only, fails the migration marks it returns
	// an error for (see markMigrated).
	markFault func() error

	// state, migrations, erasures and runner are set by Run before any
	// message is handled.
	state      *stateStore
	migrations *migration.Store
	erasures   *erasure.Registry
	runner     *migration.Runner
	started    atomic.Bool
	running    chan struct{} // closed once the router runs
	stopped    atomic.Bool
}

// New returns an enricher for cfg (defaults applied, then validated) that
// reads and writes through nc, fetches through client, and reports through
// tel. A nil client is built from cfg.Jumio with tel's providers; pass one
// to share it with other parts of the process (one client, one token, one
// rate limit per process). New creates nothing on the server: Run does.
func New(cfg Config, nc *nats.Conn, client *jumio.Client, tel *telemetry.Telemetry) (*Enricher, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if nc == nil || tel == nil {
		return nil, fmt.Errorf("%w: a NATS connection and telemetry are required", ErrInvalidConfig)
	}
	if client == nil {
		c, err := jumio.NewClient(cfg.Jumio, jumio.WithTracerProvider(tel.TracerProvider), jumio.WithMeterProvider(tel.MeterProvider), jumio.WithLogger(tel.Logger))
		if err != nil {
			return nil, fmt.Errorf("enricher: jumio client: %w", err)
		}
		client = c
	}
	jc := client.Config()
	if cfg.NetverifyConfirm == ConfirmOn && jc.NetverifyAPIToken == "" {
		return nil, fmt.Errorf("%w: Netverify confirmation needs the Netverify API credentials (KYCFLOW_JUMIO_NETVERIFY_API_TOKEN, _SECRET)", ErrInvalidConfig)
	}
	products, err := mapping.ParseProducts(cfg.Products)
	if err != nil {
		return nil, fmt.Errorf("%w: products: %w", ErrInvalidConfig, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("enricher: jetstream: %w", err)
	}
	m, err := newMetrics(tel.MeterProvider)
	if err != nil {
		return nil, fmt.Errorf("enricher: metrics: %w", err)
	}
	logger := tel.Logger.With("stage", string(events.StageEnrich))
	raw, err := broker.NewPublisher(broker.PublisherConfig{
		PublishTimeout: cfg.NATS.PublishTimeout,
		Logger:         logger,
		MeterProvider:  tel.MeterProvider,
	}, js)
	if err != nil {
		return nil, fmt.Errorf("enricher: %w", err)
	}
	// The router decorates the publishers of handlers that return
	// messages; this handler publishes itself (it must record the event
	// after the publish and before the ack), so it decorates its own.
	pub, err := broker.TracePublisher(tel.TracerProvider, tel.Propagator)(raw)
	if err != nil {
		return nil, fmt.Errorf("enricher: %w", err)
	}
	e := &Enricher{
		cfg:     cfg,
		nc:      nc,
		js:      js,
		jumio:   client,
		region:  jc.Region,
		tables:  mapping.DefaultTables().WithProducts(products),
		policy:  newRetryPolicy(cfg),
		metrics: m,
		pub:     pub,
		logger:  logger,
		mp:      tel.MeterProvider,
		tp:      tel.TracerProvider,
		prop:    tel.Propagator,
		now:     time.Now,
		running: make(chan struct{}),
		confirm: ConfirmsNetverify(cfg),
		omitRaw: cfg.OmitRawDocument,
	}
	e.health = newHealthWatch(client, cfg.HealthInterval, logger)
	e.Handlers = Handlers{Enrich: e.handle, Work: e.handleWork}
	if !e.confirm {
		logger.Warn("Netverify callbacks not confirmed: their own fields decide, and any Jumio customer can send one",
			"check", NetverifyCheckOff(cfg))
	}
	if jc.ClientID == "" && jc.PlatformAPIToken == "" {
		logger.Warn("no Jumio Platform credentials: Platform callbacks will be dead-lettered")
	}
	return e, nil
}

// Run creates the state bucket (or updates it to the configuration),
// creates or updates the durable consumer, and enriches callbacks until
// ctx ends. Then it stops fetching, lets the callbacks being enriched
// finish within DrainTimeout, releases the others unacked for another
// replica, and returns nil. Nothing is acked that is not published (or
// dead-lettered, or dropped as a duplicate or stale). What Ready checks
// missing from JetStream for NATS.GoneGrace stops it with an error
// wrapping broker.ErrGone. Run may be called once; the streams must
// exist (broker.EnsureStreams).
func (e *Enricher) Run(ctx context.Context) error {
	if !e.started.CompareAndSwap(false, true) {
		return errors.New("enricher: Run called twice")
	}
	defer e.stopped.Store(true)
	if err := e.ensureBuckets(ctx); err != nil {
		return err
	}
	sub, err := e.subscriber(events.StreamCallbacks, Durable, "kycflow enricher: callbacks to enrich", e.cfg.MaxAckPending, e.cfg.Concurrency)
	if err != nil {
		return fmt.Errorf("enricher: %w", err)
	}
	defer sub.Close()
	router, err := broker.NewRouter(broker.RouterConfig{
		// Above the subscriber's drain plus its ack timeout, so that it
		// releases what is left before the router gives up.
		CloseTimeout:   e.cfg.DrainTimeout + 10*time.Second,
		TracerProvider: e.tp,
		Propagator:     e.prop,
	}, e.logger)
	if err != nil {
		return fmt.Errorf("enricher: %w", err)
	}
	h := router.AddConsumerHandler("enrich", events.SubjectCallbacks+".>", sub, e.Handlers.Enrich)
	// A callback whose handling panics is a transient failure with the
	// same budget as the others (attempts; the age is not checked):
	// redelivered with back-off, then dead-lettered with class panic.
	h.AddMiddleware(broker.Recoverer(broker.PanicPolicy{
		MaxAttempts: e.cfg.RetryMaxAttempts,
		Backoff:     e.policy.backoff,
		DeadLetter:  e.deadLetterPanic,
		OnPanic:     e.countPanic,
		Logger:      e.logger,
	}))
	work, err := e.subscriber(migration.StreamWork, migration.WorkDurable, "kycflow enricher: bulk Jumio work (migration batches)",
		max(e.cfg.WorkConcurrency, 100), e.cfg.WorkConcurrency)
	if err != nil {
		return fmt.Errorf("enricher: %w", err)
	}
	defer work.Close()
	router.AddConsumerHandler("work", migration.SubjectWork+".>", work, e.Handlers.Work)
	reg, err := broker.RegisterConsumerLag(e.mp, e.js, broker.ConsumerRef{Stream: events.StreamCallbacks, Durable: Durable})
	if err != nil {
		return fmt.Errorf("enricher: %w", err)
	}
	defer reg.Unregister() //nolint:errcheck // nothing to do about it at exit
	hreg, err := registerHealthMetrics(e.mp, e.health)
	if err != nil {
		return fmt.Errorf("enricher: %w", err)
	}
	defer hreg.Unregister() //nolint:errcheck // nothing to do about it at exit
	rec, err := e.reconciler()
	if err != nil {
		return err
	}
	hctx, stopHealth := context.WithCancel(ctx)
	healthDone := make(chan struct{})
	go func() {
		defer close(healthDone)
		e.health.run(hctx)
	}()
	defer func() {
		stopHealth()
		<-healthDone
	}()

	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-router.Running():
			close(e.running)
			e.logger.Info("enricher running", "concurrency", e.cfg.Concurrency, "region", string(e.region))
		case <-done:
		}
	}()
	// The reconciler runs next to the router and stops with it; one that
	// fails stops the enricher.
	// What the enricher needs missing from JetStream for GoneGrace stops
	// it as well, so that a restart creates it again (broker.WatchGone).
	watchCtx, stopWatch := broker.WhileNeeded(ctx, e.cfg.NATS.GoneGrace, e.Ready, e.logger)
	runCtx, cancelRun := context.WithCancel(watchCtx)
	defer cancelRun()
	recErr := make(chan error, 1)
	if rec == nil {
		recErr <- nil
	} else {
		go func() {
			err := rec.Run(runCtx, reconcile.RunConfig{AckWait: e.cfg.AckWait, DrainTimeout: e.cfg.DrainTimeout, PullExpiry: e.cfg.PullExpiry})
			if err != nil {
				cancelRun()
			}
			recErr <- err
		}()
	}
	err = router.Run(runCtx)
	cancelRun()
	rerr, gerr := <-recErr, stopWatch()
	e.logger.Info("enricher stopped")
	if gerr != nil {
		return fmt.Errorf("enricher: %w", gerr)
	}
	if rerr != nil {
		return fmt.Errorf("enricher: %w", rerr)
	}
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("enricher: %w", err)
	}
	return nil
}

// subscriber returns the subscriber of one of the enricher's durables,
// the callbacks' (Durable) or the work stream's (migration.WorkDurable),
// with the configuration's ack wait, drain, pull and setup timeouts and
// the enricher's logger and meters. It creates nothing until Subscribe.
func (e *Enricher) subscriber(stream, durable, description string, maxAckPending, concurrency int) (*broker.Subscriber, error) {
	return broker.NewSubscriber(broker.SubscriberConfig{
		Stream:        stream,
		Durable:       durable,
		Description:   description,
		AckWait:       e.cfg.AckWait,
		MaxAckPending: maxAckPending,
		Concurrency:   concurrency,
		DrainTimeout:  e.cfg.DrainTimeout,
		PullExpiry:    e.cfg.PullExpiry,
		SetupTimeout:  e.cfg.NATS.SetupTimeout,
		Logger:        e.logger,
		MeterProvider: e.mp,
	}, e.js)
}

// reconciler is the reconciler of missed callbacks the enricher runs, nil
// when it is disabled (docs/architecture.md#reconciliation-of-missed-callbacks).
// It shares the enricher's Jumio client, so its status
// requests wait in the reconcile lane of the same budget, and skips its
// passes while retrieval is held.
func (e *Enricher) reconciler() (*reconcile.Reconciler, error) {
	c := e.cfg.Reconcile
	if c.Disabled {
		return nil, nil
	}
	c.Storage, c.Replicas = e.cfg.NATS.Streams.Storage, e.cfg.NATS.Streams.Replicas
	c.PublishTimeout = e.cfg.NATS.PublishTimeout
	r, err := reconcile.New(c, reconcile.Deps{
		JetStream: e.js, Status: e.jumio.WorkflowStatus, Region: e.region, Held: e.health.Held,
		Logger: e.logger.With("component", "reconciler"), MeterProvider: e.mp, Now: e.now,
	})
	if err != nil {
		return nil, fmt.Errorf("enricher: %w", err)
	}
	return r, nil
}

// Ready reports whether the enricher can work: it runs, NATS is
// connected, the streams it reads and writes (the migration work and,
// with reconciliation, the initiated executions among them) and its
// buckets exist.
// The Jumio client is configured by construction.
func (e *Enricher) Ready(ctx context.Context) error {
	select {
	case <-e.running:
	default:
		return errors.New("enricher not running yet")
	}
	if e.stopped.Load() {
		return errors.New("enricher stopped")
	}
	streams := []string{events.StreamCallbacks, events.StreamEnriched, events.StreamDLQ, migration.StreamWork}
	if !e.cfg.Reconcile.Disabled {
		streams = append(streams, events.StreamExecutions)
	}
	if err := broker.Ready(ctx, e.nc, e.js, streams...); err != nil {
		return err
	}
	for _, b := range []string{StateBucket, migration.Bucket, erasure.Bucket} {
		if _, err := e.js.KeyValue(ctx, b); err != nil {
			return fmt.Errorf("bucket %s: %w", b, err)
		}
	}
	if !e.cfg.Reconcile.Disabled {
		if _, err := e.js.KeyValue(ctx, reconcile.Bucket); err != nil {
			return fmt.Errorf("reconciler bucket %s: %w", reconcile.Bucket, err)
		}
	}
	return nil
}

// ensureBuckets creates or updates the state bucket and what the enricher
// shares with "kycflow migrate-data" and "kycflow erase", within the
// NATS setup timeout.
func (e *Enricher) ensureBuckets(ctx context.Context) error {
	ctx, cancel := e.cfg.NATS.SetupContext(ctx)
	defer cancel()
	st, err := ensureState(ctx, e.js, e.cfg)
	if err != nil {
		return err
	}
	e.state = st
	return e.ensureBulk(ctx)
}

// ensureBulk creates (or updates) what the enricher shares with "kycflow
// migrate-data" and "kycflow erase": the migration bucket and work stream,
// and the erasure bucket.
func (e *Enricher) ensureBulk(ctx context.Context) error {
	streams := e.cfg.NATS.Streams
	m, err := migration.Ensure(ctx, e.js, migration.StoreConfig{Storage: streams.Storage, Replicas: streams.Replicas})
	if err != nil {
		return fmt.Errorf("enricher: %w", err)
	}
	if err := migration.EnsureWorkStream(ctx, e.js, migration.WorkStreamConfig{Storage: streams.Storage, Replicas: streams.Replicas}); err != nil {
		return fmt.Errorf("enricher: %w", err)
	}
	r, err := erasure.Ensure(ctx, e.js, erasure.Config{Storage: streams.Storage, Replicas: streams.Replicas})
	if err != nil {
		return fmt.Errorf("enricher: %w", err)
	}
	e.migrations, e.erasures = m, r
	e.runner = migration.NewRunner(m, e.jumio, e.cfg.MigrationCallbackURL, e.logger)
	return nil
}

// Client returns the Jumio client the enricher fetches with.
func (e *Enricher) Client() *jumio.Client { return e.jumio }

// ConfirmsNetverify reports whether an enricher with cfg confirms
// Netverify callbacks against the Netverify retrieval API: cfg says so,
// or leaves it to the credentials (ConfirmAuto) and the Jumio
// configuration has Netverify API credentials.
func ConfirmsNetverify(cfg Config) bool {
	switch cmp.Or(cfg.NetverifyConfirm, ConfirmAuto) {
	case ConfirmOn:
		return true
	case ConfirmAuto:
		return cfg.Jumio.NetverifyAPIToken != "" && cfg.Jumio.NetverifyAPISecret != ""
	}
	return false
}

// NetverifyCheckOff names, for a startup warning, why an enricher with
// cfg does not confirm Netverify callbacks ("" when it does).
func NetverifyCheckOff(cfg Config) string {
	switch {
	case ConfirmsNetverify(cfg):
		return ""
	case cfg.NetverifyConfirm == ConfirmOff:
		return "confirmation against the Netverify retrieval API (KYCFLOW_ENRICHER_NETVERIFY_CONFIRM=false): the callback's own fields decide"
	}
	return "confirmation against the Netverify retrieval API (no KYCFLOW_JUMIO_NETVERIFY_API_TOKEN and _SECRET): the callback's own fields decide"
}
