package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/broker"
	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/internal/reconcile"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// TestInitiateAnnouncesAndReconcile: kycflow initiate announces the
// transaction on JUMIO_EXECUTIONS; once the reconciler tracks it and it is
// overdue, kycflow reconcile lists it, a dry pass says what it would do
// and changes nothing, and a pass feeds the reconciled callback.
func TestInitiateAnnouncesAndReconcile(t *testing.T) {
	srv := brokertest.Start(t)
	_, js := srv.JetStream(t)
	sim := jumiotest.NewServer(jumiotest.Config{CompleteAfter: time.Millisecond}) // completes, calls nobody back
	defer sim.Close()
	env := func(k string) string {
		return map[string]string{"KYCFLOW_DATA_DIR": t.TempDir(), "KYCFLOW_NATS_URL": srv.URL(),
			"KYCFLOW_RECONCILE_TOKEN_LIFETIME": "1ms", "KYCFLOW_RECONCILE_SLACK": "1ms"}[k]
	}
	// A reconciler that tracks, and does not pass by itself.
	r, err := reconcile.New(reconcile.Config{TokenLifetime: time.Millisecond, Slack: time.Millisecond, Interval: time.Hour, Storage: "memory"},
		reconcile.Deps{JetStream: js})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- r.Run(ctx, reconcile.RunConfig{PullExpiry: 200 * time.Millisecond, DrainTimeout: time.Second})
	}()
	defer func() { cancel(); <-done }()

	var out, errOut bytes.Buffer
	if code := Main(t.Context(), []string{"initiate", "--workflow-key", "10011", "--simulator", sim.URL()}, env, nil, &out, &errOut); code != 0 {
		t.Fatalf("initiate: exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "announced on JUMIO_EXECUTIONS") {
		t.Errorf("initiate does not say it announced:\n%s", out.String())
	}
	x := sim.Executions()[0]
	msgs := brokertest.Messages(t, js, events.StreamExecutions)
	if len(msgs) != 1 || msgs[0].Subject != events.InitiatedSubject(x.AccountID, x.ID) {
		t.Fatalf("JUMIO_EXECUTIONS holds %d messages, want the announcement of %s", len(msgs), x.ID)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		xs, _ := r.List(context.Background())
		if len(xs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the announced execution was not tracked")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for {
		if e, _ := sim.Execution(x.ID); e.Status == "PROCESSED" {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}

	run := func(args ...string) string {
		t.Helper()
		out.Reset()
		errOut.Reset()
		if code := Main(t.Context(), append([]string{"reconcile", "--simulator", sim.URL()}, args...), env, nil, &out, &errOut); code != 0 {
			t.Fatalf("reconcile %v: exit %d: %s", args, code, errOut.String())
		}
		return out.String()
	}
	if got := run(); !strings.Contains(got, x.ID) || !strings.Contains(got, "OVERDUE") {
		t.Errorf("reconcile lists:\n%s", got)
	}
	var row struct{ Outcome, Status string }
	if err := json.Unmarshal([]byte(run("--dry-run", "--json")), &row); err != nil || row.Outcome != reconcile.OutcomeWouldFeed || row.Status != "PROCESSED" {
		t.Errorf("dry pass: %+v %v", row, err)
	}
	if n := countReconciled(t, js); n != 0 {
		t.Fatalf("a dry pass published %d", n)
	}
	if got := run("--pass"); !strings.Contains(got, "reconciled PROCESSED") {
		t.Errorf("pass:\n%s", got)
	}
	if n := countReconciled(t, js); n != 1 {
		t.Errorf("%d reconciled callbacks stored, want 1", n)
	}
	if got := run("--all"); !strings.Contains(got, "no execution tracked") {
		t.Errorf("after the pass:\n%s", got)
	}

	// A pass whose checks fail (Jumio out of reach) says so in its exit
	// status, not only in its lines.
	if code := Main(t.Context(), []string{"initiate", "--workflow-key", "10011", "--simulator", sim.URL()}, env, nil, &out, &errOut); code != 0 {
		t.Fatalf("initiate: exit %d: %s", code, errOut.String())
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if xs, _ := r.List(context.Background()); len(xs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second execution was not tracked")
		}
	}
	out.Reset()
	errOut.Reset()
	code := Main(t.Context(), []string{"reconcile", "--simulator", "http://127.0.0.1:1", "--pass"}, env, nil, &out, &errOut)
	if code == 0 || !strings.Contains(errOut.String(), "1 of 1 checks failed") || !strings.Contains(out.String(), "failed") {
		t.Errorf("a pass whose check failed: exit %d\nstdout: %s\nstderr: %s", code, out.String(), errOut.String())
	}
}

func countReconciled(t *testing.T, js jetstream.JetStream) int {
	t.Helper()
	n := 0
	for _, m := range brokertest.Messages(t, js, events.StreamCallbacks) {
		var ev events.CallbackEvent
		if json.Unmarshal(m.Data, &ev) == nil && ev.Reconciled {
			n++
		}
	}
	return n
}

// TestReconcileNamedExecutions: after an ingest outage longer than
// Jumio's retries, the operator names the executions whose callbacks were
// lost. One with no callback stored is reconciled from Jumio's status
// API; one whose final callback did arrive is not fed again; naming the
// first again finds it ended; a value that is not ACCOUNT/EXECUTION is a
// usage error, and --execution refuses --dry-run.
func TestReconcileNamedExecutions(t *testing.T) {
	srv := brokertest.Start(t)
	_, js := srv.JetStream(t)
	if err := broker.EnsureStreams(t.Context(), js, broker.DefaultStreamsConfig()); err != nil {
		t.Fatal(err)
	}
	r, err := reconcile.New(reconcile.Config{Storage: "memory"}, reconcile.Deps{JetStream: js})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	sim := jumiotest.NewServer(jumiotest.Config{Scenario: jumiotest.Scenario{Seed: 31, Executions: 2, Mix: jumiotest.Mix{Passed: 1}}})
	defer sim.Close()
	xs := sim.Executions()
	lost, arrived := xs[0], xs[1]
	sent := time.Now().UTC()
	ev := events.CallbackEvent{SchemaVersion: 1, EventID: events.PlatformEventID(arrived.AccountID, arrived.ID, "PROCESSED", sent),
		API: events.APIPlatform, Kind: events.KindWorkflow, AccountID: arrived.AccountID, WorkflowExecutionID: arrived.ID,
		Status: "PROCESSED", CallbackSentAt: &sent, ReceivedAt: sent, JSON: json.RawMessage(`{}`)}
	body, _ := json.Marshal(ev)
	if _, err := js.Publish(t.Context(), ev.Subject(), body); err != nil {
		t.Fatal(err)
	}
	env := func(k string) string {
		return map[string]string{"KYCFLOW_DATA_DIR": t.TempDir(), "KYCFLOW_NATS_URL": srv.URL()}[k]
	}
	run := func(want int, args ...string) (string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := Main(t.Context(), append([]string{"reconcile", "--simulator", sim.URL()}, args...), env, nil, &out, &errOut); code != want {
			t.Fatalf("reconcile %v: exit %d, want %d: %s%s", args, code, want, out.String(), errOut.String())
		}
		return out.String(), errOut.String()
	}
	// The second named in upper case (a ticket's spelling): read as
	// ingest stores Platform ids, it is found called back.
	out, _ := run(0, "--execution", lost.AccountID+"/"+lost.ID, "--execution", strings.ToUpper(arrived.AccountID+"/"+arrived.ID))
	for _, want := range []string{"tracked " + lost.AccountID + " " + lost.ID + ", due now", lost.ID + "  reconciled PROCESSED", arrived.ID + "  called_back"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if n := countReconciled(t, js); n != 1 {
		t.Errorf("%d reconciled callbacks stored, want 1 (the lost execution's only)", n)
	}
	if out, _ := run(0, "--execution", lost.AccountID+"/"+lost.ID); !strings.Contains(out, lost.ID+" ended already") {
		t.Errorf("naming the reconciled execution again:\n%s", out)
	}
	if n := countReconciled(t, js); n != 1 {
		t.Errorf("%d reconciled callbacks stored after naming it again, want still 1", n)
	}
	if _, errOut := run(2, "--execution", lost.ID); !strings.Contains(errOut, "want ACCOUNT/EXECUTION") {
		t.Errorf("a value without the account: %s", errOut)
	}
	if _, errOut := run(2, "--dry-run", "--execution", lost.AccountID+"/"+lost.ID); !strings.Contains(errOut, "not with --dry-run") {
		t.Errorf("--execution with --dry-run: %s", errOut)
	}
}
