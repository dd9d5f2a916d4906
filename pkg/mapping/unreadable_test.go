package mapping

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kycflow/kycflow/pkg/events"
)

// secret is a value in an unreadable field: it must appear nowhere in the
// result (fields are named, never quoted).
const secret = "S3CRETVALUE"

// verdict is what the fail-closed rule decides of a result.
type verdict struct {
	Decision           events.DecisionType
	UnreadableFields   []string
	VerificationStatus string
	// Unreadable are the capability results WARNING / UNREADABLE, as
	// "capability field".
	Unreadable []string
}

func verdictOf(r events.Result) verdict {
	v := verdict{Decision: r.Decision.Type, UnreadableFields: r.UnreadableFields, VerificationStatus: r.VerificationStatus}
	for _, rs := range r.Reasons {
		if rs.Label != labelUnreadable {
			continue
		}
		i := slices.IndexFunc(r.Capabilities, func(c events.Capability) bool { return c.Name == rs.Capability && c.Label == labelUnreadable })
		v.Unreadable = append(v.Unreadable, rs.Capability+" "+r.Capabilities[i].Data["field"])
	}
	slices.Sort(v.Unreadable)
	return v
}

// checkFailClosed checks the rules every result with an unreadable field
// obeys, whatever its source.
func checkFailClosed(t *testing.T, r events.Result, want verdict) {
	t.Helper()
	if diff := cmp.Diff(want, verdictOf(r)); diff != "" {
		t.Errorf("verdict (-want +got):\n%s", diff)
	}
	if r.Decision.Type == events.DecisionPassed {
		t.Error("a result with an unreadable field is PASSED")
	}
	if vs, _, _ := LegacyStatus(r); vs == nvApproved {
		t.Error("a result with an unreadable field is APPROVED_VERIFIED for legacy consumers")
	}
	for _, pol := range events.Policies {
		if b, _ := json.Marshal(events.Project(r, pol)); strings.Contains(string(b), secret) {
			t.Errorf("policy %s: the result quotes an unreadable value: %s", pol, b)
		}
	}
	for _, p := range invariants(r) {
		t.Error(p)
	}
}

// TestUnreadableNetverifyCallback: an identityVerification or rejectReason
// that cannot be decoded never leaves an ID callback's verdict as it was.
func TestUnreadableNetverifyCallback(t *testing.T) {
	both := []string{"liveness identityVerification", "similarity identityVerification"}
	for _, tc := range []struct {
		name   string
		status string
		fields map[string]string
		want   verdict
	}{
		{
			// The example: truncated JSON that says NO_MATCH.
			name:   "identityVerification truncated",
			status: nvApproved,
			fields: map[string]string{"identityVerification": `{"similarity":"NO_MATCH","validity":"` + secret},
			want:   verdict{Decision: events.DecisionWarning, UnreadableFields: []string{"identityVerification"}, Unreadable: both},
		},
		{
			name:   "identityVerification not an object",
			status: nvApproved,
			fields: map[string]string{"identityVerification": `["` + secret + `"]`},
			want:   verdict{Decision: events.DecisionWarning, UnreadableFields: []string{"identityVerification"}, Unreadable: both},
		},
		{
			name:   "similarity of another type",
			status: nvApproved,
			fields: map[string]string{"identityVerification": `{"similarity":{"v":"` + secret + `"},"validity":true}`},
			want: verdict{Decision: events.DecisionWarning, UnreadableFields: []string{"identityVerification.similarity"},
				Unreadable: []string{"similarity identityVerification.similarity"}},
		},
		{
			name:   "validity not a boolean",
			status: nvApproved,
			fields: map[string]string{"identityVerification": `{"similarity":"MATCH","validity":"` + secret + `"}`},
			want: verdict{Decision: events.DecisionWarning, UnreadableFields: []string{"identityVerification.validity"},
				Unreadable: []string{"liveness identityVerification.validity"}},
		},
		{
			name:   "identityVerification truncated, similarity NO_MATCH readable elsewhere stays REJECTED",
			status: nvDeniedFraud,
			fields: map[string]string{"identityVerification": `{"similarity":"NO_MATCH","vali`, "rejectReason": `{"rejectReasonCode":"106"}`},
			want: verdict{Decision: events.DecisionRejected, UnreadableFields: []string{"identityVerification"},
				VerificationStatus: nvDeniedFraud, Unreadable: both},
		},
		{
			name:   "rejectReason truncated, DENIED_FRAUD stays REJECTED",
			status: nvDeniedFraud,
			fields: map[string]string{"rejectReason": `{"rejectReasonCode":"100","rejectReasonDetails":[{"detailsCode":"` + secret},
			want: verdict{Decision: events.DecisionRejected, UnreadableFields: []string{"rejectReason"}, VerificationStatus: nvDeniedFraud,
				Unreadable: []string{"imageChecks rejectReason"}},
		},
		{
			name:   "rejectReason details of another shape",
			status: nvNotReadable,
			fields: map[string]string{"rejectReason": `{"rejectReasonCode":"200","rejectReasonDetails":"` + secret + `"}`},
			want: verdict{Decision: events.DecisionRejected, UnreadableFields: []string{"rejectReason"}, VerificationStatus: nvNotReadable,
				Unreadable: []string{"usability rejectReason"}},
		},
		{
			name:   "rejectReason unreadable beside APPROVED_VERIFIED",
			status: nvApproved,
			fields: map[string]string{"rejectReason": `{"rejectReasonCode":` + secret},
			want: verdict{Decision: events.DecisionWarning, UnreadableFields: []string{"rejectReason"},
				Unreadable: []string{"rejectReason rejectReason"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := loadForm(t, "netverify-approved-verified.input.form")
			f.Del("identityVerification")
			f.Set("verificationStatus", tc.status)
			for k, v := range tc.fields {
				f.Set(k, v)
			}
			r, err := probeNetverify(f)
			if err != nil {
				t.Fatal(err)
			}
			checkFailClosed(t, r, tc.want)
		})
	}
}

// TestUnreadableNetverifyDocumentCallback: a document verification whose
// document cannot be decoded is not passed.
func TestUnreadableNetverifyDocumentCallback(t *testing.T) {
	f := loadForm(t, "netverify-document-verification.input.form")
	f.Set("document", `{"status":"EXTRACTED","country":"`+secret)
	r, err := probeNetverify(f)
	if err != nil {
		t.Fatal(err)
	}
	checkFailClosed(t, r, verdict{Decision: events.DecisionWarning, UnreadableFields: []string{"document"}, Unreadable: []string{"usability document"}})
}

// TestUnreadableNetverifyData: every verdict-carrying field of a Netverify
// retrieval /data response that cannot be decoded is named and leaves no
// verdict standing; the rest of the document still maps.
func TestUnreadableNetverifyData(t *testing.T) {
	for _, tc := range []struct {
		name  string
		patch map[string]any
		want  verdict
	}{
		{"verification not an object", map[string]any{"verification": secret},
			verdict{Decision: events.DecisionWarning, UnreadableFields: []string{"verification"}, Unreadable: []string{"verification verification"}}},
		{"identityVerification a string", map[string]any{"verification.identityVerification": secret},
			verdict{Decision: events.DecisionWarning, UnreadableFields: []string{"verification.identityVerification"},
				Unreadable: []string{"liveness verification.identityVerification", "similarity verification.identityVerification"}}},
		{"identityVerification double encoded, similarity of another type", map[string]any{"verification.identityVerification": `{"similarity":["` + secret + `"],"validity":"true"}`},
			verdict{Decision: events.DecisionWarning, UnreadableFields: []string{"verification.identityVerification.similarity"},
				Unreadable: []string{"similarity verification.identityVerification.similarity"}}},
		{"rejectReason code of another type", map[string]any{"document.status": nvDeniedFraud, "verification.rejectReason": map[string]any{"rejectReasonCode": map[string]any{"c": secret}}},
			verdict{Decision: events.DecisionRejected, UnreadableFields: []string{"verification.rejectReason"}, VerificationStatus: nvDeniedFraud,
				Unreadable: []string{"imageChecks verification.rejectReason"}}},
		{"mrzCheck of another type", map[string]any{"verification.mrzCheck": []any{secret}},
			verdict{Decision: events.DecisionWarning, UnreadableFields: []string{"verification.mrzCheck"}, Unreadable: []string{"dataChecks verification.mrzCheck"}}},
		{"additionalChecks not an object", map[string]any{"verification.additionalChecks": []any{secret}},
			verdict{Decision: events.DecisionWarning, UnreadableFields: []string{"verification.additionalChecks"},
				Unreadable: []string{"verification.additionalChecks verification.additionalChecks"}}},
		{"watchlist check a string", map[string]any{"verification.additionalChecks": map[string]any{"watchlistScreening": secret}},
			verdict{Decision: events.DecisionWarning, UnreadableFields: []string{"verification.additionalChecks.watchlistScreening"},
				Unreadable: []string{"watchlistScreening verification.additionalChecks.watchlistScreening"}}},
		{"address check result of another type", map[string]any{"verification.additionalChecks": map[string]any{"addressValidation": map[string]any{"searchResults": map[string]any{"r": secret}}}},
			verdict{Decision: events.DecisionWarning, UnreadableFields: []string{"verification.additionalChecks.addressValidation"},
				Unreadable: []string{"addressValidation verification.additionalChecks.addressValidation"}}},
		{"face search findings of another type", map[string]any{"verification.additionalChecks": map[string]any{"faceSearchFindings": map[string]any{"status": map[string]any{"s": secret}}}},
			verdict{Decision: events.DecisionWarning, UnreadableFields: []string{"verification.additionalChecks.faceSearchFindings"},
				Unreadable: []string{"imageChecks verification.additionalChecks.faceSearchFindings"}}},
		{"document status of another type", map[string]any{"document.status": map[string]any{"s": secret}},
			verdict{Decision: events.DecisionWarning, UnreadableFields: []string{"document.status"}, Unreadable: []string{"document.status document.status"}}},
		{"document not an object", map[string]any{"document": secret},
			verdict{Decision: events.DecisionWarning, UnreadableFields: []string{"document"}, Unreadable: []string{"document document"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := dataDoc(t)
			for path, v := range tc.patch {
				setPath(d, path, v)
			}
			r, err := probeData(d)
			if err != nil {
				t.Fatalf("a /data document with an odd field is refused: %v", err)
			}
			checkFailClosed(t, r, tc.want)
			if r.IDs.CustomerInternalReference != "txn-000123" {
				t.Errorf("the rest of the document was not mapped: customerInternalReference %q", r.IDs.CustomerInternalReference)
			}
		})
	}
}

// TestUnreadablePlatform: a decision, capabilities object or capability
// entry of workflow details that cannot be decoded never leaves the
// verdict as it was; REJECTED stays REJECTED, an expired workflow
// NOT_EXECUTED.
func TestUnreadablePlatform(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status string
		patch  func(d map[string]any)
		want   verdict
	}{
		{"decision a string", "PROCESSED", func(d map[string]any) { d["decision"] = secret },
			verdict{Decision: events.DecisionWarning, UnreadableFields: []string{"decision"}, Unreadable: []string{"decision decision"}}},
		{"decision type of another type", "PROCESSED", func(d map[string]any) { setPath(d, "decision.type", map[string]any{"t": secret}) },
			verdict{Decision: events.DecisionWarning, UnreadableFields: []string{"decision"}, Unreadable: []string{"decision decision"}}},
		{"capabilities an array", "PROCESSED", func(d map[string]any) { d["capabilities"] = []any{secret} },
			verdict{Decision: events.DecisionWarning, UnreadableFields: []string{"capabilities"}, Unreadable: []string{"capabilities capabilities"}}},
		{"similarity a string", "PROCESSED", func(d map[string]any) { setPath(d, "capabilities.similarity", "NO_MATCH "+secret) },
			verdict{Decision: events.DecisionWarning, UnreadableFields: []string{"capabilities.similarity"}, Unreadable: []string{"similarity capabilities.similarity"}}},
		{"similarity entry a string", "PROCESSED", func(d map[string]any) {
			setPath(d, "capabilities.similarity", []any{secret})
		}, verdict{Decision: events.DecisionWarning, UnreadableFields: []string{"capabilities.similarity"}, Unreadable: []string{"similarity capabilities.similarity"}}},
		{"liveness decision type of another type", "PROCESSED", func(d map[string]any) {
			setPath(d, "capabilities.liveness[].decision.type", []any{secret})
		}, verdict{Decision: events.DecisionWarning, UnreadableFields: []string{"capabilities.liveness"}, Unreadable: []string{"liveness capabilities.liveness"}}},
		{"rejected stays rejected", "PROCESSED", func(d map[string]any) {
			setPath(d, "decision", map[string]any{"type": "REJECTED"})
			setPath(d, "capabilities.usability[].decision", secret)
		}, verdict{Decision: events.DecisionRejected, UnreadableFields: []string{"capabilities.usability"},
			Unreadable: []string{"usability capabilities.usability"}}},
		{"expired stays not executed", "TOKEN_EXPIRED", func(d map[string]any) {
			setPath(d, "workflow.status", "TOKEN_EXPIRED")
			setPath(d, "capabilities.usability[].decision", secret)
		}, verdict{Decision: events.DecisionNotExecuted, UnreadableFields: []string{"capabilities.usability"}, VerificationStatus: nvNoIDUploaded,
			Unreadable: []string{"usability capabilities.usability"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := loadJSON(t, "platform-passed.input.details.json")
			tc.patch(d)
			r, err := probePlatform(d, tc.status)
			if err != nil {
				t.Fatalf("details with an odd field are refused: %v", err)
			}
			checkFailClosed(t, r, tc.want)
			if r.Document == nil && tc.want.UnreadableFields[0] != "capabilities" || r.Timestamps.Created == nil {
				t.Error("the rest of the details was not mapped")
			}
		})
	}
}

// TestReadableFieldsAreNotUnreadable: the fixtures, and values Jumio
// documents as absent ("N/A", null) in fields that carry no outcome of
// their own (a reason, a similarity score), name no unreadable field.
func TestReadableFieldsAreNotUnreadable(t *testing.T) {
	for _, c := range goldenCases(t) {
		out := run(t, c)
		if out.result != nil && !strings.Contains(c.name, "unreadable") && len(out.result.UnreadableFields) > 0 {
			t.Errorf("%s: unreadable %v", c.name, out.result.UnreadableFields)
		}
	}
	f := loadForm(t, "netverify-approved-verified.input.form")
	f.Set("identityVerification", `{"similarity":"MATCH","validity":true,"reason":null,"similarityScore":"N/A"}`)
	if r, _ := probeNetverify(f); len(r.UnreadableFields) > 0 || r.Decision.Type != events.DecisionPassed {
		t.Errorf("reason null, similarityScore N/A: unreadable %v, decision %s", r.UnreadableFields, r.Decision.Type)
	}
}
