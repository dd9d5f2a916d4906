package mapping

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// The coverage probes map one documented Jumio value through the real code
// and say, in one line, what the result makes of it. They work on the JSON
// of the result, so that they read any result field by its wire name.

// doc is a result as generic JSON.
func doc(r events.Result) map[string]any {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// findPaths returns the JSON paths of r (arrays written "[]", map keys of
// free-form objects as they are) whose string or number holds marker.
func findPaths(r events.Result, marker string) string { return findPathsIn(r, marker, "") }

// findPathsIn is findPaths restricted to paths that contain within (in
// any case).
func findPathsIn(r events.Result, marker, within string) string {
	seen := map[string]bool{}
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				p := k
				if path != "" {
					p = path + "." + k
				}
				if strings.Contains(k, marker) {
					seen[p+" (key)"] = true
				}
				walk(c, p)
			}
		case []any:
			for _, c := range v {
				walk(c, path+"[]")
			}
		case string:
			if strings.Contains(v, marker) {
				seen[path] = true
			}
		case float64:
			if strconv.FormatFloat(v, 'f', -1, 64) == marker {
				seen[path] = true
			}
		case bool:
			if strconv.FormatBool(v) == marker {
				seen[path] = true
			}
		}
	}
	walk(doc(r), "")
	for p := range seen {
		if !strings.Contains(strings.ToLower(p), strings.ToLower(within)) {
			delete(seen, p)
		}
	}
	if len(seen) == 0 {
		return "—"
	}
	return "→ " + strings.Join(slices.Sorted(maps.Keys(seen)), ", ")
}

// orErr summarizes r with f, or says why the input was refused.
func orErr(r events.Result, err error, f func(events.Result) string) string {
	if err != nil {
		return "refused: " + err.Error()
	}
	return f(r)
}

// Summaries.

func reasonText(rs events.Reason) string {
	s := rs.Capability + " " + string(rs.Decision) + "/" + rs.Label
	if rs.LegacyRejectCode != "" {
		s += " " + rs.LegacyRejectCode
		if rs.LegacyDetailCode != "" {
			s += "/" + rs.LegacyDetailCode
		}
	}
	return s
}

func legacyText(r events.Result) string {
	vs, code, detail := LegacyStatus(r)
	s := "vs " + cmpOr(vs, "none")
	if code != "" {
		s += " " + code
		if detail != "" {
			s += "/" + detail
		}
	}
	if iv, ok := doc(r)["identityVerification"].(map[string]any); ok {
		var p []string
		for _, k := range []string{"similarity", "validity", "reason"} {
			if v, ok := iv[k].(string); ok {
				p = append(p, k+" "+v)
			}
		}
		s += "; identityVerification " + strings.Join(p, ", ")
	}
	return s
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func decisionText(r events.Result) string {
	s := "decision " + string(r.Decision.Type)
	if r.Decision.Label != "" && r.Decision.Label != string(r.Decision.Type) {
		s += "/" + r.Decision.Label
	}
	return s
}

func reasonsText(r events.Result, capability string) string {
	var out []string
	for _, rs := range r.Reasons {
		if capability == "" || rs.Capability == capability {
			out = append(out, reasonText(rs))
		}
	}
	if len(out) == 0 {
		return "no reason"
	}
	return "reasons " + strings.Join(out, ", ")
}

func capsText(r events.Result, names ...string) string {
	var out []string
	for _, c := range r.Capabilities {
		if len(names) > 0 && !slices.Contains(names, c.Name) {
			continue
		}
		s := c.Name + " " + string(c.Decision) + "/" + c.Label
		if len(c.Data) > 0 {
			var kv []string
			for _, k := range slices.Sorted(maps.Keys(c.Data)) {
				kv = append(kv, k+"="+c.Data[k])
			}
			s += " {" + strings.Join(kv, " ") + "}"
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return "no " + strings.Join(names, "/")
	}
	return strings.Join(out, ", ")
}

func overview(r events.Result) string {
	return "status " + string(r.Status) + "; " + decisionText(r) + "; " + legacyText(r) + "; " + reasonsText(r, "")
}

// Markers.

const (
	markUUID = "0badc0de-0000-4000-8000-00000000beef"
	markTime = "2031-02-03T04:05:06.789Z"
)

// markerFor returns the value to send for a field and the marker to find.
func markerFor(field string) (any, string) {
	leaf := field
	if i := strings.LastIndex(field, "."); i >= 0 {
		leaf = field[i+1:]
	}
	leaf = strings.TrimSuffix(leaf, "[]")
	switch {
	case leaf == "id" || strings.HasSuffix(leaf, "ScanReference") && !strings.HasPrefix(leaf, "merchant") || leaf == "scanReference" || leaf == "transactionReference" || leaf == "enrollmentTransactionReference":
		return markUUID, markUUID
	case strings.HasSuffix(leaf, "At") || strings.HasSuffix(leaf, "Date") && leaf != "issuingDate" && leaf != "searchDate" || leaf == "timestamp" || leaf == "date" || leaf == "firstAttempt":
		return markTime, "2031-02-03T04:05:06.789"
	case strings.Contains(strings.ToLower(leaf), "href") || strings.HasPrefix(leaf, "idScanImage") || leaf == "facemap" || leaf == "originalDocument" || leaf == "validFaceMapForAuthentication" || leaf == "searchResultUrl":
		return "https://retrieval.amer-1.jumio.ai/api/v1/mk" + leaf, "mk" + leaf
	case leaf == "clientIp":
		return "198.51.100.77", "198.51.100.77"
	}
	return "MK" + leaf, "MK" + leaf
}

// Probes by area.

type probeFunc func(t testing.TB, value string) string

var probes = map[string]probeFunc{
	"platform.callback":                  probePlatformCallback,
	"platform.status":                    probePlatformStatus,
	"platform.details":                   probePlatformDetails,
	"platform.credentialCategory":        probeCredentialCategory,
	"platform.classifier":                probeClassifier,
	"platform.decision":                  probePlatformDecision,
	"platform.capabilityEntry":           probeCapabilityEntry,
	"platform.capability":                probeCapabilityName,
	"platform.label":                     probeLabel,
	"platform.extraction":                probeExtraction,
	"platform.extractionType":            probeExtractionType,
	"platform.capabilityData":            probeCapabilityData,
	"platform.steps":                     probePlatformDetails,
	"platform.workflowKey":               probeWorkflowKey,
	"netverify.callback":                 probeNetverifyField,
	"netverify.idScanStatus":             probeNetverifyValue("idScanStatus", "idScanStatus"),
	"netverify.idCheck":                  probeNetverifyValue("idCheckHologram", "idCheckHologram"),
	"netverify.dlCarPermission":          probeNetverifyValue("dlCarPermission", "carPermission"),
	"netverify.idScanSource":             probeNetverifyValue("idScanSource", "captureSource"),
	"netverify.verificationStatus":       probeVerificationStatus,
	"netverify.rejectReason":             probeRejectReasonField,
	"netverify.rejectCode":               probeRejectCode,
	"netverify.similarity":               probeIdentity("similarity"),
	"netverify.validity":                 probeIdentity("validity"),
	"netverify.livenessReason":           probeIdentity("reason"),
	"netverify.identityHidden":           probeIdentityHidden,
	"netverify.auth":                     probeAuthField,
	"netverify.transactionResult":        probeAuthValue("transactionResult"),
	"netverify.scanSource":               probeAuthValue("scanSource"),
	"netverify.dv":                       probeDVField,
	"netverify.dvDocumentStatus":         probeDVValue("document.status"),
	"netverify.dvTransactionStatus":      probeDVValue("transaction.status"),
	"netverify.dvSource":                 probeDVValue("transaction.source"),
	"netverify.data":                     probeDataField,
	"netverify.transactionStatus":        probeDataValue("transaction.status"),
	"netverify.transactionSource":        probeDataValue("transaction.source"),
	"netverify.mrzCheck":                 probeDataValue("verification.mrzCheck"),
	"netverify.additionalCheck":          probeAdditionalCheck,
	"netverify.searchResults":            probeSearch("addressValidation", "searchResults"),
	"netverify.searchResponse":           probeSearchResponse,
	"netverify.faceSearchFindings":       probeFaceSearch,
	"netverify.personalNumberValidation": probePersonalNumber,
	"netverify.watchlistSearchStatus":    probeWatchlistStatus,
	"request.initiate":                   probeInitiate,
	"request.workflowId":                 probeWorkflowID,
	"request.initiateResponse":           probeInitiateResponse,
	"request.redirect":                   probeRedirect,
}

func probePlatformCallback(t testing.TB, field string) string {
	cb := loadJSON(t, "platform-passed.callback.json")
	v, marker := markerFor(field)
	switch field {
	case "workflowExecution.status":
		v, marker = "MKSTATUS", "MKSTATUS"
	case "workflowExecution.definitionKey":
		v, marker = "98765", "98765"
	case "userReference":
		v, marker = "mk-user-ref", "mk-user-ref"
	case "workflowExecution.href", "account.href":
		v, marker = "https://retrieval.emea-1.jumio.ai/api/v1/mkhref", "mkhref"
	}
	setPath(cb, field, v)
	raw, _ := json.Marshal(cb)
	c, err := wire.ParsePlatformCallback(raw)
	if err != nil {
		return "refused: " + err.Error()
	}
	ev := c.Event(wire.RegionAMER, probeReceived, raw)
	r := FromPlatform(ev, &wire.WorkflowDetails{}, nil)
	return findPaths(r, marker)
}

func probePlatformStatus(t testing.TB, status string) string {
	d := loadJSON(t, "platform-passed.input.details.json")
	setPath(d, "workflow.status", status)
	r, err := probePlatform(d, status)
	return orErr(r, err, func(r events.Result) string {
		return "status " + string(r.Status) + "; " + decisionText(r) + "; " + legacyText(r)
	})
}

func probePlatformDetails(t testing.TB, field string) string {
	d := loadJSON(t, "platform-passed.input.details.json")
	v, marker := markerFor(field)
	switch field {
	case "workflow.status":
		v, marker = "MKSTATUS", "MKSTATUS"
	case "workflow.definitionKey":
		v, marker = "98765", "98765"
	case "credentials[].consent.decisionAccepted":
		v, marker = "MKACCEPTED", "MKACCEPTED"
	case "feedback", "rules", "consent", "captureClient":
		v, marker = map[string]any{"mkfield": "MK" + field}, "MK"+field
	case "credentials[].parts[].classifier":
		v, marker = "MKCLASSIFIER", "MKCLASSIFIER"
	}
	setPath(d, field, v)
	r, err := probePlatform(d, "PROCESSED")
	return orErr(r, err, func(r events.Result) string { return findPaths(r, marker) })
}

func probeCredentialCategory(t testing.TB, category string) string {
	d := map[string]any{
		"workflow": map[string]any{"id": "9f2c1e7a-3b4d-4c5e-8f60-1a2b3c4d5e6f", "status": "PROCESSED", "definitionKey": "99999"},
		"account":  map[string]any{"id": "4a1b2c3d-5e6f-4711-8899-aabbccddeeff"},
		"decision": map[string]any{"type": "REJECTED", "details": map[string]any{"label": "REJECTED"}},
		"credentials": []any{map[string]any{"id": "11111111-aaaa-4bbb-8ccc-000000000009", "category": category,
			"parts": []any{map[string]any{"classifier": "FRONT", "href": "https://retrieval.amer-1.jumio.ai/api/v1/accounts/4a1b2c3d-5e6f-4711-8899-aabbccddeeff/credentials/11111111-aaaa-4bbb-8ccc-000000000009/parts/FRONT"}}}},
		"capabilities": map[string]any{"usability": []any{map[string]any{"id": "c1000000-0000-4000-8000-000000000009",
			"credentials": []any{map[string]any{"id": "11111111-aaaa-4bbb-8ccc-000000000009", "category": category}},
			"decision":    map[string]any{"type": "REJECTED", "details": map[string]any{"label": "BLURRED"}}}}},
	}
	r, err := probePlatform(d, "PROCESSED")
	return orErr(r, err, func(r events.Result) string {
		return findPaths(r, category) + "; usability REJECTED/BLURRED: " + legacyText(r)
	})
}

func probeClassifier(t testing.TB, classifier string) string {
	d := loadJSON(t, "platform-passed.input.details.json")
	setPath(d, "credentials[].parts[]", map[string]any{"classifier": classifier, "href": "https://retrieval.amer-1.jumio.ai/api/v1/mkpart"})
	r, err := probePlatform(d, "PROCESSED")
	return orErr(r, err, func(r events.Result) string { return findPaths(r, classifier) })
}

func probePlatformDecision(t testing.TB, value string) string {
	d := loadJSON(t, "platform-passed.input.details.json")
	status := "PROCESSED"
	switch value {
	case "risk.score":
		setPath(d, "decision.risk.score", 42.5)
		r, err := probePlatform(d, status)
		return orErr(r, err, func(r events.Result) string { return findPaths(r, "42.5") })
	case "REJECTED/100 on SESSION_EXPIRED":
		status = "SESSION_EXPIRED"
		setPath(d, "workflow.status", status)
		setPath(d, "decision", map[string]any{"type": "REJECTED", "details": map[string]any{"label": "REJECTED"}, "risk": map[string]any{"score": 100}})
	default:
		typ, label, _ := strings.Cut(value, "/")
		setPath(d, "decision", map[string]any{"type": typ, "details": map[string]any{"label": cmpOr(label, typ)}})
	}
	r, err := probePlatform(d, status)
	return orErr(r, err, func(r events.Result) string {
		s := "status " + string(r.Status) + "; " + decisionText(r)
		if r.Decision.RiskScore != nil {
			s += fmt.Sprintf(" risk %v", *r.Decision.RiskScore)
		}
		return s + "; " + legacyText(r)
	})
}

func probeCapabilityEntry(t testing.TB, field string) string {
	d := loadJSON(t, "platform-passed.input.details.json")
	caps := d["capabilities"].(map[string]any)
	entry := caps["similarity"].([]any)[0].(map[string]any)
	v, marker := markerFor(field)
	switch field {
	case "credentials[].category":
		v, marker = "MKCATEGORY", "MKCATEGORY"
	case "decision.type":
		v, marker = "MKTYPE", "MKTYPE"
	case "decision.details.label":
		v, marker = "MKLABEL", "MKLABEL"
	case "data":
		v, marker = map[string]any{"similarity": "MATCH", "mkkey": "MKDATA"}, "MKDATA"
	}
	setPath(entry, field, v)
	r, err := probePlatform(d, "PROCESSED")
	return orErr(r, err, func(r events.Result) string { return findPaths(r, marker) })
}

// categories are the credentials a capability evaluates in the probes.
func probeCredentials(capability string) []any {
	id := map[string]any{"id": "11111111-aaaa-4bbb-8ccc-000000000001", "category": "ID"}
	selfie := map[string]any{"id": "11111111-aaaa-4bbb-8ccc-000000000002", "category": "SELFIE"}
	facemap := map[string]any{"id": "11111111-aaaa-4bbb-8ccc-000000000003", "category": "FACEMAP"}
	switch capability {
	case capLiveness:
		return []any{facemap, selfie}
	case capSimilarity:
		return []any{id, selfie}
	case capAuthentication, capBiometric:
		return []any{facemap}
	}
	return []any{id}
}

func probeCapabilityName(t testing.TB, name string) string {
	d := loadJSON(t, "platform-passed.input.details.json")
	caps := d["capabilities"].(map[string]any)
	if _, ok := caps[name]; !ok {
		caps[name] = []any{map[string]any{"id": "c9000000-0000-4000-8000-000000000001", "credentials": probeCredentials(name),
			"decision": map[string]any{"type": "PASSED", "details": map[string]any{"label": "OK"}}}}
	}
	r, err := probePlatform(d, "PROCESSED")
	return orErr(r, err, func(r events.Result) string { return "capabilities " + capsText(r, name) })
}

// probeLabel maps an ID and identity verification in which every
// capability passed, but for one entry of the label's capability.
func probeLabel(t testing.TB, value string) string {
	capName, rest, _ := strings.Cut(value, " ")
	dec, label, _ := strings.Cut(rest, "/")
	if dec == "?" {
		dec = map[string]string{"LOW_RISK": "PASSED", "MEDIUM_RISK": "WARNING", "HIGH_RISK": "REJECTED"}[label]
		if dec == "" {
			dec = "NOT_EXECUTED"
		}
	}
	d := loadJSON(t, "platform-passed.input.details.json")
	caps := d["capabilities"].(map[string]any)
	entry := map[string]any{"id": "c9000000-0000-4000-8000-000000000001", "credentials": probeCredentials(capName),
		"decision": map[string]any{"type": dec, "details": map[string]any{"label": label}}}
	if capName == capSimilarity {
		entry["data"] = map[string]any{"similarity": label}
	}
	if old, _ := caps[capName].([]any); capName == capExtraction && len(old) > 0 {
		// The fixture's data: an extraction PASSED without it is partial.
		entry["data"] = old[0].(map[string]any)["data"]
	}
	caps[capName] = []any{entry}
	overall := dec
	if dec == "NOT_EXECUTED" {
		overall = "REJECTED"
	}
	if capName == capBiometric && dec == "PASSED" {
		overall = "PASSED"
	}
	setPath(d, "decision", map[string]any{"type": overall, "details": map[string]any{"label": overall}})
	r, err := probePlatform(d, "PROCESSED")
	return orErr(r, err, func(r events.Result) string {
		s := reasonsText(r, capName)
		if dec == "PASSED" {
			s = capsText(r, capName)
		}
		return s + "; " + decisionText(r) + "; " + legacyText(r)
	})
}

func extractionEntry(d map[string]any) map[string]any {
	return d["capabilities"].(map[string]any)["extraction"].([]any)[0].(map[string]any)
}

func probeExtraction(t testing.TB, field string) string {
	d := loadJSON(t, "platform-passed.input.details.json")
	data := extractionEntry(d)["data"].(map[string]any)
	var v any = "MK" + field
	marker := "MK" + field
	switch field {
	case "address":
		v, marker = map[string]any{"line1": "MKaddress"}, "MKaddress"
	case "dlCategories":
		v, marker = []any{map[string]any{"category": "MKdl", "issueDate": "2020-01-01", "expiryDate": "2030-01-01"}}, "MKdl"
	case "expiryDateParts", "dateOfBirthParts", "issuingDateParts":
		v, marker = map[string]any{"year": "1877", "month": "02", "day": "03"}, "1877"
	case "additionalLanguage":
		v, marker = map[string]any{"firstName": "MKlang"}, "MKlang"
	case "currentAge":
		v, marker = 97, "97"
	case `"N/A" value`:
		data["firstName"] = "N/A"
		r, err := probePlatform(d, "PROCESSED")
		return orErr(r, err, func(r events.Result) string {
			if r.Person != nil && r.Person.FirstName != "" {
				return "person.firstName " + r.Person.FirstName
			}
			return "absent"
		})
	}
	if sub, ok := strings.CutPrefix(field, "address."); ok {
		data["address"] = map[string]any{sub: "MK" + field}
	} else {
		data[field] = v
	}
	r, err := probePlatform(d, "PROCESSED")
	return orErr(r, err, func(r events.Result) string { return findPaths(r, marker) })
}

func probeExtractionType(t testing.TB, typ string) string {
	d := loadJSON(t, "platform-passed.input.details.json")
	extractionEntry(d)["data"].(map[string]any)["type"] = typ
	r, err := probePlatform(d, "PROCESSED")
	return orErr(r, err, func(r events.Result) string { return findPaths(r, typ) })
}

func probeCapabilityData(t testing.TB, value string) string {
	d := loadJSON(t, "platform-passed.input.details.json")
	caps := d["capabilities"].(map[string]any)
	path, val, hasVal := strings.Cut(value, "=")
	capName, rest, _ := strings.Cut(path, ".")
	entries, ok := caps[capName].([]any)
	if !ok {
		entries = []any{map[string]any{"id": "c9000000-0000-4000-8000-000000000001", "credentials": probeCredentials(capName),
			"decision": map[string]any{"type": "WARNING", "details": map[string]any{"label": "ALERT"}}}}
		caps[capName] = entries
	}
	entry := entries[0].(map[string]any)
	if hasVal {
		setPath(entry, rest, val)
		r, err := probePlatform(d, "PROCESSED")
		return orErr(r, err, func(r events.Result) string { return capsText(r, capName) + "; " + legacyText(r) })
	}
	v, marker := markerFor(rest)
	switch rest {
	case "data.faceSearchFindings.findings":
		v, marker = []any{"0badc0de-0000-4000-8000-00000000f00d"}, "0badc0de-0000-4000-8000-00000000f00d"
	case "data.predictedAge":
		v, marker = 97, "97"
	case "data.searchResults":
		v, marker = 4242, "4242"
	case "data.searchDate":
		v, marker = "MKsearchDate", "MKsearchDate"
	}
	setPath(entry, rest, v)
	r, err := probePlatform(d, "PROCESSED")
	return orErr(r, err, func(r events.Result) string { return findPaths(r, marker) })
}

func probeWorkflowKey(t testing.TB, key string) string {
	d := loadJSON(t, "platform-passed.input.details.json")
	setPath(d, "workflow.definitionKey", key)
	r, err := probePlatform(d, "PROCESSED")
	return orErr(r, err, func(r events.Result) string {
		return "source.workflowDefinitionKey " + r.Source.WorkflowDefinitionKey + "; product " + cmpOr(r.Source.Product, "none")
	})
}

// Netverify ID callbacks.

func approvedForm(t testing.TB) url.Values {
	return loadForm(t, "netverify-approved-verified.input.form")
}

func probeNetverifyField(t testing.TB, field string) string {
	f := approvedForm(t)
	name, _, _ := strings.Cut(field, " ")
	v, marker := markerFor(name)
	val := fmt.Sprint(v)
	switch {
	case name == "callBackType" || name == "callbackType":
		f.Del("callBackType")
		f.Set(name, "NETVERIFYID")
		r, err := probeNetverify(f)
		return orErr(r, err, func(r events.Result) string { return "source.kind " + string(r.Source.Kind) })
	case name == "verificationStatus":
		val, marker = "MKSTATUS", "MKSTATUS"
	case name == "idScanStatus":
		val, marker = "MKSCANSTATUS", "MKSCANSTATUS"
	case name == "identityVerification":
		val, marker = `{"similarity":"MKSIMILARITY","validity":"TRUE"}`, "MKSIMILARITY"
	case name == "rejectReason":
		f.Set("verificationStatus", "DENIED_FRAUD")
		f.Del("identityVerification")
		val, marker = `{"rejectReasonCode":"999","rejectReasonDescription":"MKREJECT"}`, "MKREJECT"
	case name == "idAddress":
		val, marker = `{"line1":"MKLINE"}`, "MKLINE"
	case strings.HasPrefix(name, "idAddress."):
		val, marker = `{"`+strings.TrimPrefix(name, "idAddress.")+`":"MKADDR"}`, "MKADDR"
		name = "idAddress"
	case name == "dlCategories":
		val, marker = `[{"category":"MKDL"}]`, "MKDL"
	case strings.HasPrefix(name, "dlCategories[]."):
		val, marker = `[{"`+strings.TrimPrefix(name, "dlCategories[].")+`":"MKDLSUB"}]`, "MKDLSUB"
		name = "dlCategories"
	case name == "livenessImages":
		val, marker = `["https://netverify.com/mkliveness"]`, "mkliveness"
	case name == "idCheckMRZCode":
		f.Del("idCheckMRZcode")
		val, marker = "MKMRZ", "MKMRZ"
	case name == "firstAttempt" || name == "firstAttemptDate":
		val, marker = markTime, "2031-02-03T04:05:06.789"
	case name == "callbackDate":
		val, marker = markTime, "2031-02-03T04:05:06.789"
	}
	f.Set(name, val)
	r, err := probeNetverify(f)
	return orErr(r, err, func(r events.Result) string { return findPaths(r, marker) })
}

// probeNetverifyValue maps a value of an ID-callback field and finds it
// below within; for idScanSource, in a NO_ID_UPLOADED callback, which
// the source tells expired token from expired session.
func probeNetverifyValue(field, within string) probeFunc {
	return func(t testing.TB, value string) string {
		f := approvedForm(t)
		if field == "idScanSource" {
			f.Set("verificationStatus", "NO_ID_UPLOADED")
			f.Del("identityVerification")
		}
		f.Set(field, value)
		r, err := probeNetverify(f)
		return orErr(r, err, func(r events.Result) string {
			s := findPathsIn(r, value, within)
			if value == "N/A" {
				s = "N/A is absent: " + findPathsIn(r, "", within)
			}
			if field == "idScanSource" {
				s += "; NO_ID_UPLOADED: status " + string(r.Status)
			}
			return s
		})
	}
}

// idForm is an ID verification callback without identity verification.
func idForm(t testing.TB, status string) url.Values {
	f := approvedForm(t)
	f.Del("identityVerification")
	f.Set("verificationStatus", status)
	return f
}

func probeVerificationStatus(t testing.TB, value string) string {
	f := idForm(t, value)
	switch value {
	case "NO_ID_UPLOADED, never started":
		f.Set("verificationStatus", "NO_ID_UPLOADED")
		f.Set("idScanSource", "WEB")
	case "unknown value":
		f.Set("verificationStatus", "APPROVED_PENDING_REVIEW")
	}
	r, err := probeNetverify(f)
	return orErr(r, err, overview)
}

func probeRejectReasonField(t testing.TB, field string) string {
	f := idForm(t, "DENIED_FRAUD")
	rr := map[string]any{"rejectReasonCode": "100", "rejectReasonDescription": "MANIPULATED_DOCUMENT"}
	marker := ""
	switch field {
	case "rejectReasonCode":
		rr["rejectReasonCode"], marker = "177", "177"
	case "rejectReasonDescription":
		rr["rejectReasonCode"], rr["rejectReasonDescription"], marker = "177", "MKDESCRIPTION", "MKDESCRIPTION"
	case "rejectReasonDetails (object)":
		rr["rejectReasonDetails"] = map[string]any{"detailsCode": "1001", "detailsDescription": "PHOTO"}
	case "rejectReasonDetails (array)":
		rr["rejectReasonDetails"] = []any{map[string]any{"detailsCode": "1004", "detailsDescription": "DOB"}, map[string]any{"detailsCode": "1001", "detailsDescription": "PHOTO"}}
	case "detailsCode":
		rr["rejectReasonDetails"], marker = map[string]any{"detailsCode": "1777"}, "1777"
	case "detailsDescription":
		rr["rejectReasonDetails"], marker = map[string]any{"detailsCode": "1777", "detailsDescription": "MKDETAIL"}, "MKDETAIL"
	}
	b, _ := json.Marshal(rr)
	f.Set("rejectReason", string(b))
	r, err := probeNetverify(f)
	return orErr(r, err, func(r events.Result) string {
		if marker != "" {
			return findPaths(r, marker)
		}
		return reasonsText(r, "")
	})
}

func probeRejectCode(t testing.TB, value string) string {
	code, detail, _ := strings.Cut(value, "/")
	status := nvDeniedFraud
	if n, _ := strconv.Atoi(code); n >= 102 && n <= 104 || n >= 200 {
		status = nvNotReadable
	}
	f := idForm(t, status)
	rr := map[string]any{"rejectReasonCode": code}
	if detail != "" {
		rr["rejectReasonDetails"] = map[string]any{"detailsCode": detail}
	}
	b, _ := json.Marshal(rr)
	f.Set("rejectReason", string(b))
	r, err := probeNetverify(f)
	return orErr(r, err, func(r events.Result) string { return reasonsText(r, "") + "; " + decisionText(r) })
}

func probeIdentity(key string) probeFunc {
	return func(t testing.TB, value string) string {
		f := approvedForm(t)
		iv := map[string]any{"similarity": "MATCH", "validity": "TRUE"}
		switch key {
		case "similarity":
			iv["similarity"] = value
		case "validity":
			switch value {
			case "true (boolean)":
				iv["validity"] = true
			case `"true" (string)`:
				iv["validity"] = "true"
			default:
				iv["validity"] = value
			}
		case "reason":
			iv["validity"], iv["reason"] = "FALSE", value
		}
		b, _ := json.Marshal(iv)
		f.Set("identityVerification", string(b))
		r, err := probeNetverify(f)
		return orErr(r, err, func(r events.Result) string {
			return capsText(r, capSimilarity, capLiveness) + "; " + decisionText(r) + "; " + legacyText(r)
		})
	}
}

func probeIdentityHidden(t testing.TB, value string) string {
	f := approvedForm(t)
	iv := map[string]any{"similarity": "MATCH", "validity": true}
	key, val, ok := strings.Cut(value, "=")
	marker := val
	if !ok {
		val, marker = "MK"+key, "MK"+key
	}
	iv[key] = val
	b, _ := json.Marshal(iv)
	f.Set("identityVerification", string(b))
	r, err := probeNetverify(f)
	return orErr(r, err, func(r events.Result) string { return findPaths(r, marker) })
}

// Netverify authentication.

func authForm(t testing.TB) url.Values { return loadForm(t, "netverify-authentication.input.form") }

func probeAuthField(t testing.TB, field string) string {
	f := authForm(t)
	v, marker := markerFor(field)
	val := fmt.Sprint(v)
	switch field {
	case "callBackType":
		r, err := probeNetverify(f)
		return orErr(r, err, func(r events.Result) string { return "source.kind " + string(r.Source.Kind) })
	case "transactionResult":
		val, marker = "MKRESULT", "MKRESULT"
	case "scanSource":
		val, marker = "MKSOURCE", "MKSOURCE"
	case "userReference":
		val, marker = "mk-user-ref", "mk-user-ref"
	case "livenessImages":
		val, marker = `["https://netverify.com/mkliveness"]`, "mkliveness"
	case "idScanImageFace":
		val, marker = "https://netverify.com/mkface", "mkface"
	}
	f.Set(field, val)
	r, err := probeNetverify(f)
	return orErr(r, err, func(r events.Result) string { return findPaths(r, marker) })
}

func probeAuthValue(field string) probeFunc {
	return func(t testing.TB, value string) string {
		f := authForm(t)
		f.Set(field, value)
		r, err := probeNetverify(f)
		return orErr(r, err, func(r events.Result) string {
			if field == "scanSource" {
				return findPaths(r, value)
			}
			return "status " + string(r.Status) + "; " + decisionText(r) + "; " + capsText(r, capAuthentication)
		})
	}
}

// Netverify document verification.

func dvForm(t testing.TB) (url.Values, map[string]any, map[string]any) {
	f := loadForm(t, "netverify-document-verification.input.form")
	var tx, d map[string]any
	_ = json.Unmarshal([]byte(f.Get("transaction")), &tx)
	_ = json.Unmarshal([]byte(f.Get("document")), &d)
	return f, tx, d
}

func encodeDV(f url.Values, tx, d map[string]any) {
	b, _ := json.Marshal(tx)
	f.Set("transaction", string(b))
	b, _ = json.Marshal(d)
	f.Set("document", string(b))
}

func probeDVField(t testing.TB, field string) string {
	f, tx, d := dvForm(t)
	v, marker := markerFor(field)
	obj, key, nested := strings.Cut(field, ".")
	switch field {
	case "transaction.status", "document.status":
		v, marker = "MKSTATUS", "MKSTATUS"
	case "transaction.source":
		v, marker = "MKSOURCE", "MKSOURCE"
	case "document.images":
		v, marker = []any{"https://netverify.com/mkpage"}, "mkpage"
	case "document.extractedData":
		v, marker = map[string]any{"mkField": "MKEXTRACTED"}, "MKEXTRACTED"
	case "transaction.customerId":
		v, marker = "mk-user-ref", "mk-user-ref"
	}
	switch {
	case !nested:
		f.Set(obj, fmt.Sprint(v))
	case obj == "transaction":
		tx[key] = v
	default:
		d[key] = v
	}
	encodeDV(f, tx, d)
	r, err := probeNetverify(f)
	return orErr(r, err, func(r events.Result) string { return findPaths(r, marker) })
}

func probeDVValue(field string) probeFunc {
	return func(t testing.TB, value string) string {
		f, tx, d := dvForm(t)
		obj, key, _ := strings.Cut(field, ".")
		if obj == "transaction" {
			tx[key] = value
		} else {
			d[key] = value
		}
		encodeDV(f, tx, d)
		r, err := probeNetverify(f)
		return orErr(r, err, func(r events.Result) string {
			if key == "source" {
				return findPaths(r, value)
			}
			return "status " + string(r.Status) + "; " + decisionText(r) + "; " + capsText(r)
		})
	}
}

// Netverify retrieval.

func probeDataField(t testing.TB, field string) string {
	d := dataDoc(t)
	v, marker := markerFor(field)
	switch field {
	case "document.status", "transaction.status":
		v, marker = "MKSTATUS", "MKSTATUS"
	case "transaction.source":
		v, marker = "MKSOURCE", "MKSOURCE"
	case "transaction.customerId":
		v, marker = "mk-user-ref", "mk-user-ref"
	case "document.address":
		v, marker = map[string]any{"line1": "MKLINE"}, "MKLINE"
	case "verification.mrzCheck":
		v, marker = "MKMRZ", "MKMRZ"
	case "verification.rejectReason":
		setPath(d, "document.status", "DENIED_FRAUD")
		v, marker = map[string]any{"rejectReasonCode": "999", "rejectReasonDescription": "MKREJECT"}, "MKREJECT"
	case "verification.identityVerification":
		v, marker = map[string]any{"similarity": "MKSIMILARITY", "validity": "TRUE"}, "MKSIMILARITY"
	case "verification.additionalChecks":
		v, marker = map[string]any{"MKcheck": map[string]any{"searchResults": "POSITIVE_RESULT"}}, "MKcheck"
	case "facemap.classifier":
		setPath(d, "facemap.href", "https://netverify.com/mkfacemap")
		v, marker = "MKCLASSIFIER", "MKCLASSIFIER"
	case "document.type=UNSUPPORTED":
		setPath(d, "document.type", "UNSUPPORTED")
		r, err := probeData(d)
		return orErr(r, err, func(r events.Result) string { return findPaths(r, "UNSUPPORTED") })
	}
	setPath(d, field, v)
	r, err := probeData(d)
	return orErr(r, err, func(r events.Result) string { return findPaths(r, marker) })
}

func probeDataValue(field string) probeFunc {
	return func(t testing.TB, value string) string {
		d := dataDoc(t)
		if field == "transaction.status" {
			// The transaction's status alone, without a document status.
			delete(d["document"].(map[string]any), "status")
			delete(d, "verification")
		}
		setPath(d, field, value)
		r, err := probeData(d)
		return orErr(r, err, func(r events.Result) string {
			switch field {
			case "transaction.source":
				return findPaths(r, value)
			case "verification.mrzCheck":
				return capsText(r, capDataChecks)
			}
			return "status " + string(r.Status) + "; " + decisionText(r) + "; " + legacyText(r)
		})
	}
}

func withChecks(t testing.TB, checks map[string]any) map[string]any {
	d := dataDoc(t)
	setPath(d, "verification.additionalChecks", checks)
	return d
}

func probeAdditionalCheck(t testing.TB, name string) string {
	check := map[string]any{"searchResults": "POSITIVE_RESULT"}
	switch name {
	case "watchlistScreening":
		check = map[string]any{"searchStatus": "DONE", "searchResults": 0}
	case "faceSearchFindings":
		check = map[string]any{"status": "DONE", "findings": []any{}}
	}
	r, err := probeData(withChecks(t, map[string]any{name: check}))
	return orErr(r, err, func(r events.Result) string {
		var names []string
		for _, c := range r.Capabilities {
			if !slices.Contains(idChain, c.Name) || len(c.Data) > 0 && name == "faceSearchFindings" {
				names = append(names, capsText(r, c.Name))
			}
		}
		names = slices.Compact(names)
		if len(names) == 0 {
			return "no capability"
		}
		return strings.Join(names, ", ")
	})
}

func probeSearch(check, key string) probeFunc {
	return func(t testing.TB, value string) string {
		r, err := probeData(withChecks(t, map[string]any{check: map[string]any{key: value}}))
		return orErr(r, err, func(r events.Result) string { return capsText(r, check) + "; " + decisionText(r) })
	}
}

func probeSearchResponse(t testing.TB, value string) string {
	r, err := probeData(withChecks(t, map[string]any{"addressValidation": map[string]any{"searchResults": "CHECK_NOT_DONE", "searchResponse": value}}))
	return orErr(r, err, func(r events.Result) string { return capsText(r, capAddress) })
}

// probeFaceSearch maps face search findings of a rejected document, whose
// imageChecks did not run.
func probeFaceSearch(t testing.TB, value string) string {
	check := map[string]any{"status": "DONE"}
	if s, ok := strings.CutPrefix(value, "status="); ok {
		check["status"] = s
	}
	switch value {
	case "findings (string)":
		check["findings"] = "0badc0de-0000-4000-8000-00000000f00d"
	case "findings (array)":
		check["findings"] = []any{"0badc0de-0000-4000-8000-00000000f00d", "0badc0de-0000-4000-8000-00000000f00e"}
	}
	d := withChecks(t, map[string]any{"faceSearchFindings": check})
	setPath(d, "document.status", "ERROR_NOT_READABLE_ID")
	setPath(d, "verification.rejectReason", map[string]any{"rejectReasonCode": "201"})
	r, err := probeData(d)
	return orErr(r, err, func(r events.Result) string { return capsText(r, capImageChecks) })
}

func probePersonalNumber(t testing.TB, value string) string {
	check := map[string]any{}
	if v, ok := strings.CutPrefix(value, "searchResults="); ok {
		check["searchResults"] = v
	} else {
		check["searchResults"], check["searchReason"] = "CHECK_NOT_DONE", "MKREASON"
	}
	r, err := probeData(withChecks(t, map[string]any{"personalNumberValidation": check}))
	return orErr(r, err, func(r events.Result) string { return capsText(r, capCPF) })
}

func probeWatchlistStatus(t testing.TB, value string) string {
	r, err := probeData(withChecks(t, map[string]any{"watchlistScreening": map[string]any{"searchStatus": value, "searchResults": 0}}))
	return orErr(r, err, func(r events.Result) string { return capsText(r, capWatchlist) })
}

// Requests.

func requestPaths(v any, marker string) string {
	b, _ := json.Marshal(v)
	var m any
	_ = json.Unmarshal(b, &m)
	seen := map[string]bool{}
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				p := k
				if path != "" {
					p = path + "." + k
				}
				walk(c, p)
			}
		case []any:
			for _, c := range v {
				walk(c, path+"[]")
			}
		case string:
			if strings.Contains(v, marker) {
				seen[path] = true
			}
		case float64:
			if strconv.FormatFloat(v, 'f', -1, 64) == marker {
				seen[path] = true
			}
		}
	}
	walk(m, "")
	if len(seen) == 0 {
		return "—"
	}
	return "→ " + strings.Join(slices.Sorted(maps.Keys(seen)), ", ")
}

func warningsText(ws []Warning) string {
	var out []string
	for _, w := range ws {
		out = append(out, w.Field+" "+string(w.Kind))
	}
	return strings.Join(out, ", ")
}

func probeInitiate(t testing.TB, field string) string {
	body := map[string]any{"customerInternalReference": "txn-1", "workflowId": 100}
	var v any = "mk" + field
	marker := "mk" + field
	switch field {
	case "successUrl", "errorUrl", "callbackUrl":
		v, marker = "https://app.example.com/mk"+field, "mk"+field
	case "workflowId":
		v, marker = 200, "3"
	case "presets":
		v, marker = []any{map[string]any{"index": 1, "country": "MKC", "type": "PASSPORT"}}, "MKC"
	case "locale":
		v, marker = "de-AT", "de-AT"
	case "tokenLifetimeInMinutes":
		v, marker = 77, "77m"
	}
	body[field] = v
	b, _ := json.Marshal(body)
	req, warns, err := FromNetverifyInitiate(b)
	if err != nil {
		return "refused: " + err.Error()
	}
	s := requestPaths(req, marker)
	for _, w := range warns {
		if w.Field == field {
			s += "; warning " + string(w.Kind)
		}
	}
	return s
}

func probeWorkflowID(t testing.TB, id string) string {
	n, _ := strconv.Atoi(id)
	b, _ := json.Marshal(map[string]any{"customerInternalReference": "txn-1", "workflowId": n})
	req, warns, err := FromNetverifyInitiate(b)
	if err != nil {
		return "refused: " + err.Error()
	}
	s := "workflowDefinition.key " + strconv.Itoa(req.WorkflowDefinition.Key)
	if w := warningsText(warns); w != "" {
		s += "; warnings " + w
	}
	return s
}

func probeInitiateResponse(t testing.TB, field string) string {
	body := map[string]any{"timestamp": "2021-05-10T08:00:00.123Z", "redirectUrl": "https://lon.netverify.com/v2?authorizationToken=x",
		"transactionReference": "5b6c7d8e-1111-4222-8333-944455556666"}
	marker := ""
	switch field {
	case "timestamp":
		body[field], marker = markTime, "2031-02-03T04:05:06.789"
	case "redirectUrl":
		body[field], marker = "https://lon.netverify.com/v2?mk=redirect", "mk=redirect"
	case "transactionReference":
		body[field], marker = markUUID, markUUID
	}
	b, _ := json.Marshal(body)
	resp, warns, err := FromNetverifyInitiateResponse(b)
	if err != nil {
		return "refused: " + err.Error()
	}
	return requestPaths(resp, marker) + "; warnings " + warningsText(warns)
}

func probeRedirect(t testing.TB, field string) string {
	q := url.Values{"transactionStatus": {"SUCCESS"}, "transactionReference": {"5b6c7d8e-1111-4222-8333-944455556666"}}
	name, value, ok := strings.Cut(field, "=")
	switch {
	case ok:
		q.Set(name, value)
	case field == "transactionReference":
		q.Set(field, markUUID)
		value = markUUID
	case field == "customerInternalReference":
		q.Set(field, "mk-txn")
		value = "mk-txn"
	case field == "errorCode":
		q.Set("transactionStatus", "ERROR")
		q.Set(field, "9820")
		value = "9820"
	}
	out, warns, err := FromNetverifyRedirect("https://app.example.com/kyc/done?" + q.Encode())
	if err != nil {
		return "refused: " + err.Error()
	}
	u, _ := url.Parse(out)
	var got []string
	for _, k := range slices.Sorted(maps.Keys(u.Query())) {
		if v := u.Query().Get(k); v == value || field == "accountId (new)" {
			got = append(got, k+"="+v)
		}
	}
	return "→ " + strings.Join(got, ", ") + "; warnings " + warningsText(warns)
}
