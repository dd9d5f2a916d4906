package mapping

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// outcome is what a contradiction test looks at: the decision and its
// label, the unreadable fields, and the reasons as "capability
// DECISION/label".
type outcome struct {
	decision   events.DecisionType
	label      string
	unreadable []string
	reasons    []string
}

func outcomeOf(r events.Result) outcome {
	o := outcome{decision: r.Decision.Type, label: r.Decision.Label, unreadable: r.UnreadableFields}
	for _, rs := range r.Reasons {
		o.reasons = append(o.reasons, rs.Capability+" "+string(rs.Decision)+"/"+rs.Label)
	}
	return o
}

// checkOutcome compares the decision, label and unreadable fields, and
// that every reason in want is among the result's; and that a result
// that is not PASSED is no APPROVED_VERIFIED for legacy consumers either,
// unless wantVS says so.
func checkOutcome(t *testing.T, r events.Result, want outcome) {
	t.Helper()
	got := outcomeOf(r)
	if got.decision != want.decision || got.label != want.label || !slices.Equal(got.unreadable, want.unreadable) {
		t.Errorf("got decision %s/%s unreadable %q, want %s/%s unreadable %q (reasons %q)",
			got.decision, got.label, got.unreadable, want.decision, want.label, want.unreadable, got.reasons)
	}
	for _, rs := range want.reasons {
		if !slices.Contains(got.reasons, rs) {
			t.Errorf("reasons %q lack %q", got.reasons, rs)
		}
	}
	for _, p := range invariants(r) {
		t.Error(p)
	}
}

var (
	passed  = outcome{decision: events.DecisionPassed, label: "PASSED"}
	warning = func(unreadable []string, reasons ...string) outcome {
		return outcome{decision: events.DecisionWarning, label: "WARNING", unreadable: unreadable, reasons: reasons}
	}
)

// TestPlatformPassNeedsItsCapabilities: a PASSED that the details'
// capabilities contradict, or do not bear out at all, goes to manual
// review; a capability the workflow did not execute does not.
func TestPlatformPassNeedsItsCapabilities(t *testing.T) {
	entry := func(typ any, label string) map[string]any {
		return map[string]any{"id": "c9000000-0000-4000-8000-000000000001", "decision": map[string]any{"type": typ, "details": map[string]any{"label": label}}}
	}
	for _, tc := range []struct {
		name  string
		patch func(d map[string]any)
		want  outcome
	}{
		{"all capabilities passed", func(map[string]any) {}, passed},
		{"image checks rejected", func(d map[string]any) {
			setPath(d, "capabilities.imageChecks[].decision", map[string]any{"type": "REJECTED", "details": map[string]any{"label": "FAKE"}})
		},
			warning(nil, "imageChecks REJECTED/FAKE")},
		{"similarity warning", func(d map[string]any) {
			setPath(d, "capabilities.similarity[].decision", map[string]any{"type": "WARNING", "details": map[string]any{"label": "NOT_POSSIBLE"}})
		},
			warning(nil, "similarity WARNING/NOT_POSSIBLE")},
		{"undocumented capability decision", func(d map[string]any) { setPath(d, "capabilities.imageChecks[].decision.type", "FAILED") },
			warning(nil, "imageChecks FAILED/OK")},
		{"capability decision in lower case", func(d map[string]any) { setPath(d, "capabilities.similarity[].decision.type", "rejected") },
			warning(nil, "similarity rejected/MATCH")},
		{"capability decision null", func(d map[string]any) { setPath(d, "capabilities.imageChecks[].decision", nil) },
			warning([]string{"capabilities.imageChecks"}, "imageChecks WARNING/UNREADABLE")},
		{"capability decision empty", func(d map[string]any) { setPath(d, "capabilities.imageChecks[].decision", map[string]any{}) },
			warning([]string{"capabilities.imageChecks"}, "imageChecks WARNING/UNREADABLE")},
		{"capability without decision", func(d map[string]any) {
			d["capabilities"].(map[string]any)["liveness"] = []any{map[string]any{"id": "c9000000-0000-4000-8000-000000000002"}}
		}, warning([]string{"capabilities.liveness"}, "liveness WARNING/UNREADABLE")},
		{"no capabilities", func(d map[string]any) { d["capabilities"] = map[string]any{} },
			warning([]string{"capabilities"}, "capabilities WARNING/UNREADABLE")},
		{"capabilities null", func(d map[string]any) { d["capabilities"] = nil },
			warning([]string{"capabilities"}, "capabilities WARNING/UNREADABLE")},
		{"capabilities left out", func(d map[string]any) { delete(d, "capabilities") },
			warning([]string{"capabilities"}, "capabilities WARNING/UNREADABLE")},
		{"capabilities with empty lists", func(d map[string]any) { d["capabilities"] = map[string]any{"usability": []any{}} },
			warning([]string{"capabilities"}, "capabilities WARNING/UNREADABLE")},
		{"decision in lower case", func(d map[string]any) { setPath(d, "decision.type", "passed") },
			warning([]string{"decision"}, "decision WARNING/UNREADABLE")},
		// Not over-broad: a screening the workflow could not run is not
		// a contradiction of the ID verification's pass.
		{"screening not executed", func(d map[string]any) {
			d["capabilities"].(map[string]any)["watchlistScreening"] = []any{entry("NOT_EXECUTED", "NOT_ENOUGH_DATA")}
		}, passed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := loadJSON(t, "platform-passed.input.details.json")
			tc.patch(d)
			r, err := probePlatform(d, "PROCESSED")
			if err != nil {
				t.Fatal(err)
			}
			checkOutcome(t, r, tc.want)
			if r.Decision.Type != events.DecisionPassed {
				// Legacy consumers get APPROVED_VERIFIED when the document
				// passed, whatever the similarity or liveness said, as
				// Netverify sent it (docs/mapping.md, LegacyStatus).
				if vs, _, _ := LegacyStatus(r); vs == nvApproved && !strings.HasPrefix(tc.want.reasons[0], "similarity ") {
					t.Error("APPROVED_VERIFIED for legacy consumers")
				}
				if subj := events.ResultSubject("", r.Decision.Type, r.Source.WorkflowDefinitionKey, r.IDs.AccountID, r.IDs.WorkflowExecutionID); strings.Contains(subj, ".passed.") {
					t.Errorf("published on %s", subj)
				}
			}
		})
	}
}

// TestOnlyAnEndedVerificationPasses: a PASSED of a workflow or scan that
// has not ended is not executed yet (known running statuses) or a manual
// review (anything else kycflow does not know).
func TestOnlyAnEndedVerificationPasses(t *testing.T) {
	notYet := func(status string) outcome { return outcome{decision: events.DecisionNotExecuted, label: status} }
	for _, tc := range []struct {
		status string
		want   outcome
	}{
		{"PROCESSED", passed},
		{"INITIATED", notYet("INITIATED")},
		{"ACQUIRED", notYet("ACQUIRED")},
		{"ARCHIVED", warning(nil)},
		{"session_expired", warning(nil)},
	} {
		t.Run("platform "+tc.status, func(t *testing.T) {
			d := loadJSON(t, "platform-passed.input.details.json")
			setPath(d, "workflow.status", tc.status)
			r, err := probePlatform(d, tc.status)
			if err != nil {
				t.Fatal(err)
			}
			checkOutcome(t, r, tc.want)
		})
	}
	for _, tc := range []struct {
		status any
		want   outcome
	}{
		{"DONE", passed},
		{"PENDING", notYet("ACQUIRED")},
		{"RUNNING", warning(nil)},
		{map[string]any{"s": "DONE"}, warning([]string{"transaction.status"}, "transaction.status WARNING/UNREADABLE")},
	} {
		t.Run("netverify data "+strings.ToLower(jsonText(tc.status)), func(t *testing.T) {
			d := dataDoc(t)
			setPath(d, "transaction.status", tc.status)
			r, err := probeData(d)
			if err != nil {
				t.Fatal(err)
			}
			checkOutcome(t, r, tc.want)
		})
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestDuplicateKeysAreUnreadable: a key sent twice with different values
// is read as neither; sent twice with the same value, it reads.
func TestDuplicateKeysAreUnreadable(t *testing.T) {
	base, err := json.Marshal(loadJSON(t, "platform-passed.input.details.json"))
	if err != nil {
		t.Fatal(err)
	}
	rejected := `{"id":"c2000000-0000-4000-8000-000000000009","decision":{"type":"REJECTED","details":{"label":"NO_MATCH"}}}`
	// The workflow's own decision (keys sorted by encoding/json; the
	// capabilities' labels are OK and MATCH).
	const top = `"decision":{"details":{"label":"PASSED"}`
	for _, tc := range []struct {
		name     string
		old, new string
		want     outcome
	}{
		{"decision type twice", top, `"decision":{"type":"REJECTED",` + strings.TrimPrefix(top, `"decision":{`),
			warning([]string{"decision"}, "decision WARNING/UNREADABLE")},
		{"similarity twice", `"similarity":[`, `"similarity":[` + rejected + `],"similarity":[`,
			warning([]string{"capabilities"}, "capabilities WARNING/UNREADABLE")},
		{"capability decision twice", `"decision":{"details":{"label":"OK"},"type":"PASSED"}`,
			`"decision":{"details":{"label":"OK"},"type":"PASSED"},"decision":{"type":"REJECTED"}`,
			warning([]string{"capabilities.dataChecks", "capabilities.extraction", "capabilities.imageChecks", "capabilities.liveness", "capabilities.usability"},
				"imageChecks WARNING/UNREADABLE")},
		{"same value twice", top, `"decision":{"type":"PASSED",` + strings.TrimPrefix(top, `"decision":{`), passed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(string(base), tc.old) {
				t.Fatalf("%s not in the details", tc.old)
			}
			r, err := platformRaw([]byte(strings.Replace(string(base), tc.old, tc.new, 1)), "PROCESSED")
			if tc.name == "capability decision twice" {
				r, err = platformRaw([]byte(strings.ReplaceAll(string(base), tc.old, tc.new)), "PROCESSED")
			}
			if err != nil {
				t.Fatal(err)
			}
			checkOutcome(t, r, tc.want)
		})
	}
	t.Run("decision twice at the top", func(t *testing.T) {
		raw := strings.Replace(string(base), top, `"decision":{"type":"REJECTED"},`+top, 1)
		if _, err := platformRaw([]byte(raw), "PROCESSED"); err == nil {
			t.Error("details with two different decisions were read")
		}
	})
	t.Run("netverify document status twice", func(t *testing.T) {
		b, _ := json.Marshal(dataDoc(t))
		raw := strings.Replace(string(b), `"status":"APPROVED_VERIFIED"`, `"status":"DENIED_FRAUD","status":"APPROVED_VERIFIED"`, 1)
		var d wire.NetverifyData
		if err := json.Unmarshal([]byte(raw), &d); err != nil {
			t.Fatal(err)
		}
		ev := events.CallbackEvent{SchemaVersion: 1, EventID: probeEventID, API: events.APINetverify, Kind: events.KindIDVerification, Region: "amer-1", ReceivedAt: probeReceived}
		checkOutcome(t, FromNetverifyData(ev, &d, nil), warning([]string{"document"}, "document WARNING/UNREADABLE"))
	})
}

// TestNetverifyApprovalNeedsItsChecks: an APPROVED_VERIFIED callback whose
// scan status or ID checks say otherwise, a retrieval mrzCheck Jumio does
// not document, and a rejectReason without a code are manual reviews.
func TestNetverifyApprovalNeedsItsChecks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		patch func(f url.Values)
		want  outcome
	}{
		{"as sent", func(url.Values) {}, passed},
		{"MRZ check not available", func(f url.Values) { f.Set("idCheckMRZcode", "N/A") }, passed},
		{"MRZ check left out", func(f url.Values) { f.Del("idCheckMRZcode") }, passed},
		{"hologram not available", func(f url.Values) { f.Set("idCheckHologram", "N/A") }, warning(nil, "imageChecks WARNING/N/A")},
		{"signature left out", func(f url.Values) { f.Del("idCheckSignature") }, warning(nil, "imageChecks WARNING/N/A")},
		{"scan status left out", func(f url.Values) { f.Del("idScanStatus") }, warning([]string{"idScanStatus"}, "usability WARNING/UNREADABLE")},
		{"scan status error", func(f url.Values) { f.Set("idScanStatus", "ERROR") }, warning(nil, "usability WARNING/ERROR")},
		{"hologram failed", func(f url.Values) { f.Set("idCheckHologram", "FAILED") }, warning(nil, "imageChecks WARNING/FAILED")},
		{"reject reason without a code", func(f url.Values) { f.Set("rejectReason", `{"rejectReasonDescription":"MANIPULATED_DOCUMENT"}`) },
			warning([]string{"rejectReason"}, "rejectReason WARNING/UNREADABLE")},
		// A verdict field sent twice with different values reads as
		// neither; with the same value it reads.
		{"status twice", func(f url.Values) { f.Add("verificationStatus", "DENIED_FRAUD") },
			warning([]string{"verificationStatus"}, "verificationStatus WARNING/UNREADABLE")},
		{"identity twice", func(f url.Values) { f.Add("identityVerification", `{"similarity":"NO_MATCH","validity":true}`) },
			warning([]string{"identityVerification"}, "similarity WARNING/UNREADABLE")},
		{"check twice", func(f url.Values) { f.Add("idCheckHologram", "FAILED") },
			warning([]string{"idCheckHologram"}, "imageChecks WARNING/UNREADABLE")},
		{"scan status twice", func(f url.Values) { f.Add("IDSCANSTATUS", "ERROR") },
			warning([]string{"idScanStatus"}, "usability WARNING/UNREADABLE")},
		{"same status twice", func(f url.Values) { f.Add("verificationStatus", "APPROVED_VERIFIED") }, passed},
	} {
		t.Run("callback "+tc.name, func(t *testing.T) {
			f := approvedForm(t)
			tc.patch(f)
			r, err := probeNetverify(f)
			if err != nil {
				t.Fatal(err)
			}
			checkOutcome(t, r, tc.want)
		})
	}
	for _, tc := range []struct {
		name  string
		patch map[string]any
		want  outcome
	}{
		{"mrz check not available", map[string]any{"verification.mrzCheck": "NOT_AVAILABLE"}, passed},
		{"mrz check failed", map[string]any{"verification.mrzCheck": "FAILED"}, warning(nil, "dataChecks WARNING/FAILED")},
		{"reject reason without a code", map[string]any{"verification.rejectReason": map[string]any{"rejectReasonCode": "N/A"}},
			warning([]string{"verification.rejectReason"}, "rejectReason WARNING/UNREADABLE")},
	} {
		t.Run("data "+tc.name, func(t *testing.T) {
			d := dataDoc(t)
			for p, v := range tc.patch {
				setPath(d, p, v)
			}
			r, err := probeData(d)
			if err != nil {
				t.Fatal(err)
			}
			checkOutcome(t, r, tc.want)
		})
	}
}
