package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/internal/enricher"
	"github.com/kycflow/kycflow/internal/erasure"
	"github.com/kycflow/kycflow/internal/migration"
	"github.com/kycflow/kycflow/internal/notifier"
	"github.com/kycflow/kycflow/internal/reconcile"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// TestEveryCommandHasHelp: --help of every command shows its usage, its
// flags and an example, and exits 0.
func TestEveryCommandHasHelp(t *testing.T) {
	for _, c := range commands {
		t.Run(c.Name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := Main(t.Context(), []string{c.Name, "--help"}, noEnv, nil, &out, &errOut); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			for _, want := range []string{"Usage:", "kycflow " + c.Name, "Example:"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("help lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

// TestOperatorCommandsWithoutServer: without a NATS server each operator
// command fails with one line and exit status 1; bad flags exit 2.
func TestOperatorCommandsWithoutServer(t *testing.T) {
	env := func(k string) string {
		return map[string]string{"KYCFLOW_NATS_URL": "nats://127.0.0.1:1", "KYCFLOW_NATS_CONNECT_TIMEOUT": "1s", "KYCFLOW_DATA_DIR": t.TempDir()}[k]
	}
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"tail"}, 1},
		{[]string{"streams"}, 1},
		{[]string{"replay", "notify", "--dry-run"}, 1},
		{[]string{"dlq", "list"}, 1},
		{[]string{"erase", "--account", "4a1b2c3d-5e6f-4711-8899-aabbccddeeff", "--yes"}, 1},
		{[]string{"send"}, 1}, // no simulator known
		{[]string{"initiate", "--workflow-key", "10011"}, 1},
		{[]string{"replay", "nowhere"}, 2},
		{[]string{"replay"}, 2},
		{[]string{"dlq", "explode"}, 2},
		{[]string{"erase"}, 2},
		{[]string{"erase", "--account", "legacy"}, 2},
		{[]string{"tail", "--decision", "MAYBE"}, 2},
		{[]string{"tail", "--since", "yesterday-ish"}, 2},
		{[]string{"initiate"}, 2},
		{[]string{"send", "--api", "fax"}, 2},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Main(t.Context(), tc.args, env, nil, &out, &errOut)
			if code != tc.code {
				t.Errorf("exit: got %d, want %d (%s)", code, tc.code, errOut.String())
			}
			if got := strings.Count(strings.TrimRight(errOut.String(), "\n"), "\n"); got != 0 || !strings.HasPrefix(errOut.String(), "kycflow: ") {
				t.Errorf("stderr is not one line: %q", errOut.String())
			}
		})
	}
}

func TestMaskPayload(t *testing.T) {
	person := events.Result{
		IDs:    events.IDs{EventID: "e1", AccountID: "acct-1", WorkflowExecutionID: "exec-1"},
		Status: events.StatusProcessed, Decision: events.Decision{Type: events.DecisionPassed},
		Document: &events.Document{Type: "PASSPORT", IssuingCountry: "AUT", Number: "P1234567", ExpiryDate: "2030-12-31"},
		Person:   &events.Person{FirstName: "JANE", LastName: "DOE", DateOfBirth: "1990-01-01", Address: &events.Address{Line1: "1 EXAMPLE STREET", City: "SAMPLETOWN"}},
		Images:   []events.ImageRef{{Classifier: "FRONT", Href: "https://retrieval.amer-1.jumio.ai/api/v1/accounts/a/credentials/c/parts/FRONT"}},
	}
	enriched, _ := json.Marshal(events.EnrichedEvent{SchemaVersion: 1, Result: person, RawType: events.RawPlatformDetails,
		Raw: json.RawMessage(`{"capabilities":{"extraction":[{"data":{"firstName":"JANE","lastName":"DOE","documentNumber":"P1234567","dateOfBirth":"1990-01-01"}}]}}`)})
	form, err := os.ReadFile("samples/netverify-approved-verified.form")
	if err != nil {
		t.Fatal(err)
	}
	callback, _ := json.Marshal(events.CallbackEvent{SchemaVersion: 1, EventID: "e2", API: events.APINetverify, WorkflowExecutionID: "5b6c7d8e-1111-4222-8333-944455556666", Form: string(form)})

	for name, tc := range map[string]struct {
		in   []byte
		keep []string
	}{
		"enriched result":    {enriched, []string{"acct-1", "exec-1", "PASSED", "PASSPORT", "AUT"}},
		"Netverify callback": {callback, []string{"5b6c7d8e-1111-4222-8333-944455556666", "APPROVED_VERIFIED", "PASSPORT", "AUT"}},
		"bare form":          {form, []string{"5b6c7d8e-1111-4222-8333-944455556666", "APPROVED_VERIFIED"}},
	} {
		t.Run(name, func(t *testing.T) {
			got := string(maskPayload(tc.in))
			for _, personal := range []string{"JANE", "DOE", "1990-01-01", "P1234567", "EXAMPLE", "SAMPLETOWN", "/parts/", "/images/", "2030-12-31"} {
				if strings.Contains(got, personal) {
					t.Errorf("masked payload holds %q:\n%s", personal, got)
				}
			}
			for _, k := range tc.keep {
				if !strings.Contains(got, k) {
					t.Errorf("masked payload lost %q:\n%s", k, got)
				}
			}
		})
	}
	if got := string(maskPayload([]byte("\x00not a payload"))); got != masked {
		t.Errorf("unreadable payload: got %q, want it masked whole", got)
	}
}

func TestResultFilterSubjects(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    resultFilter
		want []string
	}{
		{"everything", resultFilter{}, nil},
		{"two decisions: by content", resultFilter{decisions: []events.DecisionType{"PASSED", "REJECTED"}}, nil},
		{"account", resultFilter{account: "a1"}, []string{"jumio.results.*.*.a1.*", "jumio.results.*.*.*.a1.*", "jumio.results.*.*.*.*.a1.*", "jumio.results.*.*.*.*.*.a1.*"}},
		{"decision and key under a prefix", resultFilter{decisions: []events.DecisionType{"PASSED"}, workflowKey: "10011", prefix: "jumio.results.crm"},
			[]string{"jumio.results.crm.passed.10011.*.*"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.f.subjects()); diff != "" {
				t.Errorf("subjects (-want +got):\n%s", diff)
			}
		})
	}
	// The account filters are the ones erasure uses.
	if diff := cmp.Diff(events.ResultAccountFilters("a1"), resultFilter{account: "a1"}.subjects()); diff != "" {
		t.Errorf("account filters differ from events.ResultAccountFilters:\n%s", diff)
	}
}

// TestBucketNames: the buckets streams shows are the stages' own, and
// erase purges their records with the stages' own key functions.
func TestBucketNames(t *testing.T) {
	if diff := cmp.Diff([]string{enricher.StateBucket, notifier.DeliveriesBucket, reconcile.Bucket, migration.Bucket, erasure.Bucket}, kvBuckets); diff != "" {
		t.Errorf("buckets (-stages +cli):\n%s", diff)
	}
	const acct, x = "4a1b2c3d-5e6f-4711-8899-aabbccddeeff", "5b6c7d8e-1111-4222-8333-944455556666"
	got := bucketFilters(erasure.Target{Account: acct}, map[string][]string{x: {acct}, "x:y@z": {acct}})
	want := map[string][]string{
		"KV_" + enricher.StateBucket: {"$KV." + enricher.StateBucket + "." + acct + ".*", "$KV." + enricher.StateBucket + "." + acct + "." + x,
			"$KV." + enricher.StateBucket + "." + enricher.StateKey(acct, "x:y@z")},
		"KV_" + notifier.DeliveriesBucket: {"$KV." + notifier.DeliveriesBucket + "." + notifier.LedgerAccountFilter(acct)},
		"KV_" + migration.Bucket:          {"$KV." + migration.Bucket + "." + migration.ScanKey(x)},
		"KV_" + reconcile.Bucket:          {"$KV." + reconcile.Bucket + "." + acct + ".*"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("bucket filters of an account (-want +got):\n%s", diff)
	}
	// Each filter selects the key the stage writes.
	key := notifier.LedgerKey("crm", events.Result{IDs: events.IDs{AccountID: acct, WorkflowExecutionID: x}, Status: "PROCESSED"})
	if !subjectMatches(notifier.LedgerAccountFilter(acct), key) || !subjectMatches(notifier.LedgerExecutionFilter(x), key) {
		t.Errorf("ledger filters do not select the notifier's key %q", key)
	}
}

// subjectMatches reports whether a NATS subject matches a filter (* and >).
func subjectMatches(filter, subject string) bool {
	f, s := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, tok := range f {
		switch {
		case tok == ">":
			return len(s) > i
		case i >= len(s), tok != "*" && tok != s[i]:
			return false
		}
	}
	return len(f) == len(s)
}

func TestMigrateRequest(t *testing.T) {
	body, err := os.ReadFile("../../pkg/mapping/testdata/netverify-perform-face.input.perform.json")
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	env := func(k string) string { return map[string]string{"KYCFLOW_WORKFLOWS": "200=10013"}[k] }
	if code := Main(t.Context(), []string{"migrate-request"}, env, bytes.NewReader(body), &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var req wire.AccountRequest
	if err := json.Unmarshal(out.Bytes(), &req); err != nil {
		t.Fatalf("stdout is not an account request: %v\n%s", err, out.String())
	}
	if req.WorkflowDefinition.Key != 10013 {
		t.Errorf("workflow key: got %d, want 10013 (KYCFLOW_WORKFLOWS)", req.WorkflowDefinition.Key)
	}
	if !strings.Contains(errOut.String(), "warning: frontsideImage") {
		t.Errorf("no warning for the image:\n%s", errOut.String())
	}
	var in map[string]any
	_ = json.Unmarshal(body, &in)
	for _, k := range []string{"firstName", "lastName", "dob"} {
		if v, ok := in[k].(string); ok && v != "" && strings.Contains(out.String()+errOut.String(), v) {
			t.Errorf("the output holds the input's %s", k)
		}
	}

	out.Reset()
	errOut.Reset()
	if code := Main(t.Context(), []string{"migrate-request", "--json", "../../pkg/mapping/testdata/netverify-initiate-full.input.initiate.json"}, noEnv, nil, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var doc struct {
		Kind     string
		Warnings []json.RawMessage
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil || doc.Kind != "initiate" {
		t.Errorf("--json: kind %q (%v)", doc.Kind, err)
	}
	if code := Main(t.Context(), []string{"migrate-request"}, noEnv, strings.NewReader("[1,2]"), &out, &errOut); code != 1 {
		t.Errorf("not an object: exit %d, want 1", code)
	}
}

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2026-03-04T05:06:07Z": time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC),
		"2026-03-01":           time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
		"90m":                  now.Add(-90 * time.Minute),
		"2d":                   now.Add(-48 * time.Hour),
	} {
		got, err := parseWhen(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseWhen(%q): got %v (%v), want %v", in, got, err, want)
		}
	}
	if _, err := parseWhen("soon", now); err == nil {
		t.Errorf("parseWhen(soon): no error")
	}
}

// TestInitiate: the account request carries a userReference that ingest
// accepts, and the ids and web link are printed.
func TestInitiate(t *testing.T) {
	sim := jumiotest.NewServer(jumiotest.Config{})
	defer sim.Close()
	secret := "s3cret-for-user-references"
	env := func(k string) string {
		return map[string]string{"KYCFLOW_INGEST_USER_REFERENCE_SECRETS": secret + ",older", "KYCFLOW_DATA_DIR": t.TempDir()}[k]
	}
	var out, errOut bytes.Buffer
	code := Main(t.Context(), []string{"initiate", "--workflow-key", "10011", "--user-id", "cust-4711", "--simulator", sim.URL()}, env, nil, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	reqs := sim.Accounts()
	if len(reqs) != 1 {
		t.Fatalf("account requests: got %d, want 1", len(reqs))
	}
	ref, err := wire.VerifyUserReference(reqs[0].UserReference, [][]byte{[]byte(secret)}, time.Hour, time.Now())
	if err != nil || ref != "cust-4711" {
		t.Errorf("userReference: got %q (%v), want a token for cust-4711", ref, err)
	}
	execs := sim.Executions()
	if len(execs) != 1 || !strings.Contains(out.String(), execs[0].ID) || !strings.Contains(out.String(), "web link") {
		t.Errorf("output lacks the execution id or the web link:\n%s", out.String())
	}
	if strings.Contains(out.String(), secret) {
		t.Errorf("the secret was printed")
	}
}

// TestInitiateTokenLifetimeCheckedFirst: a lifetime Jumio does not take
// (or kycflow could not announce) is refused before Jumio creates a
// transaction.
func TestInitiateTokenLifetimeCheckedFirst(t *testing.T) {
	sim := jumiotest.NewServer(jumiotest.Config{})
	defer sim.Close()
	env := func(k string) string { return map[string]string{"KYCFLOW_DATA_DIR": t.TempDir()}[k] }
	for _, lt := range []string{"90d", "1s", "soon"} {
		var out, errOut bytes.Buffer
		code := Main(t.Context(), []string{"initiate", "--workflow-key", "10011", "--token-lifetime", lt, "--simulator", sim.URL()}, env, nil, &out, &errOut)
		if code == 0 || !strings.Contains(errOut.String(), "--token-lifetime") {
			t.Errorf("--token-lifetime %s: exit %d, stderr %q; want a refusal naming the flag", lt, code, errOut.String())
		}
	}
	if n := len(sim.Accounts()); n != 0 {
		t.Errorf("%d transactions created at Jumio, want none", n)
	}
}

// TestOperatorCommandsFindTheRunByDataDir: a kycflow run started with
// --data-dir elsewhere is found with the same --data-dir (or
// KYCFLOW_DATA_DIR); without it the error says where it looked and how to
// point at it.
func TestOperatorCommandsFindTheRunByDataDir(t *testing.T) {
	srv := brokertest.Start(t)
	srv.JetStream(t) // the streams
	dir := t.TempDir()
	if err := writeRunInfo(dir, runInfo{NATSURL: srv.URL(), IngestURL: "http://127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	elsewhere := t.TempDir()
	env := func(k string) string {
		return map[string]string{"KYCFLOW_DATA_DIR": elsewhere, "KYCFLOW_NATS_CONNECT_TIMEOUT": "1s"}[k]
	}
	var out, errOut bytes.Buffer
	if code := Main(t.Context(), []string{"streams", "--data-dir", dir}, env, nil, &out, &errOut); code != 0 {
		t.Errorf("streams --data-dir: exit %d: %s", code, errOut.String())
	}
	for _, args := range [][]string{{"send"}, {"initiate", "--workflow-key", "10011"}} {
		out.Reset()
		errOut.Reset()
		if code := Main(t.Context(), args, env, nil, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "KYCFLOW_DATA_DIR") || !strings.Contains(errOut.String(), elsewhere) {
			t.Errorf("%s without the run: exit %d, %q; want 1 and where it looked", args[0], code, errOut.String())
		}
	}
}
