package mapping

import (
	"bytes"
	"encoding/json"
	"flag"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json and docs/mapping.md")

// goldenCase is one testdata/<name>.input.<kind> file. kind says what the
// input is: details (Platform workflow details), form (a Netverify
// callback), data (Netverify retrieval /data), verification (Netverify
// retrieval /data/verification), initiate or perform (Netverify requests),
// response (a Netverify /initiate response), redirect (a URL Netverify
// redirected the end user to).
type goldenCase struct {
	name, kind, path string
}

func goldenCases(t testing.TB) []goldenCase {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "*.input.*"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	var cases []goldenCase
	for _, p := range paths {
		base := filepath.Base(p)
		name, rest, _ := strings.Cut(base, ".input.")
		kind := strings.TrimSuffix(rest, ".json")
		cases = append(cases, goldenCase{name: name, kind: kind, path: p})
	}
	return cases
}

// requestGolden is the golden output of a request, response or redirect
// mapping.
type requestGolden struct {
	Request  *wire.AccountRequest  `json:"request,omitempty"`
	Response *wire.AccountResponse `json:"response,omitempty"`
	Redirect string                `json:"redirect,omitempty"`
	Warnings []Warning             `json:"warnings"`
}

// output is what one case maps to.
type output struct {
	result  *events.Result
	request *requestGolden
	// input is the case's input, for the invariants' personal-data scan.
	input []byte
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sibling returns testdata/<name><suffix> and whether it exists.
func sibling(name, suffix string) (string, bool) {
	p := filepath.Join("testdata", name+suffix)
	_, err := os.Stat(p)
	return p, err == nil
}

// receivedAt is when the test's ingest received a callback: a second after
// Jumio sent it.
func receivedAt(sent time.Time) time.Time {
	if sent.IsZero() {
		return time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return sent.Add(time.Second)
}

// platformEvent builds the callback event of a Platform case: from
// testdata/<name>.callback.json when there is one, else from a callback
// made of the details' ids, through the same parser ingest uses.
func platformEvent(t testing.TB, name string, d *wire.WorkflowDetails) events.CallbackEvent {
	t.Helper()
	var raw []byte
	if p, ok := sibling(name, ".callback.json"); ok {
		raw = readFile(t, p)
	} else {
		sent := d.CompletedAt.Time
		if sent.IsZero() {
			sent = d.CreatedAt.Time
		}
		raw, _ = json.Marshal(map[string]any{
			"callbackSentAt":    sent.Add(500 * time.Millisecond).Format(time.RFC3339Nano),
			"workflowExecution": map[string]any{"id": d.Workflow.ID, "status": d.Workflow.Status, "definitionKey": string(d.Workflow.DefinitionKey)},
			"account":           map[string]any{"id": d.Account.ID},
		})
	}
	cb, err := wire.ParsePlatformCallback(raw)
	if err != nil {
		t.Fatalf("%s: callback: %v", name, err)
	}
	region, ok := cb.Region()
	if !ok {
		region = wire.RegionAMER
	}
	return cb.Event(region, receivedAt(cb.CallbackSentAt.Time), raw)
}

// netverifyEvent parses a Netverify callback the way ingest does.
func netverifyEvent(t testing.TB, body string) (events.CallbackEvent, *wire.NetverifyMessage) {
	t.Helper()
	body = strings.TrimSpace(body)
	values, err := url.ParseQuery(body)
	if err != nil {
		t.Fatalf("form: %v", err)
	}
	m, err := wire.ParseNetverifyCallback(values)
	if err != nil {
		t.Fatalf("ParseNetverifyCallback: %v", err)
	}
	return m.Event(wire.RegionAMER, receivedAt(m.CallbackDate()), body), m
}

// dataEvent is the callback event that triggered a Netverify retrieval:
// testdata/<name>.callback.form when there is one, else a callback made of
// the response's reference and status.
func dataEvent(t testing.TB, name string, d *wire.NetverifyData) events.CallbackEvent {
	t.Helper()
	if p, ok := sibling(name, ".callback.form"); ok {
		ev, _ := netverifyEvent(t, string(readFile(t, p)))
		return ev
	}
	ref := d.ScanReference
	if ref == "" {
		ref = d.Verification.ScanReference
	}
	status := string(d.Document.Status)
	if status == "" && d.Verification.RejectReason != nil {
		status = codeStatus[string(d.Verification.RejectReason.Code)]
	}
	ts := d.Timestamp.Time
	if ts.IsZero() {
		ts = d.Verification.Timestamp.Time
	}
	ev, _ := netverifyEvent(t, url.Values{
		"callBackType":         {"NETVERIFYID"},
		"jumioIdScanReference": {ref},
		"verificationStatus":   {status},
		"callbackDate":         {ts.Format(time.RFC3339Nano)},
	}.Encode())
	return ev
}

// run maps one case.
func run(t testing.TB, c goldenCase) output {
	t.Helper()
	in := readFile(t, c.path)
	out := output{input: in}
	switch c.kind {
	case "details":
		var d wire.WorkflowDetails
		if err := json.Unmarshal(in, &d); err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		r := FromPlatform(platformEvent(t, c.name, &d), &d, nil)
		out.result = &r
	case "form":
		ev, m := netverifyEvent(t, string(in))
		r := FromNetverify(ev, m, nil)
		out.result = &r
	case "data", "verification":
		var d wire.NetverifyData
		body := in
		if c.kind == "verification" {
			body = []byte(`{"verification":` + string(in) + `}`)
		}
		if err := json.Unmarshal(body, &d); err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		r := FromNetverifyData(dataEvent(t, c.name, &d), &d, nil)
		out.result = &r
	case "initiate", "perform":
		f := FromNetverifyInitiate
		if c.kind == "perform" {
			f = FromPerformNetverify
		}
		req, warns, err := f(in)
		if err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		out.request = &requestGolden{Request: &req, Warnings: warns}
	case "response":
		resp, warns, err := FromNetverifyInitiateResponse(in)
		if err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		out.request = &requestGolden{Response: &resp, Warnings: warns}
	case "redirect":
		redirect, warns, err := FromNetverifyRedirect(string(in))
		if err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		out.request = &requestGolden{Redirect: redirect, Warnings: warns}
	default:
		t.Fatalf("%s: unknown input kind %q", c.path, c.kind)
	}
	return out
}

func (o output) value() any {
	if o.result != nil {
		return o.result
	}
	return o.request
}

// TestGolden maps every testdata input and compares the output, decoded,
// with testdata/<case>.golden.json. go test ./pkg/mapping -update rewrites
// the golden files.
func TestGolden(t *testing.T) {
	for _, c := range goldenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			out := run(t, c)
			golden := filepath.Join("testdata", c.name+".golden.json")
			got, err := json.MarshalIndent(out.value(), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want := readFile(t, golden)
			if out.result != nil {
				compareDecoded[events.Result](t, got, want)
			} else {
				compareDecoded[requestGolden](t, got, want)
			}
		})
	}
}

// compareDecoded decodes both documents into T and compares them, so that
// formatting and key order do not matter.
func compareDecoded[T any](t *testing.T, got, want []byte) {
	t.Helper()
	var g, w T
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(want))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		t.Fatalf("golden file: %v (run go test ./pkg/mapping -update)", err)
	}
	if diff := cmp.Diff(w, g); diff != "" {
		t.Errorf("mismatch (-want +got); if intended, run go test ./pkg/mapping -update:\n%s", diff)
	}
}

// TestGoldenInputsAreUsed keeps testdata tidy: every golden file has an
// input and every callback file a case.
func TestGoldenInputsAreUsed(t *testing.T) {
	names := map[string]bool{}
	for _, c := range goldenCases(t) {
		names[c.name] = true
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "*"))
	for _, f := range files {
		base := filepath.Base(f)
		if base == "README.md" || base == "coverage.tsv" || strings.Contains(base, ".input.") || strings.HasPrefix(base, "fuzz") {
			continue
		}
		name, _, _ := strings.Cut(base, ".")
		if !names[name] {
			t.Errorf("%s belongs to no case", base)
		}
	}
	readme := string(readFile(t, filepath.Join("testdata", "README.md")))
	for _, n := range slices.Sorted(maps.Keys(names)) {
		if !strings.Contains(readme, "`"+n+"`") {
			t.Errorf("testdata/README.md does not describe case %s", n)
		}
	}
}

// TestJumioFixturesAreGoldenInputs: every fixture of pkg/jumio/testdata is
// copied, byte for byte, into a case here, unless it is listed as not a
// mapping input (testdata/README.md says why).
func TestJumioFixturesAreGoldenInputs(t *testing.T) {
	notInputs := map[string]bool{
		"README.md":                                     true,
		"platform/status-acquired.json":                 true,
		"platform/steps.json":                           true,
		"platform/oauth-token.json":                     true,
		"platform/retrieval-429.http":                   true,
		"platform/account-create-request.json":          true,
		"platform/account-create-response.json":         true,
		"platform/callback-numeric-definition-key.json": true,
	}
	ours := map[string]bool{}
	files, _ := filepath.Glob(filepath.Join("testdata", "*.*"))
	for _, f := range files {
		ours[string(readFile(t, f))] = true
	}
	root := filepath.Join("..", "jumio", "testdata")
	fixtures, _ := filepath.Glob(filepath.Join(root, "*", "*"))
	readme, _ := filepath.Glob(filepath.Join(root, "*.md"))
	if len(fixtures) == 0 {
		t.Fatalf("no fixtures under %s", root)
	}
	seen := map[string]bool{}
	for _, f := range append(fixtures, readme...) {
		rel, _ := filepath.Rel(root, f)
		rel = filepath.ToSlash(rel)
		seen[rel] = true
		if !notInputs[rel] && !ours[string(readFile(t, f))] {
			t.Errorf("fixture %s is copied into no case: add it as testdata/<case>.input.<kind> (or as a case's callback) and describe it in testdata/README.md", rel)
		}
	}
	for _, rel := range slices.Sorted(maps.Keys(notInputs)) {
		if !seen[rel] {
			t.Errorf("%s is listed as not an input but is no fixture", rel)
		}
	}
}
