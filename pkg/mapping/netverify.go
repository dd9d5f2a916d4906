package mapping

import (
	"cmp"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// FromNetverify maps a Netverify callback of any kind, and the callback
// event it was parsed from, to the normalized result. m may be nil (the
// result then holds the event's ids only); t may be nil for DefaultTables.
//
//   - ID verification: verificationStatus and rejectReason give the overall
//     decision and the usability, imageChecks, extraction and dataChecks
//     results (docs/jumio.md 6.3, 6.5): a rejected capability implies that those
//     it depends on passed; identityVerification gives similarity and
//     liveness (6.6), and a similarity or liveness that did not pass lowers
//     the decision. NO_ID_UPLOADED is an expired session.
//   - Authentication: transactionResult gives the authentication result;
//     EXPIRED is an expired token.
//   - Document verification: the document and transaction status give
//     usability (and extraction when EXTRACTED).
//
// The reasons carry the reject codes Netverify sent. Enriched is left for
// the caller to set.
func FromNetverify(ev events.CallbackEvent, m *wire.NetverifyMessage, t *Tables) events.Result {
	b := newBuilder(ev, events.APINetverify, t)
	switch {
	case m == nil:
		b.reference(ev, events.KindIDVerification, "")
	case m.ID != nil:
		b.netverifyID(ev, m.ID)
	case m.Auth != nil:
		b.netverifyAuth(ev, m.Auth)
	case m.Document != nil:
		b.netverifyDocument(ev, m.Document)
	default:
		b.reference(ev, events.KindIDVerification, "")
	}
	return b.finish()
}

// FromNetverifyData maps a Netverify retrieval /data response, and the
// callback event that triggered its retrieval, to the normalized result:
// the same shape as FromNetverify gives for the ID-verification callback,
// plus mrzCheck (dataChecks data) and additionalChecks (docs/jumio.md 6.7). A
// response holding only the verification object (/data/verification) is
// accepted: its verificationStatus is then the one its reject code belongs
// to. d may be nil; t may be nil for DefaultTables.
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

	vs := word(d.Document.Status)
	if vs == "" && v.RejectReason != nil {
		vs = codeStatus[word(v.RejectReason.Code)]
	}
	r.VerificationStatus = vs
	source := strings.ToUpper(word(d.Transaction.Source))
	switch ts := strings.ToUpper(word(d.Transaction.Status)); {
	case ts == "FAILED" || vs == nvNoIDUploaded:
		r.Status = expiry(source, false)
	case ts == "PENDING":
		r.Status = events.StatusAcquired
	case ts == "DONE" || (ts == "" && vs != ""):
		r.Status = events.StatusProcessed
	default:
		r.Status = events.Status(ts)
	}
	b.decide(vs, v.RejectReason)
	b.identity(v.IdentityVerification)
	b.additionalChecks(v.AdditionalChecks)
	b.setData(capDataChecks, "mrzCheck", word(v.MRZCheck))
	b.lowerDecision()

	setIdentity(r, d.Document)
	if d.Facemap != nil {
		b.image("FACEMAP", "", "FACEMAP", d.Facemap.Href)
	}
	r.Timestamps.Created = utc(d.Transaction.Date.Time)
	return b.finish()
}

// setIdentity fills Document and Person from a Netverify document object
// (the ID callback and Platform extraction data have the same fields under
// other names); each is absent when it would be empty.
func setIdentity(r *events.Result, doc wire.NetverifyDataDocument) {
	r.Document = nonEmptyDocument(events.Document{
		Type: word(doc.Type), SubType: word(doc.IDSubtype), IssuingCountry: word(doc.IssuingCountry),
		Number: word(doc.Number), ExpiryDate: word(doc.Expiry), IssuingDate: word(doc.IssuingDate), State: word(doc.USState),
	})
	r.Person = nonEmptyPerson(events.Person{
		FirstName: word(doc.FirstName), LastName: word(doc.LastName), DateOfBirth: word(doc.Dob),
		Gender: word(doc.Gender), Nationality: word(doc.Nationality), Address: address(doc.Address),
	})
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

func (b *builder) netverifyID(ev events.CallbackEvent, cb *wire.NetverifyCallback) {
	r := &b.r
	b.reference(ev, events.KindIDVerification, cb.ScanReference)
	r.IDs.UserReference = word(cb.CustomerID)
	r.IDs.CustomerInternalReference = word(cb.MerchantIDScanRef)

	vs := word(cb.VerificationStatus)
	r.VerificationStatus = vs
	switch {
	case vs == nvNoIDUploaded:
		r.Status = expiry(strings.ToUpper(word(cb.IDScanSource)), !cb.FirstAttemptDate.IsZero())
	case vs != "":
		r.Status = events.StatusProcessed
	}
	b.decide(vs, cb.RejectReason)
	b.identity(cb.IdentityVerification)
	b.lowerDecision()

	// The callback's fields are those of the retrieval document object.
	setIdentity(r, wire.NetverifyDataDocument{
		Type: wire.String(cb.IDType), IDSubtype: wire.String(cb.IDSubtype), IssuingCountry: wire.String(cb.IDCountry),
		Number: wire.String(cb.IDNumber), Expiry: wire.String(cb.IDExpiry), IssuingDate: wire.String(cb.IssuingDate),
		USState: wire.String(cb.IDUSState), FirstName: wire.String(cb.IDFirstName), LastName: wire.String(cb.IDLastName),
		Dob: wire.String(cb.IDDob), Gender: wire.String(cb.Gender), Nationality: wire.String(cb.Nationality), Address: cb.Address,
	})
	b.image("ID", "", "FRONT", cb.IDScanImage)
	b.image("ID", "", "BACK", cb.IDScanImageBackside)
	b.image("SELFIE", "", "FACE", cb.IDScanImageFace)
	b.livenessImages(cb.LivenessImages)
	r.Timestamps.Created = utc(cb.TransactionDate.Time)
	r.Timestamps.Started = utc(cb.FirstAttemptDate.Time)
}

func (b *builder) livenessImages(hrefs []string) {
	for i, h := range hrefs {
		b.image("FACEMAP", "", "LIVENESS_"+strconv.Itoa(i+1), h)
	}
}

// decide sets the overall decision of an ID verification from its
// verificationStatus and adds the capabilities it and the reject reason
// give.
func (b *builder) decide(vs string, rr *wire.RejectReason) {
	row, known := verificationIndex[vs]
	code := ""
	if rr != nil {
		code = word(rr.Code)
	}
	switch {
	case known:
		b.r.Decision.Type = row.decision
	case strings.HasPrefix(vs, "APPROVED"):
		b.r.Decision.Type = events.DecisionPassed
	case strings.HasPrefix(vs, "DENIED") || strings.HasPrefix(vs, "ERROR"):
		b.r.Decision.Type = events.DecisionRejected
	case vs == "" && code != "":
		b.r.Decision.Type = events.DecisionRejected
	default:
		b.r.Decision.Type = events.DecisionType(vs)
	}
	b.r.Decision.Label = string(b.r.Decision.Type)

	if code != "" {
		b.rejection(vs, code, rr)
	}
	if known && (code == "" || (vs != nvDeniedFraud && vs != nvNotReadable)) {
		for _, tg := range row.targets {
			b.add(tg.capability, tg.decision, tg.label, nil)
		}
	}
}

// rejection adds one rejected capability per reject reason detail (or one
// for the code when it has no details), with the Netverify codes, and marks
// the ID capabilities they depend on as passed.
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
		e := b.add(tg.capability, tg.decision, tg.label, nil)
		e.code, e.detail = code, detail
		if i := slices.Index(idChain, tg.capability); i >= 0 && i < first {
			first = i
		}
	}
	if first < len(idChain) {
		for _, c := range idChain[:first] {
			b.add(c, events.DecisionPassed, labelOK, nil)
		}
	}
}

// identity adds similarity and liveness from identityVerification
// (docs/jumio.md 6.6). An unknown similarity is a WARNING with the value as its
// label, so that a person looks at it; an unknown liveness reason is
// REJECTED (validity was false) with the reason as its label.
func (b *builder) identity(iv *wire.IdentityVerification) {
	if iv == nil {
		return
	}
	if sim := word(iv.Similarity); sim != "" {
		data := map[string]string{"similarity": sim}
		if row, ok := similarityIndex[strings.ToUpper(sim)]; ok {
			b.add(capSimilarity, row.decision, row.label, data)
		} else {
			b.add(capSimilarity, events.DecisionWarning, sim, data)
		}
	}
	reason := word(iv.Reason)
	switch {
	case iv.Validity.Valid && iv.Validity.Value:
		b.add(capLiveness, events.DecisionPassed, labelOK, map[string]string{"validity": "true", "reason": reason})
	case iv.Validity.Valid || reason != "":
		data := map[string]string{"validity": "false", "reason": reason}
		if row, ok := livenessIndex[strings.ToUpper(reason)]; ok {
			b.add(capLiveness, row.decision, row.label, data)
		} else {
			b.add(capLiveness, events.DecisionRejected, reason, data)
		}
	}
}

// searchKeys are the fields of an additional check kept as capability
// data; searchResultUrl (a link to the screening report) is left out.
var searchKeys = []string{"searchResults", "searchResponse", "searchReason", "searchStatus", "searchDate", "searchId", "searchReference"}

// additionalChecks adds the capabilities of Netverify retrieval
// additionalChecks (docs/jumio.md 6.7). A check whose result cannot be read is
// left out (it stays in the raw document).
func (b *builder) additionalChecks(checks map[string]json.RawMessage) {
	for _, name := range slices.Sorted(maps.Keys(checks)) {
		m := object(checks[name])
		if m == nil || word(name) == "" {
			continue
		}
		capName := word(name)
		for _, a := range additionalChecks {
			if a.netverify == name {
				capName = a.capability
			}
		}
		if capName == capImageChecks {
			b.setData(capImageChecks, "faceSearchFindings.status", str(m["status"]))
			b.setData(capImageChecks, "faceSearchFindings.count", countFindings(m["findings"]))
			continue
		}
		data := map[string]string{}
		for _, k := range searchKeys {
			if v := str(m[k]); v != "" {
				data[k] = v
			}
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
		if status == "DONE" {
			n, err := strconv.Atoi(data["searchResults"])
			switch {
			case err != nil && data["searchResults"] != "":
				b.add(capName, events.DecisionWarning, data["searchResults"], data)
				continue
			case n > 0:
				status = "DONE, results"
			default:
				status = "DONE, no results"
			}
		}
		if row, ok := watchlistIndex[status]; ok {
			b.add(capName, row.decision, row.label, data)
		}
	}
}

func (b *builder) netverifyAuth(ev events.CallbackEvent, a *wire.NetverifyAuthCallback) {
	r := &b.r
	b.reference(ev, events.KindAuthentication, a.TransactionReference)
	r.IDs.UserReference = word(a.UserReference)
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
	r.Timestamps.Created = utc(a.TransactionDate.Time)
}

func (b *builder) netverifyDocument(ev events.CallbackEvent, dv *wire.NetverifyDocumentCallback) {
	r := &b.r
	b.reference(ev, events.KindDocumentVerification, dv.ScanReference)
	r.IDs.UserReference = word(dv.Transaction.CustomerID)
	r.IDs.CustomerInternalReference = word(dv.Transaction.MerchantScanReference)
	ds := strings.ToUpper(word(dv.Document.Status))
	ts := strings.ToUpper(word(dv.Transaction.Status))
	data := map[string]string{"documentStatus": ds}
	switch {
	case ds == "" && ts == "FAILED":
		r.Status = events.StatusSessionExpired
		b.add(capUsability, events.DecisionNotExecuted, labelNotUploaded, nil)
	case ts == "PENDING":
		r.Status = events.StatusAcquired
	case ts == "DONE" || ts == "FAILED" || (ts == "" && ds != ""):
		r.Status = events.StatusProcessed
	default:
		r.Status = events.Status(ts)
	}
	if ds != "" {
		row, ok := documentIndex[ds]
		if !ok {
			row = valueRow{ds, events.DecisionWarning, ds, ""}
		}
		b.add(capUsability, row.decision, row.label, data)
		if ds == "EXTRACTED" {
			b.add(capExtraction, events.DecisionPassed, labelOK, nil)
		}
		r.Decision.Type = row.decision
		r.Decision.Label = string(row.decision)
	}
	r.Document = nonEmptyDocument(events.Document{
		Type: word(dv.Document.Type), SubType: word(dv.Document.CustomDocumentCode), IssuingCountry: word(dv.Document.Country),
	})
	for i, h := range dv.Document.Images {
		b.image("DOCUMENT", "", "PAGE_"+strconv.Itoa(i+1), h)
	}
	b.image("DOCUMENT", "", "ORIGINAL", string(dv.Document.OriginalDocument))
	r.Timestamps.Created = utc(dv.Transaction.Date.Time)
}
