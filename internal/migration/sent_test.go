package migration_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/kycflow/kycflow/internal/migration"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// TestAlreadyMigratedAfterA429Fails: a scan Jumio Support migrated long
// ago is in a batch whose first attempt got a 429 (nothing taken). On the
// retry Jumio answers "already migrated". Counted as requested by the
// first attempt, it waited for a callback that never comes and filled
// --max-pending for good. Only a scan an earlier attempt may have got
// through for counts so (TestRunnerAfterLostAnswer); this one fails
// already_migrated, and the other group's scan is migrated.
func TestAlreadyMigratedAfterA429Fails(t *testing.T) {
	r := newRig(t)
	client, err := jumio.NewClient(r.sim.ClientConfig(0), jumio.WithTransport(r.sim.Transport()))
	if err != nil {
		t.Fatal(err)
	}
	old := r.scans[5]
	// Migrated before, outside this migration (Jumio Support).
	if _, err := client.MigrateScans(t.Context(), "", wire.MigrationRequest{ScanReferences: []string{old}}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, ok := r.sim.Migrated(old); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not migrated")
		}
	}
	r.queue(t, batchA,
		migration.Group{Key: "scan:" + old, ScanReferences: []string{old}},
		migration.Group{Key: "user:u-9", ScanReferences: r.scans[0:1]})
	// Jumio's budget refuses the first request: nothing is accepted.
	r.sim.Inject(jumiotest.Fault{Endpoints: []jumio.Endpoint{jumio.EndpointMigrationCreate}, Status: 429})
	if err := r.runner.Run(t.Context(), batchA); err == nil {
		t.Fatal("first attempt: want the 429")
	} else if errors.Is(err, migration.ErrInvalid) {
		t.Fatal(err)
	}
	if err := r.runner.Run(t.Context(), batchA); err != nil {
		t.Fatal(err)
	}
	sc := r.state(t, old)
	if sc.State != migration.StateFailed || sc.Class != jumio.MigrationAlreadyMigrated {
		t.Errorf("scan never sent before, refused 'already migrated': state %s class %q conflict %v; want failed already_migrated",
			sc.State, sc.Class, sc.Conflict)
	}
	if sc := r.state(t, r.scans[0]); sc.State != migration.StateRequested || sc.Conflict {
		t.Errorf("the other group's scan: %+v, want requested by the retry", sc)
	}
}

// TestLostAnswerKeepsTheUsersAccount: the answer of an end user's first
// migration request is lost (Jumio made account A; the retry is told "in
// progress"). Only an answer recorded the group's account, so the user's
// next batch made a second account. The migrated callbacks name A: it
// becomes the group's, and the next batch goes into it.
func TestLostAnswerKeepsTheUsersAccount(t *testing.T) {
	r := newRig(t)
	const user = "user:u-split"
	r.queue(t, batchA, migration.Group{Key: user, ScanReferences: r.scans[0:2]})
	r.sim.Inject(jumiotest.Fault{Endpoints: []jumio.Endpoint{jumio.EndpointMigrationCreate}, Lose: true})
	if err := r.runner.Run(t.Context(), batchA); err == nil {
		t.Fatal("want the lost answer")
	}
	if err := r.runner.Run(t.Context(), batchA); err != nil {
		t.Fatal(err)
	}
	// Their callbacks arrive; the enricher marks them migrated with
	// their account, as it does (Store.MarkMigrated).
	acct := r.sim.MigrationCalls()[0].AccountID
	for _, ref := range r.scans[0:2] {
		if err := r.store.MarkMigrated(t.Context(), ref, acct); err != nil {
			t.Fatal(err)
		}
	}
	// A later batch of the same user (e.g. --retry-failed not_final, or
	// the next export file).
	r.queue(t, batchB, migration.Group{Key: user, ScanReferences: r.scans[2:3]})
	if err := r.runner.Run(t.Context(), batchB); err != nil {
		t.Fatal(err)
	}
	accounts := map[string][]string{}
	for _, c := range r.sim.MigrationCalls() {
		if c.Status == 200 {
			accounts[c.AccountID] = append(accounts[c.AccountID], c.ScanReferences...)
		}
	}
	if len(accounts) != 1 {
		t.Errorf("one user's scans went into %d Platform accounts: %v", len(accounts), accounts)
	}
}

// TestStoppedMidRequestCountsAsSent: a run stopped (killed) with a
// request under way; Jumio took it. On the batch's next attempt Jumio
// calls the scans in progress: the earlier request's doing, so they stay
// requested, their callbacks to come.
func TestStoppedMidRequestCountsAsSent(t *testing.T) {
	r := newRig(t)
	client, err := jumio.NewClient(r.sim.ClientConfig(0), jumio.WithTransport(r.sim.Transport()))
	if err != nil {
		t.Fatal(err)
	}
	refs := r.scans[0:2]
	r.queue(t, batchA, migration.Group{Key: "user:u-7", ScanReferences: refs})
	// The request that left before the run stopped.
	r.sim.HoldMigrations()
	if _, err := client.MigrateScans(t.Context(), "", wire.MigrationRequest{ScanReferences: refs}); err != nil {
		t.Fatal(err)
	}
	if err := migration.LeavePending(t.Context(), r.store, refs, batchA); err != nil {
		t.Fatal(err)
	}
	if err := r.runner.Run(t.Context(), batchA); err != nil {
		t.Fatal(err)
	}
	for _, ref := range refs {
		if sc := r.state(t, ref); sc.State != migration.StateRequested || !sc.Conflict {
			t.Errorf("scan %s: %+v, want requested (the stopped run's request)", ref, sc)
		}
	}
}

// TestDropScansOnlyFromABatchLeftSent: an erasure takes its scans out of a
// batch left unfinished ("sent", its work item gone) and leaves the other
// scans of their group; a batch queued (a runner may hold a copy of it)
// is not changed.
func TestDropScansOnlyFromABatchLeftSent(t *testing.T) {
	r := newRig(t)
	user, other := migration.Group{Key: "user:u-1", ScanReferences: r.scans[0:2]}, migration.Group{Key: "user:u-2", ScanReferences: r.scans[2:3]}
	r.queue(t, batchA, user, other)
	if _, err := r.store.DropScans(t.Context(), batchA, r.scans[0:1]); !errors.Is(err, migration.ErrBatchBusy) {
		t.Fatalf("queued batch: %v, want ErrBatchBusy", err)
	}
	// Left "sent": Jumio refused its first request for good.
	r.sim.Inject(jumiotest.Fault{Endpoints: []jumio.Endpoint{jumio.EndpointMigrationCreate}, Status: 403})
	if err := r.runner.Run(t.Context(), batchA); err == nil {
		t.Fatal("want the 403")
	}
	n, err := r.store.DropScans(t.Context(), batchA, []string{r.scans[0], r.scans[2]})
	if err != nil || n != 2 {
		t.Fatalf("dropped %d: %v, want 2", n, err)
	}
	b, _, _ := r.store.Batch(t.Context(), batchA)
	if len(b.Groups) != 1 || b.Groups[0].Key != user.Key || !slices.Equal(b.Groups[0].ScanReferences, r.scans[1:2]) {
		t.Errorf("batch groups %+v, want %s with its other scan only", b.Groups, user.Key)
	}
}
