package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/internal/erasure"
	"github.com/kycflow/kycflow/internal/ingest/ingesttest"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// These tests erase a subject in the moments an erasure meets in
// practice (a migration under way, a callback being enriched, a callback
// still to come) and then look for the subject's personal data in every
// stream that holds callbacks and results.

// auditPII lists "stream subject" of every message in the four data
// streams whose subject names id and whose payload holds one of the
// personal-data values pd.
func auditPII(t *testing.T, p *pipeline, id string, pd ...string) []string {
	t.Helper()
	var out []string
	for _, st := range []string{events.StreamCallbacks, events.StreamEnriched, events.StreamResults, events.StreamDLQ} {
		for _, m := range brokertest.Messages(t, p.js, st) {
			if !strings.Contains(m.Subject, id) {
				continue
			}
			for _, v := range pd {
				if v != "" && strings.Contains(string(m.Data), v) {
					out = append(out, st+" "+m.Subject+" (holds "+v+")")
					break
				}
			}
		}
	}
	return out
}

// scanPipeline runs the pipeline against a simulator with an approved
// Netverify scan, which it returns.
func scanPipeline(t *testing.T) (*jumiotest.Server, *pipeline, jumiotest.NetverifyScan) {
	sim := jumiotest.NewServer(jumiotest.Config{Scenario: jumiotest.Scenario{Seed: 23, NetverifyScans: 3,
		NetverifyMix: jumiotest.NetverifyMix{Approved: 1}}})
	t.Cleanup(sim.Close)
	return sim, startPipeline(t, sim), sim.NetverifyScans()[0]
}

func scanPII(sc jumiotest.NetverifyScan) []string {
	return []string{sc.Callback.Get("idFirstName"), sc.Callback.Get("idLastName"), sc.Callback.Get("idNumber"), sc.Callback.Get("idDob")}
}

// TestEraseMigratedExecutionWithItsAccount: --execution <migrated scan>
// --account <its account> (a form the command accepts,
// TestEraseRefusesIDsNotAsStored) left the Netverify original (legacy
// subjects), the full callback form with it. It is erased with the
// migrated copy.
func TestEraseMigratedExecutionWithItsAccount(t *testing.T) {
	sim, p, scan := scanPipeline(t)
	p.sendNetverify([]string{scan.Reference})
	p.kycflow(t.Context(), 0, "migrate-data", writeInput(t, scan.Reference+"\n"), "--stall", "1m")
	account, ok := sim.Migrated(scan.Reference)
	if !ok {
		t.Fatal("the scan was not migrated")
	}
	p.eventually("the migrated result delivered", func() bool { return p.holds(account) })

	out := p.kycflow(t.Context(), 0, "erase", "--execution", scan.Reference, "--account", account, "--yes")
	t.Logf("erase:\n%s", out)
	if left := auditPII(t, p, scan.Reference, scanPII(scan)...); len(left) > 0 {
		t.Errorf("after a completed erase, kycflow still holds the subject's personal data:\n  %s", strings.Join(left, "\n  "))
	}
}

// TestEraseAccountWithMigrationPending: an account erased while Jumio has
// accepted the migration of a scan into it but its callback has not come:
// the Netverify original stayed in kycflow and the scan at Jumio, and the
// migration records, the only link between the two, were purged, so that
// a second run found nothing. The account's migrated scans are erased
// with it, at Jumio too.
func TestEraseAccountWithMigrationPending(t *testing.T) {
	sim, p, scan := scanPipeline(t)
	p.sendNetverify([]string{scan.Reference})
	sim.HoldMigrations() // Jumio accepted the migration; its callback comes later
	var mo, me bytes.Buffer
	code := Main(t.Context(), []string{"migrate-data", writeInput(t, scan.Reference+"\n"), "--stall", "3s"},
		func(k string) string { return p.vars[k] }, nil, &mo, &me)
	t.Logf("migrate-data: exit %d\n%s%s", code, mo.String(), me.String())
	account := ""
	for _, c := range sim.MigrationCalls() {
		if c.Status == http.StatusOK {
			account = c.AccountID
		}
	}
	if account == "" {
		t.Fatal("no migration accepted")
	}

	out := p.kycflow(t.Context(), 0, "erase", "--account", account, "--yes")
	t.Logf("erase --account %s:\n%s", account, out)
	if left := auditPII(t, p, scan.Reference, scanPII(scan)...); len(left) > 0 {
		t.Errorf("after a completed erase of the account its scan was migrated into, kycflow still holds:\n  %s", strings.Join(left, "\n  "))
	}
	if _, err := newTestClient(t, sim).NetverifyScan(t.Context(), scan.Reference); err == nil {
		t.Errorf("the Netverify scan migrated into the erased account is still at Jumio")
	}
}

// TestEraseWhileACallbackIsEnriched: a callback being enriched while the
// erase runs has its result stored after the plan counted JUMIO_ENRICHED
// and JUMIO_RESULTS empty. Those purges were skipped yet recorded done,
// and the erase said it completed with the person still stored. Every
// filter is purged, and counted as it is purged.
func TestEraseWhileACallbackIsEnriched(t *testing.T) {
	sim := jumiotest.NewServer(jumiotest.Config{Scenario: jumiotest.Scenario{Seed: 41, Executions: 1}})
	t.Cleanup(sim.Close)
	p := startPipeline(t, sim)
	x := sim.Executions()[0]
	// Retrieval takes 2s; Jumio takes 6s to answer the deletion.
	sim.Inject(jumiotest.Fault{Endpoints: []jumio.Endpoint{jumio.EndpointWorkflowDetails}, Latency: 2 * time.Second, Count: -1})
	sim.Inject(jumiotest.Fault{Endpoints: []jumio.Endpoint{jumio.EndpointExecutionDelete}, Latency: 6 * time.Second})
	resp, err := http.Post(p.ingest+"/callbacks/platform", "application/json", bytes.NewReader(sim.PlatformCallback(x, time.Now().UTC(), x.UserReference)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	p.eventually("the callback stored", func() bool { return len(brokertest.Messages(t, p.js, events.StreamCallbacks)) == 1 })

	out := p.kycflow(t.Context(), 0, "erase", "--execution", x.ID, "--yes")
	t.Logf("erase:\n%s", out)
	sim.ClearFaults()
	time.Sleep(2 * time.Second) // let the notifier settle
	stored := map[string]time.Time{}
	for _, st := range []string{events.StreamEnriched, events.StreamResults} {
		for _, m := range brokertest.Messages(t, p.js, st) {
			var r events.Result
			if st == events.StreamEnriched {
				var ee events.EnrichedEvent
				_ = json.Unmarshal(m.Data, &ee)
				r = ee.Result
			} else {
				_ = json.Unmarshal(m.Data, &r)
			}
			if strings.Contains(m.Subject, x.ID) && r.Person != nil {
				t.Errorf("after the erase reported completion, %s %s (stored %s) holds the person", st, m.Subject, m.Time.Format(time.RFC3339Nano))
				stored[st] = m.Time
			}
		}
	}
	audit := p.kycflow(t.Context(), 0, "erase", "--audit", "--json")
	var a struct{ Audit []erasure.Audit }
	_ = json.Unmarshal([]byte(audit), &a)
	for _, rec := range a.Audit {
		for _, l := range rec.Local {
			if l.Stream == events.StreamEnriched || l.Stream == events.StreamResults {
				t.Logf("audit (outcome %s): %s %s done=%v removed=%d at %s", rec.Outcome, l.Stream, l.Filter, l.Done, l.Removed, l.At.Format(time.RFC3339Nano))
				if at, ok := stored[l.Stream]; ok && at.Before(l.At) && l.Removed == 0 {
					t.Errorf("%s: the message was stored before this purge step, which removed nothing and is recorded done", l.Filter)
				}
			}
		}
	}
}

// TestEraseLocalOnlyBeforeTheCallback: --local-only of a scan kycflow
// holds nothing of yet wrote no marker and no audit record, and said
// there was nothing to delete at Jumio, which it never asked; the
// callback that came later was enriched in full. The scan is marked
// erased, the run audited, and the callback becomes a tombstone.
func TestEraseLocalOnlyBeforeTheCallback(t *testing.T) {
	_, p, scan := scanPipeline(t)
	out := p.kycflow(t.Context(), 0, "erase", "--execution", scan.Reference, "--local-only", "--yes")
	if strings.Contains(out, "nothing to delete at Jumio") {
		t.Errorf("--local-only run claims Jumio had nothing:\n%s", out)
	}
	if audit := p.kycflow(t.Context(), 0, "erase", "--audit"); !strings.Contains(audit, scan.Reference) {
		t.Errorf("no audit record of the run:\n%s", audit)
	}
	p.sendNetverify([]string{scan.Reference}) // Jumio's (retried) callback arrives
	if left := auditPII(t, p, scan.Reference, scanPII(scan)...); len(left) > 0 {
		t.Errorf("a callback of the erased scan arriving after the erase is stored and enriched in full:\n  %s", strings.Join(left, "\n  "))
	}
}

// TestEraseLocalOnlyNeedsJumiosSpelling: with nothing stored, an id in
// upper case was marked erased under that spelling, which no callback
// ever carries (markers are exact): the later callback was enriched in
// full. Such a run is refused.
func TestEraseLocalOnlyNeedsJumiosSpelling(t *testing.T) {
	s := newServer(t)
	out := s.kycflow(2, "erase", "--execution", strings.ToUpper("5b6c7d8e-1111-4222-8333-944455556666"), "--local-only", "--yes")
	if !strings.Contains(out, "lower case") {
		t.Errorf("erase of an upper-case id kycflow holds nothing of:\n%s", out)
	}
}

// TestEraseRemovesWhatWasStoredAsItBegan: a stage that read the scan's
// data before the erasure was marked stores its result after the
// erasure's purge (a publish in flight, the notifier's copy to
// JUMIO_RESULTS). The erasure reported completion with that copy kept;
// it waits --settle and purges the erased executions once more, says what
// it removed then, and its audit record counts it. Stopped during the
// wait, its audit record keeps what the first purge removed.
func TestEraseRemovesWhatWasStoredAsItBegan(t *testing.T) {
	_, p, scan := scanPipeline(t)
	p.sendNetverify([]string{scan.Reference})
	p.eventually("the result delivered", func() bool { return len(auditPII(t, p, scan.Reference, scanPII(scan)...)) > 0 })
	var late []*jetstream.RawStreamMsg
	for _, m := range brokertest.Messages(t, p.js, events.StreamResults) {
		if strings.Contains(m.Subject, scan.Reference) {
			late = append(late, m)
		}
	}
	if len(late) == 0 {
		t.Fatal("no result of the scan in JUMIO_RESULTS")
	}
	storeLate := func() {
		for _, m := range late {
			// The copy the notifier stores after the purge (its message
			// id is its own: a new message, not a duplicate).
			if _, err := p.js.Publish(t.Context(), m.Subject, m.Data); err != nil {
				t.Fatal(err)
			}
		}
	}
	erase := func(ctx context.Context, out *ingesttest.SyncBuffer) <-chan int {
		code := make(chan int, 1)
		go func() {
			code <- Main(ctx, []string{"erase", "--execution", scan.Reference, "--local-only", "--yes", "--settle", "2s"},
				func(k string) string { return p.vars[k] }, nil, out, out)
		}()
		p.eventually("the erasure's purge", func() bool { return strings.Contains(out.String(), "waiting 2s") })
		return code
	}
	removed := func() (n uint64) {
		var a struct {
			Audit []erasure.Audit `json:"audit"`
		}
		if err := json.Unmarshal([]byte(p.kycflow(t.Context(), 0, "erase", "--audit", "--json")), &a); err != nil || len(a.Audit) == 0 {
			t.Fatalf("audit records: %v", err)
		}
		for _, st := range a.Audit[len(a.Audit)-1].Local {
			n += st.Removed
		}
		return n
	}

	// Stopped while it waits: the record keeps the first purge's counts.
	var out ingesttest.SyncBuffer
	ctx, cancel := context.WithCancel(t.Context())
	code := erase(ctx, &out)
	cancel()
	if c := <-code; c == 0 {
		t.Fatalf("erase stopped while it waited: exit 0:\n%s", out.String())
	}
	first := removed()
	if first == 0 {
		t.Errorf("erase stopped after its purge: its audit record counts nothing removed:\n%s", out.String())
	}

	// Again, with the late copy stored while it waits.
	storeLate() // stored after the first run's purge
	out = ingesttest.SyncBuffer{}
	code = erase(t.Context(), &out)
	storeLate()
	if c := <-code; c != 0 {
		t.Fatalf("erase: exit %d:\n%s", c, out.String())
	}
	t.Logf("erase:\n%s", out.String())
	if !strings.Contains(out.String(), "stored as the erasure began, removed since") {
		t.Errorf("erase does not say what it removed after it settled:\n%s", out.String())
	}
	if n := removed(); n != uint64(2*len(late)) {
		t.Errorf("the completed run's audit record counts %d removed, want %d (the copy stored before it began and the one stored as it waited)", n, 2*len(late))
	}
	if left := auditPII(t, p, scan.Reference, scanPII(scan)...); len(left) > 0 {
		t.Errorf("after a completed erase, kycflow still holds the subject's personal data:\n  %s\nerase:\n%s", strings.Join(left, "\n  "), out.String())
	}
}

// TestEraseLeavesANewExecutionCalledBackAsItSettles: an account is erased
// (--local-only) and, while the erasure waits to purge once more, the end
// user verifies again in the same account. The new execution is a
// verification of its own: its callback and its result stay, where a
// purge of the whole account again would have taken them (ingest had
// answered 200; Jumio would never send it again).
func TestEraseLeavesANewExecutionCalledBackAsItSettles(t *testing.T) {
	sim := jumiotest.NewServer(jumiotest.Config{Scenario: jumiotest.Scenario{Seed: 43, Executions: 1, Mix: jumiotest.Mix{Passed: 1}}})
	t.Cleanup(sim.Close)
	p := startPipeline(t, sim)
	x := sim.Executions()[0]
	post := func(e jumiotest.Execution) {
		t.Helper()
		resp, err := http.Post(p.ingest+"/callbacks/platform", "application/json", bytes.NewReader(sim.PlatformCallback(e, time.Now().UTC(), e.UserReference)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("callback of %s: status %d", e.ID, resp.StatusCode)
		}
	}
	post(x)
	p.eventually("the first result delivered", func() bool { return p.holds(x.ID) && len(p.results()) == 1 })

	var out ingesttest.SyncBuffer
	code := make(chan int, 1)
	go func() {
		code <- Main(t.Context(), []string{"erase", "--account", x.AccountID, "--local-only", "--yes", "--settle", "3s"},
			func(k string) string { return p.vars[k] }, nil, &out, &out)
	}()
	p.eventually("the erasure's purge", func() bool { return strings.Contains(out.String(), "waiting 3s") })
	gen, _ := jumiotest.Generate(jumiotest.Scenario{Seed: 44, Executions: 1, Mix: jumiotest.Mix{Passed: 1}, Start: time.Now()})
	y := gen[0]
	y.Details = bytes.ReplaceAll(y.Details, []byte(y.AccountID), []byte(x.AccountID))
	y.AccountID = x.AccountID
	if err := sim.AddExecution(y); err != nil {
		t.Fatal(err)
	}
	post(y)
	p.eventually("the new execution's result delivered", func() bool {
		for _, r := range p.results() {
			if r.IDs.WorkflowExecutionID == y.ID {
				return true
			}
		}
		return false
	})
	if c := <-code; c != 0 {
		t.Fatalf("erase: exit %d:\n%s", c, out.String())
	}
	t.Logf("erase:\n%s", out.String())
	for _, st := range []string{events.StreamCallbacks, events.StreamEnriched, events.StreamResults} {
		n := 0
		for _, m := range brokertest.Messages(t, p.js, st) {
			if strings.HasSuffix(m.Subject, "."+y.ID) {
				n++
			}
		}
		if n == 0 {
			t.Errorf("%s holds nothing of the execution called back as the erasure settled", st)
		}
	}
}
