package migration_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/internal/migration"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// rig is a JetStream server with the migration bucket, a simulator with
// Netverify scans, and a runner between them.
type rig struct {
	store  *migration.Store
	sim    *jumiotest.Server
	runner *migration.Runner
	scans  []string // ID-verification scan references with data
}

func newRig(t *testing.T) *rig {
	t.Helper()
	srv := brokertest.Start(t)
	_, js := srv.JetStream(t)
	store, err := migration.Ensure(t.Context(), js, migration.StoreConfig{Storage: "memory"})
	if err != nil {
		t.Fatal(err)
	}
	sim := jumiotest.NewServer(jumiotest.Config{Scenario: jumiotest.Scenario{Seed: 11, NetverifyScans: 30}})
	t.Cleanup(sim.Close)
	cfg := sim.ClientConfig(0)
	cfg.AccountRateLimit, cfg.RateLimit, cfg.RateBurst = 1000, 1000, 100
	client, err := jumio.NewClient(cfg, jumio.WithTransport(sim.Transport()))
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{store: store, sim: sim, runner: migration.NewRunner(store, client, "", nil)}
	for _, sc := range sim.NetverifyScans() {
		if sc.Kind == events.KindIDVerification && sc.Data != nil {
			r.scans = append(r.scans, sc.Reference)
		}
	}
	if len(r.scans) < 8 {
		t.Fatalf("%d ID scans, want 8", len(r.scans))
	}
	return r
}

func (r *rig) queue(t *testing.T, id string, groups ...migration.Group) {
	t.Helper()
	if err := r.store.QueueBatch(t.Context(), migration.Batch{ID: id, Groups: groups}); err != nil {
		t.Fatal(err)
	}
}

func (r *rig) state(t *testing.T, ref string) migration.Scan {
	t.Helper()
	sc, ok, err := r.store.Lookup(t.Context(), ref)
	if err != nil || !ok {
		t.Fatalf("no record of %s: %v", ref, err)
	}
	return sc
}

// accepted counts, per scan, the migration requests Jumio accepted that
// held it.
func (r *rig) accepted() map[string]int {
	out := map[string]int{}
	for _, c := range r.sim.MigrationCalls() {
		if c.Status == 200 {
			for _, ref := range c.ScanReferences {
				out[ref]++
			}
		}
	}
	return out
}

const batchA, batchB = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

func TestRunnerMigratesGroups(t *testing.T) {
	r := newRig(t)
	user := migration.Group{Key: "user:u-1", ScanReferences: r.scans[0:3]}
	single := migration.Group{Key: "scan:" + r.scans[3], ScanReferences: r.scans[3:4]}
	r.queue(t, batchA, user, single)
	if err := r.runner.Run(t.Context(), batchA); err != nil {
		t.Fatalf("Run: %v", err)
	}
	calls := r.sim.MigrationCalls()
	if len(calls) != 2 || calls[0].Update || calls[1].Update || calls[0].AccountID == calls[1].AccountID {
		t.Fatalf("calls %+v: want two creates, one account per group", calls)
	}
	for _, ref := range r.scans[0:4] {
		if sc := r.state(t, ref); sc.State != migration.StateRequested || sc.Batch != batchA {
			t.Errorf("%s: %+v, want requested by %s", ref, sc, batchA)
		}
	}
	if acct, _ := r.store.GroupAccount(t.Context(), user.Key); acct != calls[0].AccountID {
		t.Errorf("group account %q, want %s", acct, calls[0].AccountID)
	}
	// Done: running it again sends nothing.
	if err := r.runner.Run(t.Context(), batchA); err != nil {
		t.Fatal(err)
	}
	if n := len(r.sim.MigrationCalls()); n != 2 {
		t.Errorf("%d calls after running a done batch again, want 2", n)
	}
	// A later batch of the same user goes into the same account.
	r.queue(t, batchB, migration.Group{Key: user.Key, ScanReferences: r.scans[4:5]})
	if err := r.runner.Run(t.Context(), batchB); err != nil {
		t.Fatal(err)
	}
	last := r.sim.MigrationCalls()[2]
	if !last.Update || last.AccountID != calls[0].AccountID {
		t.Errorf("later batch of the user: %+v, want an update of %s", last, calls[0].AccountID)
	}
	if b, _, _ := r.store.Batch(t.Context(), batchB); b.State != migration.BatchDone {
		t.Errorf("batch state %s, want done", b.State)
	}
}

// TestRunnerRecordsRefusals: scans Jumio refuses are failed with their
// class; the others of the group are migrated in a request without them.
func TestRunnerRecordsRefusals(t *testing.T) {
	r := newRig(t)
	client, err := jumio.NewClient(r.sim.ClientConfig(0), jumio.WithTransport(r.sim.Transport()))
	if err != nil {
		t.Fatal(err)
	}
	if err := client.DeleteNetverifyScan(t.Context(), r.scans[1]); err != nil {
		t.Fatal(err)
	}
	unknown := "99999999-8888-4777-8666-555555555555"
	r.queue(t, batchA,
		migration.Group{Key: "user:u-2", ScanReferences: []string{r.scans[0], r.scans[1], unknown}},
		migration.Group{Key: "user:u-3", AccountID: "12345678-1234-4234-8234-123456789012", ScanReferences: r.scans[2:3]})
	if err := r.runner.Run(t.Context(), batchA); err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := map[string]migration.Scan{}
	for _, ref := range []string{r.scans[0], r.scans[1], unknown, r.scans[2]} {
		sc := r.state(t, ref)
		got[ref] = migration.Scan{State: sc.State, Class: sc.Class}
	}
	want := map[string]migration.Scan{
		r.scans[0]: {State: migration.StateRequested},
		r.scans[1]: {State: migration.StateFailed, Class: jumio.MigrationWipedOut},
		unknown:    {State: migration.StateFailed, Class: jumio.MigrationNotFound},
		r.scans[2]: {State: migration.StateFailed, Class: jumio.MigrationAccountNotFound},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("scan states (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{r.scans[0]: 1}, r.accepted()); diff != "" {
		t.Errorf("accepted migrations (-want +got):\n%s", diff)
	}
}

// TestRunnerAfterLostAnswer: Jumio accepted a request whose answer was
// lost; the batch is run again, Jumio answers "in progress or already
// migrated", and the scans count as requested, not failed: nothing is
// asked twice or lost.
func TestRunnerAfterLostAnswer(t *testing.T) {
	r := newRig(t)
	r.queue(t, batchA,
		migration.Group{Key: "user:u-4", ScanReferences: r.scans[0:2]},
		migration.Group{Key: "user:u-5", ScanReferences: r.scans[2:4]})
	// The first group's request passes (a fault that changes nothing),
	// the second one's answer is lost.
	r.sim.Inject(jumiotest.Fault{Endpoints: []jumio.Endpoint{jumio.EndpointMigrationCreate}, Count: 1, Latency: 1})
	r.sim.Inject(jumiotest.Fault{Endpoints: []jumio.Endpoint{jumio.EndpointMigrationCreate}, Count: 1, Lose: true})
	lost := false
	ctx := t.Context()
	for attempt := 1; attempt <= 3; attempt++ {
		err := r.runner.Run(ctx, batchA)
		if err == nil {
			break
		}
		if !errors.Is(err, context.Canceled) && jumio.Classify(err).Kind == jumio.Permanent {
			t.Fatalf("attempt %d: %v, want a transient error", attempt, err)
		}
		lost = true
	}
	if !lost {
		t.Fatal("the lost answer did not fail the first run")
	}
	for _, ref := range r.scans[0:4] {
		if sc := r.state(t, ref); sc.State != migration.StateRequested {
			t.Errorf("%s: %+v, want requested", ref, sc)
		}
	}
	acc := r.accepted()
	for _, ref := range r.scans[0:4] {
		if acc[ref] != 1 {
			t.Errorf("%s accepted %d times, want once", ref, acc[ref])
		}
	}
	// The repeat of the lost request is refused; Jumio may refuse its
	// scans in one answer or, when one is migrated already and the other
	// still in progress, class by class. Only the second group's scans
	// are ever asked again.
	refused := 0
	for _, c := range r.sim.MigrationCalls() {
		if c.Status != 200 {
			refused++
			for _, ref := range c.ScanReferences {
				if !slices.Contains(r.scans[2:4], ref) {
					t.Errorf("refused call %+v: %s is not of the second group, whose answer was lost", c, ref)
				}
			}
		}
	}
	if refused == 0 {
		t.Error("no refused call: the lost request was not repeated")
	}
}
