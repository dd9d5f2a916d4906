package reconcile

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// world is one test's JetStream server, simulator and Jumio client.
type world struct {
	t      *testing.T
	broker *brokertest.Server
	js     jetstream.JetStream
	sim    *jumiotest.Server
	client *jumio.Client
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
	logs   *logs
}

type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logs) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type lockedWriter struct{ l *logs }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.l.mu.Lock()
	defer w.l.mu.Unlock()
	return w.l.buf.Write(p)
}

func newWorld(t *testing.T, cfg jumiotest.Config) *world {
	t.Helper()
	w := &world{t: t, broker: brokertest.Start(t), logs: &logs{}}
	_, w.js = w.broker.JetStream(t)
	w.sim = jumiotest.NewServer(cfg)
	t.Cleanup(w.sim.Close)
	jc := w.sim.ClientConfig(0)
	jc.RateLimit, jc.RateBurst, jc.AccountRateLimit = 1000, 100, 1000
	c, err := jumio.NewClient(jc)
	if err != nil {
		t.Fatal(err)
	}
	w.client = c
	w.reader = sdkmetric.NewManualReader()
	w.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(w.reader))
	t.Cleanup(func() { _ = w.mp.Shutdown(context.Background()) })
	return w
}

// config is quick: executions are overdue at once, passes come every
// 20ms, a non-final answer is asked again 10ms later.
func quick() Config {
	return Config{TokenLifetime: time.Millisecond, Slack: time.Millisecond, Interval: 20 * time.Millisecond,
		Recheck: 10 * time.Millisecond, MaxRecheck: 20 * time.Millisecond, MaxChecks: 3, Forget: time.Hour, Storage: "memory"}
}

func (w *world) reconciler(cfg Config, js jetstream.JetStream) *Reconciler {
	w.t.Helper()
	if js == nil {
		js = w.js
	}
	r, err := New(cfg, Deps{JetStream: js, Status: w.client.WorkflowStatus, Region: wire.RegionAMER,
		Logger: slog.New(slog.NewTextHandler(lockedWriter{w.logs}, nil)), MeterProvider: w.mp})
	if err != nil {
		w.t.Fatal(err)
	}
	return r
}

// run runs r until the test ends.
func (w *world) run(r *Reconciler) {
	w.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, RunConfig{PullExpiry: 200 * time.Millisecond, DrainTimeout: time.Second}) }()
	w.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			w.t.Errorf("Run: %v", err)
		}
	})
	w.eventually("the bucket exists", func() bool {
		_, err := w.js.KeyValue(context.Background(), Bucket)
		return err == nil
	})
	// Run creates its consumer after the bucket: callbacksAcked reads it.
	w.eventually("the consumer exists", func() bool {
		_, err := w.js.Consumer(context.Background(), events.StreamCallbacks, Durable)
		return err == nil
	})
}

func (w *world) eventually(what string, cond func() bool) {
	w.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			w.t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// initiate creates an execution on the simulator and announces it.
func (w *world) initiate(announce bool) wire.AccountResponse {
	w.t.Helper()
	resp, err := w.client.CreateAccount(context.Background(), wire.AccountRequest{CustomerInternalReference: "txn-reconcile",
		WorkflowDefinition: wire.WorkflowDefinition{Key: 10011}})
	if err != nil {
		w.t.Fatal(err)
	}
	if announce {
		w.announce(events.InitiatedEvent{SchemaVersion: 1, AccountID: resp.Account.ID, WorkflowExecutionID: resp.WorkflowExecution.ID,
			WorkflowDefinitionKey: "10011", InitiatedAt: time.Now().UTC(), Source: "test"})
	}
	return *resp
}

func (w *world) announce(ev events.InitiatedEvent) {
	w.t.Helper()
	subj, hdr, body, err := ev.Message("/test")
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.js.PublishMsg(context.Background(), &nats.Msg{Subject: subj, Header: nats.Header(hdr), Data: body}); err != nil {
		w.t.Fatal(err)
	}
}

// callback stores Jumio's callback for the execution as ingest does.
func (w *world) callback(accountID, id, status string, sentAt time.Time) {
	w.t.Helper()
	ev := events.CallbackEvent{SchemaVersion: 1, EventID: events.PlatformEventID(accountID, id, status, sentAt), API: events.APIPlatform,
		Kind: events.KindWorkflow, AccountID: accountID, WorkflowExecutionID: id, Status: status, CallbackSentAt: &sentAt,
		ReceivedAt: sentAt, JSON: json.RawMessage(`{}`)}
	b, _ := json.Marshal(ev)
	m := nats.NewMsg(ev.Subject())
	m.Data = b
	m.Header.Set(nats.MsgIdHdr, ev.EventID)
	if _, err := w.js.PublishMsg(context.Background(), m); err != nil {
		w.t.Fatal(err)
	}
}

// reconciled returns the reconciled callbacks stored in JUMIO_CALLBACKS.
func (w *world) reconciled() []events.CallbackEvent {
	w.t.Helper()
	var out []events.CallbackEvent
	for _, m := range brokertest.Messages(w.t, w.js, events.StreamCallbacks) {
		var ev events.CallbackEvent
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			w.t.Fatal(err)
		}
		if ev.Reconciled {
			if m.Header.Get(nats.MsgIdHdr) != ev.EventID || m.Header.Get(events.HeaderCESource) != events.SourceReconciler {
				w.t.Errorf("reconciled callback headers %v", m.Header)
			}
			out = append(out, ev)
		}
	}
	return out
}

func (w *world) tracked(r *Reconciler) []Execution {
	w.t.Helper()
	xs, err := r.List(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	return xs
}

func (w *world) counter(name string, attrs ...attribute.KeyValue) int64 {
	w.t.Helper()
	var rm metricdata.ResourceMetrics
	if err := w.reader.Collect(context.Background(), &rm); err != nil {
		w.t.Fatal(err)
	}
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					if hasAll(dp.Attributes, attrs) {
						n += dp.Value
					}
				}
			case metricdata.Gauge[int64]:
				for _, dp := range d.DataPoints {
					n += dp.Value
				}
			}
		}
	}
	return n
}

func hasAll(set attribute.Set, attrs []attribute.KeyValue) bool {
	for _, a := range attrs {
		if v, ok := set.Value(a.Key); !ok || v != a.Value {
			return false
		}
	}
	return true
}

// TestMissedCallbackReconciled: an announced execution completes at Jumio
// but its callback never comes; once overdue, the status API is asked once
// (in the reconcile lane), a reconciled callback is stored and the
// execution is no longer tracked.
func TestMissedCallbackReconciled(t *testing.T) {
	w := newWorld(t, jumiotest.Config{CompleteAfter: 5 * time.Millisecond}) // no callback URL: the callback is lost
	r := w.reconciler(quick(), nil)
	w.run(r)
	resp := w.initiate(true)
	w.eventually("a reconciled callback", func() bool { return len(w.reconciled()) == 1 })
	ev := w.reconciled()[0]
	if ev.WorkflowExecutionID != resp.WorkflowExecution.ID || ev.Status != "PROCESSED" || ev.EventID != events.ReconciledEventID(ev.WorkflowExecutionID, "PROCESSED") ||
		ev.CallbackSentAt != nil || ev.AccountID != resp.Account.ID {
		t.Errorf("reconciled callback %+v", ev)
	}
	w.eventually("the execution ended", func() bool { return len(w.tracked(r)) == 0 })
	if n := w.sim.Requests(jumio.EndpointWorkflowStatus); n < 1 {
		t.Errorf("%d status requests", n)
	}
	if n := w.counter(MetricReconciled, attribute.String("status", "PROCESSED")); n != 1 {
		t.Errorf("reconciled counter %d, want 1", n)
	}
	var reconcileLane uint64
	for _, l := range w.client.Lanes() {
		if l.Limiter == "retrieval" && l.Lane == jumio.LaneReconcile {
			reconcileLane = l.Granted
		}
	}
	if reconcileLane == 0 {
		t.Error("no status request went through the reconcile lane")
	}
}

// TestFinalCallbackEndsTracking: a final callback before the deadline ends
// tracking without a status request; a late non-final callback or a
// repeated announcement does not bring it back.
func TestFinalCallbackEndsTracking(t *testing.T) {
	w := newWorld(t, jumiotest.Config{})
	cfg := quick()
	cfg.TokenLifetime = time.Hour
	r := w.reconciler(cfg, nil)
	w.run(r)
	resp := w.initiate(true)
	w.eventually("tracked", func() bool { return len(w.tracked(r)) == 1 })
	now := time.Now()
	w.callback(resp.Account.ID, resp.WorkflowExecution.ID, "PROCESSED", now)
	w.eventually("ended", func() bool { return len(w.tracked(r)) == 0 })
	w.callback(resp.Account.ID, resp.WorkflowExecution.ID, "ACQUIRED", now.Add(-time.Minute))
	w.announce(events.InitiatedEvent{SchemaVersion: 1, AccountID: resp.Account.ID, WorkflowExecutionID: resp.WorkflowExecution.ID,
		InitiatedAt: now.Add(time.Second), Source: "another service"})
	// A later execution, tracked after both: once it is, the two above
	// were read.
	other := w.initiate(true)
	w.eventually("the other tracked", func() bool { return len(w.tracked(r)) >= 1 })
	for _, x := range w.tracked(r) {
		if x.WorkflowExecutionID == resp.WorkflowExecution.ID {
			t.Errorf("an ended execution is tracked again: %+v", x)
		}
	}
	if xs := w.tracked(r); len(xs) != 1 || xs[0].WorkflowExecutionID != other.WorkflowExecution.ID {
		t.Errorf("tracked %+v, want only the other execution", xs)
	}
	if n := w.sim.Requests(jumio.EndpointWorkflowStatus); n != 0 {
		t.Errorf("%d status requests, want none", n)
	}
}

// TestFinalCallbackOfUntrackedExecutionWritesNothing: the final callback
// of an execution nobody announced costs the bucket no write; should the
// execution be tracked afterwards (here by a late non-final callback), the
// pass that finds it overdue finds the final callback stored and ends it
// without asking Jumio or feeding a callback.
func TestFinalCallbackOfUntrackedExecutionWritesNothing(t *testing.T) {
	w := newWorld(t, jumiotest.Config{CompleteAfter: time.Millisecond})
	r := w.reconciler(quick(), nil)
	w.run(r)
	resp := w.initiate(false)
	before := w.bucketLastSeq()
	now := time.Now()
	w.callback(resp.Account.ID, resp.WorkflowExecution.ID, "PROCESSED", now)
	w.eventually("the final callback acked", func() bool { return w.callbacksAcked() == 1 })
	if after := w.bucketLastSeq(); after != before {
		t.Errorf("the bucket took %d writes for an execution it did not track, want none", after-before)
	}

	// A late ACQUIRED callback tracks it, overdue at once.
	w.callback(resp.Account.ID, resp.WorkflowExecution.ID, "ACQUIRED", now.Add(-time.Minute))
	w.eventually("tracked and ended", func() bool {
		return w.callbacksAcked() >= 2 && w.bucketLastSeq() >= before+2 && len(w.tracked(r)) == 0
	})
	if n := w.sim.Requests(jumio.EndpointWorkflowStatus); n != 0 {
		t.Errorf("%d status requests, want none: the final callback is stored", n)
	}
	if n := len(w.reconciled()); n != 0 {
		t.Errorf("%d reconciled callbacks, want none", n)
	}
	if n := w.counter(MetricChecks); n != 0 {
		t.Errorf("%d checks counted, want none", n)
	}
	if !strings.Contains(w.logs.text(), "final callback is stored") {
		t.Errorf("no log line says why the execution ended:\n%s", w.logs.text())
	}
}

// TestRestartEndsTrackedExecution: a final callback stored while the
// reconciler was down ends the execution it tracked at once after the
// restart, without waiting for the deadline.
func TestRestartEndsTrackedExecution(t *testing.T) {
	w := newWorld(t, jumiotest.Config{})
	cfg := quick()
	cfg.TokenLifetime = time.Hour
	first := w.reconciler(cfg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- first.Run(ctx, RunConfig{PullExpiry: 200 * time.Millisecond, DrainTimeout: time.Second})
	}()
	resp := w.initiate(true)
	w.eventually("tracked", func() bool {
		_, err := w.js.KeyValue(context.Background(), Bucket)
		return err == nil && len(w.tracked(first)) == 1
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	w.callback(resp.Account.ID, resp.WorkflowExecution.ID, "PROCESSED", time.Now())
	r := w.reconciler(cfg, nil)
	w.run(r)
	w.eventually("ended", func() bool { return len(w.tracked(r)) == 0 })
	if n := w.sim.Requests(jumio.EndpointWorkflowStatus); n != 0 {
		t.Errorf("%d status requests, want none", n)
	}
}

// bucketLastSeq is the last sequence of the bucket's stream: it moves with
// every write.
func (w *world) bucketLastSeq() uint64 {
	w.t.Helper()
	s, err := w.js.Stream(context.Background(), "KV_"+Bucket)
	if err != nil {
		w.t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	return info.State.LastSeq
}

// callbacksAcked is how many callbacks the reconciler's consumer on
// JUMIO_CALLBACKS has acked.
func (w *world) callbacksAcked() uint64 {
	w.t.Helper()
	c, err := w.js.Consumer(context.Background(), events.StreamCallbacks, Durable)
	if err != nil {
		w.t.Fatal(err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	return info.AckFloor.Consumer
}

// TestNotFinalAskedAgainThenGivenUp: an execution Jumio keeps INITIATED is
// asked MaxChecks times, then given up.
func TestNotFinalAskedAgainThenGivenUp(t *testing.T) {
	w := newWorld(t, jumiotest.Config{}) // never completes
	r := w.reconciler(quick(), nil)
	w.run(r)
	w.initiate(true)
	w.eventually("given up", func() bool { return w.counter(MetricChecks, attribute.String("outcome", OutcomeAbandoned)) == 1 })
	w.eventually("ended", func() bool { return len(w.tracked(r)) == 0 })
	if n := w.sim.Requests(jumio.EndpointWorkflowStatus); n != 3 {
		t.Errorf("%d status requests, want MaxChecks = 3", n)
	}
	if n := w.counter(MetricChecks, attribute.String("outcome", OutcomeNotFinal)); n != 2 {
		t.Errorf("not_final checks %d, want 2", n)
	}
	if len(w.reconciled()) != 0 {
		t.Error("a callback was reconciled for an execution that never ended")
	}
}

// TestExpiredReconciledAsSuch: an execution whose token expired is
// reconciled as TOKEN_EXPIRED and logged as an expired token.
func TestExpiredReconciledAsSuch(t *testing.T) {
	w := newWorld(t, jumiotest.Config{})
	r := w.reconciler(quick(), nil)
	resp := w.initiate(false)
	if !w.sim.Expire(resp.WorkflowExecution.ID) {
		t.Fatal("Expire: false")
	}
	w.run(r)
	w.announce(events.InitiatedEvent{SchemaVersion: 1, AccountID: resp.Account.ID, WorkflowExecutionID: resp.WorkflowExecution.ID,
		InitiatedAt: time.Now().Add(-time.Hour), TokenLifetime: "5m"})
	w.eventually("a reconciled callback", func() bool { return len(w.reconciled()) == 1 })
	if st := w.reconciled()[0].Status; st != "TOKEN_EXPIRED" {
		t.Errorf("status %s, want TOKEN_EXPIRED", st)
	}
	// The callback is stored before the check is counted and logged.
	w.eventually("the check counted and logged", func() bool {
		return w.counter(MetricReconciled, attribute.String("status", "TOKEN_EXPIRED")) >= 1 && strings.Contains(w.logs.text(), "the token expired")
	})
	if n := w.counter(MetricReconciled, attribute.String("status", "TOKEN_EXPIRED")); n != 1 {
		t.Errorf("reconciled{TOKEN_EXPIRED} %d, want 1", n)
	}
	if !strings.Contains(w.logs.text(), "the token expired") {
		t.Errorf("logs do not say the token expired:\n%s", w.logs.text())
	}
}

// TestTwoReplicasCheckEachOnce: two reconcilers that pass over the same
// overdue executions at once ask Jumio about each once and reconcile each
// once: a pass claims an execution (compare-and-set) before asking.
func TestTwoReplicasCheckEachOnce(t *testing.T) {
	w := newWorld(t, jumiotest.Config{CompleteAfter: time.Millisecond})
	w.sim.SetLatency(20 * time.Millisecond)
	a := w.reconciler(quick(), nil)
	_, js2 := w.broker.JetStream(t)
	b := w.reconciler(quick(), js2)
	ctx := context.Background()
	if err := a.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Open(ctx); err != nil {
		t.Fatal(err)
	}
	const n = 12
	for range n {
		resp := w.initiate(false)
		key, _ := Key(resp.Account.ID, resp.WorkflowExecution.ID)
		x := Execution{AccountID: resp.Account.ID, WorkflowExecutionID: resp.WorkflowExecution.ID, Source: SourceEvent,
			Status: "INITIATED", Since: time.Now(), Deadline: time.Now().Add(-time.Second)}
		if _, err := a.store.track(ctx, key, x); err != nil {
			t.Fatal(err)
		}
	}
	w.eventually("every execution completed at Jumio", func() bool {
		for _, e := range w.sim.Executions() {
			if e.Status != "PROCESSED" {
				return false
			}
		}
		return true
	})
	// Both read the same snapshot, then pass at once.
	es, err := a.store.list(ctx)
	if err != nil || len(es) != n {
		t.Fatalf("listed %d (%v), want %d", len(es), err, n)
	}
	var wg sync.WaitGroup
	var got [2][]Checked
	for i, r := range []*Reconciler{a, b} {
		wg.Go(func() { got[i] = r.pass(ctx, r.store, es, false) })
	}
	wg.Wait()
	if len(got[0])+len(got[1]) != n {
		t.Errorf("checked %d + %d, want %d in all", len(got[0]), len(got[1]), n)
	}
	if s := w.sim.Requests(jumio.EndpointWorkflowStatus); s != n {
		t.Errorf("%d status requests, want %d (one per execution)", s, n)
	}
	ids := map[string]int{}
	for _, ev := range w.reconciled() {
		ids[ev.WorkflowExecutionID]++
	}
	if len(ids) != n {
		t.Errorf("%d executions reconciled, want %d", len(ids), n)
	}
	for id, c := range ids {
		if c != 1 {
			t.Errorf("%s reconciled %d times", id, c)
		}
	}
}

// TestHeldPassChecksNothing: while retrieval is held, a pass asks Jumio
// nothing.
func TestHeldPassChecksNothing(t *testing.T) {
	w := newWorld(t, jumiotest.Config{CompleteAfter: time.Millisecond})
	r, err := New(quick(), Deps{JetStream: w.js, Status: w.client.WorkflowStatus, Held: func() bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	resp := w.initiate(false)
	key, _ := Key(resp.Account.ID, resp.WorkflowExecution.ID)
	if _, err := r.store.track(context.Background(), key, Execution{AccountID: resp.Account.ID, WorkflowExecutionID: resp.WorkflowExecution.ID,
		Status: "INITIATED", Deadline: time.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	got, err := r.Pass(context.Background(), false)
	if err != nil || len(got) != 0 || w.sim.Requests(jumio.EndpointWorkflowStatus) != 0 {
		t.Errorf("held pass: %v %v, %d requests; want nothing", got, err, w.sim.Requests(jumio.EndpointWorkflowStatus))
	}
}

// TestDryRunChangesNothing: a dry pass asks Jumio and reports, but
// claims, publishes and ends nothing.
func TestDryRunChangesNothing(t *testing.T) {
	w := newWorld(t, jumiotest.Config{CompleteAfter: time.Millisecond})
	r := w.reconciler(quick(), nil)
	if err := r.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	resp := w.initiate(false)
	w.eventually("completed at Jumio", func() bool { e, _ := w.sim.Execution(resp.WorkflowExecution.ID); return e.Status == "PROCESSED" })
	key, _ := Key(resp.Account.ID, resp.WorkflowExecution.ID)
	if _, err := r.store.track(context.Background(), key, Execution{AccountID: resp.Account.ID, WorkflowExecutionID: resp.WorkflowExecution.ID,
		Status: "INITIATED", Deadline: time.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	before, _ := r.store.get(context.Background(), key)
	got, err := r.Pass(context.Background(), true)
	if err != nil || len(got) != 1 || got[0].Outcome != OutcomeWouldFeed || got[0].Status != "PROCESSED" {
		t.Fatalf("dry pass: %+v %v", got, err)
	}
	after, _ := r.store.get(context.Background(), key)
	if after.rev != before.rev || len(w.reconciled()) != 0 {
		t.Errorf("a dry pass changed the bucket (rev %d → %d) or published %d", before.rev, after.rev, len(w.reconciled()))
	}
}

// TestInvalidInitiatedDeadLettered: an initiated event that is not one
// ends in JUMIO_DLQ (stage reconcile), never in a loop.
func TestInvalidInitiatedDeadLettered(t *testing.T) {
	w := newWorld(t, jumiotest.Config{})
	r := w.reconciler(quick(), nil)
	w.run(r)
	m := nats.NewMsg(events.InitiatedSubject("4a1b2c3d-5e6f-4711-8899-aabbccddeeff", "9f2c1e7a-3b4d-4c5e-8f60-1a2b3c4d5e6f"))
	m.Data = []byte(`{"schemaVersion":1,"accountId":"not-a-uuid"}`)
	if _, err := w.js.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	w.eventually("a dead letter", func() bool { return len(brokertest.Messages(t, w.js, events.StreamDLQ)) == 1 })
	dl := brokertest.Messages(t, w.js, events.StreamDLQ)[0]
	if dl.Header.Get(events.HeaderStage) != string(events.StageReconcile) || !strings.HasPrefix(dl.Subject, "jumio.dlq.reconcile.") {
		t.Errorf("dead letter %s %v", dl.Subject, dl.Header)
	}
	if len(w.tracked(r)) != 0 {
		t.Error("an invalid event was tracked")
	}
}

// TestDeadlines: the deadline is the initiation plus the token lifetime
// plus the slack; an ACQUIRED callback brings it forward to its time plus
// the slack.
func TestDeadlines(t *testing.T) {
	w := newWorld(t, jumiotest.Config{})
	cfg := quick()
	cfg.TokenLifetime, cfg.Slack = time.Hour, 10*time.Minute
	r := w.reconciler(cfg, nil)
	w.run(r)
	resp := w.initiate(false)
	t0 := time.Now().UTC().Truncate(time.Millisecond)
	w.announce(events.InitiatedEvent{SchemaVersion: 1, AccountID: resp.Account.ID, WorkflowExecutionID: resp.WorkflowExecution.ID,
		InitiatedAt: t0, TokenLifetime: "2h"})
	w.eventually("tracked", func() bool { return len(w.tracked(r)) == 1 })
	if d := w.tracked(r)[0].Deadline; !d.Equal(t0.Add(2*time.Hour + 10*time.Minute)) {
		t.Errorf("deadline %v, want initiation + 2h + 10m", d)
	}
	w.callback(resp.Account.ID, resp.WorkflowExecution.ID, "ACQUIRED", t0.Add(time.Minute))
	w.eventually("acquired", func() bool { return w.tracked(r)[0].Status == "ACQUIRED" })
	if d := w.tracked(r)[0].Deadline; !d.Equal(t0.Add(11 * time.Minute)) {
		t.Errorf("deadline after ACQUIRED %v, want its time + 10m", d)
	}
}
