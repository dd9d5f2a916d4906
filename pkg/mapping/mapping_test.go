package mapping

import (
	"encoding/json"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// goldenResult maps the named golden case.
func goldenResult(t *testing.T, name string) (events.Result, []byte) {
	t.Helper()
	for _, c := range goldenCases(t) {
		if c.name == name {
			out := run(t, c)
			return *out.result, out.input
		}
	}
	t.Fatalf("no case %s", name)
	return events.Result{}, nil
}

// TestInvariantsCatchMistakes makes sure the invariants suite fails for
// the mistakes it exists to catch.
func TestInvariantsCatchMistakes(t *testing.T) {
	good, input := goldenResult(t, "platform-passed")
	if p := invariants(good); len(p) > 0 {
		t.Fatalf("golden result breaks invariants: %v", p)
	}
	for _, tc := range []struct {
		name   string
		mutate func(r *events.Result)
	}{
		{"capabilities out of order", func(r *events.Result) { slices.Reverse(r.Capabilities) }},
		{"expired but rejected", func(r *events.Result) { r.Status = events.StatusSessionExpired }},
		{"failing capability without reason", func(r *events.Result) { r.Capabilities[0].Decision = events.DecisionRejected }},
		{"local time", func(r *events.Result) {
			t := r.Timestamps.Created.In(time.FixedZone("CET", 3600))
			r.Timestamps.Created = &t
		}},
		{"missing execution id", func(r *events.Result) { r.IDs.WorkflowExecutionID = "" }},
		{"unknown api", func(r *events.Result) { r.Source.API = "v4" }},
		{"unknown region", func(r *events.Result) { r.Source.Region = "mars-1" }},
		{"null reasons", func(r *events.Result) { r.Reasons = nil }},
		{"wrong legacy status", func(r *events.Result) { r.VerificationStatus = nvDeniedFraud }},
		{"risk score out of range", func(r *events.Result) { r.Decision.RiskScore = ptr(250.0) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := good.Clone()
			tc.mutate(&r)
			if len(invariants(r)) == 0 {
				t.Error("invariants passed a broken result")
			}
		})
	}
	if len(leaks(good, personalValues(input))) == 0 {
		t.Error("leaks found no personal value in a full result")
	}
}

// TestOrderIsDeterministic maps each Platform case with every list in its
// input reversed, and each Netverify callback with its fields reordered:
// the result is the same, but that the reasons (which keep the order Jumio
// sent them in) and the Extra paths of capability entries (which count
// entries in that order) follow the input.
func TestOrderIsDeterministic(t *testing.T) {
	for _, c := range goldenCases(t) {
		switch c.kind {
		case "details":
			t.Run(c.name, func(t *testing.T) {
				in := readFile(t, c.path)
				var d wire.WorkflowDetails
				if err := json.Unmarshal(in, &d); err != nil {
					t.Fatal(err)
				}
				ev := platformEvent(t, c.name, &d)
				want := FromPlatform(ev, &d, nil)
				slices.Reverse(d.Credentials)
				for i := range d.Credentials {
					slices.Reverse(d.Credentials[i].Parts)
				}
				for _, entries := range d.Capabilities {
					slices.Reverse(entries)
				}
				got := FromPlatform(ev, &d, nil)
				if diff := cmp.Diff(want, got, cmpopts.SortSlices(func(a, b events.Reason) bool { return fmt.Sprint(a) < fmt.Sprint(b) }),
					cmpopts.IgnoreFields(events.Result{}, "Extra")); diff != "" {
					t.Errorf("reordered input gives another result (-want +got):\n%s", diff)
				}
				if len(want.Extra) != len(got.Extra) {
					t.Errorf("reordered input: %d extra fields, want %d", len(got.Extra), len(want.Extra))
				}
			})
		case "form":
			t.Run(c.name, func(t *testing.T) {
				body := strings.TrimSpace(string(readFile(t, c.path)))
				ev, m := netverifyEvent(t, body)
				want := FromNetverify(ev, m, nil)
				parts := strings.Split(body, "&")
				slices.Reverse(parts)
				values, _ := url.ParseQuery(strings.Join(parts, "&"))
				m2, err := wire.ParseNetverifyCallback(values)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, FromNetverify(ev, m2, nil)); diff != "" {
					t.Errorf("reordered input gives another result (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// TestNothingUnknownFails maps empty and nil inputs: the result holds the
// event's ids and passes the invariants.
func TestNothingUnknownFails(t *testing.T) {
	pev := platformEvent(t, "platform-passed", nil)
	nev, _ := netverifyEvent(t, string(readFile(t, filepath.Join("testdata", "netverify-no-id-uploaded.input.form"))))
	for name, r := range map[string]events.Result{
		"platform nil":           FromPlatform(pev, nil, nil),
		"platform empty":         FromPlatform(pev, &wire.WorkflowDetails{}, nil),
		"netverify nil":          FromNetverify(nev, nil, nil),
		"netverify empty":        FromNetverify(nev, &wire.NetverifyMessage{}, nil),
		"netverify data nil":     FromNetverifyData(nev, nil, nil),
		"netverify empty id":     FromNetverify(nev, &wire.NetverifyMessage{ID: &wire.NetverifyCallback{}}, nil),
		"netverify empty auth":   FromNetverify(nev, &wire.NetverifyMessage{Auth: &wire.NetverifyAuthCallback{}}, nil),
		"netverify empty dv":     FromNetverify(nev, &wire.NetverifyMessage{Document: &wire.NetverifyDocumentCallback{}}, nil),
		"netverify data empty":   FromNetverifyData(nev, &wire.NetverifyData{}, nil),
		"platform custom tables": FromPlatform(pev, nil, DefaultTables().WithProducts(map[string]string{"10011": "KYC"})),
	} {
		t.Run(name, func(t *testing.T) {
			for _, p := range invariants(r) {
				t.Error(p)
			}
			if r.Status != statusUnknown && r.Status != events.StatusProcessed && !r.Status.Expired() {
				t.Errorf("status %q", r.Status)
			}
		})
	}
	if r := FromPlatform(pev, nil, DefaultTables().WithProducts(map[string]string{"10011": "KYC"})); r.Source.Product != "KYC" {
		t.Errorf("product: got %q, want KYC", r.Source.Product)
	}
}

func TestLegacyStatus(t *testing.T) {
	reason := func(c string, d events.DecisionType, l string) events.Reason {
		r := events.Reason{Capability: c, Decision: d, Label: l}
		r.LegacyRejectCode, r.LegacyDetailCode = legacyCode(c, d, l)
		return r
	}
	platform := func(s events.Status, d events.DecisionType, rs ...events.Reason) events.Result {
		return events.Result{Source: events.Source{API: events.APIPlatform}, Status: s, Decision: events.Decision{Type: d}, Reasons: rs}
	}
	type want struct{ status, code, detail string }
	for _, tc := range []struct {
		name string
		r    events.Result
		want want
	}{
		{"passed", platform(events.StatusProcessed, events.DecisionPassed), want{nvApproved, "", ""}},
		{"session expired reported rejected", platform(events.StatusSessionExpired, events.DecisionRejected), want{nvNoIDUploaded, "", ""}},
		{"running", platform(events.StatusAcquired, events.DecisionNotExecuted), want{"", "", ""}},
		{"not uploaded", platform(events.StatusProcessed, events.DecisionNotExecuted, reason(capUsability, events.DecisionNotExecuted, labelNotUploaded)), want{nvNoIDUploaded, "", ""}},
		{"fraud before not readable", platform(events.StatusProcessed, events.DecisionRejected,
			reason(capUsability, events.DecisionRejected, "GLARE"), reason(capDataChecks, events.DecisionRejected, "MRZ_CHECKSUM")), want{nvDeniedFraud, "108", ""}},
		{"sample is not readable", platform(events.StatusProcessed, events.DecisionRejected, reason(capImageChecks, events.DecisionRejected, "SAMPLE")), want{nvNotReadable, "202", ""}},
		{"unsupported type", platform(events.StatusProcessed, events.DecisionRejected, reason(capUsability, events.DecisionWarning, "UNSUPPORTED_DOCUMENT_TYPE")), want{nvUnsupportedType, "", ""}},
		{"usability unknown label", platform(events.StatusProcessed, events.DecisionRejected, reason(capUsability, events.DecisionRejected, "SMUDGED")), want{nvNotReadable, "", ""}},
		// On Netverify a similarity failure came as APPROVED_VERIFIED plus
		// identityVerification: the document passed.
		{"similarity no match", platform(events.StatusProcessed, events.DecisionRejected, reason(capSimilarity, events.DecisionRejected, "NO_MATCH")), want{nvApproved, "", ""}},
		{"screening alert", platform(events.StatusProcessed, events.DecisionWarning, reason(capWatchlist, events.DecisionWarning, "ALERT")), want{nvApproved, "", ""}},
		{"liveness warning", platform(events.StatusProcessed, events.DecisionWarning, reason(capLiveness, events.DecisionWarning, "AGE_DIFFERENCE")), want{nvApproved, "", ""}},
		{"similarity not executed", platform(events.StatusProcessed, events.DecisionWarning, reason(capSimilarity, events.DecisionNotExecuted, labelPrecondition)), want{nvApproved, "", ""}},
		// A WARNING that no check beside the document explains is a
		// manual review, not an approval.
		{"warning without a reason", platform(events.StatusProcessed, events.DecisionWarning), want{"", "", ""}},
		{"warning, liveness not executed", platform(events.StatusProcessed, events.DecisionWarning, reason(capLiveness, events.DecisionNotExecuted, labelPrecondition)), want{"", "", ""}},
		{"document warning", platform(events.StatusProcessed, events.DecisionWarning, reason(capDataChecks, events.DecisionWarning, "DOCUMENT_EXPIRY_WITHIN_CONFIGURED_LIMIT")), want{"", "", ""}},
		{"211 is a warning", platform(events.StatusProcessed, events.DecisionWarning, reason(capImageChecks, events.DecisionWarning, "DIFFERENT_PERSON")), want{nvNotReadable, "211", ""}},
		{"rejected without a cause", platform(events.StatusProcessed, events.DecisionRejected), want{nvDeniedFraud, "", ""}},
		{"rejected, not executed", platform(events.StatusProcessed, events.DecisionRejected, reason(capUsability, events.DecisionNotExecuted, labelTechnical),
			reason(capImageChecks, events.DecisionNotExecuted, labelPrecondition)), want{nvNotReadable, "", ""}},
		{"unknown status is not final", platform("ARCHIVED", events.DecisionRejected), want{"", "", ""}},
		{"gender manipulation has no code", platform(events.StatusProcessed, events.DecisionRejected, reason(capImageChecks, events.DecisionRejected, "MANIPULATED_DOCUMENT_GENDER")), want{nvDeniedFraud, "", ""}},
		{"authentication workflow", events.Result{Source: events.Source{API: events.APIPlatform, WorkflowDefinitionKey: "10014"}, Status: events.StatusProcessed,
			Decision: events.Decision{Type: events.DecisionPassed}}, want{"", "", ""}},
		{"unreadable field", func() events.Result {
			r := platform(events.StatusProcessed, events.DecisionWarning)
			r.UnreadableFields = []string{"capabilities.similarity"}
			return r
		}(), want{"", "", ""}},
		{"netverify keeps its own", events.Result{Source: events.Source{API: events.APINetverify}, VerificationStatus: nvDeniedFraud,
			Reasons: []events.Reason{{Capability: capImageChecks, Decision: events.DecisionRejected, Label: "X", LegacyRejectCode: "199"}}}, want{nvDeniedFraud, "199", ""}},
		{"netverify authentication", events.Result{Source: events.Source{API: events.APINetverify}, Decision: events.Decision{Type: events.DecisionPassed}}, want{"", "", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got want
			got.status, got.code, got.detail = LegacyStatus(tc.r)
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			// Projection keeps the answer.
			var proj want
			proj.status, proj.code, proj.detail = LegacyStatus(events.Project(tc.r, events.PolicyDecisionOnly))
			if proj != tc.want {
				t.Errorf("decision_only projection: got %+v, want %+v", proj, tc.want)
			}
		})
	}
}

// TestUnexplainedWarningIsNoApproval: verificationStatus is not
// APPROVED_VERIFIED for a WARNING that no capability beside the document
// explains: a PASSED kycflow cannot stand behind (partial extraction,
// risk score -1, a label other than PASSED) or Jumio's WARNING over
// capabilities that all passed. A WARNING of the face stays
// APPROVED_VERIFIED, as Netverify sent it with identityVerification.
func TestUnexplainedWarningIsNoApproval(t *testing.T) {
	caps := `{` + fcUsable + `,` + fcExtracted + `}`
	for _, tc := range []struct {
		name, body string
		decision   events.DecisionType
		want       string
	}{
		{"passed (control)", fcDetails("10011", fcPassed, caps), events.DecisionPassed, nvApproved},
		{"partial extraction", fcDetails("10011", fcPassed, `{`+fcUsable+`,"extraction":[`+fcEntry("PASSED", "OK", `,"data":{"type":"PASSPORT"}`)+`]}`), events.DecisionWarning, ""},
		{"risk score -1", fcDetails("10011", `{"type":"PASSED","details":{"label":"PASSED"},"risk":{"score":-1}}`, caps), events.DecisionWarning, ""},
		{"label REJECTED", fcDetails("10011", `{"type":"PASSED","details":{"label":"REJECTED"},"risk":{"score":5}}`, caps), events.DecisionWarning, ""},
		{"Jumio's WARNING, all capabilities passed", fcDetails("10011", `{"type":"WARNING","details":{"label":"WARNING"},"risk":{"score":50}}`, caps), events.DecisionWarning, ""},
		{"similarity NOT_POSSIBLE (control)", fcDetails("10011", `{"type":"WARNING","details":{"label":"WARNING"},"risk":{"score":50}}`,
			`{`+fcUsable+`,`+fcExtracted+`,"similarity":[`+fcSelfie("WARNING", "NOT_POSSIBLE")+`]}`), events.DecisionWarning, nvApproved},
		// The usability of the selfie is the face's, not the document's
		// (documentResults leaves it out): it explains the WARNING.
		{"selfie usability WARNING", fcDetails("10011", `{"type":"WARNING","details":{"label":"WARNING"},"risk":{"score":40}}`,
			`{"usability":[`+fcEntry("PASSED", "OK", "")+`,`+strings.Replace(fcSelfie("WARNING", "LIVENESS_UNDETERMINED"), "c1000000-0000-4000-8000-000000000009", "c1000000-0000-4000-8000-000000000008", 1)+`],`+
				fcExtracted+`,"similarity":[`+fcSelfie("PASSED", "MATCH")+`]}`), events.DecisionWarning, nvApproved},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := fcPlatform(t, tc.body)
			if r.Decision.Type != tc.decision {
				t.Fatalf("decision %s, want %s", r.Decision.Type, tc.decision)
			}
			if vs, _, _ := LegacyStatus(r); vs != tc.want || r.VerificationStatus != tc.want {
				t.Errorf("verificationStatus %q (LegacyStatus %q), want %q; reasons %v", r.VerificationStatus, vs, tc.want, r.Reasons)
			}
		})
	}
}

// TestRejectTablesAgree checks that each high-confidence Netverify code
// maps to a label that maps back to the same code.
func TestRejectTablesAgree(t *testing.T) {
	for _, r := range rejectRows {
		if r.confidence != high {
			continue
		}
		back, ok := legacyIndex[legacyKey{r.to.capability, r.to.decision, r.to.label}]
		if !ok || back.code != r.code || back.detail != r.detail {
			t.Errorf("%s/%s → %s/%s → %+v", r.code, r.detail, r.to.capability, r.to.label, back)
		}
		if codeStatus[r.code] != r.status {
			t.Errorf("code %s belongs to %s and %s", r.code, r.status, codeStatus[r.code])
		}
	}
	for _, l := range legacyRows {
		if _, ok := codeStatus[l.code]; !ok {
			t.Errorf("label %s/%s maps to unknown code %s", l.capability, l.label, l.code)
		}
	}
}

func TestTables(t *testing.T) {
	products, err := ParseProducts("10011 = ID and Identity, 99999=Custom KYC,3=")
	if err != nil {
		t.Fatal(err)
	}
	workflows, err := ParseWorkflows(`{"200": 10163, "101": 0}`)
	if err != nil {
		t.Fatal(err)
	}
	tb := DefaultTables().WithProducts(products).WithWorkflows(workflows)
	for _, tc := range []struct{ got, want string }{
		{tb.Product("10011"), "ID and Identity"},
		{tb.Product("99999"), "Custom KYC"},
		{tb.Product("3"), ""},
		{tb.Product("2"), "ID Verification"},
		{DefaultTables().Product("10011"), "Standalone ID and Identity Verification"},
		{(*Tables)(nil).Product("10011"), "Standalone ID and Identity Verification"},
		{tb.Product(netverifyProductKey(events.KindAuthentication)), "Netverify Authentication"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	if k, ok := tb.WorkflowKey(200); !ok || k != 10163 {
		t.Errorf("WorkflowKey(200): got %d %v, want 10163", k, ok)
	}
	if _, ok := tb.WorkflowKey(101); ok {
		t.Error("WorkflowKey(101): removed entry still there")
	}
	if k, _ := DefaultTables().WorkflowKey(200); k != 3 {
		t.Errorf("default tables changed by WithWorkflows: got %d", k)
	}
	if p, err := ParseProducts(`{"10011": "ID, Identity"}`); err != nil || p["10011"] != "ID, Identity" {
		t.Errorf("JSON products: got %v, %v", p, err)
	}
	for _, bad := range []string{"10011", "=name", `{"a": {}}`, `{"": "x"}`, "{"} {
		if _, err := ParseProducts(bad); !errors.Is(err, ErrInvalidTable) {
			t.Errorf("ParseProducts(%q): got %v, want ErrInvalidTable", bad, err)
		}
	}
	for _, bad := range []string{"200", "x=1", "200=x", `{"200": "x"}`, "-1=3"} {
		if _, err := ParseWorkflows(bad); !errors.Is(err, ErrInvalidTable) {
			t.Errorf("ParseWorkflows(%q): got %v, want ErrInvalidTable", bad, err)
		}
	}
	if p, err := ParseProducts("  "); err != nil || len(p) != 0 {
		t.Errorf("empty products: got %v, %v", p, err)
	}
}

func TestRequestErrors(t *testing.T) {
	for _, body := range []string{"", "null", "[]", `"x"`, "{", `{"a":1} {}`, "not json"} {
		for name, f := range map[string]func([]byte) (wire.AccountRequest, []Warning, error){
			"initiate": FromNetverifyInitiate, "perform": FromPerformNetverify,
		} {
			if _, _, err := f([]byte(body)); !errors.Is(err, ErrInvalidRequest) {
				t.Errorf("%s(%q): got %v, want ErrInvalidRequest", name, body, err)
			}
		}
	}
	// Tenant tables choose the key.
	tb := DefaultTables().WithWorkflows(map[int]int{200: 10011})
	req, _, err := tb.FromNetverifyInitiate([]byte(`{"customerInternalReference":"t1","workflowId":200}`))
	if err != nil || req.WorkflowDefinition.Key != 10011 {
		t.Errorf("got key %d, %v; want 10011", req.WorkflowDefinition.Key, err)
	}
	req, warns, err := tb.FromPerformNetverify([]byte(`{"merchantIdScanReference":"t1","faceImage":"/9j/"}`))
	if err != nil || req.WorkflowDefinition.Key != 10011 || len(warns) == 0 {
		t.Errorf("got key %d, %d warnings, %v; want 10011", req.WorkflowDefinition.Key, len(warns), err)
	}
	for _, lifetime := range []int{5, 86400} {
		req, _, _ := FromNetverifyInitiate([]byte(`{"tokenLifetimeInMinutes":` + strconv.Itoa(lifetime) + `}`))
		if want := strconv.Itoa(lifetime) + "m"; req.TokenLifetime != want {
			t.Errorf("tokenLifetime: got %q, want %q", req.TokenLifetime, want)
		}
	}
}

// TestPure keeps the package free of I/O and logging: only the imports
// below are allowed in its non-test files, and nothing it depends on,
// directly or not, is an HTTP, NATS or Watermill package.
func TestPure(t *testing.T) {
	allowed := []string{
		"cmp", "encoding/json", "errors", "fmt", "maps", "math", "net/url", "slices", "strconv", "strings", "time",
		"bytes", "unicode/utf8", "github.com/kycflow/kycflow/pkg/events", "github.com/kycflow/kycflow/pkg/jumio/wire",
	}
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		ast, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range ast.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if !slices.Contains(allowed, path) {
				t.Errorf("%s imports %s; mapping must stay pure (no I/O, logging or network)", f, path)
			}
		}
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "net/http") || strings.HasPrefix(dep, "github.com/nats-io/") || strings.HasPrefix(dep, "github.com/ThreeDotsLabs/") {
			t.Errorf("mapping depends on %s", dep)
		}
	}
}

// TestUserReferenceFallsBackToTheCallback: the details' userReference wins;
// without one the callback's fills it; a body that does not decode gives
// none.
func TestUserReferenceFallsBackToTheCallback(t *testing.T) {
	ev := platformEvent(t, "platform-passed", nil) // callback userReference usr_7f3a9c
	for _, tc := range []struct {
		name    string
		details string
		body    json.RawMessage
		want    string
	}{
		{"details win", "from-details", ev.JSON, "from-details"},
		{"from the callback", "", ev.JSON, "usr_7f3a9c"},
		{"N/A in the details", "N/A", ev.JSON, "usr_7f3a9c"},
		{"callback does not decode", "", json.RawMessage(`{"userReference":{}}`), ""},
		{"no callback body", "", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := ev
			e.JSON = tc.body
			d := &wire.WorkflowDetails{Workflow: wire.WorkflowInfo{UserReference: wire.String(tc.details)}}
			if got := FromPlatform(e, d, nil).IDs.UserReference; got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestTombstone: a callback of an erased transaction keeps its ids and
// source and says nothing about the verification.
func TestTombstone(t *testing.T) {
	at := time.Date(2024, 3, 20, 8, 0, 0, 0, time.UTC)
	const id = "5b6c7d8e-1111-4222-8333-944455556666"
	for _, tc := range []struct {
		ev   events.CallbackEvent
		want events.Result
	}{
		{
			events.CallbackEvent{EventID: "e1", API: events.APIPlatform, Kind: events.KindWorkflow, AccountID: "4a1b2c3d-5e6f-4711-8899-aabbccddeeff",
				WorkflowExecutionID: id, WorkflowDefinitionKey: "10011", Status: "SESSION_EXPIRED"},
			events.Result{SchemaVersion: 1, IDs: events.IDs{EventID: "e1", AccountID: "4a1b2c3d-5e6f-4711-8899-aabbccddeeff", WorkflowExecutionID: id},
				Source: events.Source{API: events.APIPlatform, Kind: events.KindWorkflow, WorkflowDefinitionKey: "10011", Product: DefaultTables().Product("10011")},
				Status: events.StatusSessionExpired, Decision: events.Decision{Type: events.DecisionNotExecuted, Label: LabelWipedOut},
				Reasons: []events.Reason{}, Capabilities: []events.Capability{}, Timestamps: events.Timestamps{WipedOut: &at}},
		},
		{
			events.CallbackEvent{EventID: "e2", API: events.APINetverify, Kind: events.KindIDVerification, WorkflowExecutionID: id,
				Status: "APPROVED_VERIFIED", Form: "idFirstName=JANE"},
			events.Result{SchemaVersion: 1, IDs: events.IDs{EventID: "e2", WorkflowExecutionID: id, ScanReference: id},
				Source: events.Source{API: events.APINetverify, Kind: events.KindIDVerification, Product: DefaultTables().Product("netverify.id_verification")},
				Status: "UNKNOWN", Decision: events.Decision{Type: events.DecisionNotExecuted, Label: LabelWipedOut},
				Reasons: []events.Reason{}, Capabilities: []events.Capability{}, Timestamps: events.Timestamps{WipedOut: &at}},
		},
	} {
		got := Tombstone(tc.ev, at, nil)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("Tombstone(%s) (-want +got):\n%s", tc.ev.API, diff)
		}
	}
}
