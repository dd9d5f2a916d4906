package wire

import (
	"encoding/json"
	"errors"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// checkDecodeCallback: where decodeCallback decodes a body, it decodes it
// as encoding/json does, with the same error class.
func checkDecodeCallback(t *testing.T, body []byte) (fast bool) {
	t.Helper()
	var got Callback
	ok, gotErr := decodeCallback(body, &got)
	if !ok {
		return false
	}
	var want Callback
	wantErr := json.Unmarshal(body, &want)
	if (gotErr == nil) != (wantErr == nil) || errors.Is(gotErr, ErrBadTime) != errors.Is(wantErr, ErrBadTime) {
		t.Fatalf("%q: decodeCallback error %v, encoding/json %v", body, gotErr, wantErr)
	}
	if gotErr == nil {
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("%q: decodeCallback differs from encoding/json (-want +got):\n%s", body, diff)
		}
	}
	return true
}

// TestDecodeCallback: Jumio's callbacks take the fast path and decode as
// encoding/json decodes them; everything it does not handle is left to
// encoding/json.
func TestDecodeCallback(t *testing.T) {
	for _, b := range callbackFixtures(t, "platform", ".json") {
		if !checkDecodeCallback(t, b) {
			t.Errorf("fixture %q did not take the fast path", b)
		}
	}
	const exec = `"workflowExecution":{"id":"` + tolExec + `","status":"PROCESSED"}`
	for _, tc := range []struct {
		body string
		fast bool
	}{
		{`{}`, true},
		{` { "account" : { } , ` + exec + ` } `, true},
		{`{` + exec + `,"callbackSentAt":"2024-01-01T00:00:00.1Z"}`, true},
		{`{` + exec + `,"callbackSentAt":"yesterday"}`, true},
		{`{` + exec + `,"callbackSentAt":"N/A"}`, true},
		{`{` + exec + `,"callbackSentAt":"2024-01-01T00:00:00\u002e1Z"}`, true},
		{`{"workflowExecution":{"definitionKey":-1.5e3}}`, true},
		{`{"workflowExecution":{"definitionKey":"10011"}}`, true},
		{`{"workflowExecution":{"definitionKey":"n/a"}}`, true},
		{`{"workflowExecution":{"definitionKey":01}}`, false},
		{`{"workflowExecution":{"definitionKey":true}}`, false},
		{`{"workflowExecution":{"definitionKey":null}}`, false},
		{`{"callbackSentAt":null}`, false},
		{`{"callbackSentAt":1}`, false},
		{`{"userReference":"a\"b"}`, false},
		{`{"userReference":"é"}`, false},
		{`{"userReference":1}`, false},
		{`{"UserReference":"x"}`, false},
		{`{"extra":"x"}`, false},
		{`{"account":{"id":"a"},"account":{"href":"b"}}`, false},
		{`{"account":{"id":"a","id":"b"}}`, false},
		{`{"account":null}`, false},
		{`{"account":[]}`, false},
		{`{"account":{"id":"a"}} x`, false},
		{`{"account":{"id":"a"},}`, false},
		{`{"account":{"id":"a"}`, false},
		{`{"userReference":"` + "\x01" + `"}`, false},
		{`{"callbackSentAt":"2024-01-01T00:00:00Z` + "\x01" + `"}`, false},
		{`{"callbackSentAt":"\x"}`, false},
		{`[]`, false},
	} {
		if got := checkDecodeCallback(t, []byte(tc.body)); got != tc.fast {
			t.Errorf("%s: fast path %v, want %v", tc.body, got, tc.fast)
		}
	}
}

func FuzzDecodeCallback(f *testing.F) {
	for _, b := range callbackFixtures(f, "platform", ".json") {
		f.Add(b)
	}
	f.Add([]byte(`{"workflowExecution":{"definitionKey":7,"id":"x"},"callbackSentAt":"2024-01-01T00:00:00.1Z"}`))
	f.Fuzz(func(t *testing.T, body []byte) { checkDecodeCallback(t, body) })
}

// TestValidIDAndStatus: the hand-written checks accept what the patterns
// they replace accept.
func TestValidIDAndStatus(t *testing.T) {
	uuid := regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	status := regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)
	for _, s := range []string{
		"", tolExec, strings.ToUpper(tolExec), tolExec + "\n", " " + tolExec, tolExec[:35], tolExec + "0",
		strings.Replace(tolExec, "-", "_", 1), strings.Replace(tolExec, "a", "g", 1), "9f2c1e7a3b4d-4c5e-8f60-1a2b3c4d5e6f0",
		"PROCESSED", "processed_2", "SESSION-EXPIRED", "N/A", strings.Repeat("A", 64), strings.Repeat("A", 65), "É", "A\n",
	} {
		if got, want := ValidID(s), uuid.MatchString(s); got != want {
			t.Errorf("ValidID(%q): got %v, want %v", s, got, want)
		}
		if got, want := validStatus(s), status.MatchString(s); got != want {
			t.Errorf("validStatus(%q): got %v, want %v", s, got, want)
		}
	}
}

func FuzzValidIDAndStatus(f *testing.F) {
	uuid := regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	status := regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)
	f.Add(tolExec)
	f.Add("PROCESSED")
	f.Fuzz(func(t *testing.T, s string) {
		if ValidID(s) != uuid.MatchString(s) || validStatus(s) != status.MatchString(s) {
			t.Fatalf("%q: ValidID %v, validStatus %v", s, ValidID(s), validStatus(s))
		}
	})
}

// regionFromHrefURL is RegionFromHref through url.Parse alone, which its
// shortcut for plain https URLs must agree with.
func regionFromHrefURL(href string) (Region, bool) {
	u, err := url.Parse(href)
	if err != nil || u.Host == "" {
		return "", false
	}
	rest, ok := strings.CutSuffix(strings.ToLower(u.Hostname()), ".jumio.ai")
	if !ok {
		return "", false
	}
	labels := strings.Split(rest, ".")
	if len(labels) < 2 {
		return "", false
	}
	r := Region(labels[len(labels)-1])
	if !slices.Contains(Regions, r) {
		return "", false
	}
	return r, true
}

func checkRegionFromHref(t *testing.T, href string) {
	t.Helper()
	gr, gok := RegionFromHref(href)
	wr, wok := regionFromHrefURL(href)
	if gr != wr || gok != wok {
		t.Fatalf("RegionFromHref(%q) = %q, %v; url.Parse says %q, %v", href, gr, gok, wr, wok)
	}
}

func TestRegionFromHrefShortcut(t *testing.T) {
	for _, h := range []string{
		"", "https://", "https:///x", "https://retrieval.amer-1.jumio.ai", "https://retrieval.amer-1.jumio.ai/",
		"https://retrieval.amer-1.jumio.ai/api/v1/accounts/" + tolAccount, "https://RETRIEVAL.EMEA-1.JUMIO.AI/x",
		"https://amer-1.jumio.ai/x", "https://.amer-1.jumio.ai/x", "https://a..apac-1.jumio.ai", "https://x.mars-1.jumio.ai",
		"https://x.amer-1.jumio.ai:443/x", "https://u@x.amer-1.jumio.ai/x", "https://x.amer-1.jumio.ai?x", "https://x.amer-1.jumio.ai#x",
		"https://x.amer-1.jumio.ai/a b", "https://x.amer-1.jumio.ai/%zz", "https://x.amer-1.jumio.ai.evil.com/x", "http://x.amer-1.jumio.ai/x",
		"HTTPS://x.amer-1.jumio.ai/x", "//x.amer-1.jumio.ai/x", "https://x_y.amer-1.jumio.ai/~a", "https://x.amer-1.jumio.ai\x7f",
	} {
		checkRegionFromHref(t, h)
	}
}

func FuzzRegionFromHref(f *testing.F) {
	f.Add("https://retrieval.amer-1.jumio.ai/api/v1/accounts/" + tolAccount)
	f.Add("https://x.emea-1.jumio.ai:8443/")
	f.Fuzz(checkRegionFromHref)
}
