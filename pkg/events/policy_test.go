package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// sample is a result holding every kind of personal data.
func sample() Result {
	score := 12.5
	t := time.Date(2024, 3, 14, 10, 1, 0, 0, time.UTC)
	return Result{
		SchemaVersion: ResultSchemaVersion,
		IDs:           IDs{EventID: strings.Repeat("a", 64), AccountID: "acc", WorkflowExecutionID: "exe"},
		Source:        Source{API: APIPlatform, Kind: KindWorkflow, WorkflowDefinitionKey: "10011"},
		Status:        StatusProcessed,
		Decision:      Decision{Type: DecisionPassed, Label: "PASSED", RiskScore: &score},
		Reasons:       []Reason{{Capability: "similarity", Decision: DecisionWarning, Label: "NOT_POSSIBLE"}},
		Capabilities: []Capability{{Name: "similarity", Decision: DecisionWarning, Label: "NOT_POSSIBLE",
			CredentialIDs: []string{"c1"}, Data: map[string]string{"similarity": "NOT_POSSIBLE"}}},
		Document: &Document{Type: "PASSPORT", SubType: "E_PASSPORT", IssuingCountry: "AUT", Number: "P1234567",
			ExpiryDate: "2030-12-31", IssuingDate: "2020-12-30", State: "TIROL"},
		Person: &Person{FirstName: "JANE", LastName: "DOE", DateOfBirth: "1990-01-01",
			Address: &Address{Line1: "1 MAIN ST", City: "SAN JOSE"}},
		Images:     []ImageRef{{Category: "ID", Classifier: "FRONT", Href: "https://retrieval.amer-1.jumio.ai/x/FRONT"}},
		Timestamps: Timestamps{Created: &t, WipedOut: &t},
		Migration:  &Migration{ScanReference: "exe"},
	}
}

var personal = []string{"P1234567", "2030-12-31", "2020-12-30", "TIROL", "JANE", "DOE", "1990-01-01", "1 MAIN ST", "SAN JOSE", "https://retrieval"}

func TestParsePolicy(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Policy
	}{
		{"full", PolicyFull}, {" NO_PII ", PolicyNoPII}, {"no-pii", PolicyNoPII}, {"decision_only", PolicyDecisionOnly},
	} {
		got, err := ParsePolicy(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParsePolicy(%q): got %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "all", "pii"} {
		if _, err := ParsePolicy(in); !errors.Is(err, ErrUnknownPolicy) {
			t.Errorf("ParsePolicy(%q): got %v, want ErrUnknownPolicy", in, err)
		}
	}
}

func TestProject(t *testing.T) {
	r := sample()
	for _, tc := range []struct {
		policy, applied Policy
		capabilities    int
		document        *Document
		leak            bool
	}{
		{PolicyFull, PolicyFull, 1, r.Document, true},
		{PolicyNoPII, PolicyNoPII, 1, &Document{Type: "PASSPORT", SubType: "E_PASSPORT", IssuingCountry: "AUT"}, false},
		{PolicyDecisionOnly, PolicyDecisionOnly, 0, nil, false},
		{"everything", PolicyDecisionOnly, 0, nil, false},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			p := Project(r, tc.policy)
			if p.Policy != tc.applied || len(p.Capabilities) != tc.capabilities || p.Capabilities == nil {
				t.Errorf("got policy %q with %d capabilities, want %q with %d", p.Policy, len(p.Capabilities), tc.applied, tc.capabilities)
			}
			if diff := cmp.Diff(tc.document, p.Document); diff != "" {
				t.Errorf("document (-want +got):\n%s", diff)
			}
			if len(p.Reasons) != 1 || p.Decision.Type != DecisionPassed || p.IDs != r.IDs {
				t.Errorf("decision, ids or reasons lost: %+v", p)
			}
			b, _ := json.Marshal(p)
			for _, v := range personal {
				if strings.Contains(string(b), v) != tc.leak {
					t.Errorf("personal value %q present: %v, want %v", v, !tc.leak, tc.leak)
				}
			}
		})
	}
}

// TestProjectSharesNothing changes every slice, map and pointer of a
// projection and checks that the input did not change.
func TestProjectSharesNothing(t *testing.T) {
	r := sample()
	want := sample()
	p := Project(r, PolicyFull)
	*p.Decision.RiskScore = 99
	p.Reasons[0].Label = "x"
	p.Capabilities[0].CredentialIDs[0] = "x"
	p.Capabilities[0].Data["similarity"] = "x"
	p.Document.Number = "x"
	p.Person.Address.City = "x"
	p.Person.FirstName = "x"
	p.Images[0].Href = "x"
	*p.Timestamps.Created = time.Time{}
	*p.Timestamps.WipedOut = time.Time{}
	p.Migration.ScanReference = "x"
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("Project shared memory with its input (-want +got):\n%s", diff)
	}
	empty := Project(Result{Reasons: []Reason{}, Capabilities: []Capability{}}, PolicyFull)
	if empty.Reasons == nil || empty.Capabilities == nil || empty.Images != nil {
		t.Error("Clone changed empty slices to nil or nil to empty")
	}
}

// TestNothingPersonalIsLogged logs and prints a result and its parts and
// checks that no personal value comes out.
func TestNothingPersonalIsLogged(t *testing.T) {
	r := sample()
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("result", "result", r, "person", r.Person, "document", r.Document, "address", r.Person.Address, "image", r.Images[0])
	log.Info("values", "person", *r.Person, "document", *r.Document)
	raw, _ := json.Marshal(r)
	enriched := EnrichedEvent{SchemaVersion: ResultSchemaVersion, Result: r, RawType: RawPlatformDetails, Raw: raw}
	log.Info("enriched", "event", enriched)
	fmt.Fprintf(&buf, "%v %+v\n", enriched, &enriched)
	fmt.Fprintf(&buf, "%v %+v %v %v %v %s", r, r, r.Person, r.Document, r.Images, r.Person.Address)
	fmt.Fprintf(&buf, "%#v %#v %#v %#v %#v %#v", r, enriched, *r.Person, *r.Document, r.Images, *r.Person.Address)
	for _, v := range personal {
		if strings.Contains(buf.String(), v) {
			t.Errorf("%q was logged or printed:\n%s", v, buf.String())
		}
	}
	for _, v := range []string{"workflow_execution_id", "exe", "PASSED", "PASSPORT", Redacted, "raw_bytes"} {
		if !strings.Contains(buf.String(), v) {
			t.Errorf("%q missing from the log:\n%s", v, buf.String())
		}
	}
}

// TestCallbackEventPrintsNoBody logs and prints a Netverify callback event
// whose form holds personal data: only ids and the status come out.
func TestCallbackEventPrintsNoBody(t *testing.T) {
	ev := CallbackEvent{SchemaVersion: 1, EventID: strings.Repeat("b", 64), API: APINetverify, Kind: KindIDVerification,
		WorkflowExecutionID: "scan-ref", Status: "APPROVED_VERIFIED",
		Form: "idFirstName=JANE&idLastName=DOE&idDob=1990-01-01&idScanImage=https%3A%2F%2Fretrieval%2Fx",
		JSON: []byte(`{"userReference":"P1234567"}`)}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("event", "event", ev, "pointer", &ev)
	fmt.Fprintf(&buf, "%v %+v %#v %s %v %+v %#v", ev, ev, ev, ev, &ev, []CallbackEvent{ev}, &ev)
	for _, v := range append(personal, "https%3A", "idFirstName") {
		if strings.Contains(buf.String(), v) {
			t.Errorf("%q was logged or printed:\n%s", v, buf.String())
		}
	}
	for _, v := range []string{"scan-ref", "APPROVED_VERIFIED", "workflow_execution_id"} {
		if !strings.Contains(buf.String(), v) {
			t.Errorf("%q missing:\n%s", v, buf.String())
		}
	}
}
