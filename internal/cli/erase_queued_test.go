package cli

import (
	"io"
	"testing"

	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/internal/erasure"
	"github.com/kycflow/kycflow/internal/migration"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// TestEraseRefusesABatchQueuedAgainSincePlan: an erasure planned to take
// a scan out of a migration batch left "sent" (Jumio refused it); before
// it runs, "kycflow migrate-data" queues the batch again, and a runner
// will take it up with its own copy. The erasure refuses (run it once the
// batch is done) and leaves the batch as it is: trimmed now, the runner's
// copy would bring the scan back, or lose the trim.
func TestEraseRefusesABatchQueuedAgainSincePlan(t *testing.T) {
	srv := brokertest.Start(t)
	_, js := srv.JetStream(t)
	ctx := t.Context()
	store, err := migration.Ensure(ctx, js, migration.StoreConfig{Storage: "memory"})
	if err != nil {
		t.Fatal(err)
	}
	if err := migration.EnsureWorkStream(ctx, js, migration.WorkStreamConfig{Storage: "memory"}); err != nil {
		t.Fatal(err)
	}
	if err := erasure.EnsureAudit(ctx, js, erasure.Config{Storage: "memory"}); err != nil {
		t.Fatal(err)
	}
	reg, err := erasure.Ensure(ctx, js, erasure.Config{Storage: "memory"})
	if err != nil {
		t.Fatal(err)
	}
	sim := jumiotest.NewServer(jumiotest.Config{Scenario: jumiotest.Scenario{Seed: 12, NetverifyScans: 8}})
	t.Cleanup(sim.Close)
	client, err := jumio.NewClient(sim.ClientConfig(0), jumio.WithTransport(sim.Transport()))
	if err != nil {
		t.Fatal(err)
	}
	var scans []string
	for _, sc := range sim.NetverifyScans() {
		if sc.Kind == events.KindIDVerification && sc.Data != nil && len(scans) < 2 {
			scans = append(scans, sc.Reference)
		}
	}
	if len(scans) != 2 {
		t.Fatalf("%d ID scans, want 2", len(scans))
	}
	const batch = "b1"
	if err := store.QueueBatch(ctx, migration.Batch{ID: batch, Groups: []migration.Group{{Key: "user:u-1", ScanReferences: scans}}}); err != nil {
		t.Fatal(err)
	}
	sim.Inject(jumiotest.Fault{Endpoints: []jumio.Endpoint{jumio.EndpointMigrationCreate}, Status: 403})
	if err := migration.NewRunner(store, client, "", nil).Run(ctx, batch); err == nil {
		t.Fatal("want Jumio's 403")
	}
	// Queued again after the erasure's plan, before it purges.
	if err := migration.EnqueueAgain(ctx, js, batch, 1); err != nil {
		t.Fatal(err)
	}
	r := &eraseRun{store: store, trims: []batchTrim{{batch: batch, scans: scans[:1]}}, out: io.Discard}
	r.rec = erasure.Record{ID: "x1", Target: erasure.Target{Execution: scans[0]}, Runs: 1,
		Jumio: []erasure.JumioStep{{Kind: erasure.JumioNetverifyScan, ID: scans[0], Outcome: erasure.OutcomeDeleted}}}
	// Jumio's part is done: the refusal says what to do, and nothing
	// about Jumio.
	want := "erase: migration batch b1 is being sent again: run the same command once it is done; run the same command again to complete the erasure x1"
	if err := r.finish(ctx, js, reg, r.locally(ctx, js, reg)); err == nil || err.Error() != want {
		t.Errorf("erasure of a scan of a batch queued again:\n got %v\nwant %s", err, want)
	}
	b, _, err := store.Batch(ctx, batch)
	if err != nil || len(b.Groups) != 1 || len(b.Groups[0].ScanReferences) != 2 {
		t.Errorf("batch after the refusal: %+v, %v; want both scans kept", b.Groups, err)
	}
}
