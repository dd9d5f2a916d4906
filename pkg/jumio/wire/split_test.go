package wire

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// objectOfDecoded and arrayOfDecoded are objectOf and arrayOf as they were
// written with encoding/json: the reference the splitting ones must match.
func objectOfDecoded(raw json.RawMessage) (m map[string]json.RawMessage, ok bool) {
	if !decodedOf(raw, '{', &m) {
		return nil, false
	}
	// A key sent twice with different values makes the object unreadable
	// (splitObject); encoding/json keeps the last.
	if s := bytes.TrimSpace(raw); s[0] == '"' {
		var inner string
		_ = json.Unmarshal(s, &inner)
		raw = []byte(inner)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	_, _ = dec.Token() // {
	seen := map[string]json.RawMessage{}
	for dec.More() {
		k, _ := dec.Token()
		var v json.RawMessage
		_ = dec.Decode(&v)
		if prev, dup := seen[k.(string)]; dup && !bytes.Equal(prev, v) {
			return nil, false
		}
		seen[k.(string)] = v
	}
	return m, true
}

func arrayOfDecoded(raw json.RawMessage) (list []json.RawMessage, ok bool) {
	return list, decodedOf(raw, '[', &list)
}

// decodedOf decodes into v raw, or the JSON string raw holds, when it
// starts with open.
func decodedOf(raw json.RawMessage, open byte, v any) bool {
	if s := bytes.TrimSpace(raw); len(s) > 0 && s[0] == '"' {
		var inner string
		if json.Unmarshal(s, &inner) != nil {
			return false
		}
		raw = []byte(inner)
	}
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == open && json.Unmarshal(raw, v) == nil
}

var splitSeeds = []string{
	`{}`, `[]`, ` { } `, `[ ]`, `{"a":1}`, `{"a" : 1 , "b":[1,2,{"c":"}"}],"d":{"e":"]\"{"}}`,
	`{"a":1,"a":2}`, `{"a":1,"a":1}`, `{"a":1, "a" : 1 }`, `{"a":{"b":1},"a":{"b":2}}`, `{"A":1,"a":2}`, `{"k\u00e9y":"v","\u0041":true,"t\"q":null}`,
	"{\"\xff\":1}", `{"a":-1.5e+10,"b":false,"c":null,"d":"x\\"}`, `[1, "two", [3], {"four":4}, null, true]`,
	`"{\"a\":{\"b\":[1,2]}}"`, `"[1,\"x\"]"`, `"not json"`, `{"a":}`, `{"a":1,}`, `[1,]`, `{"a":1} x`,
	`{"a":"\u2028"}`, "{\"a\":\n\t[ 1 ,\r 2 ]\n}", `{"a":{"b":{"c":{"d":[[[]]]}}}}`, `nul`, ``, `"`, `{"a`, `[`,
	`{"\\":"\\\\"}`, `{"a":"}"}`, `[{"a":"["}]`,
}

// FuzzObjectOf: splitting gives, for every input, what decoding with
// encoding/json gave: the same acceptance, keys and value bytes; except
// that an object with a key sent twice with different values is none.
func FuzzObjectOf(f *testing.F) {
	for _, s := range splitSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sameAnswer(t, "objectOf", b, objectOf, objectOfDecoded)
		sameAnswer(t, "arrayOf", b, arrayOf, arrayOfDecoded)
	})
}

// sameAnswer fails unless split and decoded give the same for b.
func sameAnswer[T any](t *testing.T, name string, b []byte, split, decoded func(json.RawMessage) (T, bool)) {
	t.Helper()
	got, gotOK := split(b)
	want, wantOK := decoded(b)
	if gotOK != wantOK {
		t.Fatalf("%s(%q): ok %v, encoding/json %v", name, b, gotOK, wantOK)
	}
	if diff := cmp.Diff(want, got); gotOK && diff != "" {
		t.Fatalf("%s(%q) (-encoding/json +split):\n%s", name, b, diff)
	}
}

// TestSplitValuesAreNotShared: appending to one value never writes over
// the next one's bytes.
func TestSplitValuesAreNotShared(t *testing.T) {
	m, ok := objectOf(json.RawMessage(`{"a":1,"b":2}`))
	if !ok {
		t.Fatal("not an object")
	}
	_ = append(m["a"], '9')
	if string(m["b"]) != "2" {
		t.Errorf("b = %s after appending to a, want 2", m["b"])
	}
}
