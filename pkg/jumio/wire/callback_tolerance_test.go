package wire

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kycflow/kycflow/pkg/events"
)

const (
	tolExec    = "9f2c1e7a-3b4d-4c5e-8f60-1a2b3c4d5e6f"
	tolAccount = "4a1b2c3d-5e6f-4711-8899-aabbccddeeff"
	tolScan    = "5b6c7d8e-1111-4222-8333-944455556666"
)

// platformBody is a Platform callback with the given workflowExecution
// members (JSON without braces) and callbackSentAt.
func platformBody(execution, sentAt string) string {
	return `{"callbackSentAt":` + sentAt + `,"workflowExecution":{` + execution +
		`},"account":{"id":"` + tolAccount + `","href":"https://retrieval.amer-1.jumio.ai/api/v1/accounts/` + tolAccount + `"}}`
}

// TestPlatformTolerance covers docs/jumio.md section 10's tolerance list for
// Platform callbacks.
func TestPlatformTolerance(t *testing.T) {
	exec := `"id":"` + tolExec + `"`
	for _, tc := range []struct {
		name       string
		body       string
		wantStatus string
		wantKey    string
		wantSentAt time.Time
	}{
		{"documented", platformBody(exec+`,"status":"PROCESSED","definitionKey":"10011"`, `"2024-03-14T10:15:30.123Z"`),
			"PROCESSED", "10011", time.Date(2024, 3, 14, 10, 15, 30, 123e6, time.UTC)},
		{"open enum status", platformBody(exec+`,"status":"ACQUISITION_STARTED"`, `"2024-03-14T10:15:30.123Z"`),
			"ACQUISITION_STARTED", "", time.Date(2024, 3, 14, 10, 15, 30, 123e6, time.UTC)},
		{"0 fractional digits", platformBody(exec+`,"status":"PROCESSED"`, `"2024-03-14T10:15:30Z"`),
			"PROCESSED", "", time.Date(2024, 3, 14, 10, 15, 30, 0, time.UTC)},
		{"1 fractional digit", platformBody(exec+`,"status":"PROCESSED"`, `"2024-03-14T10:15:30.1Z"`),
			"PROCESSED", "", time.Date(2024, 3, 14, 10, 15, 30, 100e6, time.UTC)},
		{"2 fractional digits", platformBody(exec+`,"status":"PROCESSED"`, `"2024-03-14T10:15:30.12Z"`),
			"PROCESSED", "", time.Date(2024, 3, 14, 10, 15, 30, 120e6, time.UTC)},
		{"offset instead of Z", platformBody(exec+`,"status":"PROCESSED"`, `"2024-03-14T11:15:30.123+01:00"`),
			"PROCESSED", "", time.Date(2024, 3, 14, 10, 15, 30, 123e6, time.UTC)},
		{"no zone", platformBody(exec+`,"status":"PROCESSED"`, `"2024-03-14T10:15:30.123"`),
			"PROCESSED", "", time.Date(2024, 3, 14, 10, 15, 30, 123e6, time.UTC)},
		{"callbackSentAt null", platformBody(exec+`,"status":"PROCESSED"`, `null`), "PROCESSED", "", time.Time{}},
		{"callbackSentAt N/A", platformBody(exec+`,"status":"PROCESSED"`, `"N/A"`), "PROCESSED", "", time.Time{}},
		{"definitionKey number", platformBody(exec+`,"status":"PROCESSED","definitionKey":10013`, `"2024-03-14T10:15:30Z"`),
			"PROCESSED", "10013", time.Date(2024, 3, 14, 10, 15, 30, 0, time.UTC)},
		{"definitionKey N/A", platformBody(exec+`,"status":"PROCESSED","definitionKey":"N/A"`, `"2024-03-14T10:15:30Z"`),
			"PROCESSED", "", time.Date(2024, 3, 14, 10, 15, 30, 0, time.UTC)},
		{"definitionKey null", platformBody(exec+`,"status":"PROCESSED","definitionKey":null`, `"2024-03-14T10:15:30Z"`),
			"PROCESSED", "", time.Date(2024, 3, 14, 10, 15, 30, 0, time.UTC)},
		{"unknown fields", platformBody(exec+`,"status":"PROCESSED","new":{"x":[1,2]}`, `"2024-03-14T10:15:30Z"`),
			"PROCESSED", "", time.Date(2024, 3, 14, 10, 15, 30, 0, time.UTC)},
		{"member names in other case", strings.Replace(platformBody(exec+`,"Status":"PROCESSED"`, `"2024-03-14T10:15:30Z"`), "workflowExecution", "WorkflowExecution", 1),
			"PROCESSED", "", time.Date(2024, 3, 14, 10, 15, 30, 0, time.UTC)},
		{"surrounding whitespace", "\n " + platformBody(exec+`,"status":"PROCESSED"`, `"2024-03-14T10:15:30Z"`) + "\r\n",
			"PROCESSED", "", time.Date(2024, 3, 14, 10, 15, 30, 0, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cb, err := ParsePlatformCallback([]byte(tc.body))
			if err != nil {
				t.Fatalf("ParsePlatformCallback: %v", err)
			}
			got := []any{cb.WorkflowExecution.ID, cb.Account.ID, cb.WorkflowExecution.Status, string(cb.WorkflowExecution.DefinitionKey), cb.CallbackSentAt.Time}
			want := []any{tolExec, tolAccount, tc.wantStatus, tc.wantKey, tc.wantSentAt}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestPlatformEventIDIgnoresFractionSpelling: "…30.1Z" and "…30.100Z" are
// the same callback and get the same event id.
func TestPlatformEventIDIgnoresFractionSpelling(t *testing.T) {
	exec := `"id":"` + tolExec + `","status":"PROCESSED"`
	a, err := ParsePlatformCallback([]byte(platformBody(exec, `"2024-03-14T10:15:30.1Z"`)))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParsePlatformCallback([]byte(platformBody(exec, `"2024-03-14T10:15:30.100Z"`)))
	if err != nil {
		t.Fatal(err)
	}
	if a.EventID() != b.EventID() {
		t.Errorf("event ids differ: %s, %s", a.EventID(), b.EventID())
	}
}

func TestPlatformStrictness(t *testing.T) {
	exec := `"id":"` + tolExec + `"`
	for _, tc := range []struct {
		name, body, field, reason string
	}{
		{"empty", ``, "body", "malformed"},
		{"array", `[]`, "body", "malformed"},
		{"truncated", `{"workflowExecution":{"id":"` + tolExec, "body", "malformed"},
		{"trailing data", platformBody(exec+`,"status":"PROCESSED"`, `null`) + `{}`, "body", "malformed"},
		{"definitionKey object", platformBody(exec+`,"status":"PROCESSED","definitionKey":{}`, `null`), "body", "malformed"},
		{"execution id missing", platformBody(`"status":"PROCESSED"`, `null`), "workflowExecution.id", "missing"},
		{"execution id N/A", platformBody(`"id":"N/A","status":"PROCESSED"`, `null`), "workflowExecution.id", "malformed"},
		{"execution id not a UUID", platformBody(`"id":"12345","status":"PROCESSED"`, `null`), "workflowExecution.id", "malformed"},
		{"execution id with subject wildcard", platformBody(`"id":"9f2c1e7a-3b4d-4c5e-8f60-1a2b3c4d5e6>","status":"PROCESSED"`, `null`), "workflowExecution.id", "malformed"},
		{"account id missing", `{"workflowExecution":{` + exec + `,"status":"PROCESSED"}}`, "account.id", "missing"},
		{"account id not a UUID", `{"workflowExecution":{` + exec + `,"status":"PROCESSED"},"account":{"id":"acct.1"}}`, "account.id", "malformed"},
		{"status missing", platformBody(exec, `null`), "workflowExecution.status", "missing"},
		{"status with spaces", platformBody(exec+`,"status":"NOT A STATUS"`, `null`), "workflowExecution.status", "malformed"},
		{"callbackSentAt not a time", platformBody(exec+`,"status":"PROCESSED"`, `"yesterday"`), "callbackSentAt", "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cb, err := ParsePlatformCallback([]byte(tc.body))
			var ce *CallbackError
			if !errors.As(err, &ce) || !errors.Is(err, ErrInvalidCallback) {
				t.Fatalf("got %v, %v; want a *CallbackError", cb, err)
			}
			if diff := cmp.Diff(CallbackError{Field: tc.field, Reason: tc.reason}, *ce); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckRegion(t *testing.T) {
	for _, tc := range []struct {
		name     string
		execHref string
		acctHref string
		region   Region
		wantErr  bool
	}{
		{"match", "https://retrieval.amer-1.jumio.ai/api/v1/workflow-executions/x", "https://retrieval.amer-1.jumio.ai/api/v1/accounts/y", RegionAMER, false},
		{"execution href mismatch", "https://retrieval.emea-1.jumio.ai/api/v1/workflow-executions/x", "", RegionAMER, true},
		{"account href mismatch", "", "https://retrieval.apac-1.jumio.ai/api/v1/accounts/y", RegionAMER, true},
		{"no hrefs", "", "", RegionEMEA, false},
		{"unknown region in host", "https://retrieval.eu-9.jumio.ai/x", "", RegionEMEA, false},
		{"not a Jumio host", "https://attacker.example/x", "", RegionEMEA, false},
		{"not a URL", "::", "", RegionEMEA, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cb := &Callback{WorkflowExecution: CallbackExecution{Href: tc.execHref}, Account: Link{Href: tc.acctHref}}
			err := cb.CheckRegion(tc.region)
			if got := errors.Is(err, ErrRegionMismatch); got != tc.wantErr {
				t.Errorf("got %v, want mismatch %v", err, tc.wantErr)
			}
		})
	}
}

// idForm is a Netverify ID-verification callback form with extra fields.
func idForm(extra string) string {
	f := "callBackType=NETVERIFYID&jumioIdScanReference=" + tolScan +
		"&verificationStatus=APPROVED_VERIFIED&callbackDate=2021-05-10T08%3A05%3A10.123Z"
	if extra != "" {
		f += "&" + extra
	}
	return f
}

// TestNetverifyTolerance covers docs/jumio.md section 10's tolerance list for
// Netverify callbacks.
func TestNetverifyTolerance(t *testing.T) {
	type result struct {
		Kind         events.CallbackKind
		Ref, Status  string
		CallbackDate time.Time
		Checks       map[string]string
		Validity     *Bool
		Details      int
		Extra        map[string]string
	}
	date := time.Date(2021, 5, 10, 8, 5, 10, 123e6, time.UTC)
	for _, tc := range []struct {
		name        string
		body, query string
		want        result
	}{
		{"documented", idForm("idCheckMRZcode=OK"), "",
			result{Kind: events.KindIDVerification, Ref: tolScan, Status: "APPROVED_VERIFIED", CallbackDate: date, Checks: map[string]string{"idCheckMRZcode": "OK"}}},
		{"callbackType spelling", strings.Replace(idForm(""), "callBackType", "callbackType", 1), "",
			result{Kind: events.KindIDVerification, Ref: tolScan, Status: "APPROVED_VERIFIED", CallbackDate: date}},
		{"CALLBACKTYPE upper case and lower-case value", strings.Replace(idForm(""), "callBackType=NETVERIFYID", "CALLBACKTYPE=netverifyid", 1), "",
			result{Kind: events.KindIDVerification, Ref: tolScan, Status: "APPROVED_VERIFIED", CallbackDate: date}},
		{"idCheckMRZCode spelling", idForm("idCheckMRZCode=OK"), "",
			result{Kind: events.KindIDVerification, Ref: tolScan, Status: "APPROVED_VERIFIED", CallbackDate: date, Checks: map[string]string{"idCheckMRZcode": "OK"}}},
		{"N/A checks are absent", idForm("idCheckMRZcode=N%2FA&idCheckHologram=n/a&idNumber=N%2FA"), "",
			result{Kind: events.KindIDVerification, Ref: tolScan, Status: "APPROVED_VERIFIED", CallbackDate: date}},
		{"open enum status", strings.Replace(idForm(""), "APPROVED_VERIFIED", "SOMETHING_NEW", 1), "",
			result{Kind: events.KindIDVerification, Ref: tolScan, Status: "SOMETHING_NEW", CallbackDate: date}},
		{"0 fractional digits", strings.Replace(idForm(""), "10.123Z", "10Z", 1), "",
			result{Kind: events.KindIDVerification, Ref: tolScan, Status: "APPROVED_VERIFIED", CallbackDate: date.Truncate(time.Second)}},
		{"callbackDate N/A", strings.Replace(idForm(""), "2021-05-10T08%3A05%3A10.123Z", "N%2FA", 1), "",
			result{Kind: events.KindIDVerification, Ref: tolScan, Status: "APPROVED_VERIFIED"}},
		{"validity bool", idForm("identityVerification=" + url.QueryEscape(`{"similarity":"MATCH","validity":true}`)), "",
			result{Kind: events.KindIDVerification, Ref: tolScan, Status: "APPROVED_VERIFIED", CallbackDate: date, Validity: &Bool{Value: true, Valid: true}}},
		{"validity string upper case", idForm("identityVerification=" + url.QueryEscape(`{"similarity":"NO_MATCH","validity":"FALSE","reason":"BAD_QUALITY"}`)), "",
			result{Kind: events.KindIDVerification, Ref: tolScan, Status: "APPROVED_VERIFIED", CallbackDate: date, Validity: &Bool{Value: false, Valid: true}}},
		{"validity N/A", idForm("identityVerification=" + url.QueryEscape(`{"similarity":"NOT_POSSIBLE","validity":"N/A"}`)), "",
			result{Kind: events.KindIDVerification, Ref: tolScan, Status: "APPROVED_VERIFIED", CallbackDate: date, Validity: &Bool{}}},
		{"reject details object", idForm("rejectReason=" + url.QueryEscape(`{"rejectReasonCode":"200","rejectReasonDescription":"NOT_READABLE_DOCUMENT","rejectReasonDetails":{"detailsCode":"2001","detailsDescription":"BLURRED"}}`)), "",
			result{Kind: events.KindIDVerification, Ref: tolScan, Status: "APPROVED_VERIFIED", CallbackDate: date, Details: 1}},
		{"reject details array", idForm("rejectReason=" + url.QueryEscape(`{"rejectReasonCode":100,"rejectReasonDetails":[{"detailsCode":"1001"},{"detailsCode":1004}]}`)), "",
			result{Kind: events.KindIDVerification, Ref: tolScan, Status: "APPROVED_VERIFIED", CallbackDate: date, Details: 2}},
		{"unknown field kept by name", idForm("brandNewField=x"), "",
			result{Kind: events.KindIDVerification, Ref: tolScan, Status: "APPROVED_VERIFIED", CallbackDate: date, Extra: map[string]string{"brandnewfield": "x"}}},
		{"query string, empty body", "", idForm(""),
			result{Kind: events.KindIDVerification, Ref: tolScan, Status: "APPROVED_VERIFIED", CallbackDate: date}},
		{"split between body and query string", "callBackType=NETVERIFYID&jumioIdScanReference=" + tolScan, "verificationStatus=APPROVED_VERIFIED&callbackDate=2021-05-10T08%3A05%3A10.123Z",
			result{Kind: events.KindIDVerification, Ref: tolScan, Status: "APPROVED_VERIFIED", CallbackDate: date}},
		{"body wins over query string", idForm(""), "verificationStatus=DENIED_FRAUD",
			result{Kind: events.KindIDVerification, Ref: tolScan, Status: "APPROVED_VERIFIED", CallbackDate: date}},
		{"authentication", "callBackType=NETVERIFY_AUTHENTICATION&transactionReference=" + tolScan + "&transactionResult=PASSED&callbackDate=2021-05-10T08%3A05%3A10.123Z", "",
			result{Kind: events.KindAuthentication, Ref: tolScan, Status: "PASSED", CallbackDate: date}},
		{"authentication without callBackType", "transactionReference=" + tolScan + "&transactionResult=EXPIRED&callbackDate=2021-05-10T08%3A05%3A10.123Z", "",
			result{Kind: events.KindAuthentication, Ref: tolScan, Status: "EXPIRED", CallbackDate: date}},
		{"document verification", "scanReference=" + tolScan + "&timestamp=2021-05-10T08%3A05%3A10.123Z&document=" + url.QueryEscape(`{"status":"UPLOADED"}`), "",
			result{Kind: events.KindDocumentVerification, Ref: tolScan, Status: "UPLOADED", CallbackDate: date}},
		{"document verification, transaction status only", "scanReference=" + tolScan + "&timestamp=2021-05-10T08%3A05%3A10.123Z&transaction=" + url.QueryEscape(`{"status":"FAILED"}`), "",
			result{Kind: events.KindDocumentVerification, Ref: tolScan, Status: "FAILED", CallbackDate: date}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, raw, err := ParseNetverifyRequest([]byte(tc.body), tc.query)
			if err != nil {
				t.Fatalf("ParseNetverifyRequest: %v", err)
			}
			got := result{Kind: m.Kind, Ref: m.Reference(), Status: m.Status(), CallbackDate: m.CallbackDate()}
			if m.ID != nil {
				got.Checks = m.ID.IDChecks
				got.Extra = m.ID.Extra
				if iv := m.ID.IdentityVerification; iv != nil {
					got.Validity = &iv.Validity
				}
				if rr := m.ID.RejectReason; rr != nil {
					got.Details = len(rr.Details)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			// The body's value is read, but one sent twice with different
			// values leaves its outcome unreadable.
			wantWarnings := []string(nil)
			if tc.name == "body wins over query string" {
				wantWarnings = []string{"verificationStatus"}
			}
			if !slices.Equal(m.Warnings, wantWarnings) {
				t.Errorf("warnings: %v, want %v", m.Warnings, wantWarnings)
			}
			wantRaw := strings.Trim(tc.body+"&"+tc.query, "&")
			if raw != wantRaw {
				t.Errorf("raw: got %q, want %q", raw, wantRaw)
			}
		})
	}
}

// TestNetverifyMalformedOptionalFields: a malformed optional JSON field is
// dropped and named, never fails the callback.
func TestNetverifyMalformedOptionalFields(t *testing.T) {
	m, _, err := ParseNetverifyRequest([]byte(idForm("idAddress=%7Bbroken&rejectReason=%5B1%5D&transactionDate=soon")), "")
	if err != nil {
		t.Fatalf("ParseNetverifyRequest: %v", err)
	}
	want := []string{"transactionDate", "idAddress", "rejectReason"}
	if diff := cmp.Diff(want, m.Warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

// TestNetverifyDuplicateSpellingsAreDeterministic: a field sent under two
// spellings always reads the same, so the event id never varies.
func TestNetverifyDuplicateSpellingsAreDeterministic(t *testing.T) {
	body := idForm("verificationstatus=DENIED_FRAUD&VerificationStatus=ERROR_NOT_READABLE_ID")
	var first string
	for i := range 50 {
		m, _, err := ParseNetverifyRequest([]byte(body), "")
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = m.EventID()
		} else if m.EventID() != first {
			t.Fatalf("event id changed between parses: %s, %s", first, m.EventID())
		}
	}
}

func TestNetverifyStrictness(t *testing.T) {
	for _, tc := range []struct {
		name, body, query, field, reason string
	}{
		{"empty", "", "", "jumioIdScanReference", "missing"},
		{"bad escape in body", "a=%zz", "", "body", "malformed"},
		{"bad escape in query", "", "a=%zz", "body", "malformed"},
		{"unknown callBackType", "callBackType=SOMETHING&x=1", "", "callBackType", "malformed"},
		{"id reference missing", "callBackType=NETVERIFYID&verificationStatus=APPROVED_VERIFIED", "", "jumioIdScanReference", "missing"},
		{"id reference N/A", "callBackType=NETVERIFYID&jumioIdScanReference=N%2FA&verificationStatus=APPROVED_VERIFIED", "", "jumioIdScanReference", "missing"},
		{"id reference not a UUID", "callBackType=NETVERIFYID&jumioIdScanReference=abc&verificationStatus=APPROVED_VERIFIED", "", "jumioIdScanReference", "malformed"},
		{"status missing", "callBackType=NETVERIFYID&jumioIdScanReference=" + tolScan, "", "verificationStatus", "missing"},
		{"status not a word", "callBackType=NETVERIFYID&jumioIdScanReference=" + tolScan + "&verificationStatus=a.b", "", "verificationStatus", "malformed"},
		{"callbackDate not a time", strings.Replace(idForm(""), "2021-05-10T08%3A05%3A10.123Z", "tomorrow", 1), "", "callbackDate", "malformed"},
		{"auth reference missing", "callBackType=NETVERIFY_AUTHENTICATION&transactionResult=PASSED", "", "transactionReference", "missing"},
		{"auth result missing", "callBackType=NETVERIFY_AUTHENTICATION&transactionReference=" + tolScan, "", "transactionResult", "missing"},
		{"dv reference not a UUID", "scanReference=x&timestamp=2021-05-10T08%3A05%3A10Z&document=%7B%7D", "", "scanReference", "malformed"},
		{"dv without document or transaction", "scanReference=" + tolScan, "", "document", "missing"},
		{"dv without status", "scanReference=" + tolScan + "&document=%7B%7D", "", "document.status", "missing"},
		{"dv timestamp not a time", "scanReference=" + tolScan + "&timestamp=x&document=%7B%7D", "", "timestamp", "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _, err := ParseNetverifyRequest([]byte(tc.body), tc.query)
			var ce *CallbackError
			if !errors.As(err, &ce) || !errors.Is(err, ErrInvalidCallback) {
				t.Fatalf("got %v, %v; want a *CallbackError", m, err)
			}
			if diff := cmp.Diff(CallbackError{Field: tc.field, Reason: tc.reason}, *ce); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestNetverifyUserReference(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"callback-authentication.form", "usr_7f3a9c"},
		{"callback-approved-verified.form", "usr_7f3a9c"},
		{"callback-document-verification.form", "usr_9z8y7x"},
		{"callback-not-readable-details-object.form", ""},
	} {
		t.Run(tc.file, func(t *testing.T) {
			m, _, err := ParseNetverifyRequest(readFixture(t, filepath.Join("netverify", tc.file)), "")
			if err != nil {
				t.Fatal(err)
			}
			if got := m.UserReference(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

func callbackFixtures(tb testing.TB, dir, ext string) [][]byte {
	tb.Helper()
	names, err := filepath.Glob(filepath.Join("../testdata", dir, "callback-*"+ext))
	if err != nil || len(names) == 0 {
		tb.Fatalf("no %s fixtures: %v", dir, err)
	}
	var out [][]byte
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzParsePlatformCallback: no input panics, and an accepted callback
// always has well-formed ids, a 64-hex event id, a subject of four tokens
// under jumio.callbacks.platform, and parses the same way twice.
func FuzzParsePlatformCallback(f *testing.F) {
	for _, b := range callbackFixtures(f, "platform", ".json") {
		f.Add(b)
	}
	f.Add([]byte(`{"workflowExecution":{"id":"` + tolExec + `","status":"X","definitionKey":7},"account":{"id":"` + tolAccount + `"},"callbackSentAt":"2024-01-01T00:00:00.1Z"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		cb, err := ParsePlatformCallback(body)
		if err != nil {
			if !errors.Is(err, ErrInvalidCallback) {
				t.Fatalf("error is not a *CallbackError: %v", err)
			}
			return
		}
		if !ValidID(cb.WorkflowExecution.ID) || !ValidID(cb.Account.ID) || cb.WorkflowExecution.Status == "" {
			t.Fatalf("accepted without ids: %+v", cb)
		}
		id := cb.EventID()
		if !hex64.MatchString(id) {
			t.Fatalf("event id %q", id)
		}
		ev := cb.Event(RegionAMER, time.Unix(0, 0), body)
		if got := strings.Split(ev.Subject(), "."); len(got) != 5 || got[2] != "platform" {
			t.Fatalf("subject %q", ev.Subject())
		}
		_ = cb.CheckRegion(RegionEMEA)
		again, err := ParsePlatformCallback(body)
		if err != nil || again.EventID() != id {
			t.Fatalf("second parse differs: %v", err)
		}
	})
}

// FuzzParseNetverifyCallback: no form body or query string panics, and an
// accepted callback always has a UUID reference, a status, a 64-hex event
// id, a subject of four tokens under jumio.callbacks.netverify, and parses
// the same way twice; ParseNetverifyRequestIDs accepts and rejects the
// same inputs with the same event ids and errors.
func FuzzParseNetverifyCallback(f *testing.F) {
	for _, b := range callbackFixtures(f, "netverify", ".form") {
		f.Add(b, "")
		f.Add([]byte(nil), strings.TrimSpace(string(b)))
	}
	f.Add([]byte("callbackType=NETVERIFYID&jumioIdScanReference="+tolScan+"&verificationStatus=X"), "callbackDate=2021-05-10T08%3A05%3A10Z")
	// Field names that only Unicode case folding would read as Jumio's.
	f.Add([]byte("callBackType=NETVERIFYID&jumioIdScanReference="+tolScan+"&verificationStatus=DENIED_FRAUD&VER%C4%B0FICATIONSTATUS=APPROVED_VERIFIED"), "")
	f.Add([]byte("CALLBAC%E2%84%AATYPE=NETVERIFY_AUTHENTICATION&jumioIdScanReference="+tolScan+"&verificationStatus=DENIED_FRAUD"), "")
	f.Add([]byte("jumioIdScanReference="+tolScan+"&verificationStatus=DENIED_FRAUD"+strings.Repeat("&", 9998)), "x=1")
	f.Fuzz(func(t *testing.T, body []byte, query string) {
		m, raw, err := ParseNetverifyRequest(body, query)
		if err != nil {
			if !errors.Is(err, ErrInvalidCallback) {
				t.Fatalf("error is not a *CallbackError: %v", err)
			}
			var full, light *CallbackError
			_, _, lerr := ParseNetverifyRequestIDs(body, query)
			if !errors.As(err, &full) || !errors.As(lerr, &light) || *full != *light {
				t.Fatalf("ParseNetverifyRequestIDs: got %v, want %v", lerr, err)
			}
			return
		}
		if !ValidID(m.Reference()) || m.Status() == "" {
			t.Fatalf("accepted without ids: %v", m)
		}
		id := m.EventID()
		if !hex64.MatchString(id) {
			t.Fatalf("event id %q", id)
		}
		ev := m.Event(RegionAMER, time.Unix(0, 0), raw)
		if got := strings.Split(ev.Subject(), "."); len(got) != 5 || got[2] != "netverify" || got[3] != events.LegacyAccount {
			t.Fatalf("subject %q", ev.Subject())
		}
		_ = m.String()
		_ = m.UserReference()
		again, _, err := ParseNetverifyRequest(body, query)
		if err != nil || again.EventID() != id {
			t.Fatalf("second parse differs: %v", err)
		}
		light, lightRaw, err := ParseNetverifyRequestIDs(body, query)
		if err != nil || light.EventID() != id || lightRaw != raw || light.Kind != m.Kind || light.UserReference() != m.UserReference() ||
			light.Reference() != m.Reference() || light.Status() != m.Status() {
			t.Fatalf("ParseNetverifyRequestIDs differs: %v", err)
		}
		// The enricher reads the stored form (body&query) as one: it must
		// parse, and read as ingest read it.
		values, _, err := NetverifyForm([]byte(raw), "")
		if err != nil {
			t.Fatalf("the stored form does not parse again: %v", err)
		}
		stored, err := ParseNetverifyCallback(values)
		if err != nil || stored.Kind != light.Kind || stored.Reference() != light.Reference() || stored.Status() != light.Status() || stored.UserReference() != light.UserReference() {
			t.Fatalf("the stored form reads differently: %v", err)
		}
	})
}

// TestParseNetverifyRequestIDsAgrees: the ids-only reader gives the same
// answer as the full parse on inputs that exercise its shortcuts.
func TestParseNetverifyRequestIDsAgrees(t *testing.T) {
	for _, tc := range []struct{ name, body, query string }{
		{"two spellings, different values", idForm("callbackType=NETVERIFY_AUTHENTICATION"), ""},
		{"two spellings of the status", idForm("VerificationStatus=DENIED_FRAUD&verificationstatus=NO_ID_UPLOADED"), ""},
		{"field in body and query", idForm(""), "verificationStatus=DENIED_FRAUD&jumioIdScanReference=" + tolExec},
		{"query only", "", idForm("")},
		{"escaped field name with spaces", idForm("%20customerId%20=usr_1"), ""},
		{"plus in a value", idForm("customerId=a+b"), ""},
		{"bad escape in an ignored field", idForm("idFirstName=%zz"), ""},
		{"bad escape in an ignored field name", idForm("id%zzName=x"), ""},
		{"semicolon", idForm("a=1;b=2"), ""},
		{"bad escape in the query", idForm(""), "x=%4"},
		{"empty segments", "&&" + idForm("") + "&&", ""},
		{"key without value", idForm("customerId"), ""},
		{"document verification", "scanReference=" + tolScan + "&timestamp=2021-05-10T08%3A05%3A10Z&document=" + url.QueryEscape(`{"status":"UPLOADED"}`), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			full, fullRaw, fullErr := ParseNetverifyRequest([]byte(tc.body), tc.query)
			ids, idsRaw, idsErr := ParseNetverifyRequestIDs([]byte(tc.body), tc.query)
			if (fullErr == nil) != (idsErr == nil) {
				t.Fatalf("full: %v; ids: %v", fullErr, idsErr)
			}
			if fullErr != nil {
				var a, b *CallbackError
				if !errors.As(fullErr, &a) || !errors.As(idsErr, &b) || *a != *b {
					t.Errorf("full: %v; ids: %v", fullErr, idsErr)
				}
				return
			}
			got := []string{ids.EventID(), string(ids.Kind), ids.UserReference(), idsRaw}
			want := []string{full.EventID(), string(full.Kind), full.UserReference(), fullRaw}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-full +ids):\n%s", diff)
			}
		})
	}
}
