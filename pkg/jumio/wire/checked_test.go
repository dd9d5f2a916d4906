package wire

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// checkedSeeds are documents whose parts are odd: double encoded, broken
// inside a string, of the wrong shape, at every level the decoders split.
var checkedSeeds = []string{
	`{"capabilities":"{\"liveness\":[{\"id\":\"a\",\"decision\":{\"type\":\"PASSED\"}}]}"}`,
	`{"capabilities":"{\"liveness\":[{\"id\":\"a\",\"decision\":{\"type\":"}`,
	`{"capabilities":{"liveness":"[{\"id\":\"a\",\"decision\":{\"type\":\"PASSED\"}}]"}}`,
	`{"capabilities":{"liveness":"[{\"id\":\"a\",\"decision\":{\"type\":\"PASSED\"}},]"}}`,
	`{"capabilities":{"liveness":["{\"id\":\"a\"}", "{\"id\":", 7, null, {"decision":"{\"type\":\"PASSED\"}"}]}}`,
	`{"capabilities":{"liveness":{"id":"a","decision":{"type":"WARNING","details":"{\"label\":\"x\"}","risk":"{\"score\":"}}}}`,
	`{"capabilities":{"liveness":[{"credentials":"[{\"id\":\"c\"}]"},{"credentials":"[{\"id\":"}]},"a":[],"a":{}}}`,
	`{"workflow":"{\"id\":\"w\",\"definitionKey\":\"10011\"}","credentials":"[{\"id\":\"c\",\"parts\":[{\"classifier\":"}`,
	`{"workflow":"{\"id\":\"w\"","steps":"{}","decision":"{\"type\":\"PASSED\"}","account":{"id":["x"]}}`,
	`{"decision":{"type":"PASSED","details":{"label":"OK"},"risk":{"score":"12.5"}},"createdAt":"2024-01-02 03:04:05"}`,
	`{"transaction":"{\"date\":\"2024-01-02T03:04:05Z\"","document":"{\"type\":\"PASSPORT\"}","verification":{"identityVerification":"{\"similarity\":\"MATCH\",\"validity\":\"true\"}"}}`,
	`{"verification":{"identityVerification":{"validity":"{\"x\":"},"additionalChecks":"{\"watchlistScreening\":"}}`,
	`{"k\u00e9y":{"a":"}"},"\u0063apabilities":{"x":[{"d\u0065cision":{"type":"PASSED"}}]}}`,
	`"{\"capabilities\":{}}"`, `[]`, `null`, `{}`,
}

// decodeAll decodes b into each document type the enricher reads, as
// json.Unmarshal does, and returns what each gave.
func decodeAll(b []byte) map[string]any {
	out := map[string]any{}
	decode := func(name string, v any) {
		err := json.Unmarshal(b, v)
		out[name] = v
		out[name+" error"] = err != nil
	}
	decode("WorkflowDetails", &WorkflowDetails{})
	decode("NetverifyData", &NetverifyData{})
	decode("NetverifyScanStatus", &NetverifyScanStatus{})
	decode("WorkflowDecision", &WorkflowDecision{})
	decode("CapabilityEntry", &CapabilityEntry{})
	return out
}

// FuzzCheckedOnce: a document is checked as JSON once and its parts are
// split without being checked again; for any input that gives what
// checking every part again on its own gives, the contents of strings
// holding JSON included.
func FuzzCheckedOnce(f *testing.F) {
	for _, s := range append(checkedSeeds, splitSeeds...) {
		f.Add([]byte(s))
	}
	for _, glob := range []string{"platform/details-*.json", "netverify/retrieval-*.json"} {
		paths, _ := filepath.Glob(filepath.Join("..", "testdata", glob))
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if inner, ok := jsonOf(b, '{'); ok {
			if diff := cmp.Diff(objectKeysDecoded(inner), objectKeys(inner)); diff != "" {
				t.Fatalf("objectKeys(%q) (-encoding/json +split):\n%s", inner, diff)
			}
		}
		once := decodeAll(b)
		checkedOnce = false
		every := decodeAll(b)
		checkedOnce = true
		if diff := cmp.Diff(every, once); diff != "" {
			t.Fatalf("%q (-checked at every part +checked once):\n%s", b, diff)
		}
	})
}

// objectKeysDecoded is objectKeys as it was written with encoding/json's
// tokenizer: the reference the splitting one must match.
func objectKeysDecoded(raw []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return keys
		}
		key, _ := tok.(string)
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return keys
		}
		if !slices.Contains(keys, key) {
			keys = append(keys, key)
		}
	}
	return keys
}
