package ingest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
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
		`Form json:"form,omitempty"`, `Reconciled json:"reconciled,omitempty"`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("events.CallbackEvent changed; update appendEvent (-known +now):\n%s", diff)
	}
}

func TestAppendEventMatchesEncodingJSON(t *testing.T) {
	received := time.Date(2024, 3, 14, 10, 15, 31, 123456789, time.UTC)
	for _, p := range must(filepath.Glob("../../pkg/jumio/testdata/platform/callback-*.json")) {
		b := must(os.ReadFile(p))
		cb := must(wire.ParsePlatformCallback(b))
		checkEncode(t, cb.Event(wire.RegionAMER, received, b))
	}
	for _, p := range must(filepath.Glob("../../pkg/jumio/testdata/netverify/callback-*.form")) {
		m, raw, err := wire.ParseNetverifyRequest(must(os.ReadFile(p)), "")
		if err != nil {
			t.Fatal(err)
		}
		checkEncode(t, m.Event(wire.RegionEMEA, received, raw))
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

// checkCompact compares appendCompact with json.Compact on src.
func checkCompact(t testing.TB, src []byte) {
	t.Helper()
	var want bytes.Buffer
	wantErr := json.Compact(&want, src)
	got, gotErr := appendCompact([]byte("prefix"), src)
	if (wantErr == nil) != (gotErr == nil) {
		t.Fatalf("%q: errors differ: json.Compact %v, appendCompact %v", src, wantErr, gotErr)
	}
	if wantErr != nil {
		if string(got) != "prefix" {
			t.Fatalf("%q: appendCompact failed but appended %q", src, got)
		}
		return
	}
	if string(got) != "prefix"+want.String() {
		t.Fatalf("%q: appendCompact differs from json.Compact:\n got %q\nwant %q", src, got[len("prefix"):], want.String())
	}
}

func TestAppendCompactMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{
		``, ` `, `{}`, `[]`, ` { } `, ` [ ] `, `{"a":1}`, "{\n  \"a\" : [1, 2.5e-3, -0, true, false, null, \"x y\"],\r\n\t\"b\": {}\n}\n",
		`"a\"b\\c\/\b\f\n\r\t\u00e9\uD83D\uDE00"`, `"\u00g0"`, `"\x"`, `"a`, `"` + "\x01" + `"`, "\"\xff\xfe\"", "\"\u2028\"", "\"\xe2\x80\xa8\"",
		`0`, `-`, `-0`, `01`, `1.`, `1.5`, `.5`, `1e`, `1e+`, `1E-7`, `1e5.3`, `-a`, `123abc`, `1 2`,
		`tru`, `true`, `truee`, `nul`, `null`, `false`, `fals`, `[1,]`, `[,1]`, `{"a":1,}`, `{,}`, `{"a"}`, `{"a":}`, `{1:2}`,
		`{"a":1 "b":2}`, `[1 2]`, `[1}`, `{"a":1]`, `]`, `}`, `[`, `{`, `{"a":[{"b":[]}]}`, `[[[[]]]]`, `[]]`, `{}}`, `{} {}`,
		`<&>`, `["<&>"]`, " \v1", "\u00a01",
	} {
		checkCompact(t, []byte(s))
	}
	for _, depth := range []int{maxNestingDepth - 1, maxNestingDepth, maxNestingDepth + 1} {
		checkCompact(t, []byte(strings.Repeat("[", depth)+strings.Repeat("]", depth)))
		checkCompact(t, []byte(strings.Repeat(`{"a":`, depth)+"1"+strings.Repeat("}", depth)))
	}
	for _, p := range must(filepath.Glob("../../pkg/jumio/testdata/*/*.json")) {
		checkCompact(t, must(os.ReadFile(p)))
	}
}

func FuzzAppendCompact(f *testing.F) {
	for _, p := range must(filepath.Glob("../../pkg/jumio/testdata/*/*.json")) {
		f.Add(must(os.ReadFile(p)))
	}
	f.Add([]byte(`[1, -2.5E+3, "\u00e9", {"a": null}]`))
	f.Fuzz(func(t *testing.T, src []byte) { checkCompact(t, src) })
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
