package cli

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kycflow/kycflow/internal/migration"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// TestMigrateDataInterruptedAndResumed runs a migration of kycflow's
// Netverify history against the simulator through the whole pipeline,
// interrupts it part way, and runs it again: every scan is asked for once
// and migrated once, its result links the Netverify original, a scan
// Jumio deleted fails with its class, and status says so.
func TestMigrateDataInterruptedAndResumed(t *testing.T) {
	sim := jumiotest.NewServer(jumiotest.Config{Scenario: jumiotest.Scenario{Seed: 17, NetverifyScans: 30,
		NetverifyMix: jumiotest.NetverifyMix{Approved: 8, DeniedFraud: 1, NotReadable: 1}}})
	t.Cleanup(sim.Close)
	p := startPipeline(t, sim)
	var refs []string
	for _, sc := range sim.NetverifyScans() {
		refs = append(refs, sc.Reference)
	}
	p.sendNetverify(refs)
	// One scan is deleted at Jumio before the migration.
	wiped := refs[len(refs)-2]
	client := newTestClient(t, sim)
	if err := client.DeleteNetverifyScan(t.Context(), wiped); err != nil {
		t.Fatal(err)
	}

	out := p.kycflow(t.Context(), 0, "migrate-data", "--since", "1h", "--dry-run")
	if !strings.Contains(out, "30 scans selected") || !strings.Contains(out, "to queue: 30 scans") {
		t.Fatalf("dry run:\n%s", out)
	}
	if n := len(sim.MigrationCalls()); n != 0 {
		t.Fatalf("the dry run sent %d migration requests", n)
	}

	// Interrupted while scans wait for their callbacks: Jumio holds the
	// migrations it accepts, the run fills --max-pending and waits; it is
	// stopped once every pending scan is requested.
	store, err := migration.Ensure(t.Context(), p.js, migration.StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	requested := func() int {
		n := 0
		for _, sc := range store.Scans(t.Context()) {
			if sc.State == migration.StateRequested {
				n++
			}
		}
		return n
	}
	sim.HoldMigrations()
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		defer cancel()
		p.eventually("the pending scans requested", func() bool { return requested() == 9 })
	}()
	args := []string{"migrate-data", "--since", "1h", "--batch", "3", "--max-pending", "9", "--stall", "1m"}
	out = p.kycflow(ctx, 1, args...)
	if !strings.Contains(out, "interrupted: 0 of 30 migrated, 0 failed, 9 requested") || !strings.Contains(out, "run the same command again") {
		t.Fatalf("interrupted run:\n%s", out)
	}

	// Resumed while those nine still wait (with room for one more batch,
	// whose request releases Jumio's hold), with batches of another size
	// (so that no batch of the first run is planned again with its id):
	// the command finishes, and asks for none of them again.
	go func() {
		p.eventually("the resumed run queued more", func() bool { return len(sim.MigrationCalls()) > 9 })
		sim.ReleaseMigrations()
	}()
	args[4], args[len(args)-3] = "4", "13"
	out = p.kycflow(t.Context(), 0, args...)
	if !strings.Contains(out, "already: 0 migrated, 9 requested") || !strings.Contains(out, "migrated 29 of 30 scans; 1 failed (wiped_out 1)") {
		t.Errorf("resumed run:\n%s", out)
	}

	// Nothing repeated: each scan accepted once, the wiped one refused
	// once (its own group), no other refusal.
	accepted := map[string]int{}
	var refused []jumiotest.MigrationCall
	for _, c := range sim.MigrationCalls() {
		if c.Status != 200 {
			refused = append(refused, c)
			continue
		}
		for _, ref := range c.ScanReferences {
			accepted[ref]++
		}
	}
	for _, ref := range refs {
		want := 1
		if ref == wiped {
			want = 0
		}
		if accepted[ref] != want {
			t.Errorf("scan %s accepted %d times, want %d", ref, accepted[ref], want)
		}
	}
	if len(refused) != 1 || !slices.Equal(refused[0].ScanReferences, []string{wiped}) {
		t.Errorf("refused calls %+v, want one, for the wiped scan", refused)
	}
	// Every migrated scan has one result linked to its original.
	p.eventually("the migrated results delivered", func() bool {
		n := 0
		for _, r := range p.results() {
			if r.Migration != nil {
				n++
			}
		}
		return n >= 29
	})
	linked := map[string]int{}
	for _, r := range p.results() {
		if r.Migration == nil {
			continue
		}
		if r.Source.API != events.APIPlatform || r.IDs.WorkflowExecutionID != r.Migration.ScanReference || r.IDs.ScanReference != r.Migration.ScanReference {
			t.Errorf("migrated result %+v: want a Platform result whose execution id is the scan reference", r.IDs)
		}
		linked[r.Migration.ScanReference]++
	}
	for _, ref := range refs {
		if ref != wiped && linked[ref] != 1 {
			t.Errorf("scan %s: %d migrated results, want 1", ref, linked[ref])
		}
	}

	status := p.kycflow(t.Context(), 0, "migrate-data", "status")
	for _, want := range []string{"migrated   29", "failed     1", "failed: wiped_out (1)", wiped} {
		if !strings.Contains(status, want) {
			t.Errorf("status lacks %q:\n%s", want, status)
		}
	}
	// A third run finds nothing left to do and asks Jumio nothing.
	calls := len(sim.MigrationCalls())
	out = p.kycflow(t.Context(), 0, "migrate-data", "--since", "1h")
	if !strings.Contains(out, "every selected scan is migrated or failed already") || len(sim.MigrationCalls()) != calls {
		t.Errorf("third run:\n%s", out)
	}
	// The failed scan asked for again, twice: each retry asks Jumio,
	// the second too, though it plans the very scans of the first's
	// batch, which is finished.
	for i := range 2 {
		calls := len(sim.MigrationCalls())
		out = p.kycflow(t.Context(), 0, "migrate-data", "--since", "1h", "--retry-failed", "wiped_out", "--stall", "1m")
		if n := len(sim.MigrationCalls()) - calls; n != 1 || !strings.Contains(out, "1 failed (wiped_out 1)") {
			t.Errorf("retry %d asked Jumio %d times, want once:\n%s", i+1, n, out)
		}
	}
}

// TestMigratePlan: account groups by user reference (and a signed token's
// user id) into the accounts kycflow knows, one per scan otherwise or with
// --group-by scan, batches that never split a group, and failed scans
// asked for again only for the classes given.
func TestMigratePlan(t *testing.T) {
	const (
		a, b, c, d, e = "00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b", "00000000-0000-4000-8000-00000000000c",
			"00000000-0000-4000-8000-00000000000d", "00000000-0000-4000-8000-00000000000e"
		acct = "11111111-1111-4111-8111-111111111111"
	)
	scans := []scanRef{{a, "u=cust-1,t=1700000000,v1=ab"}, {b, "cust-1"}, {c, ""}, {d, "cust-2"}, {e, "cust-3"}}
	groups := func(bs []migration.Batch) [][]string {
		var out [][]string
		for _, b := range bs {
			for _, g := range b.Groups {
				out = append(out, append([]string{g.Key, g.AccountID}, g.ScanReferences...))
			}
			out = append(out, []string{"--"})
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		req   migrateRequest
		state map[string]migration.Scan
		want  [][]string
	}{
		{"by user", migrateRequest{groupBy: "user", batch: 3}, nil, [][]string{
			{"user:cust-1", acct, a, b}, {"scan:" + c, "", c}, {"--"},
			{"user:cust-2", "", d}, {"user:cust-3", "", e}, {"--"},
		}},
		{"by scan", migrateRequest{groupBy: "scan", batch: 10}, nil, [][]string{
			{"scan:" + a, "", a}, {"scan:" + b, "", b}, {"scan:" + c, "", c}, {"scan:" + d, "", d}, {"scan:" + e, "", e}, {"--"},
		}},
		{"resumed, one class asked again", migrateRequest{groupBy: "user", batch: 10, retry: []jumio.MigrationClass{jumio.MigrationNotFinal}},
			map[string]migration.Scan{
				a: {State: migration.StateMigrated}, b: {State: migration.StateRequested},
				c: {State: migration.StateFailed, Class: jumio.MigrationNotFinal}, d: {State: migration.StateFailed, Class: jumio.MigrationWipedOut},
			}, [][]string{{"scan:" + c, "", c}, {"user:cust-3", "", e}, {"--"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMigrationRun(tc.req, scans)
			maps.Copy(m.state, tc.state)
			got := groups(m.plan(map[string]string{"cust-1": acct}))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}
