package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/kycflow/kycflow/internal/migration"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// migrationSim is a simulator with n approved Netverify scans, and their
// references.
func migrationSim(t *testing.T, n int) (*jumiotest.Server, []string) {
	t.Helper()
	sim := jumiotest.NewServer(jumiotest.Config{Scenario: jumiotest.Scenario{Seed: 17, NetverifyScans: n,
		NetverifyMix: jumiotest.NetverifyMix{Approved: 1}}})
	t.Cleanup(sim.Close)
	var refs []string
	for _, sc := range sim.NetverifyScans() {
		refs = append(refs, sc.Reference)
	}
	return sim, refs
}

// TestDeadLetteredBatchGoesOn: a batch the enricher dead-letters (Jumio
// refused it with a 403; an outage past the retry budget does the same)
// stayed "sent" with its work item gone: a second run asked Jumio for
// nothing although it said running it again goes on, and an erasure of
// one of its scans was refused for good as "still being sent". The
// erasure goes through, and the second run queues the batch again and
// migrates the rest.
func TestDeadLetteredBatchGoesOn(t *testing.T) {
	sim, refs := migrationSim(t, 6)
	p := startPipeline(t, sim)
	p.sendNetverify(refs)
	in := writeInput(t, strings.Join(refs, "\n")+"\n")
	sim.Inject(jumiotest.Fault{Endpoints: []jumio.Endpoint{jumio.EndpointMigrationCreate}, Status: 403})
	args := []string{"migrate-data", in, "--group-by", "scan", "--batch", "3", "--stall", "5s"}
	p.kycflow(t.Context(), 1, args...)
	// A scan of the batch left unfinished is erased: the batch keeps
	// the others.
	store, _, err := migration.Open(t.Context(), p.js)
	if err != nil || store == nil {
		t.Fatalf("migration bucket: %v", err)
	}
	erased := ""
	for b := range store.Batches(t.Context()) {
		if b.State == migration.BatchSent {
			erased = b.Groups[len(b.Groups)-1].ScanReferences[0]
		}
	}
	if erased == "" {
		t.Fatal("no batch left unfinished")
	}
	if out := p.kycflow(t.Context(), 0, "erase", "--execution", erased, "--local-only", "--yes"); !strings.Contains(out, "erased") {
		t.Fatalf("erase of a scan of the dead-lettered batch:\n%s", out)
	}
	calls := len(sim.MigrationCalls())
	p.kycflow(t.Context(), 0, args...) // the erased scan fails, not found
	if len(sim.MigrationCalls()) == calls {
		t.Fatal("the second run asked Jumio nothing")
	}
	for _, ref := range refs {
		if _, ok := sim.Migrated(ref); !ok && ref != erased {
			t.Errorf("scan %s never migrated", ref)
		}
	}
}

// TestScanListReadsSpreadsheetExports: a byte order mark (a spreadsheet's
// export) refused the whole file; a scan reference in another case was a
// second scan, asked for twice.
func TestScanListReadsSpreadsheetExports(t *testing.T) {
	const a, b = "00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b"
	got, err := readScanList(strings.NewReader("\ufeff"+a+"\r\n"+b+"\r\n"+strings.ToUpper(a)+"\r\n"), "export.csv")
	if err != nil || len(got) != 2 || got[0].ref != a || got[1].ref != b {
		t.Errorf("got %v, %v; want %s and %s", got, err, a, b)
	}
}

// TestMaxPendingHoldsWithTheDefaults: the default --batch (50) was larger
// than the default --max-pending, and a batch is queued whole when
// nothing waits: 40 scans waited for their callbacks at once. Batches are
// cut to --max-pending.
func TestMaxPendingHoldsWithTheDefaults(t *testing.T) {
	sim, refs := migrationSim(t, 40)
	p := startPipeline(t, sim)
	sim.HoldMigrations() // no callback comes: the scans stay requested
	in := writeInput(t, strings.Join(refs, "\n")+"\n")
	var out, errOut bytes.Buffer
	Main(t.Context(), []string{"migrate-data", in, "--group-by", "scan", "--stall", "2s"}, func(k string) string { return p.vars[k] }, nil, &out, &errOut)
	asked := 0
	for _, c := range sim.MigrationCalls() {
		asked += len(c.ScanReferences)
	}
	if asked == 0 || asked > 8 {
		t.Errorf("%d scans asked for with none called back, want 1 to 8 (the default --max-pending):\n%s%s", asked, out.String(), errOut.String())
	}
}

// TestEraseOneScanOfAUserMidMigration: one end user, three scans in one
// group of a dead-lettered batch; one scan is erased. The whole group (or
// batch) went with it, leaving the user's two other scans requested
// without a batch for good. Only the erased scan leaves the batch; the
// next run migrates the other two, into one account.
func TestEraseOneScanOfAUserMidMigration(t *testing.T) {
	sim, refs := migrationSim(t, 3)
	p := startPipeline(t, sim)
	p.sendNetverify(refs)
	var lines []string
	for _, r := range refs {
		lines = append(lines, r+",user-1")
	}
	in := writeInput(t, strings.Join(lines, "\n")+"\n")
	sim.Inject(jumiotest.Fault{Endpoints: []jumio.Endpoint{jumio.EndpointMigrationCreate}, Status: 403})
	args := []string{"migrate-data", in, "--group-by", "user", "--stall", "5s"}
	p.kycflow(t.Context(), 1, args...)
	p.kycflow(t.Context(), 0, "erase", "--execution", refs[0], "--local-only", "--yes")
	p.kycflow(t.Context(), 0, args...)
	accounts := map[string]bool{}
	for _, ref := range refs[1:] {
		acct, ok := sim.Migrated(ref)
		if !ok {
			t.Errorf("scan %s (not erased) never migrated", ref)
		}
		accounts[acct] = true
	}
	if len(accounts) != 1 {
		t.Errorf("the user's scans went into %d accounts", len(accounts))
	}
}
