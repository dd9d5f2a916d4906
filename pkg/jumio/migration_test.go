package jumio_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// callbackSink collects the Platform callbacks posted to it.
type callbackSink struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []wire.Callback
	new chan struct{}
}

func newCallbackSink(t *testing.T) *callbackSink {
	cs := &callbackSink{new: make(chan struct{}, 1000)}
	cs.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var cb wire.Callback
		if err := json.Unmarshal(b, &cb); err != nil {
			t.Errorf("callback is not JSON: %v", err)
		}
		cs.mu.Lock()
		cs.got = append(cs.got, cb)
		cs.mu.Unlock()
		cs.new <- struct{}{}
	}))
	t.Cleanup(cs.srv.Close)
	return cs
}

// wait returns once n callbacks came (or the test's deadline passed).
func (cs *callbackSink) wait(t *testing.T, n int) []wire.Callback {
	t.Helper()
	for {
		cs.mu.Lock()
		got := slices.Clone(cs.got)
		cs.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-cs.new:
		case <-t.Context().Done():
			t.Fatalf("%d callbacks came, want %d", len(got), n)
		}
	}
}

// idScans returns the references of the simulator's ID-verification
// scans that have data.
func idScans(srv *jumiotest.Server) []jumiotest.NetverifyScan {
	var out []jumiotest.NetverifyScan
	for _, sc := range srv.NetverifyScans() {
		if sc.Kind == events.KindIDVerification && sc.Data != nil {
			out = append(out, sc)
		}
	}
	return out
}

func TestMigrateScans(t *testing.T) {
	srv := startSim(t, jumiotest.Config{Scenario: jumiotest.Scenario{Seed: 3, NetverifyScans: 12}})
	c := newClient(t, srv, fastRetries)
	sink := newCallbackSink(t)
	scans := idScans(srv)
	if len(scans) < 3 {
		t.Fatalf("scenario has %d ID scans, want 3", len(scans))
	}
	refs := []string{scans[0].Reference, scans[1].Reference}
	ctx := jumio.WithLane(t.Context(), jumio.LaneMigrate)
	resp, err := c.MigrateScans(ctx, "", wire.MigrationRequest{ScanReferences: refs, CallbackURL: sink.srv.URL})
	if err != nil {
		t.Fatalf("MigrateScans: %v", err)
	}
	account := resp.Account.ID
	// One callback per scan, the scan reference as the execution id.
	var gotIDs []string
	for _, cb := range sink.wait(t, 2) {
		if cb.Account.ID != account || cb.WorkflowExecution.Status == "" {
			t.Errorf("callback %+v: want account %s and a status", cb, account)
		}
		gotIDs = append(gotIDs, cb.WorkflowExecution.ID)
	}
	slices.Sort(gotIDs)
	slices.Sort(refs)
	if diff := cmp.Diff(refs, gotIDs); diff != "" {
		t.Errorf("callbacks' execution ids (-want +got):\n%s", diff)
	}
	// The migrated execution is served through the Platform retrieval API
	// from the Netverify data.
	d, _, err := c.WorkflowDetails(ctx, account, scans[0].Reference)
	if err != nil {
		t.Fatalf("WorkflowDetails of a migrated scan: %v", err)
	}
	if d.Workflow.ID != scans[0].Reference || d.Workflow.UserReference == "" {
		t.Errorf("migrated details: id %s userReference %q, want the scan reference and the Netverify customerId", d.Workflow.ID, d.Workflow.UserReference)
	}
	// A third scan goes into the same account.
	if resp, err := c.MigrateScans(ctx, account, wire.MigrationRequest{ScanReferences: []string{scans[2].Reference}, CallbackURL: sink.srv.URL}); err != nil || resp.Account.ID != account {
		t.Fatalf("MigrateScans into the account: %v, %+v", err, resp)
	}
	sink.wait(t, 3)
	if got, ok := srv.Migrated(scans[2].Reference); !ok || got != account {
		t.Errorf("third scan migrated into %q (%v), want %s", got, ok, account)
	}
	// The budget lanes counted the requests in the migration lane.
	var migrate uint64
	for _, ls := range c.Lanes() {
		if ls.Lane == jumio.LaneMigrate {
			migrate += ls.Granted
		}
	}
	// Two migration requests (account and retrieval limiters each) and
	// one details request.
	if migrate != 5 {
		t.Errorf("migrate lane let %d requests through, want 5", migrate)
	}
}

// TestMigrationErrors: every error the migration API documents comes back
// as a *MigrationError of its class, naming the scans concerned.
func TestMigrationErrors(t *testing.T) {
	srv := startSim(t, jumiotest.Config{Scenario: jumiotest.Scenario{Seed: 5, NetverifyScans: 20}, MigrationDelay: time.Hour})
	c := newClient(t, srv, fastRetries)
	scans := idScans(srv)
	pending := "11111111-2222-4333-8444-555555555555"
	if err := srv.AddNetverifyScan(jumiotest.NetverifyScan{Kind: events.KindIDVerification, Reference: pending, Status: "PENDING", Data: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	// One migrating (the delay keeps it in progress), one deleted.
	if _, err := c.MigrateScans(t.Context(), "", wire.MigrationRequest{ScanReferences: []string{scans[0].Reference}}); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteNetverifyScan(t.Context(), scans[1].Reference); err != nil {
		t.Fatal(err)
	}
	unknown := "99999999-8888-4777-8666-555555555555"
	for _, tc := range []struct {
		name    string
		account string
		refs    []string
		class   jumio.MigrationClass
		named   []string
	}{
		{"wiped out", "", []string{scans[2].Reference, scans[1].Reference}, jumio.MigrationWipedOut, []string{scans[1].Reference}},
		{"not found", "", []string{unknown, scans[2].Reference}, jumio.MigrationNotFound, []string{unknown}},
		{"not final", "", []string{pending}, jumio.MigrationNotFinal, []string{pending}},
		{"in progress", "", []string{scans[0].Reference}, jumio.MigrationInProgress, []string{scans[0].Reference}},
		{"account not found", unknown, []string{scans[2].Reference}, jumio.MigrationAccountNotFound, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.MigrateScans(t.Context(), tc.account, wire.MigrationRequest{ScanReferences: tc.refs})
			var me *jumio.MigrationError
			if !errors.As(err, &me) {
				t.Fatalf("MigrateScans: %v, want a *MigrationError", err)
			}
			if me.Class != tc.class || !cmp.Equal(me.ScanReferences, tc.named) {
				t.Errorf("class %s naming %v, want %s naming %v", me.Class, me.ScanReferences, tc.class, tc.named)
			}
			var ae *jumio.APIError
			if !errors.As(err, &ae) || jumio.Classify(err).Kind != jumio.Permanent {
				t.Errorf("%v: want it to unwrap to a permanent *APIError", err)
			}
		})
	}
	// Already migrated: once the copy exists.
	quick := startSim(t, jumiotest.Config{Scenario: jumiotest.Scenario{Seed: 5, NetverifyScans: 20}})
	qc := newClient(t, quick, fastRetries)
	ref := idScans(quick)[0].Reference
	if _, err := qc.MigrateScans(t.Context(), "", wire.MigrationRequest{ScanReferences: []string{ref}}); err != nil {
		t.Fatal(err)
	}
	for {
		if _, ok := quick.Migrated(ref); ok {
			break
		}
		select {
		case <-t.Context().Done():
			t.Fatal("scan never migrated")
		case <-time.After(10 * time.Millisecond):
		}
	}
	_, err := qc.MigrateScans(t.Context(), "", wire.MigrationRequest{ScanReferences: []string{ref}})
	var me *jumio.MigrationError
	if !errors.As(err, &me) || me.Class != jumio.MigrationAlreadyMigrated {
		t.Errorf("migrating a migrated scan: %v, want %s", err, jumio.MigrationAlreadyMigrated)
	}
}

// TestDeletes: Jumio's delete endpoints, and what retrieval answers after
// them.
func TestDeletes(t *testing.T) {
	srv := startSim(t, jumiotest.Config{Scenario: jumiotest.Scenario{Seed: 9, Executions: 3, NetverifyScans: 12}})
	c := newClient(t, srv, fastRetries)
	ctx := t.Context()
	execs := srv.Executions()

	// An execution: its details stay, wiped out, without extracted data.
	e := execs[0]
	if err := c.DeleteWorkflowExecution(ctx, e.AccountID, e.ID); err != nil {
		t.Fatalf("DeleteWorkflowExecution: %v", err)
	}
	d, raw, err := c.WorkflowDetails(ctx, e.AccountID, e.ID)
	if err != nil {
		t.Fatalf("details after delete: %v", err)
	}
	if d.WipedOutAt.IsZero() {
		t.Error("details after delete have no wipedOutAt")
	}
	for _, caps := range d.Capabilities {
		for _, cp := range caps {
			if len(cp.Data) > 0 {
				t.Errorf("wiped details still hold capability data: %s", raw)
			}
		}
	}
	for _, cr := range d.Credentials {
		if len(cr.Parts) > 0 {
			t.Errorf("wiped details still list credential parts")
		}
	}

	// An account: gone with its executions.
	a := execs[1]
	if err := c.DeleteAccount(ctx, a.AccountID); err != nil {
		t.Fatalf("DeleteAccount: %v", err)
	}
	if _, _, err := c.WorkflowDetails(ctx, a.AccountID, a.ID); !errors.Is(err, jumio.ErrNotFound) {
		t.Errorf("details of a deleted account: %v, want ErrNotFound", err)
	}
	if err := c.DeleteAccount(ctx, a.AccountID); !errors.Is(err, jumio.ErrNotFound) {
		t.Errorf("deleting it again: %v, want ErrNotFound (already deleted)", err)
	}

	// A Netverify scan, migrated: the scan is gone, its copy wiped.
	sc := idScans(srv)[0]
	resp, err := c.MigrateScans(ctx, "", wire.MigrationRequest{ScanReferences: []string{sc.Reference}})
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, ok := srv.Migrated(sc.Reference); ok {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("scan never migrated")
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := c.DeleteNetverifyScan(ctx, sc.Reference); err != nil {
		t.Fatalf("DeleteNetverifyScan: %v", err)
	}
	if _, err := c.NetverifyScan(ctx, sc.Reference); !errors.Is(err, jumio.ErrNotFound) {
		t.Errorf("Netverify retrieval after delete: %v, want ErrNotFound", err)
	}
	if d, _, err := c.WorkflowDetails(ctx, resp.Account.ID, sc.Reference); err != nil || d.WipedOutAt.IsZero() {
		t.Errorf("migrated copy after the Netverify delete: %v, wipedOutAt %v; want it wiped", err, d)
	}
	if err := c.DeleteNetverifyScan(ctx, sc.Reference); !errors.Is(err, jumio.ErrNotFound) {
		t.Errorf("deleting it again: %v, want ErrNotFound", err)
	}

	// An authentication.
	auth := "44444444-5555-4666-8777-888888888888"
	if err := srv.AddNetverifyScan(jumiotest.NetverifyScan{Kind: events.KindAuthentication, Reference: auth, Result: "PASSED"}); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteNetverifyScan(ctx, auth); !errors.Is(err, jumio.ErrNotFound) {
		t.Errorf("an authentication deleted as a scan: %v, want ErrNotFound", err)
	}
	if err := c.DeleteNetverifyAuthentication(ctx, auth); err != nil {
		t.Errorf("DeleteNetverifyAuthentication: %v", err)
	}
	for _, ep := range []jumio.Endpoint{jumio.EndpointExecutionDelete, jumio.EndpointAccountDelete, jumio.EndpointNetverifyScanDelete, jumio.EndpointNetverifyAuthenticationDelete} {
		if srv.Requests(ep) == 0 {
			t.Errorf("no request counted for %s", ep)
		}
	}
}
