package faultsuite

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kycflow/kycflow/internal/bench/rig"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// The cluster cases run the shape kycflow ships for (deploy/nats/
// values.yaml, the HorizontalPodAutoscalers): three nats-server processes
// as a JetStream cluster with sync_interval: always and R3 streams, and
// two processes of each stage, the callbacks posted through a balancer in
// front of both ingest instances. Each case ends with the strict ledger.

// clusterWorld starts a cluster world. The scenario is larger than a
// case posts: the load runs until the case stops it, after its faults.
func clusterWorld(t *testing.T, seed uint64, netns bool) *world {
	t.Helper()
	w := newWorld(t, worldConfig{
		scenario:  jumiotest.Scenario{Seed: seed, Executions: 1600, NetverifyScans: 400},
		latency:   100 * time.Millisecond,
		servers:   3,
		netns:     netns,
		instances: 2,
	})
	// A slow endpoint keeps results in the notifiers' hands.
	w.p.Receiver().Delay("hook-a", 50*time.Millisecond)
	return w
}

// clusterLoad is the load of the cluster cases: moderate, so that nine
// processes built with the race detector keep up on two cores.
var clusterLoad = jumiotest.CallbackOptions{Rate: 15, Concurrency: 8}

// healthy waits until the cluster and every stream are healthy again and
// returns how long that took from since.
func (w *world) healthy(since time.Time) time.Duration {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(w.t.Context(), 2*time.Minute)
	defer cancel()
	if err := w.p.WaitClusterHealthy(ctx); err != nil {
		w.dump()
		w.t.Fatal(err)
	}
	took := time.Since(since)
	if on := w.p.Cluster().WaitedOn(); on != "" && took > 10*time.Second {
		w.figure("recovery took %s, waiting last on: %s", took.Round(time.Millisecond), on)
	}
	return took
}

// awaitNewLeader waits until leader reports a server other than old, and
// returns it.
func (w *world) awaitNewLeader(what string, old *rig.NATSServer, leader func(context.Context) (*rig.NATSServer, error)) *rig.NATSServer {
	w.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(w.t.Context(), 2*time.Second)
		l, err := leader(ctx)
		cancel()
		if err == nil && l != old {
			return l
		}
		time.Sleep(50 * time.Millisecond)
	}
	w.t.Fatalf("no new %s leader within a minute of losing %s", what, old.ServerName())
	return nil
}

// finish stops the load, posts again what was not answered 200 (as
// Jumio retries), settles and draws the strict ledger; it logs the case's
// figures.
func (w *world) finish(l *load) (*rig.Ledger, []jumiotest.SentCallback) {
	w.t.Helper()
	sent := l.stop()
	again := w.resendUntil200(w.t.Context(), sent)
	settled := w.settle()
	all := append(sent, again...)
	w.figure("ingest answers: %v; posted again: %d, answers %v; settled %s after the last post", statuses(sent), len(again), statuses(again), settled.Round(time.Millisecond))
	led := w.ledger(rig.AuditInput{Sent: all, AllowSameIDRepeats: true})
	if led != nil {
		w.figure("503s %d, same-id repeats %d, lost %d, doubled %d", statuses(all)["503"], led.SameIDRepeats(), led.Lost(), led.Doubled())
	}
	return led, all
}

// TestClusterLeadersKilled: while callbacks flow through two instances of
// each stage, the leader of JUMIO_CALLBACKS is killed (SIGKILL) and
// restarted, then the JetStream meta leader. The other two servers elect
// new leaders; ingest answers 503 for what it could not store, and the
// sender posts those again.
func TestClusterLeadersKilled(t *testing.T) {
	w := clusterWorld(t, 21, false)
	c, ctx := w.p.Cluster(), t.Context()
	l := w.startLoad(clusterLoad)
	for _, target := range []struct {
		what   string
		leader func(context.Context) (*rig.NATSServer, error)
	}{
		{"stream " + events.StreamCallbacks, func(ctx context.Context) (*rig.NATSServer, error) {
			return c.StreamLeader(ctx, w.p.JetStream(), events.StreamCallbacks)
		}},
		{"meta", c.MetaLeader},
	} {
		held := w.awaitHeld(target.what+" leader kill", l, 1, w.outstanding)
		lctx, cancel := context.WithTimeout(ctx, time.Minute)
		victim, err := target.leader(lctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		if err := victim.Kill(); err != nil {
			t.Fatal(err)
		}
		next := w.awaitNewLeader(target.what, victim, target.leader)
		elected := time.Since(killed)
		if err := victim.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		recovered := w.healthy(killed)
		w.figure("%s leader %s killed holding %d messages for the stages; %s leads after %s; restarted, cluster and streams current %s after the kill",
			target.what, victim.ServerName(), held, next.ServerName(), elected.Round(time.Millisecond), recovered.Round(time.Millisecond))
	}
	w.finish(l)
}

// TestClusterRollingRestart: the three servers are restarted one after
// the other, each through lame-duck mode as docs/operations.md ("NATS
// upgrade") prescribes: it hands its leaderships over and closes its
// clients one by one, they move to the others, it exits, it starts again
// and catches up before the next one goes. Callbacks answered 503
// meanwhile are counted and posted again, as Jumio would.
func TestClusterRollingRestart(t *testing.T) {
	w := clusterWorld(t, 22, false)
	ctx := t.Context()
	l := w.startLoad(clusterLoad)
	for _, s := range w.p.Cluster().Servers() {
		held := w.awaitHeld(s.ServerName()+" lame duck", l, 1, w.outstanding)
		start := time.Now()
		lctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err := s.LameDuck(lctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		left := time.Since(start)
		if err := s.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		recovered := w.healthy(start)
		w.figure("%s: lame duck with %d messages held for the stages, gone after %s; back, cluster and streams current %s after the lame duck began",
			s.ServerName(), held, left.Round(time.Millisecond), recovered.Round(time.Millisecond))
	}
	w.finish(l)
}

// TestClusterStageInstances: one instance of each stage is killed
// (SIGKILL) while holding work and restarted; the other instance carries
// on and gets what the dead one held after the ack wait. Then a notifier
// instance is frozen (SIGSTOP) while holding results, beyond its ack
// wait, so that its results are redelivered to the other instance, and
// resumed: its late deliveries race the other's. Nothing is delivered
// twice under two ids.
func TestClusterStageInstances(t *testing.T) {
	w := clusterWorld(t, 23, false)
	ctx := t.Context()
	l := w.startLoad(clusterLoad)
	// The sender's kept-alive connections may all pass the balancer to
	// one ingest instance: the one killed is one seen answering.
	var busy *rig.Process
	w.awaitHeld("an ingest instance answering", l, 1, func() int {
		for _, p := range w.p.Ingests() {
			if n := w.inFlight(p); n > 0 {
				busy = p
				return n
			}
		}
		return 0
	})
	kills, err := w.killHolding(l, busy, w.p.Enrichers()[0], w.p.Notifiers()[0])
	if err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	for _, k := range kills {
		if err := k.proc.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		w.figure("%s killed holding %d", k.proc.Name(), k.held)
	}
	w.figure("all three restarted and ready in %s", time.Since(restarted).Round(time.Millisecond))

	frozen := w.p.Notifiers()[1]
	held := w.awaitHeld(frozen.Name()+" freeze", l, 1, func() int { return w.inFlight(frozen) })
	if err := frozen.Freeze(); err != nil {
		t.Fatal(err)
	}
	// Beyond the ack wait: what it holds is redelivered to the other
	// instance meanwhile.
	sleep(ctx, 2*ackWait)
	if err := frozen.Thaw(); err != nil {
		t.Fatal(err)
	}
	w.figure("%s frozen holding %d results for %s (ack wait %s), then resumed", frozen.Name(), held, 2*ackWait, ackWait)
	w.finish(l)
}

// ackWait is the stages' ack wait in the suite (faultEnv).
const ackWait = 2 * time.Second

// TestClusterPartition: the leader of JUMIO_CALLBACKS is cut off from the
// other two servers and from every client (its network namespace's link
// goes down: packets dropped, no connection closed), until the other two
// elect a new leader and the pipeline delivers through them; then the
// link comes back and the server catches up. Needs network namespaces
// (root, iproute2); elsewhere the case says why it skips.
func TestClusterPartition(t *testing.T) {
	if why := rig.NetnsUnavailable(); why != "" {
		t.Skipf("partition: %s", why)
	}
	w := clusterWorld(t, 24, true)
	c, ctx := w.p.Cluster(), t.Context()
	l := w.startLoad(clusterLoad)
	held := w.awaitHeld("partition", l, 1, w.outstanding)
	leader := func(ctx context.Context) (*rig.NATSServer, error) {
		return c.StreamLeader(ctx, w.p.JetStream(), events.StreamCallbacks)
	}
	victim, err := leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := index(c.Servers(), victim)
	cut := time.Now()
	if err := c.Partition(ctx, i); err != nil {
		t.Fatal(err)
	}
	next := w.awaitNewLeader("stream "+events.StreamCallbacks, victim, leader)
	elected := time.Since(cut)
	// Keep it cut off until the majority side delivers again.
	before := len(w.p.Receiver().Deliveries("hook-a"))
	w.awaitHeld("deliveries through the majority", l, before+10, func() int { return len(w.p.Receiver().Deliveries("hook-a")) })
	delivering := time.Since(cut)
	if err := c.Heal(ctx, i); err != nil {
		t.Fatal(err)
	}
	healed := time.Now()
	recovered := w.healthy(healed)
	w.figure("%s (leader of %s) cut off holding %d messages for the stages; %s leads after %s; the majority delivered again %s after the cut; healed after %s, cluster and streams current %s later",
		victim.ServerName(), events.StreamCallbacks, held, next.ServerName(), elected.Round(time.Millisecond), delivering.Round(time.Millisecond),
		healed.Sub(cut).Round(time.Millisecond), recovered.Round(time.Millisecond))
	w.finish(l)
}

// TestClusterFreshStart: on a fresh cluster, nothing stored yet, every
// stage starts at the same moment, as on a first deploy: two processes
// of each stage, each creating or updating the R3 streams, the buckets
// and its durable consumers while the others do, and "kycflow run
// --nats-url", whose stages start together in one process. Every process
// must come up (a stage that cannot start within its setup timeout exits,
// and the case fails with its last output), and none may have sent an
// update of a stream or bucket (checkFreshSetup): an update that overtook
// another instance's create of the same stream silenced both, and its
// stage waited for its timeout and asked again, which on a loaded cluster
// ran out the stage's time. Then callbacks flow and the strict ledger
// balances.
func TestClusterFreshStart(t *testing.T) {
	for _, tc := range []struct {
		name      string
		run       bool
		instances int
	}{
		{"processes", false, 2},
		{"kycflow run", true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, worldConfig{
				scenario:  jumiotest.Scenario{Seed: 26, Executions: 40, NetverifyScans: 10},
				servers:   3,
				instances: tc.instances,
				run:       tc.run,
				together:  true,
			})
			sent := w.send(t.Context(), jumiotest.CallbackOptions{Rate: 30, Concurrency: 4})
			w.settle()
			seen, err := w.p.SetupSeen(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			checkFreshSetup(t, seen)
			w.only200(sent)
			// Counters at least the ledger's figures, not equal to them:
			// with two-second ack waits a loaded machine redelivers a
			// result now and then, and the notifier counts the
			// suppression of what it delivered already.
			w.ledger(rig.AuditInput{Sent: sent})
		})
	}
}

// checkFreshSetup: on a cluster that holds nothing, the stages create
// every stream and bucket and update none: an update that overtakes
// another instance's create of the same stream silences both, and made
// stages wait out their setup timeout. A create may still go unanswered
// (about one run in twenty here, with or without a meta leader change:
// the server that stops being the meta leader drops what it has not
// proposed, and a create is answered only once the new stream's leader
// is elected); no stage can prevent that, Ensure looks and asks again,
// and the case requires that every stage came up (newWorld) and the
// ledger balances. Those creates are noted.
func checkFreshSetup(t *testing.T, seen rig.SetupSeen) {
	t.Helper()
	problems, note := freshSetupProblems(seen)
	for _, p := range problems {
		t.Error(p)
	}
	t.Log(note)
}

// freshStreams are streams the stages create on a cluster that holds
// nothing.
var freshStreams = []string{events.StreamCallbacks, events.StreamEnriched, events.StreamDLQ}

// freshSetupProblems is checkFreshSetup's verdict: what fails the case,
// and a note of what JetStream answered.
func freshSetupProblems(seen rig.SetupSeen) (problems []string, note string) {
	var updates []string
	for _, subj := range seen.Requests {
		if strings.HasPrefix(subj, "$JS.API.STREAM.UPDATE.") {
			updates = append(updates, subj)
		}
	}
	if len(updates) > 0 {
		problems = append(problems, fmt.Sprintf("the stages sent %d updates on a cluster that held nothing: %v", len(updates), updates))
	}
	// A watch that saw nothing (a wrong prefix, started late) would pass
	// any start: the streams every stage creates must be among what it
	// saw.
	for _, name := range freshStreams {
		if !slices.Contains(seen.Requests, "$JS.API.STREAM.CREATE."+name) {
			problems = append(problems, fmt.Sprintf("no create of %s seen at start (%d requests seen): the check saw nothing of the setup", name, len(seen.Requests)))
		}
	}
	note = fmt.Sprintf("at start: %d stream and bucket requests, %d unanswered %v",
		len(seen.Requests), len(seen.Unanswered), seen.Unanswered)
	return problems, note
}

// TestFreshSetupProblems: the check of TestClusterFreshStart fails an
// update, answered or not, and a setup it saw nothing of, and notes a
// create left unanswered.
func TestFreshSetupProblems(t *testing.T) {
	update := "$JS.API.STREAM.UPDATE.JUMIO_CALLBACKS"
	var creates []string
	for _, name := range freshStreams {
		creates = append(creates, "$JS.API.STREAM.CREATE."+name)
	}
	create := creates[0]
	with := func(extra ...string) []string { return append(slices.Clone(creates), extra...) }
	for _, tc := range []struct {
		name     string
		seen     rig.SetupSeen
		problems int
	}{
		{"all answered", rig.SetupSeen{Requests: with(create)}, 0},
		{"an update", rig.SetupSeen{Requests: with(update)}, 1},
		{"an update unanswered", rig.SetupSeen{Requests: with(update), Unanswered: []string{update}}, 1},
		{"a create unanswered", rig.SetupSeen{Requests: with(create), Unanswered: []string{create}}, 0},
		{"nothing seen", rig.SetupSeen{}, len(freshStreams)},
		{"one stream's create not seen", rig.SetupSeen{Requests: creates[1:]}, 1},
	} {
		problems, note := freshSetupProblems(tc.seen)
		if len(problems) != tc.problems {
			t.Errorf("%s: problems %q; want %d", tc.name, problems, tc.problems)
		}
		if !strings.Contains(note, fmt.Sprintf("%d unanswered", len(tc.seen.Unanswered))) {
			t.Errorf("%s: note %q does not count the unanswered", tc.name, note)
		}
	}
}

func index(servers []*rig.NATSServer, s *rig.NATSServer) int {
	for i, x := range servers {
		if x == s {
			return i
		}
	}
	panic(fmt.Sprintf("server %s is not in the cluster", s.ServerName()))
}
