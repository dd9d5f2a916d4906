package wire

import (
	"encoding/json"
	"strconv"
	"testing"
)

func TestAmbiguous(t *testing.T) {
	for _, c := range []struct {
		json string
		want bool
	}{
		{`{"type":"PASSED"}`, false},
		{`{"type":"PASSED","type":"PASSED"}`, false}, // the same value twice
		{`{"type":"PASSED","type": "PASSED" }`, false},
		{`{"a":{"x":1, "y":[1,2]},"a":{"x":1,"y":[1, 2]}}`, false},
		{`{"score":5,"score":5.0}`, false},                  // one number, written twice
		{`{"label":"PASSED","label":"\u0050ASSED"}`, false}, // one string, escaped once
		{`{"type":"PASSED","type":"REJECTED"}`, true},
		{`{"type":"PASSED","TYPE":"REJECTED"}`, true},
		{`{"type":"PASSED","\u0074ype":"REJECTED"}`, true}, // an escape spells the same key
		{`{"kind":"a","\u212aind":"b"}`, true},             // the Kelvin sign folds to k, as in encoding/json
		{`{"types":"PASSED","type":"REJECTED"}`, false},
		{`{"d":{"label":"OK","Label":"FAKE"}}`, true},
		{`[{"a":1},{"a":1,"A":2}]`, true},
		{`{"list":[{"x":"1"},{"x":"2"}]}`, false},
		{`"{\"type\":\"PASSED\",\"TYPE\":\"REJECTED\"}"`, true}, // JSON in a string
		{`"not json"`, false},
		{`{"truncated":`, false},
		{`42`, false},
	} {
		if got := Ambiguous(json.RawMessage(c.json)); got != c.want {
			t.Errorf("Ambiguous(%s) = %v, want %v", c.json, got, c.want)
		}
	}
}

// TestSpellingsOfOneValue: a field sent in two spellings with one value
// written two ways (5 and 5.0) is read, not unreadable, in the struct
// decoding as in Ambiguous: one comparison of values for both.
func TestSpellingsOfOneValue(t *testing.T) {
	var d WorkflowDetails
	body := `{"workflow":{"id":"9f2c1e7a-3b4d-4c5e-8f60-1a2b3c4d5e6f","status":"PROCESSED"},` +
		`"decision":{"type":"PASSED","risk":{"score":5}},"DECISION":{"type":"PASSED","risk":{"score":5.0}}}`
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Warnings) != 0 || d.Decision.Type != "PASSED" {
		t.Errorf("warnings %q, decision %q; want the decision read", d.Warnings, d.Decision.Type)
	}
}

// TestAmbiguousManyKeys: an object with more keys than the comparison's
// stack holds is judged as a small one, each spelling encoding/json reads
// as one field included.
func TestAmbiguousManyKeys(t *testing.T) {
	many := func(first, later string) string {
		s := `{` + first
		for i := range 40 {
			s += `,"k` + strconv.Itoa(i) + `":0`
		}
		return s + `,` + later + `}`
	}
	for _, c := range []struct {
		json string
		want bool
	}{
		{many(`"kind":"a"`, `"\u212aind":"b"`), true},
		{many(`"kind":"a"`, `"KIND":"b"`), true},
		{many(`"kind":"a"`, `"KIND":"a"`), false},
		{many(`"score":5`, `"SCORE":5.0`), false},
		{many(`"ſ":1`, `"S":2`), true}, // the long s folds to s
		{many(`"x":1`, `"y":2`), false},
		{many(`"k3":0`, `"k39":1`), true},
		{many(`"d":{"a":1}`, `"e":{"a":1,"A":2}`), true},
	} {
		if got := Ambiguous(json.RawMessage(c.json)); got != c.want {
			t.Errorf("Ambiguous(%s) = %v, want %v", c.json, got, c.want)
		}
	}
}

// TestAmbiguousRepeatsInLinearWork: the work of checking an object whose
// one key is repeated, with one value written two ways (0 and 0.0), grows
// with the number of repeats, not with its square. Each repeat was
// compared with every key before it and both values decoded again: a
// callback of the default body size made of one key repeated held a
// request for over 10 s of CPU. Counted in allocations, which do not
// depend on the machine's speed: twice the repeats may take about twice
// as many, not four times.
func TestAmbiguousRepeatsInLinearWork(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	repeated := func(n int) json.RawMessage {
		s := `{"status":"UPLOADED"`
		for i := range n {
			v := "0"
			if i%2 == 1 {
				v = "0.0"
			}
			s += `,"a":` + v
		}
		return json.RawMessage(s + `}`)
	}
	allocs := func(n int) float64 {
		doc := repeated(n)
		return testing.AllocsPerRun(3, func() {
			if Ambiguous(doc) {
				t.Fatal("one value written two ways is no ambiguity")
			}
		})
	}
	small, large := allocs(200), allocs(400)
	if large > 3*small {
		t.Errorf("%v allocations for 400 repeats, %v for 200: the work grows faster than the repeats", large, small)
	}
}
