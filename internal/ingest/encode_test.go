package ingest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
)

// stdEncode is what appendEvent must match.
func stdEncode(t testing.TB, ev events.CallbackEvent) ([]byte, error) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ev); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func checkEncode(t testing.TB, ev events.CallbackEvent) {
	t.Helper()
	want, wantErr := stdEncode(t, ev)
	got, gotErr := appendEvent(nil, ev)
	if (wantErr == nil) != (gotErr == nil) {
		t.Fatalf("errors differ: encoding/json %v, appendEvent %v", wantErr, gotErr)
	}
	if wantErr == nil && !bytes.Equal(got, want) {
		t.Fatalf("appendEvent differs from encoding/json:\n got %s\nwant %s", got, want)
	}
}

// TestAppendEventKnowsEveryField fails when events.CallbackEvent changes:
// appendEvent must then learn the new field.
func TestAppendEventKnowsEveryField(t *testing.T) {
	var got []string
	typ := reflect.TypeFor[events.CallbackEvent]()
	for i := range typ.NumField() {
		got = append(got, typ.Field(i).Name+" "+string(typ.Field(i).Tag))
	}
	want := []string{
		`SchemaVersion json:"schemaVersion"`, `EventID json:"eventId"`, `API json:"api"`, `Kind json:"kind"`,
		`Region json:"region,omitempty"`, `AccountID json:"accountId,omitempty"`, `WorkflowExecutionID json:"workflowExecutionId"`,
		`WorkflowDefinitionKey json:"workflowDefinitionKey,omitempty"`, `Status json:"status"`,
		`CallbackSentAt json:"callbackSentAt,omitempty"`, `ReceivedAt json:"receivedAt"`, `JSON json:"json,omitempty"`,
		`Form json:"form,omitempty"`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("events.CallbackEvent changed; update appendEvent (-known +now):\n%s", diff)
	}
}

func TestAppendEventMatchesEncodingJSON(t *testing.T) {
	received := time.Date(2024, 3, 14, 10, 15, 31, 123456789, time.UTC)
	for _, p := range must(filepath.Glob("../../pkg/jumio/testdata/platform/callback-*.json")) {
		b := must(os.ReadFile(p))
		cb := must(jumio.ParsePlatformCallback(b))
		checkEncode(t, cb.Event(jumio.RegionAMER, received, b))
	}
	for _, p := range must(filepath.Glob("../../pkg/jumio/testdata/netverify/callback-*.form")) {
		m, raw, err := jumio.ParseNetverifyRequest(must(os.ReadFile(p)), "")
		if err != nil {
			t.Fatal(err)
		}
		checkEncode(t, m.Event(jumio.RegionEMEA, received, raw))
	}
	sent := time.Date(2021, 5, 10, 8, 5, 10, 0, time.UTC)
	for _, s := range []string{"", "plain", "a\"b\\c", "\x00\x01\b\f\n\r\t\x1f", "<&>", "ü€😀", "\xff\xfe", "a\u2028b\u2029", "%2F+&="} {
		checkEncode(t, events.CallbackEvent{SchemaVersion: 1, EventID: s, API: events.API(s), Kind: events.CallbackKind(s),
			Region: s, AccountID: s, WorkflowExecutionID: s, WorkflowDefinitionKey: s, Status: s,
			CallbackSentAt: &sent, ReceivedAt: received, Form: s})
	}
	checkEncode(t, events.CallbackEvent{JSON: json.RawMessage(`{"a": [1, 2, {"b": "c\u2028"}]}`)})
	checkEncode(t, events.CallbackEvent{JSON: json.RawMessage(`{"a": `)})
}

func FuzzAppendEvent(f *testing.F) {
	f.Add("PROCESSED", "a=b&c=%2F", []byte(`{"x":1}`), int64(0))
	f.Add("\u2028", "\xff", []byte(`[1, "\u00e9"]`), int64(1e18))
	f.Fuzz(func(t *testing.T, s, form string, raw []byte, nanos int64) {
		ts := time.Unix(0, nanos).UTC()
		checkEncode(t, events.CallbackEvent{SchemaVersion: 1, EventID: s, WorkflowExecutionID: s, Status: s,
			CallbackSentAt: &ts, ReceivedAt: ts, JSON: raw, Form: form})
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
