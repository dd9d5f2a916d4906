package ingest

import (
	"net/http"
)

// Reasons: the last segment of each problem type
// (httpserver.ProblemTypeBase + reason) and the reason label of
// kycflow_ingest_rejected_total. Clients and dashboards match on them:
// renaming one breaks them.
const (
	// ReasonNotFound answers an unknown path and a wrong or missing secret
	// segment alike, so that probing reveals nothing; the metric tells
	// them apart as ReasonUnknownPath and ReasonWrongPathSecret.
	ReasonNotFound        = "not-found"
	ReasonUnknownPath     = "unknown-path"
	ReasonWrongPathSecret = "wrong-path-secret"

	ReasonMethodNotAllowed     = "method-not-allowed"
	ReasonRateLimited          = "rate-limited"
	ReasonSourceNotAllowed     = "source-not-allowed"
	ReasonUnsupportedMediaType = "unsupported-media-type"
	ReasonBodyTooLarge         = "body-too-large"
	ReasonBodyUnreadable       = "body-unreadable"
	ReasonMalformedBody        = "malformed-body"
	ReasonInvalidCallback      = "invalid-callback"
	// ReasonInvalidUTF8 is a callback (body, form field or query string)
	// whose text is not valid UTF-8, raw or percent-encoded: 422, nothing
	// stored.
	ReasonInvalidUTF8 = "invalid-utf8"

	ReasonUserReferenceMissing   = "user-reference-missing"
	ReasonUserReferenceMalformed = "user-reference-malformed"
	ReasonUserReferenceInvalid   = "user-reference-invalid"
	ReasonUserReferenceExpired   = "user-reference-expired"

	// ReasonBrokerUnavailable is a 503: the callback was not stored and
	// Jumio should send it again.
	ReasonBrokerUnavailable = "broker-unavailable"
)

// rejection is a 4xx (or 503) answer: status, reason and a detail that
// names fields, never values.
type rejection struct {
	status int
	// reason is the problem type's last segment.
	reason string
	// metricReason, when set, replaces reason in the metric and the log.
	metricReason string
	title        string
	detail       string
}

func (rj *rejection) counted() string {
	if rj.metricReason != "" {
		return rj.metricReason
	}
	return rj.reason
}

func reject(status int, reason, title, detail string) *rejection {
	return &rejection{status: status, reason: reason, title: title, detail: detail}
}

var (
	errUnknownPath = &rejection{status: http.StatusNotFound, reason: ReasonNotFound, metricReason: ReasonUnknownPath, title: "Not found"}
	errWrongSecret = &rejection{status: http.StatusNotFound, reason: ReasonNotFound, metricReason: ReasonWrongPathSecret, title: "Not found"}
)
