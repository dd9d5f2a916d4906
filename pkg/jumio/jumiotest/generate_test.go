package jumiotest_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

func TestGenerateIsDeterministic(t *testing.T) {
	sc := jumiotest.Scenario{Seed: 42, Executions: 30, NetverifyScans: 30}
	e1, n1 := jumiotest.Generate(sc)
	e2, n2 := jumiotest.Generate(sc)
	if diff := cmp.Diff(e1, e2); diff != "" {
		t.Errorf("executions differ for the same seed:\n%s", diff)
	}
	if diff := cmp.Diff(n1, n2); diff != "" {
		t.Errorf("Netverify scans differ for the same seed:\n%s", diff)
	}
	sc.Seed = 43
	if e3, _ := jumiotest.Generate(sc); e3[0].ID == e1[0].ID {
		t.Error("another seed gave the same ids")
	}
}

func TestGenerateMix(t *testing.T) {
	execs, _ := jumiotest.Generate(jumiotest.Scenario{Seed: 1, Executions: 50, Mix: jumiotest.Mix{Rejected: 1, TokenExpired: 1}})
	seen := map[string]int{}
	for _, e := range execs {
		seen[e.Outcome]++
	}
	if len(seen) != 2 || seen[jumiotest.OutcomeRejected] == 0 || seen[jumiotest.OutcomeTokenExpired] == 0 {
		t.Errorf("outcomes %v, want only REJECTED and TOKEN_EXPIRED", seen)
	}
	if _, err := jumiotest.ParseMix("passed=1,bogus=2"); err == nil {
		t.Error("ParseMix accepted an unknown outcome")
	}
	m, err := jumiotest.ParseMix("passed=60, warning=20,session_expired=20")
	if err != nil || m != (jumiotest.Mix{Passed: 60, Warning: 20, SessionExpired: 20}) {
		t.Errorf("ParseMix = %+v, %v", m, err)
	}
}

// TestGeneratedDetailsAreConsistent checks that generated details look like
// Jumio's: the decision agrees with the capabilities, dependants of a
// failed capability are not executed, expired workflows carry nothing,
// extracted data is there when extraction passed.
func TestGeneratedDetailsAreConsistent(t *testing.T) {
	execs, _ := jumiotest.Generate(jumiotest.Scenario{Seed: 3, Executions: 300})
	for _, e := range execs {
		var d wire.WorkflowDetails
		if err := json.Unmarshal(e.Details, &d); err != nil {
			t.Fatalf("%s: %v", e.ID, err)
		}
		types := map[string]int{}
		for _, entries := range d.Capabilities {
			for _, c := range entries {
				types[c.Decision.Type]++
				if c.Decision.Label() == "" {
					t.Errorf("%s: capability without a label", e.ID)
				}
			}
		}
		score := *d.Decision.RiskScore()
		switch e.Outcome {
		case jumiotest.OutcomePassed:
			ok := d.Decision.Type == "PASSED" && types["WARNING"]+types["REJECTED"]+types["NOT_EXECUTED"] == 0 && score <= 30
			check(t, e, ok, "passed with every capability passed, score ≤ 30")
		case jumiotest.OutcomeWarning:
			ok := d.Decision.Type == "WARNING" && types["WARNING"] == 1 && types["REJECTED"] == 0 && score > 30 && score <= 70
			check(t, e, ok, "one warning, no rejection, score 31–70")
		case jumiotest.OutcomeRejected:
			ok := d.Decision.Type == "REJECTED" && types["REJECTED"] == 1 && score > 70
			check(t, e, ok, "one rejection, score > 70")
			for name, entries := range d.Capabilities {
				if entries[0].Decision.Type == "REJECTED" && name == "usability" {
					check(t, e, d.Capabilities["extraction"][0].Decision.Label() == "PRECONDITION_NOT_FULFILLED", "extraction not executed after usability failed")
				}
			}
		case jumiotest.OutcomeSessionExpired, jumiotest.OutcomeTokenExpired:
			u := d.Capabilities["usability"]
			ok := d.Workflow.Status == e.Outcome && len(d.Capabilities) == 1 && u[0].Decision.Label() == "NOT_UPLOADED"
			check(t, e, ok, "expired status with usability NOT_UPLOADED only")
		}
		if ex := d.Capabilities["extraction"]; len(ex) == 1 && ex[0].Decision.Type == "PASSED" {
			var data wire.ExtractionData
			_ = json.Unmarshal(ex[0].Data, &data)
			check(t, e, data.FirstName != "" && data.LastName != "" && data.DocumentNumber != "" && string(data.IssuingCountry) == e.Country,
				"extraction data with names, number and the issuing country")
		}
		for _, c := range d.Credentials {
			for _, p := range c.Parts {
				if p.Href != "" && !strings.HasPrefix(p.Href, "http://jumiotest.invalid/api/v1/accounts/"+e.AccountID+"/credentials/"+c.ID) {
					t.Errorf("%s: part href %s is not on the simulator", e.ID, p.Href)
				}
			}
		}
	}
}

func check(t *testing.T, e jumiotest.Execution, ok bool, want string) {
	t.Helper()
	if !ok {
		t.Errorf("%s (%s): want %s; details %s", e.ID, e.Outcome, want, e.Details)
	}
}

func TestGeneratedNetverifyCallbacksParse(t *testing.T) {
	_, scans := jumiotest.Generate(jumiotest.Scenario{Seed: 5, NetverifyScans: 200})
	kinds := map[events.CallbackKind]bool{}
	for _, sc := range scans {
		m, err := wire.ParseNetverifyCallback(sc.Callback)
		if err != nil {
			t.Fatalf("%s (%s): %v", sc.Reference, sc.Outcome, err)
		}
		if m.Kind != sc.Kind || m.Reference() != sc.Reference || m.Status() != sc.Result || len(m.Warnings) > 0 {
			t.Errorf("%s: parsed %s %s %s warnings %v; want %s %s %s", sc.Reference, m.Kind, m.Reference(), m.Status(), m.Warnings, sc.Kind, sc.Reference, sc.Result)
		}
		kinds[sc.Kind] = true
		if sc.Kind == events.KindIDVerification {
			var d wire.NetverifyData
			if err := json.Unmarshal(sc.Data, &d); err != nil || string(d.Document.Status) != sc.Result {
				t.Errorf("%s: data status %q, err %v; want %s", sc.Reference, d.Document.Status, err, sc.Result)
			}
			if sc.Result == jumiotest.OutcomeDeniedFraud && (m.ID.RejectReason == nil || d.Verification.RejectReason == nil) {
				t.Errorf("%s: denied without a reject reason", sc.Reference)
			}
		}
	}
	for _, k := range []events.CallbackKind{events.KindIDVerification, events.KindAuthentication, events.KindDocumentVerification} {
		if !kinds[k] {
			t.Errorf("no %s transaction generated", k)
		}
	}
}

func TestFixturesServe(t *testing.T) {
	srv := jumiotest.NewServer(jumiotest.Config{})
	defer srv.Close()
	for _, name := range []string{"details-passed.json", "details-rejected-manipulated-photo.json", "details-token-expired.json"} {
		b := readFixture(t, "platform/"+name)
		e, err := srv.AddDetails(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := getJSON(t, srv, srv.URL()+jumio.PathAccounts+"/"+e.AccountID+"/workflow-executions/"+e.ID)
		if strings.Contains(got, "jumio.ai") || !strings.Contains(got, e.ID) {
			t.Errorf("%s served with Jumio hrefs or without its id", name)
		}
	}
	if !slices.ContainsFunc(srv.Executions(), func(e jumiotest.Execution) bool { return len(e.Parts) == 4 }) {
		t.Error("details-passed.json: want its 4 parts with hrefs registered")
	}
}
