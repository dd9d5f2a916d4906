package mapping_test

// Values Jumio documents (docs/jumio.md), fed through the public mapping
// entry points: each that contradicts a pass, or leaves part of it
// unread, must not leave PASSED (or APPROVED_VERIFIED for legacy
// consumers) standing.

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
	"github.com/kycflow/kycflow/pkg/mapping"
)

// ---- helpers (public entry points only) ------------------------------------

const (
	rvAccount = "4a1b2c3d-5e6f-4711-8899-aabbccddeeff"
	rvExec    = "9f2c1e7a-3b4d-4c5e-8f60-1a2b3c4d5e6f"
	rvIDCred  = "11111111-aaaa-4bbb-8ccc-000000000001"
	rvSelfie  = "11111111-aaaa-4bbb-8ccc-000000000002"
)

var rvNow = time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)

func rvDec(typ, label string) string {
	return fmt.Sprintf(`{"type":%q,"details":{"label":%q}}`, typ, label)
}

// rvEntry is one capability entry on the ID credential (or ID + selfie).
func rvEntry(n int, selfie bool, decision, data string) string {
	creds := fmt.Sprintf(`[{"id":%q,"category":"ID"}]`, rvIDCred)
	if selfie {
		creds = fmt.Sprintf(`[{"id":%q,"category":"ID"},{"id":%q,"category":"SELFIE"}]`, rvIDCred, rvSelfie)
	}
	s := fmt.Sprintf(`{"id":"c%d000000-0000-4000-8000-000000000001","credentials":%s,"decision":%s`, n, creds, decision)
	if data != "" {
		s += `,"data":` + data
	}
	return "[" + s + "}]"
}

const rvExtraction = `{"type":"PASSPORT","issuingCountry":"AUT","firstName":"JANE","lastName":"DOE","dateOfBirth":"1990-01-01","expiryDate":"2030-12-31","documentNumber":"P1234567"}`

// rvCaps are the capabilities of a fully passed ID + identity workflow
// (docs/jumio.md F5); override replaces entries by capability name.
func rvCaps(override map[string]string) string {
	caps := map[string]string{
		"usability":   rvEntry(1, false, rvDec("PASSED", "OK"), ""),
		"imageChecks": rvEntry(2, false, rvDec("PASSED", "OK"), ""),
		"extraction":  rvEntry(3, false, rvDec("PASSED", "OK"), rvExtraction),
		"dataChecks":  rvEntry(4, false, rvDec("PASSED", "OK"), ""),
		"liveness":    rvEntry(5, false, rvDec("PASSED", "OK"), `{"type":"IPROOV_STANDARD"}`),
		"similarity":  rvEntry(6, true, rvDec("PASSED", "MATCH"), `{"similarity":"MATCH"}`),
	}
	for k, v := range override {
		caps[k] = v
	}
	var parts []string
	for _, k := range []string{"usability", "imageChecks", "extraction", "dataChecks", "liveness", "similarity"} {
		parts = append(parts, fmt.Sprintf("%q:%s", k, caps[k]))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func rvPlatform(t *testing.T, decision, caps string) events.Result {
	t.Helper()
	raw := fmt.Sprintf(`{"workflow":{"id":%q,"status":"PROCESSED","definitionKey":"10011"},"account":{"id":%q},
	  "credentials":[{"id":%q,"category":"ID"},{"id":%q,"category":"SELFIE"}],
	  "decision":%s,"capabilities":%s}`, rvExec, rvAccount, rvIDCred, rvSelfie, decision, caps)
	var d wire.WorkflowDetails
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		t.Fatal(err)
	}
	ev := events.CallbackEvent{SchemaVersion: 1, EventID: strings.Repeat("ab", 32), API: events.APIPlatform,
		Kind: events.KindWorkflow, Region: "amer-1", AccountID: rvAccount, WorkflowExecutionID: rvExec,
		Status: "PROCESSED", ReceivedAt: rvNow}
	return mapping.FromPlatform(ev, &d, nil)
}

// rvApprovedForm is docs/jumio.md F10 (APPROVED_VERIFIED), as form values.
func rvApprovedForm() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{
		"callBackType": "NETVERIFYID", "jumioIdScanReference": "5b6c7d8e-1111-4222-8333-944455556666",
		"verificationStatus": "APPROVED_VERIFIED", "idScanStatus": "SUCCESS", "idScanSource": "WEB_UPLOAD",
		"idCheckDataPositions": "OK", "idCheckDocumentValidation": "OK", "idCheckHologram": "OK", "idCheckMRZcode": "OK",
		"idCheckMicroprint": "OK", "idCheckSecurityFeatures": "OK", "idCheckSignature": "OK",
		"transactionDate": "2021-05-10T08:01:02.345Z", "callbackDate": "2021-05-10T08:05:10.123Z",
		"idType": "PASSPORT", "idCountry": "AUT", "idFirstName": "JANE", "idLastName": "DOE",
		"idDob": "1990-01-01", "idExpiry": "2030-12-31", "idNumber": "P1234567",
		"identityVerification": `{"similarity":"MATCH","validity":true}`,
	} {
		v.Set(k, s)
	}
	return v
}

func rvNetverify(t *testing.T, v url.Values) events.Result {
	t.Helper()
	m, err := wire.ParseNetverifyCallback(v)
	if err != nil {
		t.Fatal(err)
	}
	return mapping.FromNetverify(m.Event(wire.RegionAMER, rvNow, v.Encode()), m, nil)
}

func rvData(t *testing.T, raw string) events.Result {
	t.Helper()
	var d wire.NetverifyData
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		t.Fatal(err)
	}
	ev := events.CallbackEvent{SchemaVersion: 1, EventID: strings.Repeat("cd", 32), API: events.APINetverify,
		Kind: events.KindIDVerification, Region: "amer-1", WorkflowExecutionID: "5b6c7d8e-1111-4222-8333-944455556666", ReceivedAt: rvNow}
	return mapping.FromNetverifyData(ev, &d, nil)
}

// docs/jumio.md F14 with a transaction object supplied by the test.
func rvDataDoc(transaction string) string {
	return `{"scanReference":"5b6c7d8e-1111-4222-8333-944455556666",
	  "document":{"type":"PASSPORT","issuingCountry":"AUT","firstName":"JANE","lastName":"DOE","dob":"1990-01-01","expiry":"2030-12-31","number":"P1234567","status":"APPROVED_VERIFIED"},
	  "transaction":` + transaction + `,
	  "verification":{"identityVerification":{"similarity":"MATCH","validity":"true"},"mrzCheck":"OK"}}`
}

func rvSummary(r events.Result) string {
	return fmt.Sprintf("status=%s decision=%s/%s verificationStatus=%q unreadable=%v identity=%+v",
		r.Status, r.Decision.Type, r.Decision.Label, r.VerificationStatus, r.UnreadableFields, r.IdentityVerification)
}

// ---- 1. A PASSED stands on an ID document capability that was NOT executed --

// docs/jumio.md 6.1: "document.status = APPROVED_VERIFIED ⇔ all Platform
// capabilities OK [C: S17, first table row]"; 6.5: "NO_ID_UPLOADED | usability
// NOT_EXECUTED / NOT_UPLOADED". kycflow keeps PASSED and at the same time
// publishes verificationStatus NO_ID_UPLOADED / ERROR_NOT_READABLE_ID.
func TestPassedNeedsTheDocumentRead(t *testing.T) {
	for name, override := range map[string]map[string]string{
		"ID usability NOT_EXECUTED/NOT_UPLOADED": {
			"usability": rvEntry(1, false, rvDec("NOT_EXECUTED", "NOT_UPLOADED"), ""),
		},
		"ID usability NOT_EXECUTED/TECHNICAL_ERROR": {
			"usability": rvEntry(1, false, rvDec("NOT_EXECUTED", "TECHNICAL_ERROR"), ""),
		},
		"extraction NOT_EXECUTED/TECHNICAL_ERROR": {
			"extraction": rvEntry(3, false, rvDec("NOT_EXECUTED", "TECHNICAL_ERROR"), ""),
			"dataChecks": rvEntry(4, false, rvDec("NOT_EXECUTED", "PRECONDITION_NOT_FULFILLED"), ""),
		},
	} {
		t.Run(name, func(t *testing.T) {
			r := rvPlatform(t, `{"type":"PASSED","details":{"label":"PASSED"},"risk":{"score":10}}`, rvCaps(override))
			if r.Decision.Type == events.DecisionPassed {
				t.Errorf("PASSED although the ID document was not (fully) processed: %s", rvSummary(r))
			}
			if vs, _, _ := mapping.LegacyStatus(r); r.Decision.Type == events.DecisionPassed && vs != "APPROVED_VERIFIED" {
				t.Errorf("decision PASSED but legacy verificationStatus %q", vs)
			}
		})
	}
}

// ---- 2. Platform similarity NO_MATCH does not lower a PASSED ---------------

// docs/jumio.md 4.6: similarity labels "PASSED: MATCH | WARNING: NOT_POSSIBLE |
// REJECTED: NO_MATCH"; "similarity.data.similarity: MATCH | NO_MATCH |
// NOT_POSSIBLE [C: S19]"; 6.6: "similarity NO_MATCH | similarity REJECTED /
// NO_MATCH". Liveness: "REJECTED: LIVENESS_UNDETERMINED, ID_USED_AS_SELFIE,
// MULTIPLE_PEOPLE, …". The same identityVerification on Netverify
// (similarity NO_MATCH) gives REJECTED.
func TestPassedLabelsBearOutThePass(t *testing.T) {
	for name, sim := range map[string]string{
		"data.similarity NO_MATCH":                 rvEntry(6, true, rvDec("PASSED", "MATCH"), `{"similarity":"NO_MATCH"}`),
		"label and data.similarity NO_MATCH":       rvEntry(6, true, rvDec("PASSED", "NO_MATCH"), `{"similarity":"NO_MATCH"}`),
		"liveness PASSED labelled MULTIPLE_PEOPLE": "",
	} {
		t.Run(name, func(t *testing.T) {
			override := map[string]string{"similarity": sim}
			if sim == "" {
				override = map[string]string{"liveness": rvEntry(5, false, rvDec("PASSED", "MULTIPLE_PEOPLE"), "")}
			}
			r := rvPlatform(t, rvDec("PASSED", "PASSED"), rvCaps(override))
			if r.Decision.Type == events.DecisionPassed {
				t.Errorf("PASSED with a documented rejection value: %s", rvSummary(r))
			}
		})
	}
	t.Run("netverify NO_MATCH for comparison", func(t *testing.T) {
		v := rvApprovedForm()
		v.Set("identityVerification", `{"similarity":"NO_MATCH","validity":true}`)
		if r := rvNetverify(t, v); r.Decision.Type != events.DecisionRejected {
			t.Errorf("netverify: %s", rvSummary(r))
		}
	})
}

// ---- 3. Netverify keeps APPROVED_VERIFIED on a result that did not pass ----

// docs/jumio.md 6.3: "transaction.status=PENDING | workflow.status ∈ INITIATED,
// ACQUIRED"; "transaction.status=FAILED (drop-off/expiry) + verificationStatus=
// NO_ID_UPLOADED | SESSION_EXPIRED or TOKEN_EXPIRED"; 6.5 reverse:
// "SESSION_EXPIRED/TOKEN_EXPIRED … → NO_ID_UPLOADED". The Platform path gives
// "" for a running status and NO_ID_UPLOADED for an expired one; the
// Netverify retrieval path publishes APPROVED_VERIFIED for both.
func TestApprovedVerifiedOnlyForAnEndedDocument(t *testing.T) {
	for _, st := range []string{"PENDING", "FAILED", "RUNNING"} {
		t.Run(st, func(t *testing.T) {
			r := rvData(t, rvDataDoc(`{"status":"`+st+`","source":"WEB_UPLOAD","date":"2021-05-10T08:01:02.345Z"}`))
			vs, _, _ := mapping.LegacyStatus(r)
			if r.Decision.Type != events.DecisionPassed && (r.VerificationStatus == "APPROVED_VERIFIED" || vs == "APPROVED_VERIFIED") {
				t.Errorf("legacy APPROVED_VERIFIED with decision %s: %s", r.Decision.Type, rvSummary(r))
			}
		})
	}
}

// ---- 4. A contradicted (WARNING) Platform result reads as a clean pass -----

// docs/jumio.md 6.6: "similarity NO_MATCH | similarity REJECTED / NO_MATCH"; 6.5
// reverse: "decision WARNING → no NV equivalent (keep as "review")". kycflow
// publishes verificationStatus APPROVED_VERIFIED with identityVerification
// similarity MATCH for a REJECTED (or undocumented FAILED) similarity.
func TestLegacyIdentityFollowsTheSimilarityDecision(t *testing.T) {
	for name, sim := range map[string]string{
		"similarity REJECTED, data MATCH":            rvEntry(6, true, rvDec("REJECTED", "NO_MATCH"), `{"similarity":"MATCH"}`),
		"similarity undocumented FAILED, data MATCH": rvEntry(6, true, rvDec("FAILED", "MATCH"), `{"similarity":"MATCH"}`),
	} {
		t.Run(name, func(t *testing.T) {
			r := rvPlatform(t, rvDec("PASSED", "PASSED"), rvCaps(map[string]string{"similarity": sim}))
			iv := mapping.LegacyIdentity(r)
			if r.Decision.Type != events.DecisionPassed && r.VerificationStatus == "APPROVED_VERIFIED" &&
				iv != nil && iv.Similarity == "MATCH" && iv.Validity == "TRUE" {
				t.Errorf("legacy consumers see a full approval of a %s result: %s", r.Decision.Type, rvSummary(r))
			}
		})
	}
}

// ---- 5. An unreadable Netverify `transaction` leaves PASSED standing -------

// A readable transaction.status FAILED refuses the pass (WARNING / expired);
// the same object unreadable does not, and is not named unreadable.
// docs/jumio.md 2.6: DV "transaction (JSON: date, status DONE|FAILED, …)"; 5:
// "transaction: status (PENDING/DONE/FAILED)".
func TestUnreadableTransactionIsNoPass(t *testing.T) {
	t.Run("retrieval /data", func(t *testing.T) {
		for _, tx := range []string{`"garbage"`, `5`, `[1]`} {
			r := rvData(t, rvDataDoc(tx))
			if r.Decision.Type == events.DecisionPassed {
				t.Errorf("transaction %s: %s", tx, rvSummary(r))
			}
		}
	})
	t.Run("document verification callback", func(t *testing.T) {
		for _, tx := range []string{`{"status":"FAILED"`, `{"status":{"v":"FAILED"}}`} {
			v := url.Values{}
			v.Set("scanReference", "c3d4e5f6-3333-4444-8555-000000000001")
			v.Set("timestamp", "2022-02-01T12:00:05.000Z")
			v.Set("transaction", tx)
			v.Set("document", `{"status":"EXTRACTED","country":"USA","type":"BS"}`)
			r := rvNetverify(t, v)
			if r.Decision.Type == events.DecisionPassed {
				t.Errorf("transaction %s: %s", tx, rvSummary(r))
			}
		}
	})
}

// ---- 6. Unreadable Platform extraction data leaves PASSED standing ---------

// ExtractionData.Warnings are computed by pkg/jumio/wire and never read by
// pkg/mapping. docs/jumio.md 4.6: "Mandatory for a successful ID extraction: first
// name, last name, DOB, document number, expiry date [C: S19]".
func TestUnreadableExtractionIsNoPass(t *testing.T) {
	for name, data := range map[string]string{
		"data is a string":                `"garbage"`,
		"data is a number":                `5`,
		"documentNumber of another shape": strings.Replace(rvExtraction, `"P1234567"`, `{"v":"P1234567"}`, 1),
	} {
		t.Run(name, func(t *testing.T) {
			r := rvPlatform(t, rvDec("PASSED", "PASSED"),
				rvCaps(map[string]string{"extraction": rvEntry(3, false, rvDec("PASSED", "OK"), data)}))
			if r.Decision.Type == events.DecisionPassed && len(r.UnreadableFields) == 0 {
				t.Errorf("PASSED, nothing named unreadable, document=%+v: %s", r.Document, rvSummary(r))
			}
		})
	}
}

// ---- 7. Platform decision label contradicting its type ---------------------

// docs/jumio.md 4.5: "decision.details.label: same as type for
// PASSED/REJECTED/WARNING".
func TestPassedLabelledOtherwise(t *testing.T) {
	r := rvPlatform(t, rvDec("PASSED", "REJECTED"), rvCaps(nil))
	if r.Decision.Type == events.DecisionPassed {
		t.Errorf("PASSED with label %q: %s", r.Decision.Label, rvSummary(r))
	}
}

// ---- 8. Netverify identityVerification contradicting or incomplete ---------

// docs/jumio.md 2.5: "reason (only if validity FALSE): SELFIE_CROPPED_FROM_ID, …,
// MULTIPLE_PEOPLE, …"; similarity "MATCH | NO_MATCH | NOT_POSSIBLE",
// validity "TRUE | FALSE (liveness)".
func TestNetverifyIdentityContradiction(t *testing.T) {
	for name, iv := range map[string]string{
		"validity TRUE with a failure reason": `{"similarity":"MATCH","validity":"TRUE","reason":"MULTIPLE_PEOPLE"}`,
		"empty identityVerification":          `{}`,
	} {
		t.Run(name, func(t *testing.T) {
			v := rvApprovedForm()
			v.Set("identityVerification", iv)
			if r := rvNetverify(t, v); r.Decision.Type == events.DecisionPassed {
				t.Errorf("%s", rvSummary(r))
			}
		})
	}
}

// ---- 9. APPROVED_VERIFIED without the scan status / ID checks behind it ---

// docs/jumio.md 2.3 (bold = always present): "idScanStatus | SUCCESS iff
// verificationStatus = APPROVED_VERIFIED, else ERROR"; idCheck…: "OK if
// APPROVED_VERIFIED else N/A (MRZ only for passports/supported IDs with MRZ
// check enabled)".
func TestApprovedNeedsItsChecks(t *testing.T) {
	for name, patch := range map[string]func(url.Values){
		"idScanStatus absent":  func(v url.Values) { v.Del("idScanStatus") },
		"idCheckHologram N/A":  func(v url.Values) { v.Set("idCheckHologram", "N/A") },
		"idCheckSignature N/A": func(v url.Values) { v.Set("idCheckSignature", "N/A") },
		"all non-MRZ idChecks absent": func(v url.Values) {
			for _, k := range []string{"idCheckDataPositions", "idCheckDocumentValidation", "idCheckHologram", "idCheckMicroprint", "idCheckSecurityFeatures", "idCheckSignature"} {
				v.Del(k)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			v := rvApprovedForm()
			patch(v)
			if r := rvNetverify(t, v); r.Decision.Type == events.DecisionPassed {
				t.Errorf("%s", rvSummary(r))
			}
		})
	}
}
