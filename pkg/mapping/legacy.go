package mapping

import (
	"slices"
	"strings"

	"github.com/kycflow/kycflow/pkg/events"
)

// LegacyStatus returns what a consumer written against Netverify would have
// received for r: the verificationStatus and, for DENIED_FRAUD and
// ERROR_NOT_READABLE_ID, the rejectReasonCode and detailsCode. It lets a
// downstream service built for Netverify keep working while its Jumio
// account moves to the Platform. It reads only the source, status,
// decision, unreadable fields, reasons and capabilities, so it works on
// projected results too; on a decision_only projection, which has no
// capabilities, it cannot tell an ID credential's usability from a
// selfie's: read the result's verificationStatus instead.
//
// On Netverify, verificationStatus is the verdict on the document; a
// similarity or liveness failure came as APPROVED_VERIFIED plus
// identityVerification (LegacyIdentity). So it is here: only the
// document's capabilities (usability, imageChecks, extraction and
// dataChecks on an ID credential) decide it, whichever API the result
// came from.
//
// A result with unreadable fields is never APPROVED_VERIFIED: "" instead.
// For a Netverify result it returns the verificationStatus Netverify sent
// (so) and the codes of its first reason that has one. For a Platform
// result it derives them (docs/jumio.md 6.3, 6.5, reverse direction), first rule
// that applies:
//
//   - a workflow that is not an ID verification (authentication,
//     standalone screening, document verification, liveness, …: no
//     document capability on an ID credential, or without capabilities a
//     workflow key of such a product) → "": Netverify sent none
//   - status SESSION_EXPIRED or TOKEN_EXPIRED → NO_ID_UPLOADED
//   - any status other than PROCESSED (INITIATED, ACQUIRED, one Jumio adds
//     later) → "": only documented final statuses are final
//   - every ID usability entry NOT_EXECUTED / NOT_UPLOADED → NO_ID_UPLOADED
//   - ID usability WARNING UNSUPPORTED_COUNTRY / UNSUPPORTED_DOCUMENT_TYPE →
//     DENIED_UNSUPPORTED_ID_COUNTRY / DENIED_UNSUPPORTED_ID_TYPE
//   - a document capability whose label and decision together have a
//     fraud code (100–113) → DENIED_FRAUD with that code, the first in the
//     order of the reasons
//   - one with a not-readable code (102–104, 200–300; imageChecks WARNING
//     DIFFERENT_PERSON is 211) → ERROR_NOT_READABLE_ID with that code
//   - ID usability REJECTED → ERROR_NOT_READABLE_ID without a code
//   - any other document capability REJECTED → DENIED_FRAUD without a code
//   - a document capability NOT_EXECUTED (TECHNICAL_ERROR, …): Jumio could
//     not process the document → ERROR_NOT_READABLE_ID without a code,
//     Netverify's status for an ID it could not verify (docs/jumio.md 2.2); a
//     REJECTED decision with nothing but capabilities not executed maps
//     here, not to DENIED_FRAUD
//   - a document capability WARNING without a code → "": no equivalent,
//     a manual review
//   - decision REJECTED with no capability REJECTED at all → DENIED_FRAUD
//     without a code, so that no legacy consumer reads an unexplained
//     rejection as approved
//   - decision PASSED or REJECTED (the document passed; similarity,
//     liveness and checks such as screening failed, as in Netverify's
//     identityVerification and additionalChecks) → APPROVED_VERIFIED
//   - decision WARNING explained by a capability outside the document (a
//     similarity that did not pass, a liveness WARNING or REJECTED, a
//     check such as screening WARNING or REJECTED: Netverify's
//     identityVerification and additionalChecks) → APPROVED_VERIFIED; any
//     other WARNING (one kycflow lowered a PASSED to, Jumio's over
//     capabilities that all passed) → "": a manual review, as a document
//     capability WARNING is
//   - anything else (decision NOT_EXECUTED) → "".
func LegacyStatus(r events.Result) (verificationStatus, rejectCode, detailCode string) {
	vs, code, detail := legacyStatus(r)
	if vs == nvApproved && len(r.UnreadableFields) > 0 {
		return "", "", ""
	}
	return vs, code, detail
}

func legacyStatus(r events.Result) (string, string, string) {
	if r.Source.API == events.APINetverify {
		if r.VerificationStatus == "" {
			return "", "", ""
		}
		for _, rs := range r.Reasons {
			if rs.LegacyRejectCode != "" {
				return r.VerificationStatus, rs.LegacyRejectCode, rs.LegacyDetailCode
			}
		}
		return r.VerificationStatus, "", ""
	}
	if !idVerification(r) {
		return "", "", ""
	}
	switch r.Status {
	case events.StatusSessionExpired, events.StatusTokenExpired:
		return nvNoIDUploaded, "", ""
	case events.StatusProcessed:
	default:
		return "", "", ""
	}
	doc := documentResults(r)
	if notUploaded(r, doc) {
		return nvNoIDUploaded, "", ""
	}
	for _, c := range doc {
		if c.Capability == capUsability && c.Decision == events.DecisionWarning {
			switch c.Label {
			case "UNSUPPORTED_COUNTRY":
				return nvUnsupportedCountry, "", ""
			case "UNSUPPORTED_DOCUMENT_TYPE":
				return nvUnsupportedType, "", ""
			}
		}
	}
	for _, status := range []string{nvDeniedFraud, nvNotReadable} {
		for _, c := range doc {
			if code, detail := legacyCode(c.Capability, c.Decision, c.Label); code != "" && codeStatus[code] == status {
				return status, code, detail
			}
		}
	}
	has := func(cap string, d events.DecisionType) bool {
		return slices.ContainsFunc(doc, func(c events.Reason) bool {
			return (cap == "" || c.Capability == cap) && c.Decision == d
		})
	}
	switch {
	case has(capUsability, events.DecisionRejected):
		return nvNotReadable, "", ""
	case has("", events.DecisionRejected):
		return nvDeniedFraud, "", ""
	case has("", events.DecisionNotExecuted):
		return nvNotReadable, "", ""
	case has("", events.DecisionWarning):
		return "", "", ""
	case slices.ContainsFunc(doc, func(c events.Reason) bool { return !c.Decision.Documented() }):
		// A document capability whose decision Jumio does not document:
		// nothing says the document passed.
		return "", "", ""
	}
	switch r.Decision.Type {
	case events.DecisionRejected:
		if !slices.ContainsFunc(r.Reasons, func(rs events.Reason) bool { return rs.Decision == events.DecisionRejected }) {
			return nvDeniedFraud, "", ""
		}
		return nvApproved, "", ""
	case events.DecisionPassed:
		return nvApproved, "", ""
	case events.DecisionWarning:
		if explained(r) {
			return nvApproved, "", ""
		}
		// A WARNING nothing outside the document explains: a PASSED
		// kycflow lowered (partial extraction, risk score -1, a label
		// other than PASSED), or Jumio's WARNING over capabilities that
		// all passed. Netverify approved no document it sent for review.
		return "", "", ""
	}
	return "", "", ""
}

// explained reports whether a capability outside the document explains
// a WARNING, as Netverify told it beside an approval: the face, as
// LegacyIdentity gives it (a similarity other than MATCH, validity FALSE),
// or a check such as a screening WARNING or REJECTED (additionalChecks).
func explained(r events.Result) bool {
	if iv := identityOf(r); (iv.Similarity != "" && iv.Similarity != "MATCH") || iv.Validity == "FALSE" {
		return true
	}
	// The reasons too: a projection without capabilities (decision_only)
	// has only them.
	return slices.ContainsFunc(r.Reasons, func(rs events.Reason) bool {
		if ofDocument(r, rs) || rs.Label == labelUnreadable {
			return false
		}
		return rs.Decision == events.DecisionWarning || rs.Decision == events.DecisionRejected ||
			(rs.Capability == capSimilarity && rs.Decision == events.DecisionNotExecuted)
	})
}

// nonIDKeys are the built-in workflow keys of products that are not an ID
// verification (docs/jumio.md 6.2): Netverify sent no verificationStatus for
// them.
var nonIDKeys = []string{"5", "6", "9", "16", "20", "10005", "10006", "10008", "10010", "10014", "10026"}

// documentCapability reports whether a capability result is about an ID
// document: a capability of the ID chain that evaluated an ID credential,
// or whose credentials are not known.
func documentCapability(name string, categories []string) bool {
	return slices.Contains(idChain, name) && (len(categories) == 0 || slices.Contains(categories, "ID"))
}

// idVerification reports whether r is an ID verification: it has a
// document capability; or, when it has no capabilities at all (Jumio gave
// no details), its workflow key is not a known product of another kind.
func idVerification(r events.Result) bool {
	if len(r.Capabilities) > 0 {
		return slices.ContainsFunc(r.Capabilities, func(c events.Capability) bool {
			return documentCapability(c.Name, c.CredentialCategories)
		})
	}
	if len(r.Reasons) > 0 {
		// A projection without capabilities (decision_only): the reasons
		// name capabilities but not their credentials.
		return slices.ContainsFunc(r.Reasons, func(rs events.Reason) bool { return slices.Contains(idChain, rs.Capability) }) ||
			!slices.Contains(nonIDKeys, r.Source.WorkflowDefinitionKey)
	}
	return !slices.Contains(nonIDKeys, r.Source.WorkflowDefinitionKey)
}

// documentResults are the results of r's document capabilities that did
// not pass, in the order of the reasons, with their codes.
func documentResults(r events.Result) []events.Reason {
	var out []events.Reason
	for _, rs := range r.Reasons {
		if ofDocument(r, rs) {
			out = append(out, rs)
		}
	}
	return out
}

// ofDocument reports whether reason rs of r is a result of a document
// capability: of the ID chain and, when r has its capabilities, of an
// ID credential (not, say, the usability of a SELFIE).
func ofDocument(r events.Result, rs events.Reason) bool {
	if !slices.Contains(idChain, rs.Capability) {
		return false
	}
	return len(r.Capabilities) == 0 || slices.ContainsFunc(r.Capabilities, func(c events.Capability) bool {
		return c.Name == rs.Capability && c.Decision == rs.Decision && c.Label == rs.Label && documentCapability(c.Name, c.CredentialCategories)
	})
}

// notUploaded reports whether no ID was uploaded: there are ID usability
// results and every one is NOT_EXECUTED / NOT_UPLOADED.
func notUploaded(r events.Result, doc []events.Reason) bool {
	n := 0
	for _, c := range r.Capabilities {
		if c.Name == capUsability && documentCapability(c.Name, c.CredentialCategories) {
			if c.Decision != events.DecisionNotExecuted || c.Label != labelNotUploaded {
				return false
			}
			n++
		}
	}
	for _, rs := range doc {
		if rs.Capability == capUsability {
			if rs.Decision != events.DecisionNotExecuted || rs.Label != labelNotUploaded {
				return false
			}
			n++
		}
	}
	return n > 0
}

// LegacyIdentity returns the Netverify identityVerification of r: for a
// Netverify result the one Netverify sent (r.IdentityVerification); for a
// Platform result whose LegacyStatus is APPROVED_VERIFIED (Netverify sent
// identityVerification with no other, docs/jumio.md 2.3) the one derived from
// its similarity and liveness capabilities (docs/jumio.md 6.6, reverse
// direction), the most severe entry of each deciding:
//
//   - similarity: data.similarity when Jumio gave it (NOT_MATCH, an older
//     spelling, is NO_MATCH) and it is not a MATCH of a similarity that
//     did not pass, else PASSED → MATCH, REJECTED → NO_MATCH, WARNING or
//     NOT_EXECUTED → NOT_POSSIBLE (Netverify: "not executed or bad face
//     quality");
//   - validity: liveness PASSED → TRUE; REJECTED or WARNING → FALSE, with
//     the reason of its label (ID_USED_AS_SELFIE → ENTIRE_ID_USED_AS_SELFIE,
//     DIGITAL_COPY and PHOTOCOPY → SELFIE_IS_SCREEN_PAPER_VIDEO, … ; an
//     unknown label is kept); NOT_EXECUTED → none.
//
// An entry that could not be read (label UNREADABLE) gives none. nil when
// there is neither.
func LegacyIdentity(r events.Result) *events.IdentityVerification {
	if r.Source.API == events.APINetverify {
		if r.IdentityVerification == nil {
			return nil
		}
		iv := *r.IdentityVerification
		return &iv
	}
	if vs, _, _ := LegacyStatus(r); vs != nvApproved {
		return nil
	}
	iv := identityOf(r)
	if iv == (events.IdentityVerification{}) {
		return nil
	}
	return &iv
}

// identityOf is the identityVerification LegacyIdentity derives from a
// Platform result's similarity and liveness capabilities.
func identityOf(r events.Result) events.IdentityVerification {
	var iv events.IdentityVerification
	if c, ok := mostSevere(r, capSimilarity); ok {
		switch c.Decision {
		case events.DecisionPassed:
			iv.Similarity = "MATCH"
		case events.DecisionRejected:
			iv.Similarity = "NO_MATCH"
		case events.DecisionWarning, events.DecisionNotExecuted:
			iv.Similarity = "NOT_POSSIBLE"
		}
		// data.similarity says more when it is worse than the decision;
		// it never turns a similarity that did not pass into a MATCH.
		switch sim := strings.ToUpper(c.Data["similarity"]); {
		case sim == "NOT_MATCH":
			iv.Similarity = "NO_MATCH"
		case sim != "" && (sim != "MATCH" || c.Decision == events.DecisionPassed):
			iv.Similarity = sim
		}
	}
	if c, ok := mostSevere(r, capLiveness); ok {
		switch c.Decision {
		case events.DecisionPassed:
			iv.Validity = "TRUE"
		case events.DecisionRejected, events.DecisionWarning:
			iv.Validity, iv.Reason = "FALSE", livenessReason(c.Label)
		}
	}
	return iv
}

// mostSevere returns the most severe entry of capability name (REJECTED,
// WARNING, NOT_EXECUTED, PASSED; the first of equals); ok is false when
// there is none, or when one could not be read.
func mostSevere(r events.Result, name string) (events.Capability, bool) {
	var best events.Capability
	found := false
	for _, c := range r.Capabilities {
		if c.Name != name {
			continue
		}
		if c.Label == labelUnreadable {
			return events.Capability{}, false
		}
		if !found || severity(c.Decision) < severity(best.Decision) {
			best, found = c, true
		}
	}
	return best, found
}
