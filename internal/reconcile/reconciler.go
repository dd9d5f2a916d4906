package reconcile

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/metric"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// StatusFunc asks Jumio for the status of one workflow execution; it is
// jumio.Client.WorkflowStatus. The reconciler calls it with a context in
// the reconcile lane (jumio.WithLane).
type StatusFunc func(ctx context.Context, accountID, workflowExecutionID string) (*wire.WorkflowStatus, error)

// Deps are what a Reconciler works with besides its Config.
type Deps struct {
	// JetStream is the connection's JetStream context. Required.
	JetStream jetstream.JetStream
	// Status asks Jumio's status API. Required for passes.
	Status StatusFunc
	// Region is stored with the reconciled callbacks (the Jumio client's).
	Region wire.Region
	// Held reports whether retrieval is held because Jumio reports it
	// DOWN; passes are skipped meanwhile. Nil: never held.
	Held func() bool
	// Logger and MeterProvider report; nil: discard, none.
	Logger        *slog.Logger
	MeterProvider metric.MeterProvider
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Reconciler tracks executions and reconciles the overdue ones; see the
// package documentation. Build it with New and run it with Run (the
// enricher does), or call Pass and List directly (kycflow reconcile).
// Its methods are safe for concurrent use.
type Reconciler struct {
	cfg     Config
	deps    Deps
	logger  *slog.Logger
	owner   string
	metrics *metrics

	mu sync.Mutex
	// known is the bucket as the watch sees it, by key (Run only).
	known map[string]entry
	store *store
}

// New returns a reconciler for cfg (defaults applied, then validated).
// It creates nothing: Run (or Open) does.
func New(cfg Config, deps Deps) (*Reconciler, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.JetStream == nil {
		return nil, fmt.Errorf("%w: JetStream is required", ErrInvalidConfig)
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Held == nil {
		deps.Held = func() bool { return false }
	}
	r := &Reconciler{cfg: cfg, deps: deps, logger: deps.Logger, owner: ownerID(), known: map[string]entry{}}
	m, err := newMetrics(deps.MeterProvider, r)
	if err != nil {
		return nil, fmt.Errorf("reconcile: metrics: %w", err)
	}
	r.metrics = m
	return r, nil
}

// ownerID names this process in leases: host, process id and a random
// part.
func ownerID() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// Open creates or updates the bucket; Run does it too. Idempotent.
func (r *Reconciler) Open(ctx context.Context) error {
	st, err := ensureStore(ctx, r.deps.JetStream, r.cfg)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.store = st
	r.mu.Unlock()
	return nil
}

// attach opens the existing bucket, for operator commands that must not
// create it.
func (r *Reconciler) attach(ctx context.Context) (*store, error) {
	r.mu.Lock()
	st := r.store
	r.mu.Unlock()
	if st != nil {
		return st, nil
	}
	st, err := openStore(ctx, r.deps.JetStream)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.store = st
	r.mu.Unlock()
	return st, nil
}

// List returns every execution tracked, by when it is due. It reads the
// bucket (which must exist).
func (r *Reconciler) List(ctx context.Context) ([]Execution, error) {
	st, err := r.attach(ctx)
	if err != nil {
		return nil, err
	}
	es, err := st.list(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Execution, len(es))
	for i, e := range es {
		out[i] = e.x
	}
	return out, nil
}

// Track tracks an execution an operator names (SourceOperator), overdue
// at once, so that the next pass asks Jumio about it: a final status is
// fed as a reconciled callback unless a final callback of it is stored
// already. It reports false when the bucket remembers that the execution
// ended (a final callback came, or a pass reconciled it).
func (r *Reconciler) Track(ctx context.Context, accountID, executionID string) (bool, error) {
	key, ok := Key(accountID, executionID)
	if !ok {
		return false, fmt.Errorf("reconcile: %s/%s: the account and the execution are Platform ids (UUIDs)", accountID, executionID)
	}
	st, err := r.attach(ctx)
	if err != nil {
		return false, err
	}
	now := r.deps.Now().UTC()
	x := Execution{AccountID: accountID, WorkflowExecutionID: executionID, Source: SourceOperator, Since: now, Deadline: now.Add(-time.Second)}
	if _, err := st.track(ctx, key, x); err != nil {
		return false, err
	}
	_, err = st.get(ctx, key)
	switch {
	case errors.Is(err, errGone):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// Outcomes of a check (the outcome attribute of MetricChecks).
const (
	OutcomeReconciled = "reconciled" // final: its callback was fed
	OutcomeNotFinal   = "not_final"  // asked again later
	OutcomeAbandoned  = "abandoned"  // still not final after MaxChecks
	OutcomeNotFound   = "not_found"  // Jumio does not know it (deleted, another tenant)
	OutcomeFailed     = "failed"     // the request or the publish failed; asked again later
	OutcomeWouldFeed  = "would_reconcile"
	// OutcomeCalledBack: a final callback of the execution is stored in
	// JUMIO_CALLBACKS (it came before the execution was tracked, or while
	// the watch did not show it yet); the execution ends without a status
	// request, so it is not counted in MetricChecks.
	OutcomeCalledBack = "called_back"
)

// Checked is what one check of an execution found.
type Checked struct {
	Execution Execution
	// Outcome is one of the Outcome* constants.
	Outcome string
	// Status is what Jumio answered (empty when it did not).
	Status string
	// Err is why the check failed (OutcomeFailed).
	Err error
}

// Pass checks every overdue execution that is due and not held by
// another pass, and returns what it found. With dryRun it only asks
// Jumio: nothing is claimed, published or changed (OutcomeWouldFeed for a
// final answer). It reads the bucket (which must exist); Run's passes use
// the watch instead. A pass while retrieval is held checks nothing.
func (r *Reconciler) Pass(ctx context.Context, dryRun bool) ([]Checked, error) {
	st, err := r.attach(ctx)
	if err != nil {
		return nil, err
	}
	es, err := st.list(ctx)
	if err != nil {
		return nil, err
	}
	return r.pass(ctx, st, es, dryRun), nil
}

// pass checks the due entries of es, Concurrency at a time.
func (r *Reconciler) pass(ctx context.Context, st *store, es []entry, dryRun bool) []Checked {
	if r.deps.Held() {
		r.logger.Debug("reconciliation pass skipped: retrieval is held")
		return nil
	}
	if r.deps.Status == nil {
		return nil
	}
	now := r.deps.Now()
	var due []entry
	for _, e := range es {
		if !now.Before(e.x.Due()) && !e.x.leased(now) {
			due = append(due, e)
		}
	}
	if len(due) == 0 {
		return nil
	}
	callbacks, err := r.deps.JetStream.Stream(ctx, events.StreamCallbacks)
	if err != nil {
		// Every check asks Jumio then: a final answer is fed and the
		// enricher collapses it should the callback be stored already.
		r.logger.Warn("reconciliation pass cannot read JUMIO_CALLBACKS; it asks Jumio about every execution due", "error", err)
		callbacks = nil
	}
	out := make([]Checked, len(due))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(r.cfg.Concurrency, len(due)) {
		wg.Go(func() {
			for i := range next {
				out[i] = r.check(ctx, st, callbacks, due[i], dryRun)
			}
		})
	}
	for i := range due {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	var done []Checked
	for _, c := range out {
		if c.Outcome != "" {
			done = append(done, c)
		}
	}
	return done
}

// check claims one execution, asks Jumio, and acts on the answer: a final
// status is published as a reconciled callback and the execution ended; a
// status not final yet (or a failure) is asked again later; Jumio not
// knowing it ends it. An execution whose final callback callbacks holds
// already ends without asking. An execution another pass claimed first is
// left alone (the zero Checked).
func (r *Reconciler) check(ctx context.Context, st *store, callbacks jetstream.Stream, e entry, dryRun bool) Checked {
	x := e.x
	if !dryRun {
		claimed := x
		claimed.LeaseOwner, claimed.LeaseUntil = r.owner, r.deps.Now().Add(r.cfg.Lease)
		ce, err := st.update(ctx, e, claimed)
		if err != nil {
			return Checked{} // another pass has it, or it ended meanwhile
		}
		e = ce
	}
	if callbacks != nil {
		final, err := calledBack(ctx, callbacks, x)
		if err != nil {
			r.logger.Warn("execution's callbacks not readable; Jumio is asked", "account_id", x.AccountID,
				"workflow_execution_id", x.WorkflowExecutionID, "error", err)
		}
		if final {
			c := Checked{Execution: x, Outcome: OutcomeCalledBack}
			if !dryRun {
				r.settle(ctx, st, e, c)
			}
			return c
		}
	}
	lctx := jumio.WithLane(ctx, jumio.LaneReconcile)
	ws, err := r.deps.Status(lctx, x.AccountID, x.WorkflowExecutionID)
	c := Checked{Execution: x}
	if ws != nil {
		c.Status = strings.ToUpper(ws.WorkflowExecution.Status)
	}
	switch {
	case errors.Is(err, jumio.ErrNotFound):
		c.Outcome = OutcomeNotFound
	case err != nil:
		c.Outcome, c.Err = OutcomeFailed, err
	case !Final(c.Status) && x.Checks+1 >= r.cfg.MaxChecks:
		c.Outcome = OutcomeAbandoned
	case !Final(c.Status):
		c.Outcome = OutcomeNotFinal
	case dryRun:
		c.Outcome = OutcomeWouldFeed
	default:
		c.Outcome = OutcomeReconciled
	}
	if dryRun {
		return c
	}
	if c.Outcome == OutcomeReconciled {
		if perr := r.publish(ctx, x, ws); perr != nil {
			c.Outcome, c.Err = OutcomeFailed, perr
		}
	}
	r.settle(ctx, st, e, c)
	return c
}

// settle writes what a check found: the execution ended, or asked again
// later with its lease released. It logs and counts.
func (r *Reconciler) settle(ctx context.Context, st *store, e entry, c Checked) {
	mctx := context.WithoutCancel(ctx)
	if c.Outcome != OutcomeCalledBack {
		r.metrics.checked(mctx, c.Outcome)
	}
	attrs := []any{"account_id", e.x.AccountID, "workflow_execution_id", e.x.WorkflowExecutionID,
		"outcome", c.Outcome, "status", c.Status, "checks", e.x.Checks + 1, "source", e.x.Source}
	switch c.Outcome {
	case OutcomeReconciled, OutcomeNotFound, OutcomeAbandoned, OutcomeCalledBack:
		if err := st.end(mctx, e.key, e.rev); err != nil && !conflict(err) {
			r.logger.Warn("reconciled execution not ended; it is checked again after its lease", append(attrs, "error", err)...)
		}
	default:
		next := e.x
		next.Checks++
		next.Status = cmpOr(c.Status, next.Status)
		next.NextCheck = r.deps.Now().Add(r.recheck(next.Checks))
		next.LeaseOwner, next.LeaseUntil = "", time.Time{}
		if _, err := st.update(mctx, e, next); err != nil && !conflict(err) {
			r.logger.Warn("execution not rescheduled; it is checked again after its lease", append(attrs, "error", err)...)
		}
	}
	switch c.Outcome {
	case OutcomeReconciled:
		r.metrics.reconciled(mctx, c.Status)
		msg := "callback reconciled from Jumio's status API"
		if events.Status(c.Status).Expired() {
			msg = "callback reconciled from Jumio's status API: the " + map[string]string{
				string(events.StatusTokenExpired): "token", string(events.StatusSessionExpired): "session"}[c.Status] + " expired"
		}
		r.logger.Info(msg, attrs...)
	case OutcomeCalledBack:
		r.logger.Info("execution's final callback is stored: no longer tracked", attrs...)
	case OutcomeNotFound:
		r.logger.Warn("execution unknown to Jumio's status API: no longer tracked", attrs...)
	case OutcomeAbandoned:
		r.logger.Warn("execution still not final after the last check: given up", attrs...)
	case OutcomeFailed:
		r.logger.Warn("execution check failed; asked again later", append(attrs, "error", c.Err)...)
	default:
		r.logger.Debug("execution not final yet; asked again later", attrs...)
	}
}

// recheck is the delay before the checks-th check's successor: Recheck
// doubled per check, at most MaxRecheck.
func (r *Reconciler) recheck(checks int) time.Duration {
	d := r.cfg.Recheck
	for i := 1; i < checks && d < r.cfg.MaxRecheck; i++ {
		d *= 2
	}
	return min(d, r.cfg.MaxRecheck)
}

// publish stores the reconciled callback of x in JUMIO_CALLBACKS and
// returns once JetStream acked it.
func (r *Reconciler) publish(ctx context.Context, x Execution, ws *wire.WorkflowStatus) error {
	status := strings.ToUpper(ws.WorkflowExecution.Status)
	body, err := json.Marshal(ws)
	if err != nil {
		return fmt.Errorf("reconcile: encode the status: %w", err)
	}
	now := r.deps.Now().UTC()
	ev := events.CallbackEvent{
		SchemaVersion:         1,
		EventID:               events.ReconciledEventID(x.WorkflowExecutionID, status),
		API:                   events.APIPlatform,
		Kind:                  events.KindWorkflow,
		Region:                string(r.deps.Region),
		AccountID:             x.AccountID,
		WorkflowExecutionID:   x.WorkflowExecutionID,
		WorkflowDefinitionKey: cmpOr(string(ws.WorkflowExecution.DefinitionKey), x.DefinitionKey),
		Status:                status,
		ReceivedAt:            now,
		JSON:                  body,
		Reconciled:            true,
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("reconcile: encode the callback: %w", err)
	}
	m := nats.NewMsg(ev.Subject())
	m.Data = payload
	m.Header.Set(events.HeaderCESpecVersion, events.CESpecVersion)
	m.Header.Set(events.HeaderCEID, ev.EventID)
	m.Header.Set(events.HeaderCEType, events.TypeCallback)
	m.Header.Set(events.HeaderCESource, events.SourceReconciler)
	m.Header.Set(events.HeaderCETime, now.Format(time.RFC3339Nano))
	m.Header.Set(events.HeaderCESubject, ev.WorkflowExecutionID)
	m.Header.Set(events.HeaderContentType, events.ContentTypeJSON)
	m.Header.Set(events.HeaderEventID, ev.EventID)
	m.Header.Set(events.HeaderMsgID, ev.EventID)
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.PublishTimeout)
	defer cancel()
	if _, err := r.deps.JetStream.PublishMsg(pctx, m); err != nil {
		return fmt.Errorf("reconcile: publish the reconciled callback: %w", err)
	}
	return nil
}

// maxScanned bounds the callbacks calledBack reads of one execution; an
// execution has a handful (one per status change, reconciled ones, Jumio's
// repeats). Past it, Jumio is asked.
const maxScanned = 64

// calledBack reports whether callbacks holds a final callback (Jumio's or
// a reconciled one) of x, reading the execution's subject from its first
// message on.
func calledBack(ctx context.Context, callbacks jetstream.Stream, x Execution) (bool, error) {
	subject := events.CallbackSubject(events.APIPlatform, x.AccountID, x.WorkflowExecutionID)
	seq := uint64(1)
	for range maxScanned {
		m, err := callbacks.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("reconcile: callbacks of the execution: %w", err)
		}
		var ev struct {
			Status string `json:"status"`
		}
		if json.Unmarshal(m.Data, &ev) == nil && Final(ev.Status) {
			return true, nil
		}
		seq = m.Sequence + 1
	}
	return false, nil
}
