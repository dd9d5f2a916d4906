package mapping

import (
	"cmp"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// FromNetverify maps a Netverify callback of any kind, and the callback
// event it was parsed from, to the normalized result. m may be nil (the
// result then holds the event's ids only); t may be nil for DefaultTables.
//
//   - ID verification: verificationStatus and rejectReason give the overall
//     decision and the usability, imageChecks, extraction and dataChecks
//     results (docs/jumio.md 6.3, 6.5): a capability a reject code names implies
//     that those it depends on passed; identityVerification gives
//     similarity and liveness (6.6), and a similarity or liveness that did
//     not pass lowers the decision. NO_ID_UPLOADED is an expired session.
//     An unknown verificationStatus is WARNING (DENIED_… and ERROR_…
//     REJECTED), its value kept as the label and the verificationStatus.
//   - Authentication: transactionResult gives the authentication result;
//     EXPIRED is an expired token.
//   - Document verification: the document and transaction status give
//     usability (and extraction when EXTRACTED).
//
// An identityVerification, rejectReason or document (document
// verification) that could not be read (m.Warnings) is named in
// UnreadableFields, and the result is never PASSED (see
// events.Result.UnreadableFields). The reasons carry the reject codes
// Netverify sent, in its order. Enriched is left for the caller to set.
func FromNetverify(ev events.CallbackEvent, m *wire.NetverifyMessage, t *Tables) events.Result {
	b := newBuilder(ev, events.APINetverify, t)
	switch {
	case m == nil:
		b.reference(ev, events.KindIDVerification, "")
	case m.ID != nil:
		b.netverifyID(ev, m.ID, m.Warnings)
	case m.Auth != nil:
		b.netverifyAuth(ev, m.Auth, m.Warnings)
	case m.Document != nil:
		b.netverifyDocument(ev, m.Document, m.Warnings)
	default:
		b.reference(ev, events.KindIDVerification, "")
	}
	if m != nil && slices.Contains(m.Warnings, "callBackType") {
		// The kind of callback is in doubt (wire's warnConflicts): its
		// outcome is read as the kind chosen, and is no verdict.
		b.unreadable("callBackType")
	}
	return b.finish()
}

// FromNetverifyData maps a Netverify retrieval /data response, and the
// callback event that triggered its retrieval, to the normalized result:
// the same shape as FromNetverify gives for the ID-verification callback,
// plus mrzCheck (dataChecks data) and additionalChecks (docs/jumio.md 6.7). A
// response holding only the verification object is accepted: its
// verificationStatus is then the one its reject code belongs to. d may be
// nil; t may be nil for DefaultTables.
//
// A field carrying an outcome that could not be read (d.Warnings:
// document, document.status, verification and each of its fields, an
// additional check) is named in UnreadableFields, and the result is never
// PASSED.
func FromNetverifyData(ev events.CallbackEvent, d *wire.NetverifyData, t *Tables) events.Result {
	b := newBuilder(ev, events.APINetverify, t)
	if d == nil {
		d = &wire.NetverifyData{}
	}
	r := &b.r
	v := d.Verification
	b.reference(ev, events.KindIDVerification, d.ScanReference, v.ScanReference)
	r.IDs.UserReference = word(d.Transaction.CustomerID)
	r.IDs.CustomerInternalReference = word(d.Transaction.MerchantScanReference)
	r.IDs.ReportingCriteria = word(d.Transaction.MerchantReportingCriteria)
	r.Source.CaptureSource = word(d.Transaction.Source)

	vs := word(d.Document.Status)
	if vs == "" && v.RejectReason != nil {
		vs = codeStatus[word(v.RejectReason.Code)]
	}
	r.VerificationStatus = vs
	source := strings.ToUpper(word(d.Transaction.Source))
	switch ts := strings.ToUpper(word(d.Transaction.Status)); {
	case ts == wire.ScanFailed || vs == nvNoIDUploaded:
		r.Status = expiry(source, false)
	case ts == wire.ScanPending:
		r.Status = events.StatusAcquired
	case ts == wire.ScanDone || (ts == "" && vs != ""):
		r.Status = events.StatusProcessed
	default:
		r.Status = events.Status(ts)
	}
	for _, w := range d.Warnings {
		switch field, _, _ := strings.Cut(w, "["); {
		case field == "document" || field == "document.status" || field == "verification" || field == "transaction" || field == "transaction.status":
			b.unreadable(field)
		case strings.HasPrefix(field, "verification.rejectReason"):
			b.unreadable("verification.rejectReason", rejectCapability(vs))
		case strings.HasPrefix(field, "verification.identityVerification"):
			b.unreadable("verification.identityVerification", capSimilarity, capLiveness)
		case field == "verification.mrzCheck":
			b.unreadable(field, capDataChecks)
		case field == "verification.additionalChecks":
			b.unreadable(field)
		case strings.HasPrefix(field, "verification.additionalChecks."):
			name := strings.TrimPrefix(field, "verification.additionalChecks.")
			name, _, _ = strings.Cut(name, ".")
			b.unreadable("verification.additionalChecks."+name, checkCapability(name))
		}
	}
	b.codeless("verification.rejectReason", vs, v.RejectReason)
	b.decide(vs, v.RejectReason)
	b.identity("verification.identityVerification", v.IdentityVerification)
	b.additionalChecks(v.AdditionalChecks)
	b.attach(capDataChecks, map[string]string{"mrzCheck": word(v.MRZCheck)})
	if mrz := strings.ToUpper(word(v.MRZCheck)); mrz != "" && mrz != "OK" && mrz != "NOT_AVAILABLE" {
		// OK and NOT_AVAILABLE are all Jumio documents (docs/jumio.md
		// 3.3): anything else is a check that did not say it passed.
		b.add(capDataChecks, events.DecisionWarning, mrz, map[string]string{"field": "verification.mrzCheck"})
	}
	b.lowerDecision()

	setIdentity(r, documentIdentity(d.Document))
	if ip := word(d.Transaction.ClientIP); ip != "" {
		r.Credentials = []events.Credential{{Category: "ID", ClientIP: ip}}
	}
	if d.Facemap != nil {
		b.image("FACEMAP", "", "FACEMAP", d.Facemap.Href)
		b.extraString("facemap.classifier", d.Facemap.Classifier)
	}
	for _, k := range slices.Sorted(maps.Keys(d.Extra)) {
		b.extra(k, d.Extra[k])
	}
	// When Jumio answered the retrieval: no timestamp of the result says
	// it (enriched is kycflow's own).
	if ts := cmp.Or(d.Timestamp.Time, v.Timestamp.Time); !ts.IsZero() {
		raw, _ := json.Marshal(ts.UTC().Format(time.RFC3339Nano))
		b.extra("timestamp", raw)
	}
	r.Timestamps.Created = utc(d.Transaction.Date.Time)
	return b.finish()
}

// rejectCapability is the capability an unreadable rejectReason feeds:
// the one its verificationStatus implies (docs/jumio.md 6.5).
func rejectCapability(vs string) string {
	switch vs {
	case nvDeniedFraud:
		return capImageChecks
	case nvNotReadable:
		return capUsability
	}
	return "rejectReason"
}

// checkCapability is the capability of a Netverify additional check: the
// Platform capability docs/jumio.md 6.4 names, else the check's own name.
func checkCapability(name string) string {
	for _, a := range additionalChecks {
		if a.netverify == name {
			return a.capability
		}
	}
	return name
}

// reference sets the ids and source of a Netverify result: the event's
// reference, else the first well-formed one of refs.
func (b *builder) reference(ev events.CallbackEvent, kind events.CallbackKind, refs ...string) {
	ref := firstID(append([]string{ev.WorkflowExecutionID}, refs...)...)
	b.r.IDs.WorkflowExecutionID = ref
	b.r.IDs.ScanReference = ref
	b.r.Source.Kind = kind
	b.r.Source.Product = b.t.Product(netverifyProductKey(kind))
}

// expiry is the Platform status of a Netverify transaction that ended
// without an upload: TOKEN_EXPIRED when nothing shows the user started
// (no first attempt, no capture method chosen: source WEB or REDIRECT),
// SESSION_EXPIRED otherwise (docs/jumio.md 2.2).
func expiry(source string, started bool) events.Status {
	switch source {
	case "", "WEB", "REDIRECT":
		if !started {
			return events.StatusTokenExpired
		}
	}
	return events.StatusSessionExpired
}

func (b *builder) netverifyID(ev events.CallbackEvent, cb *wire.NetverifyCallback, warnings []string) {
	r := &b.r
	b.reference(ev, events.KindIDVerification, cb.ScanReference)
	r.IDs.UserReference = word(cb.CustomerID)
	r.IDs.CustomerInternalReference = word(cb.MerchantIDScanRef)
	r.IDs.ReportingCriteria = word(cb.MerchantReporting)
	r.Source.CaptureSource = word(cb.IDScanSource)

	vs := word(cb.VerificationStatus)
	r.VerificationStatus = vs
	switch {
	case vs == nvNoIDUploaded:
		r.Status = expiry(strings.ToUpper(word(cb.IDScanSource)), !cb.FirstAttemptDate.IsZero())
	case vs != "":
		r.Status = events.StatusProcessed
	}
	for _, w := range warnings {
		switch {
		case w == "rejectReason":
			b.unreadable(w, rejectCapability(vs))
		case w == "identityVerification":
			b.unreadable(w, capSimilarity, capLiveness)
		case w == "verificationStatus":
			b.unreadable(w)
		case w == "idScanStatus":
			b.unreadable(w, capUsability)
		case strings.HasPrefix(w, "idCheck"):
			b.unreadable(w, capImageChecks)
		}
	}
	b.codeless("rejectReason", vs, cb.RejectReason)
	b.decide(vs, cb.RejectReason)
	b.identity("identityVerification", cb.IdentityVerification)
	if vs == nvApproved {
		b.approvedChecks(cb)
	}
	b.lowerDecision()

	setIdentity(r, callbackIdentity(cb))
	if ip := word(cb.ClientIP); ip != "" {
		r.Credentials = []events.Credential{{Category: "ID", ClientIP: ip}}
	}
	b.image("ID", "", "FRONT", cb.IDScanImage)
	b.image("ID", "", "BACK", cb.IDScanImageBackside)
	b.image("SELFIE", "", "FACE", cb.IDScanImageFace)
	b.image("FACEMAP", "", "FACEMAP", cb.Facemap)
	b.livenessImages(cb.LivenessImages)
	// Netverify fields without a Platform equivalent (docs/jumio.md 6.4), and
	// fields kycflow does not know.
	b.extraString("idScanStatus", cb.IDScanStatus)
	for _, k := range slices.Sorted(maps.Keys(cb.IDChecks)) {
		b.extraString(k, cb.IDChecks[k])
	}
	b.extraString("presetCountry", cb.PresetCountry)
	b.extraString("presetIdType", cb.PresetIDType)
	for _, k := range slices.Sorted(maps.Keys(cb.Extra)) {
		b.extraString(k, cb.Extra[k])
	}
	r.Timestamps.Created = utc(cb.TransactionDate.Time)
	r.Timestamps.Started = utc(cb.FirstAttemptDate.Time)
}

// codeless names a rejectReason without a code (none, "N/A", only a
// description or details) unreadable: Jumio sends one only with a
// rejection (docs/jumio.md 2.4), and what it rejects cannot be read.
func (b *builder) codeless(field, vs string, rr *wire.RejectReason) {
	if rr != nil && word(rr.Code) == "" {
		b.unreadable(field, rejectCapability(vs))
	}
}

// approvedChecks holds an APPROVED_VERIFIED callback to the scan status
// and ID checks Netverify sends with it (docs/jumio.md 2.3): idScanStatus
// SUCCESS, always sent (missing: unreadable); each idCheck… OK. N/A (or
// none) is what a check says when the ID was not approved, so with an
// approval it contradicts it, except on idCheckMRZcode, which only IDs
// with an MRZ have and masking may leave out. A contradiction is a
// WARNING usability (idScanStatus) or image check (idCheck…) labelled
// with the value, so that a person looks at it.
func (b *builder) approvedChecks(cb *wire.NetverifyCallback) {
	switch st := strings.ToUpper(word(cb.IDScanStatus)); st {
	case "SUCCESS":
	case "":
		b.unreadable("idScanStatus", capUsability)
	default:
		b.add(capUsability, events.DecisionWarning, st, map[string]string{"field": "idScanStatus"})
	}
	checks := map[string]string{}
	for k, v := range cb.IDChecks {
		checks[strings.ToLower(k)] = strings.ToUpper(word(v))
	}
	for _, name := range idChecksSent {
		if v := checks[strings.ToLower(name)]; v != "OK" {
			b.add(capImageChecks, events.DecisionWarning, cmp.Or(v, "N/A"), map[string]string{"field": name})
		}
	}
	if v := checks[strings.ToLower(idCheckMRZ)]; v != "" && v != "OK" {
		b.add(capImageChecks, events.DecisionWarning, v, map[string]string{"field": idCheckMRZ})
	}
}

// idChecksSent are the ID checks Netverify sends with every ID
// verification callback; idCheckMRZ only for an ID with an MRZ.
var idChecksSent = []string{"idCheckDataPositions", "idCheckDocumentValidation", "idCheckHologram", "idCheckMicroprint", "idCheckSecurityFeatures", "idCheckSignature"}

const idCheckMRZ = "idCheckMRZcode"

func (b *builder) livenessImages(hrefs []string) {
	for i, h := range hrefs {
		b.image("FACEMAP", "", "LIVENESS_"+strconv.Itoa(i+1), h)
	}
}

// decide sets the overall decision of an ID verification from its
// verificationStatus and adds the capabilities it and the reject reason
// give. An unknown verificationStatus is never a decision of its own: it
// is WARNING (REJECTED for DENIED_… and ERROR_…), labelled with the value.
func (b *builder) decide(vs string, rr *wire.RejectReason) {
	row, known := verificationIndex[vs]
	code := ""
	if rr != nil {
		code = word(rr.Code)
	}
	label := ""
	switch {
	case known:
		b.r.Decision.Type = row.decision
	case strings.HasPrefix(strings.ToUpper(vs), "DENIED") || strings.HasPrefix(strings.ToUpper(vs), "ERROR"):
		b.r.Decision.Type, label = events.DecisionRejected, vs
	case vs == "" && code != "":
		b.r.Decision.Type = events.DecisionRejected
	case vs != "":
		b.r.Decision.Type, label = events.DecisionWarning, vs
	}
	b.r.Decision.Label = cmp.Or(label, string(b.r.Decision.Type))

	if code != "" {
		b.rejection(vs, code, rr)
	}
	if known && (code == "" || (vs != nvDeniedFraud && vs != nvNotReadable)) {
		for _, tg := range row.targets {
			e := b.add(tg.capability, tg.decision, tg.label, nil)
			e.CredentialCategories = categoriesOf(tg.capability)
		}
	}
}

// rejection adds one capability result per reject reason detail (or one
// for the code when it has no details), in Netverify's order, with the
// Netverify codes, and marks the ID capabilities they depend on as passed.
func (b *builder) rejection(vs, code string, rr *wire.RejectReason) {
	details := rr.Details
	if len(details) == 0 {
		details = wire.RejectReasonDetailsList{{}}
	}
	first := len(idChain)
	for _, d := range details {
		detail := word(d.Code)
		row, ok := rejectIndex[codeKey{code, detail}]
		if !ok {
			row, ok = rejectIndex[codeKey{code, ""}]
		}
		tg := row.to
		if !ok {
			// An unknown code: the capability its verificationStatus
			// implies, Netverify's description (or the code) as the label.
			status := cmp.Or(codeStatus[code], vs)
			tg = target{capImageChecks, events.DecisionRejected, cmp.Or(word(rr.Description), code)}
			if status == nvNotReadable {
				tg.capability = capUsability
			}
		}
		var data map[string]string
		if _, known := rejectIndex[codeKey{code, detail}]; !known && detail != "" {
			// An unknown detail: its description is all that says what it is.
			data = map[string]string{"detailsDescription": word(d.Description)}
		}
		e := b.add(tg.capability, tg.decision, tg.label, data)
		e.code, e.detail = code, detail
		e.CredentialCategories = categoriesOf(tg.capability)
		if i := slices.Index(idChain, tg.capability); i >= 0 && i < first {
			first = i
		}
	}
	if first < len(idChain) {
		for _, c := range idChain[:first] {
			e := b.add(c, events.DecisionPassed, labelOK, nil)
			e.CredentialCategories = categoriesOf(c)
		}
	}
}

// identity adds similarity and liveness from identityVerification
// (docs/jumio.md 6.6), and sets the result's legacy IdentityVerification. An
// unknown similarity is a WARNING with the value as its label, so that a
// person looks at it; an unknown liveness reason is REJECTED (validity was
// false) with the reason as its label. A field that could not be read
// (iv.Warnings), and a similarity or validity that is missing, is
// unreadable. field is where identityVerification is in the source.
func (b *builder) identity(field string, iv *wire.IdentityVerification) {
	if iv == nil {
		return
	}
	bad := map[string]bool{}
	for _, w := range iv.Warnings {
		bad[w] = true
		switch w {
		case "similarity", "similarityScore", "similarityDecision":
			b.unreadable(field+"."+w, capSimilarity)
		case "validity", "reason":
			b.unreadable(field+"."+w, capLiveness)
		}
	}
	legacy := events.IdentityVerification{}
	if sim := word(iv.Similarity); sim != "" && !bad["similarity"] {
		data := map[string]string{"similarity": sim, "similarityScore": word(iv.SimilarityScore), "similarityDecision": word(iv.SimilarityDecision)}
		if row, ok := similarityIndex[strings.ToUpper(sim)]; ok {
			b.add(capSimilarity, row.decision, row.label, data)
		} else {
			b.add(capSimilarity, events.DecisionWarning, sim, data)
		}
		legacy.Similarity = strings.ToUpper(sim)
	}
	reason := word(iv.Reason)
	// Similarity and validity are the two outcomes identityVerification
	// carries (docs/jumio.md 2.5): one missing (absent, null, "N/A") is a
	// face check whose outcome cannot be read, not one that passed; a
	// MATCH says nothing of liveness, nor a validity TRUE of the face. A
	// reason is sent only with validity FALSE, so it reads as one.
	simRead := word(iv.Similarity) != "" || bad["similarity"]
	validRead := iv.Validity.Valid || reason != "" || bad["validity"] || bad["reason"]
	switch {
	case !simRead && !validRead:
		b.unreadable(field, capSimilarity, capLiveness)
	case !simRead:
		b.unreadable(field+".similarity", capSimilarity)
	case !validRead:
		b.unreadable(field+".validity", capLiveness)
	}
	switch {
	case bad["validity"] || bad["reason"]:
	case iv.Validity.Valid && iv.Validity.Value && reason != "":
		// Jumio gives a reason only with validity FALSE (docs/jumio.md
		// 2.5): both cannot be read as a pass.
		b.unreadable(field+".reason", capLiveness)
	case iv.Validity.Valid && iv.Validity.Value:
		b.add(capLiveness, events.DecisionPassed, labelOK, map[string]string{"validity": "true", "reason": reason})
		legacy.Validity, legacy.Reason = "TRUE", reason
	case iv.Validity.Valid || reason != "":
		data := map[string]string{"validity": "false", "reason": reason}
		if row, ok := livenessIndex[strings.ToUpper(reason)]; ok {
			b.add(capLiveness, row.decision, row.label, data)
		} else {
			b.add(capLiveness, events.DecisionRejected, reason, data)
		}
		legacy.Validity, legacy.Reason = "FALSE", strings.ToUpper(reason)
	}
	b.extraString(field+".handwrittenNoteMatches", string(iv.HandwrittenNoteMatches))
	for _, k := range slices.Sorted(maps.Keys(iv.Extra)) {
		b.extra(field+"."+k, iv.Extra[k])
	}
	if legacy != (events.IdentityVerification{}) {
		b.r.IdentityVerification = &legacy
	}
}

// searchKeys are the fields of an additional check kept as capability
// data; searchResultUrl (a link to the screening report) goes to Extra.
var searchKeys = []string{"searchResults", "searchResponse", "searchReason", "searchStatus", "searchDate", "searchId", "searchReference"}

// additionalChecks adds the capabilities of Netverify retrieval
// additionalChecks (docs/jumio.md 6.7), each by its Platform name or, unknown,
// by its own. A check whose result cannot be read is unreadable; one whose
// result kycflow does not know (an unknown searchResults word, a
// searchStatus such as PENDING, none at all) is WARNING with the value as
// its label; faceSearchFindings is imageChecks data.
func (b *builder) additionalChecks(checks map[string]json.RawMessage) {
	const at = "verification.additionalChecks."
	for _, name := range slices.Sorted(maps.Keys(checks)) {
		if word(name) == "" {
			continue
		}
		capName := checkCapability(name)
		m, ok := objectOf(checks[name])
		if !ok || wire.Ambiguous(checks[name]) {
			b.unreadable(at+name, capName)
			continue
		}
		if capName == capImageChecks {
			status, ok1 := scalar(m["status"])
			count, ok2 := countFindings(m["findings"])
			if !ok1 || !ok2 {
				b.unreadable(at+name, capImageChecks)
				continue
			}
			b.attach(capImageChecks, map[string]string{"faceSearchFindings.status": status, "faceSearchFindings.count": count})
			for _, k := range slices.Sorted(maps.Keys(m)) {
				if k != "status" {
					b.extra(at+name+"."+k, m[k])
				}
			}
			continue
		}
		data := map[string]string{}
		readable := true
		for _, k := range searchKeys {
			v, ok := scalar(m[k])
			readable = readable && ok
			if v != "" {
				data[k] = v
			}
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if !slices.Contains(searchKeys, k) {
				b.extra(at+name+"."+k, m[k])
			}
		}
		if !readable {
			b.unreadable(at+name, capName)
			continue
		}
		results := strings.ToUpper(data["searchResults"])
		if row, ok := searchIndex[results]; ok {
			label := row.label
			if label == "" {
				label = cmp.Or(data["searchResponse"], data["searchReason"], results)
			}
			b.add(capName, row.decision, label, data)
			continue
		}
		status := strings.ToUpper(data["searchStatus"])
		if status == "SUCCESS" {
			status = "DONE" // what Jumio's sample and real data show
		}
		if n, err := strconv.Atoi(data["searchResults"]); status == "DONE" && err == nil {
			status = "DONE, no results"
			if n > 0 {
				status = "DONE, results"
			}
		} else if status == "DONE" {
			status = "" // DONE with an unknown searchResults word
		}
		if row, ok := watchlistIndex[status]; ok {
			b.add(capName, row.decision, row.label, data)
			continue
		}
		b.add(capName, events.DecisionWarning, cmp.Or(data["searchResults"], data["searchStatus"]), data)
	}
}

func (b *builder) netverifyAuth(ev events.CallbackEvent, a *wire.NetverifyAuthCallback, warnings []string) {
	r := &b.r
	b.reference(ev, events.KindAuthentication, a.TransactionReference)
	r.IDs.UserReference = word(a.UserReference)
	r.Source.CaptureSource = word(a.ScanSource)
	res := strings.ToUpper(word(a.TransactionResult))
	data := map[string]string{"transactionResult": res, "enrollmentTransactionReference": firstID(a.EnrollmentTransactionReference)}
	row, ok := authIndex[res]
	switch {
	case ok:
		b.add(capAuthentication, row.decision, row.label, data)
		r.Decision.Type = row.decision
	case res != "":
		b.add(capAuthentication, events.DecisionWarning, res, data)
		r.Decision.Type = events.DecisionWarning
	}
	r.Decision.Label = string(r.Decision.Type)
	if slices.Contains(warnings, "transactionResult") {
		b.unreadable("transactionResult", capAuthentication)
	}
	switch {
	case res == "EXPIRED":
		r.Status = events.StatusTokenExpired
	case res == "INVALID":
		r.Status = events.StatusProcessed
		r.Decision.Label = row.label
	case res != "":
		r.Status = events.StatusProcessed
	}
	b.image("SELFIE", "", "FACE", a.IDScanImageFace)
	b.livenessImages(a.LivenessImages)
	for _, k := range slices.Sorted(maps.Keys(a.Extra)) {
		b.extraString(k, a.Extra[k])
	}
	r.Timestamps.Created = utc(a.TransactionDate.Time)
}

func (b *builder) netverifyDocument(ev events.CallbackEvent, dv *wire.NetverifyDocumentCallback, warnings []string) {
	r := &b.r
	b.reference(ev, events.KindDocumentVerification, dv.ScanReference)
	r.IDs.UserReference = word(dv.Transaction.CustomerID)
	r.IDs.CustomerInternalReference = word(dv.Transaction.MerchantScanReference)
	r.IDs.ReportingCriteria = word(dv.Transaction.MerchantReportingCriteria)
	r.Source.CaptureSource = word(dv.Transaction.Source)
	for _, field := range []string{"document", "transaction"} {
		if slices.Contains(warnings, field) {
			for _, e := range b.unreadable(field, capUsability) {
				e.CredentialCategories = []string{"DOCUMENT"}
			}
		}
	}
	ds := strings.ToUpper(word(dv.Document.Status))
	ts := strings.ToUpper(word(dv.Transaction.Status))
	data := map[string]string{"documentStatus": ds}
	switch {
	case ds == "" && ts == wire.ScanFailed:
		r.Status = events.StatusSessionExpired
		e := b.add(capUsability, events.DecisionNotExecuted, labelNotUploaded, nil)
		e.CredentialCategories = []string{"DOCUMENT"}
	case ts == wire.ScanPending:
		r.Status = events.StatusAcquired
	case ts == wire.ScanDone || ts == wire.ScanFailed || (ts == "" && ds != ""):
		r.Status = events.StatusProcessed
	default:
		r.Status = events.Status(ts)
	}
	if ds != "" {
		row, ok := documentIndex[ds]
		if !ok {
			row = valueRow{ds, events.DecisionWarning, ds, ""}
		}
		e := b.add(capUsability, row.decision, row.label, data)
		e.CredentialCategories = []string{"DOCUMENT"}
		if ds == "EXTRACTED" {
			e := b.add(capExtraction, events.DecisionPassed, labelOK, nil)
			e.CredentialCategories = []string{"DOCUMENT"}
		}
		r.Decision.Type = row.decision
		r.Decision.Label = string(row.decision)
		if ts == "FAILED" && row.decision == events.DecisionPassed {
			// A failed transaction is never passed, whatever its document
			// says (docs/jumio.md 2.6 does not say how the two combine).
			r.Decision.Type, r.Decision.Label = events.DecisionWarning, "FAILED"
		}
	}
	doc := events.Document{Type: word(dv.Document.Type), SubType: word(dv.Document.CustomDocumentCode), IssuingCountry: word(dv.Document.Country)}
	if !empty(doc) {
		r.Document = &doc
	}
	for i, h := range dv.Document.Images {
		b.image("DOCUMENT", "", "PAGE_"+strconv.Itoa(i+1), h)
	}
	b.image("DOCUMENT", "", "ORIGINAL", string(dv.Document.OriginalDocument))
	b.extra("document.extractedData", dv.Document.ExtractedData)
	for _, k := range slices.Sorted(maps.Keys(dv.Extra)) {
		if strings.HasPrefix(k, "transaction.") || strings.HasPrefix(k, "document.") {
			b.extra(k, json.RawMessage(dv.Extra[k]))
		} else {
			b.extraString(k, dv.Extra[k])
		}
	}
	r.Timestamps.Created = utc(dv.Transaction.Date.Time)
}
