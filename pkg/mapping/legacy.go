package mapping

import (
	"github.com/kycflow/kycflow/pkg/events"
)

// LegacyStatus returns what a consumer written against Netverify would have
// received for r: the verificationStatus and, for DENIED_FRAUD and
// ERROR_NOT_READABLE_ID, the rejectReasonCode and detailsCode. It lets a
// downstream service built for Netverify keep working while its Jumio
// account moves to the Platform. It reads only the status, decision,
// reasons and capabilities, so it works on projected results too.
//
// For a Netverify result it returns the verificationStatus Netverify sent
// and the codes of the first reason that has one. For a Platform result it
// derives them (docs/jumio.md 6.5, reverse direction), first rule that applies:
//
//   - status SESSION_EXPIRED or TOKEN_EXPIRED → NO_ID_UPLOADED
//   - status INITIATED or ACQUIRED → "" (still running)
//   - every usability entry NOT_EXECUTED / NOT_UPLOADED → NO_ID_UPLOADED
//   - decision PASSED → APPROVED_VERIFIED
//   - usability WARNING UNSUPPORTED_COUNTRY / UNSUPPORTED_DOCUMENT_TYPE →
//     DENIED_UNSUPPORTED_ID_COUNTRY / DENIED_UNSUPPORTED_ID_TYPE
//   - a rejected capability whose label has a fraud code (100–113) →
//     DENIED_FRAUD with that code
//   - a rejected capability whose label has a not-readable code (102–104,
//     200–300) → ERROR_NOT_READABLE_ID with that code
//   - usability REJECTED → ERROR_NOT_READABLE_ID without a code
//   - any other rejection (similarity NO_MATCH, liveness, …) or decision
//     REJECTED → DENIED_FRAUD without a code, so that no legacy consumer
//     reads a rejected result as approved
//   - anything else (decision WARNING, NOT_EXECUTED) → "": Netverify has
//     no equivalent; treat it as a manual review.
func LegacyStatus(r events.Result) (verificationStatus, rejectCode, detailCode string) {
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
	switch r.Status {
	case events.StatusSessionExpired, events.StatusTokenExpired:
		return nvNoIDUploaded, "", ""
	case events.StatusInitiated, events.StatusAcquired:
		return "", "", ""
	}
	if notUploaded(r) {
		return nvNoIDUploaded, "", ""
	}
	if r.Decision.Type == events.DecisionPassed {
		return nvApproved, "", ""
	}
	for _, rs := range r.Reasons {
		if rs.Capability == capUsability && rs.Decision == events.DecisionWarning {
			switch rs.Label {
			case "UNSUPPORTED_COUNTRY":
				return nvUnsupportedCountry, "", ""
			case "UNSUPPORTED_DOCUMENT_TYPE":
				return nvUnsupportedType, "", ""
			}
		}
	}
	for _, status := range []string{nvDeniedFraud, nvNotReadable} {
		for _, rs := range r.Reasons {
			if rs.Decision == events.DecisionRejected && rs.LegacyRejectCode != "" && codeStatus[rs.LegacyRejectCode] == status {
				return status, rs.LegacyRejectCode, rs.LegacyDetailCode
			}
		}
	}
	rejected := r.Decision.Type == events.DecisionRejected
	for _, rs := range r.Reasons {
		if rs.Decision == events.DecisionRejected && rs.Capability == capUsability {
			return nvNotReadable, "", ""
		}
		rejected = rejected || rs.Decision == events.DecisionRejected
	}
	if rejected {
		return nvDeniedFraud, "", ""
	}
	return "", "", ""
}

// notUploaded reports whether no credential was uploaded: there are
// usability results and every one is NOT_EXECUTED / NOT_UPLOADED.
func notUploaded(r events.Result) bool {
	n := 0
	for _, c := range r.Capabilities {
		if c.Name == capUsability {
			if c.Decision != events.DecisionNotExecuted || c.Label != labelNotUploaded {
				return false
			}
			n++
		}
	}
	for _, rs := range r.Reasons {
		if rs.Capability == capUsability {
			if rs.Decision != events.DecisionNotExecuted || rs.Label != labelNotUploaded {
				return false
			}
			n++
		}
	}
	return n > 0
}
