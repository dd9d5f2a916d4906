package mapping

import (
	"encoding/json"
	"errors"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// seeds adds every testdata input of the given kinds to the corpus.
func seeds(f *testing.F, kinds ...string) {
	f.Helper()
	for _, c := range goldenCases(f) {
		for _, k := range kinds {
			if c.kind == k {
				f.Add(readFile(f, c.path))
			}
		}
	}
}

func checkFuzz(t *testing.T, r events.Result) {
	t.Helper()
	if p := invariants(r); len(p) > 0 {
		t.Fatalf("invariants broken:\n%s", strings.Join(p, "\n"))
	}
}

func FuzzFromPlatform(f *testing.F) {
	seeds(f, "details")
	ev := platformEvent(f, "platform-passed", nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		var d wire.WorkflowDetails
		if json.Unmarshal(body, &d) != nil {
			return // the Retrieval client rejects what does not decode
		}
		checkFuzz(t, FromPlatform(ev, &d, nil))
	})
}

func FuzzFromNetverify(f *testing.F) {
	seeds(f, "form")
	f.Fuzz(func(t *testing.T, body []byte) {
		form := strings.TrimSpace(string(body))
		values, err := url.ParseQuery(form)
		if err != nil {
			return
		}
		m, err := wire.ParseNetverifyCallback(values)
		if err != nil {
			return // ingest answers 400 and stores nothing
		}
		checkFuzz(t, FromNetverify(m.Event(wire.RegionEMEA, receivedAt(m.CallbackDate()), form), m, nil))
	})
}

func FuzzFromNetverifyData(f *testing.F) {
	seeds(f, "data", "verification")
	ev, _ := netverifyEvent(f, string(readFile(f, filepath.Join("testdata", "netverify-data-approved.callback.form"))))
	f.Fuzz(func(t *testing.T, body []byte) {
		var d wire.NetverifyData
		if json.Unmarshal(body, &d) != nil {
			return
		}
		checkFuzz(t, FromNetverifyData(ev, &d, nil))
	})
}

// checkRequest is the property of the request mappings: an error exactly
// when the body is not a JSON object, otherwise a request that encodes
// and well-formed warnings.
func checkRequest(t *testing.T, body []byte, req any, warns []Warning, err error) {
	t.Helper()
	var obj map[string]json.RawMessage
	isObject := json.Unmarshal(body, &obj) == nil && obj != nil
	if isObject != (err == nil) {
		t.Fatalf("object %v, error %v", isObject, err)
	}
	if err != nil {
		return
	}
	if _, err := json.Marshal(req); err != nil {
		t.Fatalf("request does not encode: %v", err)
	}
	checkWarnings(t, warns)
}

// checkWarnings: warnings are never nil and each is well-formed.
func checkWarnings(t *testing.T, warns []Warning) {
	t.Helper()
	if warns == nil {
		t.Fatal("nil warnings")
	}
	for _, w := range warns {
		switch w.Kind {
		case WarnUnknownField, WarnNotCarried, WarnInvalid, WarnMissing, WarnChanged:
		default:
			t.Fatalf("warning kind %q", w.Kind)
		}
		if w.Message == "" {
			t.Fatalf("warning %q without message", w.Field)
		}
	}
}

func FuzzFromNetverifyInitiate(f *testing.F) {
	seeds(f, "initiate")
	f.Fuzz(func(t *testing.T, body []byte) {
		req, warns, err := FromNetverifyInitiate(body)
		checkRequest(t, body, req, warns, err)
	})
}

func FuzzFromPerformNetverify(f *testing.F) {
	seeds(f, "perform")
	f.Fuzz(func(t *testing.T, body []byte) {
		req, warns, err := FromPerformNetverify(body)
		checkRequest(t, body, req, warns, err)
	})
}

func FuzzParseProducts(f *testing.F) {
	f.Add("10011=ID and Identity,10013=Full KYC")
	f.Add(`{"10011": "ID, Identity"}`)
	f.Add("200=10163")
	f.Fuzz(func(t *testing.T, s string) {
		if m, err := ParseProducts(s); err == nil {
			tb := DefaultTables().WithProducts(m)
			for k, v := range m {
				if got := tb.Product(k); got != strings.TrimSpace(v) && strings.TrimSpace(k) == k {
					t.Fatalf("Product(%q): got %q, want %q", k, got, v)
				}
			}
		}
		if m, err := ParseWorkflows(s); err == nil {
			tb := DefaultTables().WithWorkflows(m)
			for id, key := range m {
				if got, ok := tb.WorkflowKey(id); key != 0 && (!ok || got != key) {
					t.Fatalf("WorkflowKey(%d): got %d, want %d", id, got, key)
				}
			}
		}
	})
}

func FuzzFromNetverifyInitiateResponse(f *testing.F) {
	seeds(f, "response")
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, warns, err := FromNetverifyInitiateResponse(body)
		checkRequest(t, body, resp, warns, err)
	})
}

func FuzzFromNetverifyRedirect(f *testing.F) {
	seeds(f, "redirect")
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, warns, err := FromNetverifyRedirect(string(raw))
		if err != nil {
			if !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("error %v does not wrap ErrInvalidRequest", err)
			}
			return
		}
		if _, err := url.Parse(out); err != nil {
			t.Fatalf("output %q is not a URL: %v", out, err)
		}
		checkWarnings(t, warns)
		if !slices.ContainsFunc(warns, func(w Warning) bool { return w.Field == "accountId" }) {
			t.Fatal("no warning for accountId")
		}
	})
}
