package wire_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

func ptrFloat(f float64) *float64 { return &f }

// TestWorkflowDetailsLenient: one odd field of a details document leaves
// that field out, named in Warnings, instead of failing the whole
// verification result; an entry whose outcome cannot be read is kept as
// Unreadable.
func TestWorkflowDetailsLenient(t *testing.T) {
	type view struct {
		Created    time.Time
		Completed  time.Time
		Type       string
		Label      string
		Score      *float64
		Caps       map[string]int
		EntryIDs   []string
		Unreadable []string
		Warnings   []string
		Extra      []string
	}
	look := func(d wire.WorkflowDetails) view {
		v := view{Created: d.CreatedAt.Time, Completed: d.CompletedAt.Time, Type: d.Decision.Type,
			Label: d.Decision.Label(), Score: d.Decision.RiskScore(), Caps: map[string]int{}, Warnings: d.Warnings}
		for name, entries := range d.Capabilities {
			v.Caps[name] = len(entries)
			for _, e := range entries {
				if e.Unreadable {
					v.Unreadable = append(v.Unreadable, name)
					continue
				}
				v.EntryIDs = append(v.EntryIDs, e.ID)
			}
		}
		for k := range d.Extra {
			v.Extra = append(v.Extra, k)
		}
		return v
	}
	created := time.Date(2024, 3, 14, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		body string
		want view
	}{
		{
			name: "risk score as a string",
			body: `{"createdAt":"2024-03-14T10:00:00.000Z","decision":{"type":"PASSED","risk":{"score":"12.5"}}}`,
			want: view{Created: created, Type: "PASSED", Score: ptrFloat(12.5), Caps: map[string]int{}},
		},
		{
			name: "risk score of another shape",
			body: `{"decision":{"type":"REJECTED","details":{"label":"NOT_UPLOADED"},"risk":{"score":{"value":3}}}}`,
			want: view{Type: "REJECTED", Label: "NOT_UPLOADED", Caps: map[string]int{}},
		},
		{
			name: "bad timestamps are absent and named",
			body: `{"createdAt":"2024-03-14T10:00:00.000Z","completedAt":"14/03/2024 10:01","startedAt":12,"decision":{"type":"PASSED"}}`,
			want: view{Created: created, Type: "PASSED", Caps: map[string]int{}, Warnings: []string{"completedAt", "startedAt"}},
		},
		{
			name: "timestamps with a space, or a date alone, without a zone (UTC)",
			body: `{"createdAt":"2024-03-14 10:00:00","completedAt":"2024-03-15","decision":{"type":"PASSED"}}`,
			want: view{Created: created, Completed: time.Date(2024, 3, 15, 0, 0, 0, 0, time.UTC), Type: "PASSED", Caps: map[string]int{}},
		},
		{
			name: "capability as one object; entries of other shapes kept as unreadable",
			body: `{"decision":{"type":"PASSED"},"capabilities":{"usability":{"id":"u1","decision":{"type":"PASSED"}},` +
				`"liveness":[{"id":7,"validFaceMapForAuthentication":true,"credentials":"x","decision":{"type":"PASSED","risk":{"score":"n/a"}}},"junk"],"odd":"text"}}`,
			want: view{Type: "PASSED", Caps: map[string]int{"usability": 1, "liveness": 2, "odd": 1}, EntryIDs: []string{"u1", "7"},
				Unreadable: []string{"liveness", "odd"}},
		},
		{
			name: "decision that is not an object",
			body: `{"decision":"PASSED","capabilities":{"similarity":[{"id":"s1","decision":{"type":{"t":1}}}]}}`,
			want: view{Caps: map[string]int{"similarity": 1}, Unreadable: []string{"similarity"}, Warnings: []string{"decision"}},
		},
		{
			name: "a label of another shape leaves the type",
			body: `{"decision":{"type":"WARNING","details":{"label":["x"]}}}`,
			want: view{Type: "WARNING", Caps: map[string]int{}},
		},
		{
			name: "workflow, account and credentials of other shapes",
			body: `{"workflow":"x","account":7,"credentials":{},"decision":{"type":"PASSED"}}`,
			want: view{Type: "PASSED", Caps: map[string]int{}, Warnings: []string{"account", "credentials", "workflow"}},
		},
		{
			name: "a credential and a part of other shapes, a string where an object was",
			body: `{"credentials":[{"id":"c1","category":"ID","parts":[{"classifier":"FRONT","href":{"h":1}},"junk"]},"junk",` +
				`"{\"id\":\"c3\",\"category\":\"SELFIE\"}"],"decision":{"type":"PASSED"}}`,
			want: view{Type: "PASSED", Caps: map[string]int{}, Warnings: []string{"credentials[0].parts[0].href", "credentials[0].parts[1]", "credentials[1]"}},
		},
		{
			name: "capabilities that are not an object",
			body: `{"decision":{"type":"PASSED"},"capabilities":["usability"]}`,
			want: view{Type: "PASSED", Caps: map[string]int{}, Warnings: []string{"capabilities"}},
		},
		{
			name: "unknown fields are kept",
			body: `{"decision":{"type":"PASSED"},"feedback":{"a":1},"workflow":{"id":"w","future":true}}`,
			want: view{Type: "PASSED", Caps: map[string]int{}, Extra: []string{"feedback", "workflow.future"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d wire.WorkflowDetails
			if err := json.Unmarshal([]byte(tt.body), &d); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			got := look(d)
			// Map iteration order varies; entry ids are compared as a set.
			if diff := cmp.Diff(tt.want, got, cmpopts.SortSlices(func(a, b string) bool { return a < b }), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("decoded (-want +got):\n%s", diff)
			}
		})
	}
}

// TestWorkflowDetailsStillFails: what cannot be a details document still
// fails.
// TestRiskScoreUnreadable: a risk score sent in a shape that cannot be
// read ("N/A", an object), or a risk that is not an object, is left out
// and flagged, so that it is not taken for a risk score never sent.
func TestRiskScoreUnreadable(t *testing.T) {
	for risk, want := range map[string]bool{
		`{"score":5}`: false, `{"score":"5"}`: false, `{}`: false, `{"score":null}`: false, `null`: false,
		`{"score":"N/A"}`: true, `{"score":{"value":-1}}`: true, `{"score":[1]}`: true, `"N/A"`: true, `5`: true,
	} {
		var d wire.WorkflowDetails
		if err := json.Unmarshal([]byte(`{"decision":{"type":"PASSED","risk":`+risk+`}}`), &d); err != nil {
			t.Fatalf("%s: %v", risk, err)
		}
		if d.Decision.RiskUnreadable != want {
			t.Errorf("risk %s: RiskUnreadable %v, want %v", risk, d.Decision.RiskUnreadable, want)
		}
	}
}

func TestWorkflowDetailsStillFails(t *testing.T) {
	for _, body := range []string{`[]`, `"details"`, `12`, `{"a":`} {
		var d wire.WorkflowDetails
		if err := json.Unmarshal([]byte(body), &d); err == nil {
			t.Errorf("Unmarshal(%s) succeeded", body)
		}
	}
}

// TestCapabilityOrder: the capabilities keep the order Jumio sent them.
func TestCapabilityOrder(t *testing.T) {
	var d wire.WorkflowDetails
	body := `{"capabilities":{"similarity":[],"usability":[],"imageChecks":[],"usability":[]}}`
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"similarity", "usability", "imageChecks"}, d.CapabilityOrder); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

// TestNetverifyDataLenient: Netverify retrieval /data decodes field by
// field: timestamps that are not RFC 3339, objects sent as strings
// holding their JSON, and a string where an object was do not fail the
// document.
func TestNetverifyDataLenient(t *testing.T) {
	body := `{"scanReference":"5b6c7d8e-1111-4222-8333-944455556666","timestamp":"10.05.2021 08:10",` +
		`"document":"{\"status\":\"APPROVED_VERIFIED\",\"firstName\":\"JANE\",\"dni\":\"X1\"}",` +
		`"transaction":{"date":"yesterday","status":"DONE","clientIp":["1.2.3.4"]},` +
		`"verification":{"identityVerification":"{\"similarity\":\"MATCH\",\"validity\":\"yes\"}","rejectReason":"none","mrzCheck":"OK",` +
		`"additionalChecks":"{\"watchlistScreening\":{\"searchStatus\":\"DONE\"}}"},"future":1}`
	var d wire.NetverifyData
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	type view struct {
		Status, FirstName, DNI, TxStatus, MRZ, Similarity string
		ValidityWarnings, Warnings, Extra                 []string
		Checks                                            int
	}
	got := view{Status: string(d.Document.Status), FirstName: string(d.Document.FirstName), DNI: string(d.Document.DNI),
		TxStatus: string(d.Transaction.Status), MRZ: string(d.Verification.MRZCheck), Warnings: d.Warnings,
		Checks: len(d.Verification.AdditionalChecks)}
	if iv := d.Verification.IdentityVerification; iv != nil {
		got.Similarity, got.ValidityWarnings = string(iv.Similarity), iv.Warnings
	}
	for k := range d.Extra {
		got.Extra = append(got.Extra, k)
	}
	want := view{Status: "APPROVED_VERIFIED", FirstName: "JANE", DNI: "X1", TxStatus: "DONE", MRZ: "OK", Similarity: "MATCH",
		ValidityWarnings: []string{"validity"}, Checks: 1,
		Warnings: []string{"timestamp", "transaction.clientIp", "transaction.date", "verification.rejectReason"}, Extra: []string{"future"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decoded (-want +got):\n%s", diff)
	}
	for _, bad := range []string{`[]`, `"x"`} {
		if err := json.Unmarshal([]byte(bad), &d); err == nil {
			t.Errorf("Unmarshal(%s) succeeded", bad)
		}
	}
}

// TestWorkflowDetailsFixturesRoundTrip: every details fixture decodes,
// and what it decodes to is stable through a marshal and decode (json.RawMessage
// data is compared as marshalled, which compacts it).
func TestWorkflowDetailsFixturesRoundTrip(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("../testdata", "platform", "details-*.json"))
	if len(paths) == 0 {
		t.Fatal("no details fixtures")
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var d, again wire.WorkflowDetails
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(out, &again); err != nil {
			t.Fatalf("%s: round trip: %v", p, err)
		}
		out2, err := json.Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(out), string(out2)); diff != "" {
			t.Errorf("%s: round trip (-first +again):\n%s", p, diff)
		}
	}
}

// TestCallbackParsingStaysStrict: a malformed callbackSentAt still fails
// the callback, lenient details decoding notwithstanding.
func TestCallbackParsingStaysStrict(t *testing.T) {
	body := `{"callbackSentAt":"yesterday","workflowExecution":{"id":"4f0b7b3e-95b6-4b8b-8a3d-3d2b8d2b8d2b","status":"PROCESSED"},"account":{"id":"9f0b7b3e-95b6-4b8b-8a3d-3d2b8d2b8d2b"}}`
	if _, err := wire.ParsePlatformCallback([]byte(body)); err == nil {
		t.Error("a callback with a malformed callbackSentAt was accepted")
	}
}

// TestFlexErrorsQuoteNoValue: a value of the wrong kind is named by its
// kind, never quoted, since it may be personal data.
func TestFlexErrorsQuoteNoValue(t *testing.T) {
	for _, in := range []string{`{"firstName":"pii"}`, `["pii"]`, `pii`} {
		var s wire.String
		err := json.Unmarshal([]byte(`{"v":`+in+`}`), &struct{ V *wire.String }{&s})
		if in == "pii" {
			// Invalid JSON fails in the decoder, before String sees it.
			err = s.UnmarshalJSON([]byte(in))
		}
		if err == nil {
			t.Fatalf("%s: no error", in)
		}
		if strings.Contains(err.Error(), "pii") || strings.Contains(err.Error(), "firstName") {
			t.Errorf("%s: error quotes the value: %v", in, err)
		}
	}
}

// TestNetverifyDataEnded: retrieval data says its scan ended only with a
// transaction status DONE or FAILED that was read; a pending, missing or
// unreadable one is no end.
func TestNetverifyDataEnded(t *testing.T) {
	for body, want := range map[string]bool{
		`{"transaction":{"status":"DONE"}}`:            true,
		`{"transaction":{"status":"failed"}}`:          true,
		`{"transaction":{"status":"PENDING"}}`:         false,
		`{"transaction":{}}`:                           false,
		`{}`:                                           false,
		`{"transaction":{"status":{"nested":"DONE"}}}`: false,
	} {
		var d wire.NetverifyData
		if err := json.Unmarshal([]byte(body), &d); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if got := d.Ended(); got != want {
			t.Errorf("%s: Ended %v, want %v", body, got, want)
		}
	}
	if (*wire.NetverifyData)(nil).Ended() {
		t.Error("no data: Ended true")
	}
}
