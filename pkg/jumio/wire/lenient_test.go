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
// that field out instead of failing the whole verification result.
func TestWorkflowDetailsLenient(t *testing.T) {
	type view struct {
		Created   time.Time
		Completed time.Time
		Type      string
		Label     string
		Score     *float64
		Caps      map[string]int
		EntryIDs  []string
	}
	look := func(d wire.WorkflowDetails) view {
		v := view{Created: d.CreatedAt.Time, Completed: d.CompletedAt.Time, Type: d.Decision.Type,
			Label: d.Decision.Label(), Score: d.Decision.RiskScore(), Caps: map[string]int{}}
		for name, entries := range d.Capabilities {
			v.Caps[name] = len(entries)
			for _, e := range entries {
				v.EntryIDs = append(v.EntryIDs, e.ID)
			}
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
			name: "bad timestamps are absent",
			body: `{"createdAt":"2024-03-14T10:00:00.000Z","completedAt":"14/03/2024 10:01","startedAt":12,"decision":{"type":"PASSED"}}`,
			want: view{Created: created, Type: "PASSED", Caps: map[string]int{}},
		},
		{
			name: "capability as one object, entries of other shapes left out",
			body: `{"decision":{"type":"PASSED"},"capabilities":{"usability":{"id":"u1","decision":{"type":"PASSED"}},` +
				`"liveness":[{"id":7,"validFaceMapForAuthentication":true,"credentials":"x","decision":{"type":"PASSED","risk":{"score":"n/a"}}},"junk"],"odd":"text"}}`,
			want: view{Type: "PASSED", Caps: map[string]int{"usability": 1, "liveness": 1, "odd": 0}, EntryIDs: []string{"u1", "7"}},
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
			if diff := cmp.Diff(tt.want, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
				t.Errorf("decoded (-want +got):\n%s", diff)
			}
		})
	}
}

// TestWorkflowDetailsStillFails: what cannot be a details document still
// fails, and the fixtures decode exactly as before.
func TestWorkflowDetailsStillFails(t *testing.T) {
	for _, body := range []string{`[]`, `"details"`, `{"workflow":"x"}`, `{"decision":"PASSED"}`, `{"credentials":{}}`} {
		var d wire.WorkflowDetails
		if err := json.Unmarshal([]byte(body), &d); err == nil {
			t.Errorf("Unmarshal(%s) succeeded", body)
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
