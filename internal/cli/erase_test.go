package cli

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/internal/erasure"
	"github.com/kycflow/kycflow/internal/ingest/ingesttest"
	"github.com/kycflow/kycflow/internal/migration"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// TestEraseFailsAtJumioAndCompletesLater erases the account of a migrated
// scan through the whole pipeline: Jumio fails the Netverify deletion
// after the account's went through; the run stops with kycflow's copies
// kept and a record of what is done; the same command then completes it
// without deleting the account twice. Each run leaves an audit record, and
// callbacks that come late become tombstones.
func TestEraseFailsAtJumioAndCompletesLater(t *testing.T) {
	sim := jumiotest.NewServer(jumiotest.Config{Scenario: jumiotest.Scenario{Seed: 23, NetverifyScans: 3,
		NetverifyMix: jumiotest.NetverifyMix{Approved: 1}}})
	t.Cleanup(sim.Close)
	p := startPipeline(t, sim)
	scans := sim.NetverifyScans()
	scan := scans[0]
	p.sendNetverify([]string{scan.Reference, scans[1].Reference})
	f := writeInput(t, scan.Reference+"\n")
	p.kycflow(t.Context(), 0, "migrate-data", f, "--stall", "1m")
	account, ok := sim.Migrated(scan.Reference)
	if !ok {
		t.Fatal("the scan was not migrated")
	}
	copyOf, _ := sim.Execution(scan.Reference)
	p.eventually("the migrated result delivered", func() bool { return p.holds(account) })

	// Jumio fails every attempt to delete the Netverify scan.
	sim.Inject(jumiotest.Fault{Endpoints: []jumio.Endpoint{jumio.EndpointNetverifyScanDelete}, Status: 503, Count: -1})
	out := p.kycflow(t.Context(), 1, "erase", "--account", account, "--yes")
	for _, want := range []string{"deleted at Jumio: platform.account " + account + " (deleted)", "netverify.scan.delete: 503", "run the same command again"} {
		if !strings.Contains(out, want) {
			t.Errorf("failed run lacks %q:\n%s", want, out)
		}
	}
	if _, _, err := newTestClient(t, sim).WorkflowDetails(t.Context(), account, scan.Reference); err == nil {
		t.Error("the account is still at Jumio after its deletion")
	}
	if !p.holds(account) || !p.holds(scan.Reference) {
		t.Fatal("kycflow's copies were removed although Jumio's part failed")
	}
	audit := p.kycflow(t.Context(), 0, "erase", "--audit")
	if !strings.Contains(audit, "incomplete") || !strings.Contains(audit, "not completed: erasure") {
		t.Errorf("audit after the failed run:\n%s", audit)
	}

	// Jumio is back: the same command completes the erasure.
	sim.ClearFaults()
	out = p.kycflow(t.Context(), 0, "erase", "--account", account, "--yes")
	for _, want := range []string{"did not complete (run 2): completing it", "done earlier: deleted", "deleted at Jumio: netverify.scan " + scan.Reference + " (deleted)", "erased account " + account} {
		if !strings.Contains(out, want) {
			t.Errorf("second run lacks %q:\n%s", want, out)
		}
	}
	if n := sim.Requests(jumio.EndpointAccountDelete); n != 1 {
		t.Errorf("the account was deleted %d times at Jumio, want once", n)
	}
	if _, err := newTestClient(t, sim).NetverifyScan(t.Context(), scan.Reference); err == nil {
		t.Error("the Netverify scan is still at Jumio")
	}
	if p.holds(account) || p.holds(scan.Reference) {
		t.Error("kycflow still holds messages or records of the erased account or its Netverify original")
	}
	if !p.holds(scans[1].Reference) {
		t.Error("the erasure removed another scan's messages")
	}
	// Nor in what the migration's records hold: its account group and
	// the finished batch that asked for the scan.
	for _, m := range brokertest.Messages(t, p.js, "KV_"+migration.Bucket) {
		if strings.Contains(string(m.Data), account) || strings.Contains(string(m.Data), scan.Reference) {
			t.Errorf("the migration bucket still holds %s: %s", m.Subject, m.Data)
		}
	}
	audit = p.kycflow(t.Context(), 0, "erase", "--audit", "--json")
	if !strings.Contains(audit, `"outcome": "completed"`) || !strings.Contains(audit, `"outcome": "incomplete"`) || strings.Contains(audit, `"unfinished": [
    {`) {
		t.Errorf("audit after completion:\n%s", audit)
	}
	for _, pd := range []string{scan.Callback.Get("idFirstName"), scan.Callback.Get("idLastName"), scan.Callback.Get("idNumber")} {
		if pd != "" && strings.Contains(audit, pd) {
			t.Errorf("the audit records hold personal data")
		}
	}

	// Erasing it again: Jumio's 404 means deleted already.
	out = p.kycflow(t.Context(), 0, "erase", "--account", account, "--yes")
	if !strings.Contains(out, "deleted at Jumio: platform.account "+account+" (not found)") {
		t.Errorf("third run:\n%s", out)
	}

	// Late callbacks of the erased transactions become tombstones.
	before := len(p.results())
	now := time.Now().UTC()
	post := func(path, contentType string, body []byte) {
		resp, err := http.Post(p.ingest+path, contentType, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("late callback: %d", resp.StatusCode)
		}
	}
	post("/callbacks/platform", "application/json", sim.PlatformCallback(copyOf, now, copyOf.UserReference))
	post("/callbacks/netverify", "application/x-www-form-urlencoded", sim.NetverifyCallback(scan, now))
	p.eventually("the tombstones delivered", func() bool { return len(p.results()) == before+2 })
	for _, r := range p.results()[before:] {
		if r.Timestamps.WipedOut == nil || r.Person != nil || r.Document != nil || r.Decision.Type == events.DecisionPassed {
			t.Errorf("late result of %s: %+v, want a tombstone", r.IDs.WorkflowExecutionID, r)
		}
	}
	if n := len(brokertest.Messages(t, p.js, events.StreamDLQ)); n != 0 {
		t.Errorf("%d dead letters, want none", n)
	}
}

// TestEraseNeedsJumioOrLocalOnly: without Jumio credentials or a local
// simulator, erase refuses unless asked to erase kycflow's copies only.
func TestEraseNeedsJumioOrLocalOnly(t *testing.T) {
	s := newServer(t)
	out := s.kycflow(1, "erase", "--account", "4a1b2c3d-5e6f-4711-8899-aabbccddeeff", "--yes")
	if !strings.Contains(out, "--local-only") {
		t.Errorf("without credentials: %s", out)
	}
	out = s.kycflow(0, "erase", "--account", "4a1b2c3d-5e6f-4711-8899-aabbccddeeff", "--yes", "--local-only")
	if !strings.Contains(out, "nothing stored") {
		t.Errorf("--local-only: %s", out)
	}
}

// holds reports whether kycflow holds a message or record whose subject
// names id, in the four streams and the stages' and the migration's
// buckets.
func (p *pipeline) holds(id string) bool {
	p.t.Helper()
	for _, st := range append([]string{events.StreamCallbacks, events.StreamEnriched, events.StreamResults, events.StreamDLQ}, kvStreams()...) {
		if st == "KV_"+erasure.Bucket {
			continue // the erasure's own record and markers
		}
		if _, err := p.js.Stream(p.t.Context(), st); err != nil {
			continue
		}
		for _, m := range brokertest.Messages(p.t, p.js, st) {
			if strings.Contains(m.Subject, id) {
				return true
			}
		}
	}
	return false
}

// TestEraseExecutionAtJumio erases one Platform execution and one Netverify
// authentication through the whole pipeline: each is deleted at Jumio with
// its own endpoint (never the account, nor a scan), the other execution
// stays, and erasing them again finds them deleted (Jumio's 404).
func TestEraseExecutionAtJumio(t *testing.T) {
	sim := jumiotest.NewServer(jumiotest.Config{Scenario: jumiotest.Scenario{Seed: 31, Executions: 2, NetverifyScans: 2,
		NetverifyMix: jumiotest.NetverifyMix{AuthPassed: 1}}})
	t.Cleanup(sim.Close)
	p := startPipeline(t, sim)
	execs, auths := sim.Executions(), sim.NetverifyScans()
	sendCallbacks(t, sim, jumiotest.CallbackOptions{URL: p.ingest + "/callbacks/platform", Concurrency: 2})
	p.eventually("the results delivered", func() bool { return len(p.results()) >= len(execs)+len(auths) })
	gone, kept, auth := execs[0], execs[1], auths[0]
	if auth.Kind != events.KindAuthentication {
		t.Fatalf("scan %s is a %s, want an authentication", auth.Reference, auth.Kind)
	}

	out := p.kycflow(t.Context(), 0, "erase", "--execution", gone.ID, "--yes")
	if !strings.Contains(out, "deleted at Jumio: platform.execution "+gone.ID+" (deleted)") || strings.Contains(out, "netverify.scan") {
		t.Errorf("erase of an execution:\n%s", out)
	}
	out = p.kycflow(t.Context(), 0, "erase", "--execution", auth.Reference, "--yes")
	if !strings.Contains(out, "deleted at Jumio: netverify.authentication "+auth.Reference+" (deleted)") {
		t.Errorf("erase of an authentication:\n%s", out)
	}
	for ep, want := range map[jumio.Endpoint]int{jumio.EndpointExecutionDelete: 1, jumio.EndpointNetverifyAuthenticationDelete: 1,
		jumio.EndpointAccountDelete: 0, jumio.EndpointNetverifyScanDelete: 0} {
		if n := sim.Requests(ep); n != want {
			t.Errorf("%s: %d requests, want %d", ep, n, want)
		}
	}
	client := newTestClient(t, sim)
	if d, _, err := client.WorkflowDetails(t.Context(), gone.AccountID, gone.ID); err == nil && d.WipedOutAt.IsZero() {
		t.Error("the erased execution is still at Jumio")
	}
	if _, _, err := client.WorkflowDetails(t.Context(), kept.AccountID, kept.ID); err != nil {
		t.Errorf("the other execution: %v", err)
	}
	if p.holds(gone.ID) || p.holds(auth.Reference) {
		t.Error("kycflow still holds messages or records of the erased transactions")
	}
	if !p.holds(kept.ID) {
		t.Error("the erasure removed another execution's messages")
	}

	// Again: Jumio answers 404, which is deleted already.
	out = p.kycflow(t.Context(), 0, "erase", "--execution", auth.Reference, "--yes")
	if !strings.Contains(out, "deleted at Jumio: netverify.authentication "+auth.Reference+" (not found)") || strings.Contains(out, "did not complete") ||
		!strings.Contains(out, "0 deleted at Jumio (1 gone already)") {
		t.Errorf("second erase of the authentication (a 404 is not counted as a deletion):\n%s", out)
	}
	// And the Platform execution: the last run's record knows it for one,
	// though kycflow holds nothing of it any more.
	out = p.kycflow(t.Context(), 0, "erase", "--execution", gone.ID, "--yes")
	if !strings.Contains(out, "deleted at Jumio: platform.execution "+gone.ID) || strings.Contains(out, "netverify.scan") {
		t.Errorf("second erase of the execution:\n%s", out)
	}
}

// TestEraseRefusesIDsNotAsStored: an id in another case than kycflow
// stored it, and an execution given with an account it is not stored
// under, would erase nothing (or part) and report the erasure done; each
// is refused, naming what is stored, and nothing is deleted anywhere.
func TestEraseRefusesIDsNotAsStored(t *testing.T) {
	sim := jumiotest.NewServer(jumiotest.Config{Scenario: jumiotest.Scenario{Seed: 37, Executions: 2}})
	t.Cleanup(sim.Close)
	p := startPipeline(t, sim)
	execs := sim.Executions()
	sendCallbacks(t, sim, jumiotest.CallbackOptions{URL: p.ingest + "/callbacks/platform", Concurrency: 2})
	p.eventually("the results delivered", func() bool { return len(p.results()) >= len(execs) })
	x, other := execs[0], execs[1]
	if x.AccountID == other.AccountID {
		t.Fatal("the test wants two accounts")
	}

	out := p.kycflow(t.Context(), 2, "erase", "--account", strings.ToUpper(x.AccountID), "--yes")
	if !strings.Contains(out, "holds data under account "+x.AccountID) {
		t.Errorf("erase of the account in upper case:\n%s", out)
	}
	out = p.kycflow(t.Context(), 2, "erase", "--execution", x.ID, "--account", other.AccountID, "--yes")
	if !strings.Contains(out, "stored under account "+x.AccountID+", not "+other.AccountID) {
		t.Errorf("erase of an execution with another account:\n%s", out)
	}
	if !p.holds(x.ID) || !p.holds(other.ID) {
		t.Error("a refused erasure removed messages")
	}
	for _, ep := range []jumio.Endpoint{jumio.EndpointAccountDelete, jumio.EndpointExecutionDelete} {
		if n := sim.Requests(ep); n != 0 {
			t.Errorf("%s: %d requests, want none", ep, n)
		}
	}
	// As stored, the execution with its own account erases.
	out = p.kycflow(t.Context(), 0, "erase", "--execution", x.ID, "--account", x.AccountID, "--yes")
	if !strings.Contains(out, "execution "+x.ID+" of account "+x.AccountID) || p.holds(x.ID) {
		t.Errorf("erase of the execution as stored:\n%s", out)
	}
}

// TestEraseWaitsForAMigrationBatch: an account a migration batch still
// being sent holds is not erased under the migration's feet, which could
// bring back at Jumio what the erasure deleted: the erasure is refused,
// naming the batch, and nothing is removed.
func TestEraseWaitsForAMigrationBatch(t *testing.T) {
	s := newServer(t)
	const account, scan = "4a1b2c3d-5e6f-4711-8899-aabbccddeeff", "5b6c7d8e-1111-4222-8333-944455556666"
	store, err := migration.Ensure(t.Context(), s.js, migration.StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	b := migration.Batch{ID: "b-open", Groups: []migration.Group{{Key: "user:u-1", AccountID: account, ScanReferences: []string{scan}}}}
	if err := store.QueueBatch(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	out := s.kycflow(1, "erase", "--account", account, "--local-only", "--yes")
	if !strings.Contains(out, "migration batch b-open") || !strings.Contains(out, "still being sent") {
		t.Errorf("erase during the migration:\n%s", out)
	}
	if _, ok, err := store.Batch(t.Context(), "b-open"); err != nil || !ok {
		t.Errorf("the open batch is gone (%v)", err)
	}
}

// TestEraseRefusesAnAuditRetentionItCannotKeep: KYCFLOW_STREAM_AUDIT_MAX_AGE
// that does not parse, or is 0 (JetStream's "no limit"), is refused
// before anything is done; it was read as the default without a word.
func TestEraseRefusesAnAuditRetentionItCannotKeep(t *testing.T) {
	for _, v := range []string{"0", "5y", "-1d"} {
		var out, errOut ingesttest.SyncBuffer
		env := map[string]string{"KYCFLOW_STREAM_AUDIT_MAX_AGE": v}
		code := Main(t.Context(), []string{"erase", "--audit", "--nats-url", "nats://127.0.0.1:1"}, func(k string) string { return env[k] }, nil, &out, &errOut)
		if code == 0 || !strings.Contains(errOut.String(), "KYCFLOW_STREAM_AUDIT_MAX_AGE="+v+": want") {
			t.Errorf("%s: exit %d, stderr %q", v, code, errOut.String())
		}
	}
}
