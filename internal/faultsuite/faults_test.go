package faultsuite

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/kycflow/kycflow/internal/bench/rig"
	"github.com/kycflow/kycflow/internal/enricher"
	"github.com/kycflow/kycflow/internal/notifier"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// TestNATSKilled: the NATS server is killed (SIGKILL) once the pipeline
// is seen holding work, and restarted 6 s later. Ingest answers 503
// meanwhile, never 200 for a callback it did not store; the sender posts
// those again; every stage reconnects on its own and the ledger balances.
// A delivery made while the broker was down may be repeated with the same
// id (it could not be recorded): such repeats are counted, not failed.
func TestNATSKilled(t *testing.T) {
	// Jumio's latency and a slow webhook endpoint keep work in the
	// enricher's and the notifier's hands when the server dies.
	w := newWorld(t, worldConfig{scenario: jumiotest.Scenario{Seed: 11, Executions: 180, NetverifyScans: 60}, latency: 150 * time.Millisecond})
	w.p.Receiver().Delay("hook-a", 100*time.Millisecond)
	ctx := t.Context()
	l := w.startLoad(jumiotest.CallbackOptions{Rate: 40, Concurrency: 8})
	held := w.awaitHeld("NATS kill", l, 5, w.outstanding)
	heldE, heldN := w.unacked(events.StreamCallbacks, enricher.Durable), w.unackedResults()
	nats := w.p.NATS()
	killed := time.Now()
	if err := nats.Kill(); err != nil {
		t.Fatal(err)
	}
	// Down longer than the publish timeout (5 s): publishes and key-value
	// writes in flight fail, not just wait for the reconnection.
	sleep(ctx, 6*time.Second)
	restarted := time.Now()
	if err := nats.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	ready := time.Since(restarted)
	sent := l.wait()
	// The sender posts again what was refused once ingest is ready again
	// (connected, the stream there).
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := w.p.Ingest().WaitReady(rctx); err != nil {
		t.Fatal(err)
	}
	ingestBack := time.Since(restarted)
	again := w.resendUntil200(ctx, sent)
	settled := w.settle()
	all := append(sent, again...)

	w.figure("NATS killed holding %d messages for the stages (%d callbacks unacknowledged by the enricher, %d results by the routes); down for %s, ready %s after the restart",
		held, heldE, heldN, restarted.Sub(killed).Round(time.Millisecond), ready.Round(time.Millisecond))
	w.figure("ingest answers: %v; ingest ready %s after the restart; posted again then: %d, answers %v",
		statuses(sent), ingestBack.Round(time.Millisecond), len(again), statuses(again))
	w.figure("pipeline settled %s after the resends (restart to settled: %s)", settled.Round(time.Millisecond), time.Since(restarted).Round(time.Millisecond))
	w.figure("enricher retries %.0f, notifier retries %.0f",
		w.metric(w.p.Enricher(), enricher.MetricRetries+"_total", nil), w.metric(w.p.Notifier(), notifier.MetricRetried+"_total", nil))
	// Posts went on while the server was down: they must have been
	// refused. None answered 503 means ingest answered 200 for callbacks
	// it could not store, or the outage was never felt.
	if n := statuses(sent)["503"]; n == 0 {
		t.Errorf("no callback was answered 503 while the broker was down (answers %v)", statuses(sent))
	}
	w.ledger(rig.AuditInput{Sent: all, AllowSameIDRepeats: true})
}

// TestStagesKilled: the notifier and then the enricher are killed
// (SIGKILL), each once it is seen holding messages it has not settled,
// and restarted once work has piled up for them. What they held is
// redelivered (after the ack wait) and the per-execution state and
// delivery records keep it from being delivered twice. A notifier killed
// between a delivery and its record repeats that delivery with the same
// id (webhook-id, Nats-Msg-Id): counted, not failed.
func TestStagesKilled(t *testing.T) {
	w := newWorld(t, worldConfig{scenario: jumiotest.Scenario{Seed: 12, Executions: 240, NetverifyScans: 60}, latency: 150 * time.Millisecond})
	sent := stagesKilled(t, w)
	w.only200(sent)
	w.ledger(rig.AuditInput{Sent: sent, AllowSameIDRepeats: true})
}

// stagesKilled is TestStagesKilled's run; it returns the posts.
func stagesKilled(t *testing.T, w *world) []jumiotest.SentCallback {
	w.p.Receiver().Delay("hook-a", 100*time.Millisecond)
	ctx := t.Context()
	l := w.startLoad(jumiotest.CallbackOptions{Rate: 60, Concurrency: 8})
	stages, err := w.killHolding(l, w.p.Notifier(), w.p.Enricher())
	if err != nil {
		t.Fatal(err)
	}
	// Restart once callbacks wait for them: the outage was felt.
	waiting := w.awaitHeld("callbacks waiting for the killed enricher", nil, 1, func() int {
		if info := w.consumer(events.StreamCallbacks, enricher.Durable); info != nil {
			return int(info.NumPending)
		}
		return 0
	})
	restarted := time.Now()
	for _, s := range stages {
		if err := s.proc.Restart(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ready := time.Since(restarted)
	sent := l.wait()
	settled := w.settle()

	for _, s := range stages {
		w.figure("%s killed holding %d unsettled messages", s.proc.Name(), s.held)
	}
	w.figure("restarted with %d callbacks waiting, ready in %s", waiting, ready.Round(time.Millisecond))
	w.figure("ingest answers: %v", statuses(sent))
	w.figure("restart to settled: %s (settled %s after the last post)", time.Since(restarted).Round(time.Millisecond), settled.Round(time.Millisecond))
	w.figure("after the restart: enricher retries %.0f, duplicates dropped %.0f; notifier suppressed %.0f",
		w.metric(w.p.Enricher(), enricher.MetricRetries+"_total", nil), w.metric(w.p.Enricher(), enricher.MetricDuplicates+"_total", nil),
		w.metric(w.p.Notifier(), notifier.MetricSuppressed+"_total", nil))
	return sent
}

// killed is a stage process killed and what it held.
type killed struct {
	proc *rig.Process
	held int
}

// killHolding kills each process (SIGKILL), in turn, once it is seen
// holding unsettled messages (its own in-flight figure).
func (w *world) killHolding(l *load, procs ...*rig.Process) ([]killed, error) {
	w.t.Helper()
	var out []killed
	for _, p := range procs {
		held := w.awaitHeld(p.Name()+" kill", l, 1, func() int { return w.inFlight(p) })
		if err := p.Kill(); err != nil {
			return out, err
		}
		out = append(out, killed{proc: p, held: held})
	}
	return out, nil
}

// TestJumioDown: Jumio answers 503 for a while, then refuses connections,
// then comes back. Callbacks keep being accepted; the enricher retries
// with back-off and drains the backlog within the request budget: the
// simulator enforces a budget above the client's rate limit and counts its
// 429s, which stay near zero (no storm when Jumio returns).
func TestJumioDown(t *testing.T) {
	const budget, clientRate = 20, 15
	w := newWorld(t, worldConfig{
		scenario: jumiotest.Scenario{Seed: 13, Executions: 160, NetverifyScans: 40},
		budget:   budget,
		env:      map[string]string{"KYCFLOW_JUMIO_RATE_LIMIT": "15", "KYCFLOW_JUMIO_RATE_BURST": "5"},
	})
	ctx := t.Context()
	l := w.startLoad(jumiotest.CallbackOptions{Rate: 40, Concurrency: 4})
	held := w.awaitHeld("Jumio outage", l, 1, func() int { return w.inFlight(w.p.Enricher()) })
	down := time.Now()
	w.sim.Inject(jumiotest.Fault{Endpoints: jumio.Endpoints, Count: -1, Status: http.StatusServiceUnavailable})
	sleep(ctx, 3*time.Second)
	w.sim.ClearFaults()
	w.jumio.Shut()
	sleep(ctx, 3*time.Second)
	if err := w.jumio.Open(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	before := retrievals(w.sim)
	sent := l.wait()
	settled := w.settle()
	drained := time.Since(back)
	after := retrievals(w.sim) - before
	n429 := 0
	n503 := 0
	for k, n := range w.sim.Counts() {
		switch k.Status {
		case http.StatusTooManyRequests:
			n429 += n
		case http.StatusServiceUnavailable:
			n503 += n
		}
	}

	w.figure("Jumio answered 503 for 3 s, refused connections for 3 s (down %s in all), from when the enricher held %d callbacks", back.Sub(down).Round(time.Millisecond), held)
	w.figure("ingest answers: %v", statuses(sent))
	w.figure("Jumio requests: %d answered 503, %d answered 429 (budget %d/s, client limit %d/s)", n503, n429, budget, clientRate)
	w.figure("after Jumio came back: %d retrieval requests in %s (%.1f/s) until settled (settle waited %s)",
		after, drained.Round(time.Millisecond), float64(after)/drained.Seconds(), settled.Round(time.Millisecond))
	w.figure("enricher retries: %.0f jumio, %.0f rate-limited",
		w.metric(w.p.Enricher(), enricher.MetricRetries+"_total", map[string]string{"reason": "jumio"}),
		w.metric(w.p.Enricher(), enricher.MetricRetries+"_total", map[string]string{"reason": "rate_limited"}))
	// A storm is many 429s; the client's limiter below the budget keeps
	// them at zero, and a handful would come from requests bunched in
	// transit on a loaded machine.
	if limit := max(5, after/20); n429 > limit {
		t.Errorf("Jumio answered 429 to %d requests (more than %d): a retry storm", n429, limit)
	}
	if n503 == 0 {
		t.Error("Jumio answered no request 503: the outage was not felt")
	}
	w.only200(sent)
	w.ledger(rig.AuditInput{Sent: sent, ExactCounters: true})
}

// retrievals counts the simulator's requests other than token requests.
func retrievals(sim *jumiotest.Server) int {
	n := 0
	for k, c := range sim.Counts() {
		if k.Endpoint != jumio.EndpointToken {
			n += c
		}
	}
	return n
}

// TestWebhookDown: the endpoint of webhook route hook-a answers 503, then
// refuses connections, then comes back. The other routes (hook-b and the
// NATS route) deliver everything while it is down; hook-a catches up once
// it is back.
func TestWebhookDown(t *testing.T) {
	w := newWorld(t, worldConfig{scenario: jumiotest.Scenario{Seed: 14, Executions: 150, NetverifyScans: 30}})
	ctx := t.Context()
	rcv := w.p.Receiver()
	rcv.Fail("hook-a", http.StatusServiceUnavailable)
	sent := w.send(ctx, jumiotest.CallbackOptions{Rate: 60, Concurrency: 4})
	// The other routes finish while hook-a is down.
	sctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	if err := w.p.SettleRoutes(sctx, "results", "hook-b"); err != nil {
		w.dump()
		t.Fatal(err)
	}
	duringB, duringA := len(rcv.Deliveries("hook-b")), len(rcv.Deliveries("hook-a"))
	attempts503, _ := rcv.Attempts("hook-a")
	// Shut first, stop failing only just before opening again: a request
	// the cut caught on its way (already in the receiver's socket buffer)
	// is still read and answered after the cut; answered 200 it would be
	// a delivery whose answer was lost, repeated, rightly, with its id.
	gate := w.p.Gate("hook-a")
	gate.Shut()
	sleep(ctx, 2*time.Second)
	rcv.Fail("hook-a", 0)
	if err := gate.Open(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	w.settle()
	caughtUp := time.Since(back)

	w.figure("ingest answers: %v", statuses(sent))
	w.figure("while hook-a was down: hook-b delivered %d, hook-a %d; hook-a answered 503 %d times, then refused connections for 2 s", duringB, duringA, attempts503)
	w.figure("hook-a caught up %s after it was back (%d deliveries); notifier retries for hook-a %.0f",
		caughtUp.Round(time.Millisecond), len(rcv.Deliveries("hook-a")), w.metric(w.p.Notifier(), notifier.MetricRetried+"_total", map[string]string{"route": "hook-a"}))
	if duringA != 0 {
		t.Errorf("hook-a got %d deliveries while it answered 503", duringA)
	}
	if duringB == 0 {
		t.Error("hook-b delivered nothing while hook-a was down")
	}
	if attempts503 == 0 {
		t.Error("hook-a was never tried while it answered 503: the outage was not felt")
	}
	w.only200(sent)
	w.ledger(rig.AuditInput{Sent: sent, ExactCounters: true})
}

// TestDuplicateLateOutOfOrder: every callback is posted three times
// (Jumio's retries), followed by a repeat with an older time (out of
// order); after everything settled, late callbacks arrive: for some
// executions one with a newer time and the same status (a result identical
// to the one delivered), for others one with an old time (stale). Ingest
// stores each distinct callback once, the enricher drops the stale ones,
// the notifier suppresses identical results: each execution status is
// delivered once per route.
func TestDuplicateLateOutOfOrder(t *testing.T) {
	w := newWorld(t, worldConfig{scenario: jumiotest.Scenario{Seed: 15, Executions: 80, NetverifyScans: 20}})
	ctx := t.Context()
	sent := w.send(ctx, jumiotest.CallbackOptions{Rate: 100, Concurrency: 4, Duplicates: 2, OutOfOrder: true})
	w.settle()
	late := w.lateCallbacks(ctx)
	w.settle()
	all := append(sent, late...)

	w.figure("posted %d (%d originals, each twice more and once out of order), answers %v", len(sent), len(sent)/4, statuses(sent))
	w.figure("late: %d posted after the results were delivered, answers %v", len(late), statuses(late))
	w.figure("enricher: stale drops %.0f, duplicates %.0f; notifier suppressed %.0f",
		w.metric(w.p.Enricher(), enricher.MetricStaleDrops+"_total", nil), w.metric(w.p.Enricher(), enricher.MetricDuplicates+"_total", nil),
		w.metric(w.p.Notifier(), notifier.MetricSuppressed+"_total", nil))
	w.only200(all)
	l := w.ledger(rig.AuditInput{Sent: all, ExactCounters: true})
	if l == nil {
		return
	}
	// Counts, not timing: what was sent decides them.
	if want := 2 * len(sent) / 4; l.Repeats < want {
		t.Errorf("ingest saw %d repeated posts, want at least %d", l.Repeats, want)
	}
	if l.Stale == 0 {
		t.Error("no callback was dropped as stale")
	}
	for _, r := range l.Routes {
		if r.Suppressed == 0 && r.Name != "hook-b" {
			t.Errorf("route %s suppressed no identical result", r.Name)
		}
	}
}

// lateCallbacks posts, for ten Platform executions, the same callback an
// hour later (same status: a result identical to the one delivered), and
// for ten others one an hour earlier (older than the one enriched: stale).
func (w *world) lateCallbacks(ctx context.Context) []jumiotest.SentCallback {
	var out []jumiotest.SentCallback
	for i, e := range w.sim.Executions() {
		if i >= 20 {
			break
		}
		shift := time.Hour
		if i >= 10 {
			shift = -time.Hour
		}
		sentAt := e.CallbackSentAt.Add(shift)
		cb := jumiotest.SentCallback{API: events.APIPlatform, Reference: e.ID, AccountID: e.AccountID, SentAt: sentAt, Stale: shift < 0}
		cb.Status, cb.Err = post(ctx, w.p.CallbackURL(events.APIPlatform), "application/json", w.sim.PlatformCallback(e, sentAt, e.UserReference))
		out = append(out, cb)
	}
	return out
}
