package mapping

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// Inputs built for the fail-closed tests: Platform details of a PROCESSED
// workflow with a decision and capabilities given as JSON, Netverify
// callback forms and retrieval documents.
const (
	fcAccount   = "4a1b2c3d-5e6f-4711-8899-aabbccddeeff"
	fcExecution = "9f2c1e7a-3b4d-4c5e-8f60-1a2b3c4d5e6f"
	fcScan      = "5b6c7d8e-1111-4222-8333-944455556666"
	fcPassed    = `{"type":"PASSED","details":{"label":"PASSED"},"risk":{"score":5}}`
)

func fcDetails(key, decision, caps string) string {
	return `{"workflow":{"id":"` + fcExecution + `","status":"PROCESSED","definitionKey":"` + key + `"},"account":{"id":"` + fcAccount + `"},` +
		`"decision":` + decision + `,"capabilities":` + caps + `}`
}

// fcEntry is a capability entry on an ID credential; more is added to it
// (",\"data\":{…}").
func fcEntry(decision, label, more string) string {
	return `{"id":"c1000000-0000-4000-8000-000000000001","credentials":[{"id":"11111111-aaaa-4bbb-8ccc-000000000001","category":"ID"}],` +
		`"decision":{"type":"` + decision + `","details":{"label":"` + label + `"}}` + more + `}`
}

var fcUsable = `"usability":[` + fcEntry("PASSED", "OK", "") + `]`

// fcExtracted is a passed extraction of an ID with the data Jumio names
// mandatory for one.
var fcExtracted = `"extraction":[` + fcEntry("PASSED", "OK",
	`,"data":{"type":"PASSPORT","firstName":"JANE","lastName":"DOE","documentNumber":"X1","dateOfBirth":"1990-01-01","expiryDate":"2030-01-01"}`) + `]`

// fcSelfie is a capability entry on a SELFIE credential.
func fcSelfie(decision, label string) string {
	return `{"id":"c1000000-0000-4000-8000-000000000009","credentials":[{"id":"11111111-aaaa-4bbb-8ccc-000000000002","category":"SELFIE"}],` +
		`"decision":{"type":"` + decision + `","details":{"label":"` + label + `"}}}`
}

func fcPlatform(t *testing.T, body string) events.Result {
	t.Helper()
	var d wire.WorkflowDetails
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatalf("decode: %v", err)
	}
	sent := time.Date(2024, 3, 14, 10, 0, 0, 0, time.UTC)
	ev := events.CallbackEvent{EventID: events.EventID("failclosed"), API: events.APIPlatform, Kind: events.KindWorkflow, AccountID: fcAccount,
		WorkflowExecutionID: fcExecution, Status: "PROCESSED", CallbackSentAt: &sent, ReceivedAt: sent}
	return FromPlatform(ev, &d, nil)
}

func fcNetverify(t *testing.T, form string) events.Result {
	t.Helper()
	values, err := url.ParseQuery(form)
	if err != nil {
		t.Fatal(err)
	}
	m, err := wire.ParseNetverifyCallback(values)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	ev := events.CallbackEvent{EventID: events.EventID("failclosed"), API: events.APINetverify, Kind: m.Kind, WorkflowExecutionID: m.Reference(), Status: m.Status()}
	return FromNetverify(ev, m, nil)
}

func fcData(t *testing.T, body string) events.Result {
	t.Helper()
	var d wire.NetverifyData
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatalf("decode: %v", err)
	}
	ev := events.CallbackEvent{EventID: events.EventID("failclosed"), API: events.APINetverify, Kind: events.KindIDVerification, WorkflowExecutionID: string(d.ScanReference)}
	return FromNetverifyData(ev, &d, nil)
}

// fcCase is an input and the decision and unreadable fields it must
// give.
type fcCase struct {
	name       string
	result     func(t *testing.T) events.Result
	decision   events.DecisionType
	unreadable []string
}

func runFailClosed(t *testing.T, cases []fcCase) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := c.result(t)
			if r.Decision.Type != c.decision || !slices.Equal(r.UnreadableFields, c.unreadable) {
				t.Errorf("decision %s/%s unreadable %q, want %s unreadable %q", r.Decision.Type, r.Decision.Label, r.UnreadableFields, c.decision, c.unreadable)
			}
			for _, p := range invariants(r) {
				t.Error(p)
			}
		})
	}
}

func platformCase(name, body string, decision events.DecisionType, unreadable ...string) fcCase {
	return fcCase{name, func(t *testing.T) events.Result { return fcPlatform(t, body) }, decision, unreadable}
}

func netverifyCase(name, form string, decision events.DecisionType, unreadable ...string) fcCase {
	return fcCase{name, func(t *testing.T) events.Result { return fcNetverify(t, form) }, decision, unreadable}
}

func dataCase(name, body string, decision events.DecisionType, unreadable ...string) fcCase {
	return fcCase{name, func(t *testing.T) events.Result { return fcData(t, body) }, decision, unreadable}
}

// TestAmbiguousKeysAreUnreadable: a key that carries an outcome, sent
// twice or in two spellings encoding/json reads as one ("type" and
// "TYPE"), with different values, is unreadable wherever it is: which of
// the two Jumio meant cannot be known, and reading either could pass a
// rejected verification (docs/mapping.md, "Unreadable fields").
func TestAmbiguousKeysAreUnreadable(t *testing.T) {
	imageChecks := func(more string) string {
		return `{"id":"c2000000-0000-4000-8000-000000000001","credentials":[{"id":"11111111-aaaa-4bbb-8ccc-000000000001","category":"ID"}],` +
			`"decision":{"type":"PASSED","details":{"label":"OK"}}` + more + `}`
	}
	sim := `{"id":"c6000000-0000-4000-8000-000000000001","credentials":[{"id":"11111111-aaaa-4bbb-8ccc-000000000001","category":"ID"}],` +
		`"decision":{"type":"PASSED","details":{"label":"MATCH"}},"data":{"similarity":"MATCH","SIMILARITY":"NO_MATCH"}}`
	authBase := "callBackType=NETVERIFY_AUTHENTICATION&transactionReference=" + fcScan + "&callbackDate=2021-05-10T08%3A05%3A10.123Z"
	dvBase := "scanReference=" + fcScan + "&timestamp=2021-05-10T08%3A05%3A10.123Z&transaction=" + url.QueryEscape(`{"status":"DONE","source":"DOC_UPLOAD"}`)
	idForm := "callBackType=NETVERIFYID&jumioIdScanReference=6c7d8e9f-2222-4333-8444-a55566667777&verificationStatus=ERROR_NOT_READABLE_ID&idScanStatus=ERROR&callbackDate=2021-05-10T09%3A03%3A00.1Z&rejectReason="
	runFailClosed(t, []fcCase{
		platformCase("decision type and TYPE", fcDetails("10011", `{"type":"PASSED","TYPE":"REJECTED","details":{"label":"PASSED"}}`, `{`+fcUsable+`}`),
			events.DecisionWarning, "decision"),
		platformCase("decision label and LABEL", fcDetails("10011", `{"type":"PASSED","details":{"label":"PASSED","Label":"REJECTED"}}`, `{`+fcUsable+`}`),
			events.DecisionWarning, "decision"),
		platformCase("entry decision and Decision", fcDetails("10011", fcPassed, `{`+fcUsable+`,"imageChecks":[`+imageChecks(`,"Decision":{"type":"REJECTED","details":{"label":"FAKE"}}`)+`]}`),
			events.DecisionWarning, "capabilities.imageChecks"),
		platformCase("capabilities and Capabilities", `{"workflow":{"id":"`+fcExecution+`","status":"PROCESSED","definitionKey":"10011"},"account":{"id":"`+fcAccount+`"},`+
			`"decision":`+fcPassed+`,"capabilities":{`+fcUsable+`},"Capabilities":{"imageChecks":[`+fcEntry("REJECTED", "MANIPULATED_DOCUMENT", "")+`]}}`,
			events.DecisionWarning, "capabilities"),
		platformCase("similarity data in two spellings", fcDetails("10011", fcPassed, `{`+fcUsable+`,"similarity":[`+sim+`]}`),
			events.DecisionWarning, "capabilities.similarity"),
		platformCase("workflow status and STATUS", `{"workflow":{"id":"`+fcExecution+`","status":"PROCESSED","STATUS":"ACQUIRED","definitionKey":"10011"},"account":{"id":"`+fcAccount+`"},`+
			`"decision":`+fcPassed+`,"capabilities":{`+fcUsable+`}}`,
			events.DecisionWarning, "workflow.status"),
		netverifyCase("authentication transactionResult in two spellings", authBase+"&transactionResult=FAILED&TRANSACTIONRESULT=PASSED",
			events.DecisionWarning, "transactionResult"),
		netverifyCase("authentication transactionResult twice", authBase+"&transactionResult=PASSED&transactionResult=FAILED",
			events.DecisionWarning, "transactionResult"),
		netverifyCase("document verification status twice in its JSON", dvBase+"&document="+url.QueryEscape(`{"status":"DISCARDED","status":"EXTRACTED","type":"BS"}`),
			events.DecisionWarning, "document"),
		netverifyCase("document verification status and Status", dvBase+"&document="+url.QueryEscape(`{"status":"DISCARDED","Status":"EXTRACTED","type":"BS"}`),
			events.DecisionWarning, "document"),
		netverifyCase("document verification document in two spellings", dvBase+"&Document="+url.QueryEscape(`{"status":"EXTRACTED"}`)+"&document="+url.QueryEscape(`{"status":"DISCARDED"}`),
			events.DecisionWarning, "document"),
		netverifyCase("reject code twice", idForm+url.QueryEscape(`{"rejectReasonCode":"200","rejectReasonCode":"100","rejectReasonDescription":"NOT_READABLE_DOCUMENT"}`),
			events.DecisionRejected, "rejectReason"),
		dataCase("additional check searchResults and SearchResults", `{"scanReference":"`+fcScan+`","document":{"status":"APPROVED_VERIFIED"},"transaction":{"status":"DONE"},`+
			`"verification":{"additionalChecks":{"addressValidation":{"searchResults":"POSITIVE_RESULT","SearchResults":"NEGATIVE_RESULT"}}}}`,
			events.DecisionWarning, "verification.additionalChecks.addressValidation"),
	})
}

// TestAmbiguousKindIsNoVerdict: a Netverify callback whose kind is in
// doubt (callBackType sent with two values, or the outcome of another kind
// beside its own) is read as the kind chosen, and gives no verdict: an
// ID verification DENIED_FRAUD must not pass as an authentication.
func TestAmbiguousKindIsNoVerdict(t *testing.T) {
	id := "&jumioIdScanReference=6c7d8e9f-2222-4333-8444-a55566667777&verificationStatus=DENIED_FRAUD&idScanStatus=ERROR&callbackDate=2021-05-10T09%3A03%3A00.1Z&rejectReason=" +
		url.QueryEscape(`{"rejectReasonCode":"106","rejectReasonDescription":"FAKE"}`)
	auth := "&transactionReference=6c7d8e9f-2222-4333-8444-a55566667777&transactionResult=PASSED"
	runFailClosed(t, []fcCase{
		netverifyCase("callBackType in two spellings", "CALLBACKTYPE=NETVERIFY_AUTHENTICATION&callBackType=NETVERIFYID"+id+auth,
			events.DecisionWarning, "callBackType"),
		netverifyCase("no callBackType, two kinds' outcomes", "x=1"+id+auth, events.DecisionWarning, "callBackType"),
		netverifyCase("authentication with an ID verification's status", "callBackType=NETVERIFY_AUTHENTICATION"+auth+"&verificationStatus=DENIED_FRAUD",
			events.DecisionWarning, "callBackType"),
		netverifyCase("authentication alone", "callBackType=NETVERIFY_AUTHENTICATION&callbackDate=2021-05-10T09%3A03%3A00.1Z"+auth, events.DecisionPassed),
	})
}

// TestPassedTheDetailsDoNotBearOut: a Platform PASSED stands only when the
// details bear it out; otherwise it goes to manual review (WARNING).
func TestPassedTheDetailsDoNotBearOut(t *testing.T) {
	hollow := fcEntry("PASSED", "OK", `,"data":{"type":"PASSPORT","firstName":"N/A","lastName":"N/A"}`)
	bill := func(decision, label, more string) string {
		return strings.Replace(fcEntry(decision, label, more), `"category":"ID"`, `"category":"DOCUMENT"`, 1)
	}
	full := fcEntry("PASSED", "OK", `,"data":{"type":"PASSPORT","firstName":"JANE","lastName":"DOE","documentNumber":"P1234567","dateOfBirth":"1990-01-01","expiryDate":"2030-01-01"}`)
	hits := fcEntry("PASSED", "OK", `,"data":{"searchStatus":"DONE","searchResults":3}`)
	clean := fcEntry("PASSED", "OK", `,"data":{"searchStatus":"DONE","searchResults":0}`)
	runFailClosed(t, []fcCase{
		platformCase("nothing but an authentication not executed", fcDetails("10014", fcPassed, `{"authentication":[`+fcEntry("NOT_EXECUTED", "TECHNICAL_ERROR", "")+`]}`),
			events.DecisionWarning),
		platformCase("nothing but a screening not executed", fcDetails("10010", fcPassed, `{"watchlistScreening":[`+fcEntry("NOT_EXECUTED", "NOT_ENOUGH_DATA", "")+`]}`),
			events.DecisionWarning),
		platformCase("a passed screening", fcDetails("10010", fcPassed, `{"watchlistScreening":[`+clean+`]}`), events.DecisionPassed),
		platformCase("a screening passed with hits", fcDetails("10013", fcPassed, `{`+fcUsable+`,"watchlistScreening":[`+hits+`]}`), events.DecisionWarning),
		platformCase("risk score -1", fcDetails("10011", `{"type":"PASSED","details":{"label":"PASSED"},"risk":{"score":-1}}`, `{`+fcUsable+`}`), events.DecisionWarning),
		platformCase("an extraction without names or number", fcDetails("10011", fcPassed, `{`+fcUsable+`,"extraction":[`+hollow+`]}`), events.DecisionWarning),
		platformCase("an extraction with the mandatory data", fcDetails("10011", fcPassed, `{`+fcUsable+`,"extraction":[`+full+`]}`), events.DecisionPassed),
		platformCase("a document's extraction (a utility bill: no names, no number)", fcDetails("10026", fcPassed, `{"usability":[`+bill("PASSED", "OK", "")+`],"extraction":[`+
			bill("PASSED", "OK", `,"data":{"type":"UTILITY_BILL","address":{"city":"WIEN"}}`)+`]}`), events.DecisionPassed),
		platformCase("an ID extraction Jumio wiped out", strings.Replace(fcDetails("10011", fcPassed, `{`+fcUsable+`,"extraction":[`+hollow+`]}`),
			`"account":`, `"wipedOutAt":"2024-03-20T10:00:00.000Z","account":`, 1), events.DecisionPassed),
		platformCase("an undocumented type", fcDetails("10011", `{"type":"APPROVED","details":{"label":"APPROVED"}}`, `{`+fcUsable+`}`), events.DecisionWarning, "decision"),
		platformCase("a number for a type", fcDetails("10011", `{"type":1}`, `{`+fcUsable+`}`), events.DecisionWarning, "decision"),
		platformCase("PASSED with a zero-width space", fcDetails("10011", "{\"type\":\"PASSED\u200b\",\"details\":{\"label\":\"PASSED\"}}", `{`+fcUsable+`}`),
			events.DecisionWarning, "decision"),
	})
}

// TestDeniedInAnyCase: a Netverify status Jumio does not document that
// denies (DENIED_…, ERROR_…) rejects in any case; a fraud denial never
// becomes a manual review for being lower case.
func TestDeniedInAnyCase(t *testing.T) {
	runFailClosed(t, []fcCase{
		dataCase("denied_fraud", `{"scanReference":"`+fcScan+`","document":{"status":"denied_fraud"},"transaction":{"status":"DONE"},"verification":{}}`, events.DecisionRejected),
		dataCase("Error_Something", `{"scanReference":"`+fcScan+`","document":{"status":"Error_Something"},"transaction":{"status":"DONE"},"verification":{}}`, events.DecisionRejected),
	})
}

// TestCapabilityNamesInAnyCase: a capability named in another case than
// Jumio's ("Liveness", "USABILITY", "Extraction") is held to the rules of
// the capability it names; two names for one capability are unreadable.
func TestCapabilityNamesInAnyCase(t *testing.T) {
	similar := `"similarity":[` + fcSelfie("PASSED", "MATCH") + `]`
	runFailClosed(t, []fcCase{
		platformCase("complete (control)", fcDetails("10011", fcPassed, `{`+fcUsable+`,`+fcExtracted+`,"liveness":[`+fcSelfie("PASSED", "OK")+`],`+similar+`}`),
			events.DecisionPassed),
		platformCase("liveness NOT_EXECUTED (control)", fcDetails("10011", fcPassed, `{`+fcUsable+`,`+fcExtracted+`,"liveness":[`+fcSelfie("NOT_EXECUTED", "PRECONDITION_NOT_FULFILLED")+`],`+similar+`}`),
			events.DecisionWarning),
		platformCase("Liveness NOT_EXECUTED", fcDetails("10011", fcPassed, `{`+fcUsable+`,`+fcExtracted+`,"Liveness":[`+fcSelfie("NOT_EXECUTED", "PRECONDITION_NOT_FULFILLED")+`],`+similar+`}`),
			events.DecisionWarning),
		platformCase("USABILITY NOT_EXECUTED", fcDetails("10011", fcPassed, `{`+fcUsable+`,`+fcExtracted+`,"USABILITY":[`+fcEntry("NOT_EXECUTED", "TECHNICAL_ERROR", "")+`]}`),
			events.DecisionWarning, "capabilities"),
		platformCase("USABILITY NOT_EXECUTED alone", fcDetails("10011", fcPassed, `{`+fcExtracted+`,"USABILITY":[`+fcEntry("NOT_EXECUTED", "TECHNICAL_ERROR", "")+`]}`),
			events.DecisionWarning),
		platformCase("Extraction with empty data", fcDetails("10011", fcPassed, `{`+fcUsable+`,"Extraction":[`+fcEntry("PASSED", "OK", `,"data":{}`)+`]}`),
			events.DecisionWarning),
		platformCase("Usability and Extraction complete", fcDetails("10011", fcPassed, `{"Usability":[`+fcEntry("PASSED", "OK", "")+`],`+strings.Replace(fcExtracted, `"extraction"`, `"EXTRACTION"`, 1)+`}`),
			events.DecisionPassed),
	})
	r := fcPlatform(t, fcDetails("10011", fcPassed, `{"Usability":[`+fcEntry("PASSED", "OK", "")+`],"ageEstimation":[`+fcEntry("PASSED", "OK", "")+`]}`))
	var names []string
	for _, c := range r.Capabilities {
		names = append(names, c.Name)
	}
	if !slices.Equal(names, []string{"usability", "ageEstimation"}) {
		t.Errorf("capabilities %q, want usability under Jumio's name and ageEstimation as sent", names)
	}
}

// TestPartialExtractionIsNoPass: an extraction of an ID that PASSED
// without every field Jumio names mandatory for one (first and last name,
// date of birth, document number, expiry date) is partial, whatever the
// entry says: no data at all, null, {}, some of the fields, or "N/A" for
// one. It goes to manual review with a reason naming the fields it lacks,
// never their values. A credential reference without its category is
// read by the category of the workflow's credential of that id.
func TestPartialExtractionIsNoPass(t *testing.T) {
	extraction := func(ext string) string {
		return fcDetails("10011", fcPassed, `{`+fcUsable+`,"extraction":[`+ext+`]}`)
	}
	withCredential := func(category, ext string) string {
		return strings.Replace(extraction(ext), `"decision":`, `"credentials":[{"id":"11111111-aaaa-4bbb-8ccc-000000000001","category":"`+category+`"}],"decision":`, 1)
	}
	noCategory := func(more string) string {
		return `{"id":"c3000000-0000-4000-8000-000000000001","credentials":[{"id":"11111111-aaaa-4bbb-8ccc-000000000001"}],"decision":{"type":"PASSED","details":{"label":"OK"}}` + more + `}`
	}
	complete := `,"data":{"type":"PASSPORT","firstName":"JANE","lastName":"DOE","documentNumber":"X1","dateOfBirth":"1990-01-01","expiryDate":"2030-01-01"}`
	runFailClosed(t, []fcCase{
		platformCase("complete (control)", extraction(fcEntry("PASSED", "OK", complete)), events.DecisionPassed),
		platformCase("data {}", extraction(fcEntry("PASSED", "OK", `,"data":{}`)), events.DecisionWarning),
		platformCase("data absent", extraction(fcEntry("PASSED", "OK", "")), events.DecisionWarning),
		platformCase("data null", extraction(fcEntry("PASSED", "OK", `,"data":null`)), events.DecisionWarning),
		platformCase("first name only", extraction(fcEntry("PASSED", "OK", `,"data":{"firstName":"JANE"}`)), events.DecisionWarning),
		platformCase("expiry date N/A", extraction(fcEntry("PASSED", "OK", strings.Replace(complete, `"2030-01-01"`, `"N/A"`, 1))), events.DecisionWarning),
		platformCase("date of birth empty", extraction(fcEntry("PASSED", "OK", strings.Replace(complete, `"1990-01-01"`, `" "`, 1))), events.DecisionWarning),
		platformCase("not passed, no data (control)", extraction(fcEntry("NOT_EXECUTED", "TECHNICAL_ERROR", "")), events.DecisionWarning),
		platformCase("reference without category, credential ID", withCredential("ID", noCategory(`,"data":{}`)), events.DecisionWarning),
		platformCase("reference without category, credential ID, complete (control)", withCredential("ID", noCategory(complete)), events.DecisionPassed),
		platformCase("reference without category, no credentials", extraction(noCategory(`,"data":{}`)), events.DecisionWarning),
		platformCase("reference without category, credential DOCUMENT (control)", withCredential("DOCUMENT", noCategory(`,"data":{"type":"UTILITY_BILL"}`)), events.DecisionPassed),
	})
	r := fcPlatform(t, extraction(fcEntry("PASSED", "OK", `,"data":{"firstName":"JANE","lastName":"DOE","documentNumber":"X1"}`)))
	want := events.Reason{Capability: capExtraction, Decision: events.DecisionWarning, Label: labelMissingData}
	if !slices.Contains(r.Reasons, want) {
		t.Errorf("reasons %v, want %v", r.Reasons, want)
	}
	i := slices.IndexFunc(r.Capabilities, func(c events.Capability) bool { return c.Label == labelMissingData })
	if i < 0 || r.Capabilities[i].Data["missing"] != "dateOfBirth,expiryDate" {
		t.Errorf("capabilities %v: want the missing fields dateOfBirth,expiryDate named", r.Capabilities)
	}
	for _, c := range r.Capabilities {
		for k, v := range c.Data {
			if strings.Contains(v, "JANE") || strings.Contains(v, "DOE") {
				t.Errorf("capability %s data %s holds a value of the extraction: %q", c.Name, k, v)
			}
		}
	}
}

// TestPartialIdentityVerification: an identityVerification carries two
// outcomes, similarity and validity; one of them missing (absent, null,
// "N/A") is unreadable, in the callback and in retrieval: a MATCH says
// nothing of liveness, nor a validity TRUE of the face.
func TestPartialIdentityVerification(t *testing.T) {
	form := "callBackType=NETVERIFYID&jumioIdScanReference=" + fcScan + "&verificationStatus=APPROVED_VERIFIED&idScanStatus=SUCCESS&idScanSource=WEB_UPLOAD" +
		"&idCheckDataPositions=OK&idCheckDocumentValidation=OK&idCheckHologram=OK&idCheckMRZcode=OK&idCheckMicroprint=OK&idCheckSecurityFeatures=OK&idCheckSignature=OK" +
		"&callbackDate=2021-05-10T08%3A05%3A10.123Z&idType=PASSPORT&idCountry=AUT&idFirstName=JANE&idLastName=DOE&identityVerification="
	data := func(iv string) string {
		return `{"scanReference":"` + fcScan + `","document":{"status":"APPROVED_VERIFIED"},"transaction":{"status":"DONE"},"verification":{"identityVerification":` + iv + `}}`
	}
	const (
		sim      = "identityVerification.similarity"
		validity = "identityVerification.validity"
	)
	runFailClosed(t, []fcCase{
		netverifyCase("similarity MATCH, validity true (control)", form+url.QueryEscape(`{"similarity":"MATCH","validity":true}`), events.DecisionPassed),
		netverifyCase("validity FALSE with a reason (control)", form+url.QueryEscape(`{"similarity":"MATCH","validity":"FALSE","reason":"MULTIPLE_PEOPLE"}`), events.DecisionRejected),
		netverifyCase("a reason without validity (control: validity FALSE)", form+url.QueryEscape(`{"similarity":"MATCH","reason":"MULTIPLE_PEOPLE"}`), events.DecisionRejected),
		netverifyCase("validity absent", form+url.QueryEscape(`{"similarity":"MATCH"}`), events.DecisionWarning, validity),
		netverifyCase("validity N/A", form+url.QueryEscape(`{"similarity":"MATCH","validity":"N/A"}`), events.DecisionWarning, validity),
		netverifyCase("validity null", form+url.QueryEscape(`{"similarity":"MATCH","validity":null}`), events.DecisionWarning, validity),
		netverifyCase("similarity null", form+url.QueryEscape(`{"similarity":null,"validity":true}`), events.DecisionWarning, sim),
		netverifyCase("similarity absent", form+url.QueryEscape(`{"validity":true}`), events.DecisionWarning, sim),
		netverifyCase("similarity N/A", form+url.QueryEscape(`{"similarity":"N/A","validity":true}`), events.DecisionWarning, sim),
		netverifyCase("similarityScore only", form+url.QueryEscape(`{"similarityScore":"12","validity":true}`), events.DecisionWarning, sim),
		netverifyCase("neither", form+url.QueryEscape(`{"similarityScore":"12"}`), events.DecisionWarning, "identityVerification"),
		dataCase("retrieval, complete (control)", data(`{"similarity":"MATCH","validity":"true"}`), events.DecisionPassed),
		dataCase("retrieval, validity absent", data(`{"similarity":"MATCH"}`), events.DecisionWarning, "verification."+validity),
		dataCase("retrieval, similarity absent", data(`{"validity":"true"}`), events.DecisionWarning, "verification."+sim),
	})
}

// TestUnreadableRiskScore: a risk score that cannot be read ("N/A", an
// object) or that Jumio cannot give (outside -1 … 100) is unreadable, as
// a score of -1 (NOT_EXECUTED) lowers a PASSED; none at all does not.
func TestUnreadableRiskScore(t *testing.T) {
	decision := func(risk string) string {
		return fcDetails("10011", `{"type":"PASSED","details":{"label":"PASSED"}`+risk+`}`, `{`+fcUsable+`,`+fcExtracted+`}`)
	}
	const field = "decision.risk.score"
	runFailClosed(t, []fcCase{
		platformCase("score 5 (control)", decision(`,"risk":{"score":5}`), events.DecisionPassed),
		platformCase("score \"30.5\" (control)", decision(`,"risk":{"score":"30.5"}`), events.DecisionPassed),
		platformCase("no risk (control)", decision(``), events.DecisionPassed),
		platformCase("risk without a score (control)", decision(`,"risk":{}`), events.DecisionPassed),
		platformCase("score -1 (control)", decision(`,"risk":{"score":-1}`), events.DecisionWarning),
		platformCase("score N/A", decision(`,"risk":{"score":"N/A"}`), events.DecisionWarning, field),
		platformCase("score an object", decision(`,"risk":{"score":{"value":-1}}`), events.DecisionWarning, field),
		platformCase("score -5", decision(`,"risk":{"score":-5}`), events.DecisionWarning, field),
		platformCase("score 150", decision(`,"risk":{"score":150}`), events.DecisionWarning, field),
		platformCase("risk not an object", decision(`,"risk":"N/A"`), events.DecisionWarning, field),
	})
}
