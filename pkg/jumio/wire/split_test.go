package wire

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// objectOfDecoded and arrayOfDecoded are objectOf and arrayOf as they were
// written with encoding/json: the reference the splitting ones must match.
func objectOfDecoded(raw json.RawMessage) (map[string]json.RawMessage, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, false
		}
		raw = bytes.TrimSpace([]byte(s))
	}
	if len(raw) == 0 || raw[0] != '{' {
		return nil, false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil, false
	}
	return m, true
}

func arrayOfDecoded(raw json.RawMessage) ([]json.RawMessage, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, false
		}
		raw = bytes.TrimSpace([]byte(s))
	}
	if len(raw) == 0 || raw[0] != '[' {
		return nil, false
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return nil, false
	}
	return list, true
}

var splitSeeds = []string{
	`{}`, `[]`, ` { } `, `[ ]`, `{"a":1}`, `{"a" : 1 , "b":[1,2,{"c":"}"}],"d":{"e":"]\"{"}}`,
	`{"a":1,"a":2}`, `{"A":1,"a":2}`, `{"k\u00e9y":"v","\u0041":true,"t\"q":null}`,
	"{\"\xff\":1}", `{"a":-1.5e+10,"b":false,"c":null,"d":"x\\"}`, `[1, "two", [3], {"four":4}, null, true]`,
	`"{\"a\":{\"b\":[1,2]}}"`, `"[1,\"x\"]"`, `"not json"`, `{"a":}`, `{"a":1,}`, `[1,]`, `{"a":1} x`,
	`{"a":"\u2028"}`, "{\"a\":\n\t[ 1 ,\r 2 ]\n}", `{"a":{"b":{"c":{"d":[[[]]]}}}}`, `nul`, ``, `"`, `{"a`, `[`,
	`{"\\":"\\\\"}`, `{"a":"}"}`, `[{"a":"["}]`,
}

// FuzzObjectOf: splitting gives, for every input, what decoding with
// encoding/json gave: the same acceptance, keys and value bytes.
func FuzzObjectOf(f *testing.F) {
	for _, s := range splitSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		gotM, gotOK := objectOf(b)
		wantM, wantOK := objectOfDecoded(b)
		if gotOK != wantOK {
			t.Fatalf("objectOf(%q): ok %v, encoding/json %v", b, gotOK, wantOK)
		}
		if diff := cmp.Diff(wantM, gotM); gotOK && diff != "" {
			t.Fatalf("objectOf(%q) (-encoding/json +split):\n%s", b, diff)
		}
		gotL, gotOK := arrayOf(b)
		wantL, wantOK := arrayOfDecoded(b)
		if gotOK != wantOK {
			t.Fatalf("arrayOf(%q): ok %v, encoding/json %v", b, gotOK, wantOK)
		}
		if diff := cmp.Diff(wantL, gotL); gotOK && diff != "" {
			t.Fatalf("arrayOf(%q) (-encoding/json +split):\n%s", b, diff)
		}
	})
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
