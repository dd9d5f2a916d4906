package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/pkg/events"
)

// RunConfig sets how Run consumes; the enricher passes its own settings.
type RunConfig struct {
	// AckWait, DrainTimeout and PullExpiry of the two durable consumers
	// (broker.SubscriberConfig); zero: the broker's defaults.
	AckWait, DrainTimeout, PullExpiry time.Duration
}

// Run creates or updates the bucket, then until ctx ends: feeds it from
// JUMIO_CALLBACKS and JUMIO_EXECUTIONS through the durable consumer
// Durable, watches it, and every Interval checks the executions that are
// overdue. It returns nil when ctx ends, an error when it cannot start.
// The streams must exist (broker.EnsureStreams).
//
// The consumer on JUMIO_CALLBACKS is created to start with the callbacks
// stored from then on (jetstream.DeliverNewPolicy): a first start does
// not go through the stream's history, whose executions ended long ago.
func (r *Reconciler) Run(ctx context.Context, rc RunConfig) error {
	if err := r.Open(ctx); err != nil {
		return err
	}
	r.mu.Lock()
	st := r.store
	r.mu.Unlock()

	sub := func(stream, desc string, filters []string, policy jetstream.DeliverPolicy) (*broker.Subscriber, error) {
		return broker.NewSubscriber(broker.SubscriberConfig{
			Stream: stream, Durable: Durable, Description: desc, FilterSubjects: filters, DeliverPolicy: policy,
			AckWait: rc.AckWait, DrainTimeout: rc.DrainTimeout, PullExpiry: rc.PullExpiry, Concurrency: 4,
			Logger: r.logger, MeterProvider: r.deps.MeterProvider,
		}, r.deps.JetStream)
	}
	callbacks, err := sub(events.StreamCallbacks, "kycflow reconciler: executions that called back",
		[]string{events.SubjectCallbacks + "." + string(events.APIPlatform) + ".>"}, jetstream.DeliverNewPolicy)
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	defer callbacks.Close()
	initiated, err := sub(events.StreamExecutions, "kycflow reconciler: executions announced as initiated",
		[]string{events.SubjectExecutions + ".initiated.>"}, jetstream.DeliverAllPolicy)
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	defer initiated.Close()
	router, err := broker.NewRouter(broker.RouterConfig{CloseTimeout: max(rc.DrainTimeout, 5*time.Second) + 10*time.Second}, r.logger)
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	router.AddConsumerHandler("reconcile-callbacks", "", callbacks, func(m *message.Message) error { return r.trackCallback(m, st) })
	router.AddConsumerHandler("reconcile-initiated", "", initiated, func(m *message.Message) error { return r.trackInitiated(m, st) })
	reg, err := r.metrics.register()
	if err != nil {
		return fmt.Errorf("reconcile: metrics: %w", err)
	}
	defer reg.Unregister() //nolint:errcheck // nothing to do about it at exit

	var wg sync.WaitGroup
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	// The callbacks are read once the watch has the bucket's current
	// values: a final callback ends only an execution known to be tracked
	// (trackCallback).
	synced := make(chan struct{})
	wg.Go(func() {
		if err := r.watch(rctx, st, synced); err != nil && rctx.Err() == nil {
			errc <- err
			cancel()
		}
	})
	wg.Go(func() {
		select {
		case <-synced:
		case <-rctx.Done():
			return
		}
		if err := router.Run(rctx); err != nil && rctx.Err() == nil {
			errc <- fmt.Errorf("reconcile: router: %w", err)
			cancel()
		}
	})
	wg.Go(func() { r.passes(rctx, st) })
	wg.Wait()
	close(errc)
	return <-errc
}

// passes runs a pass every Interval until ctx ends.
func (r *Reconciler) passes(ctx context.Context, st *store) {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.mu.Lock()
		es := make([]entry, 0, len(r.known))
		for _, e := range r.known {
			es = append(es, e)
		}
		r.mu.Unlock()
		r.pass(ctx, st, es, false)
	}
}

// watch keeps r.known equal to the bucket until ctx ends. It closes
// synced once the bucket's current values are in.
func (r *Reconciler) watch(ctx context.Context, st *store, synced chan<- struct{}) error {
	w, err := st.kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("reconcile: watch: %w", err)
	}
	defer w.Stop() //nolint:errcheck // stopping at exit
	for {
		select {
		case <-ctx.Done():
			return nil
		case kve, ok := <-w.Updates():
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return errors.New("reconcile: watch ended")
			}
			if kve == nil {
				if synced != nil {
					close(synced) // the current values are all in
					synced = nil
				}
				continue
			}
			r.mu.Lock()
			if e, ok := decode(kve); ok {
				r.known[kve.Key()] = e
			} else {
				delete(r.known, kve.Key())
			}
			r.mu.Unlock()
		}
	}
}

// trackCallback reads one Platform callback stored in JUMIO_CALLBACKS: a
// final one ends its execution when it is tracked, a non-final one
// (INITIATED, ACQUIRED) tracks it. What cannot be read is acked: the
// enricher dead-letters it. A bucket failure redelivers the callback
// later.
//
// A final callback of an execution the watch does not show as tracked
// writes nothing: most executions are never tracked (Jumio's documented
// callbacks are all final, and not every service announces what it
// initiates). Should the execution be tracked after all (a track the watch
// has not shown yet, a late non-final callback, a late announcement), the
// pass that finds it overdue finds this callback in JUMIO_CALLBACKS and
// ends it without asking Jumio (OutcomeCalledBack).
func (r *Reconciler) trackCallback(msg *message.Message, st *store) error {
	var ev events.CallbackEvent
	if json.Unmarshal(msg.Payload, &ev) != nil || ev.API != events.APIPlatform {
		return nil
	}
	key, ok := Key(ev.AccountID, ev.WorkflowExecutionID)
	if !ok {
		return nil
	}
	ctx := msg.Context()
	var err error
	if Final(ev.Status) {
		if r.isKnown(key) {
			err = st.end(ctx, key, 0)
		}
	} else {
		at := ev.ReceivedAt
		if ev.CallbackSentAt != nil && !ev.CallbackSentAt.IsZero() {
			at = *ev.CallbackSentAt
		}
		if at.IsZero() {
			at = broker.Timestamp(msg)
		}
		x := Execution{AccountID: strings.ToLower(ev.AccountID), WorkflowExecutionID: strings.ToLower(ev.WorkflowExecutionID),
			DefinitionKey: ev.WorkflowDefinitionKey, Source: SourceCallback, Status: strings.ToUpper(ev.Status), Since: at.UTC(),
			Deadline: r.deadline(at, r.cfg.TokenLifetime, ev.Status)}
		_, err = st.track(ctx, key, x)
	}
	if err != nil {
		broker.Redeliver(msg, broker.Backoff(broker.Attempt(msg), time.Second, time.Minute))
		r.logger.Warn("callback not taken into the reconciler's bucket; redelivered later", "subject", broker.Subject(msg), "error", err)
	}
	return nil
}

// isKnown reports whether the watch shows key as tracked.
func (r *Reconciler) isKnown(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.known[key]
	return ok
}

// deadline is when an execution heard of at at is overdue: after its
// token lifetime and the slack; after the slack alone once ACQUIRED, the
// user being done and Jumio processing.
func (r *Reconciler) deadline(at time.Time, lifetime time.Duration, status string) time.Time {
	if strings.EqualFold(status, string(events.StatusAcquired)) {
		return at.UTC().Add(r.cfg.Slack)
	}
	return at.UTC().Add(lifetime + r.cfg.Slack)
}

// trackInitiated reads one InitiatedEvent and tracks its execution. An
// event that cannot be read is dead-lettered (stage reconcile) with the
// reason; a bucket failure redelivers it later.
func (r *Reconciler) trackInitiated(msg *message.Message, st *store) error {
	var ev events.InitiatedEvent
	err := json.Unmarshal(msg.Payload, &ev)
	if err != nil {
		err = fmt.Errorf("%w: not a JSON object of the initiated event's shape", events.ErrInvalidInitiated)
	} else {
		err = ev.Validate()
	}
	if err != nil {
		dl := broker.DeadLetter{Stage: events.StageReconcile, Payload: msg.Payload, Headers: broker.Headers(msg), Err: err,
			Class: "permanent", Attempts: broker.Attempt(msg), OriginalSubject: broker.Subject(msg),
			OriginalStream: broker.Stream(msg), OriginalSeq: broker.StreamSeq(msg)}
		// jumio.executions.initiated.<account>.<execution>
		if parts := strings.Split(broker.Subject(msg), "."); len(parts) == 5 {
			dl.AccountID, dl.ExecutionID = parts[3], parts[4]
		}
		dctx, cancel := context.WithTimeout(context.WithoutCancel(msg.Context()), r.cfg.PublishTimeout)
		defer cancel()
		if derr := broker.PublishDeadLetter(dctx, r.deps.JetStream, dl); derr != nil {
			broker.Redeliver(msg, broker.Backoff(broker.Attempt(msg), time.Second, time.Minute))
			return nil
		}
		r.logger.Warn("initiated event dead-lettered", "subject", broker.Subject(msg), "error", err)
		return nil
	}
	lifetime := r.cfg.TokenLifetime
	if ev.TokenLifetime != "" {
		lifetime, _ = events.ParseTokenLifetime(ev.TokenLifetime) // Validate checked it
	}
	key, _ := Key(ev.AccountID, ev.WorkflowExecutionID)
	x := Execution{AccountID: strings.ToLower(ev.AccountID), WorkflowExecutionID: strings.ToLower(ev.WorkflowExecutionID),
		DefinitionKey: ev.WorkflowDefinitionKey, Source: SourceEvent, Origin: ev.Source, Status: string(events.StatusInitiated),
		Since: ev.InitiatedAt.UTC(), Deadline: r.deadline(ev.InitiatedAt, lifetime, "")}
	if _, err := st.track(msg.Context(), key, x); err != nil {
		broker.Redeliver(msg, broker.Backoff(broker.Attempt(msg), time.Second, time.Minute))
		r.logger.Warn("initiated event not taken into the reconciler's bucket; redelivered later", "subject", broker.Subject(msg), "error", err)
	}
	return nil
}
