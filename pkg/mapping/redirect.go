package mapping

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// The Netverify /initiate response and the query parameters Netverify
// appended to the success and error URLs, and where the Platform puts each
// (docs/jumio.md 6.1, 7). A team moving off Netverify ports its code that
// reads the response, and its success and error URL handlers, with these.

// responseField is one field of a Netverify /initiate response.
type responseField struct {
	netverify, platform, note string
}

var initiateResponseFields = []responseField{
	{"timestamp", "timestamp", "same meaning"},
	{"redirectUrl", "web.href", "the URL to send the end user to; web.successUrl and web.errorUrl echo the request's"},
	{"transactionReference", "workflowExecution.id", "the transaction's id: Jumio keeps a migrated scan reference as the workflow execution id"},
}

// responseAdded are the Platform response fields Netverify had no
// equivalent of.
var responseAdded = []responseField{
	{"", "account.id", "new: keep it with the workflow execution id, retrieval and deletion need both"},
	{"", "sdk.token", "new: for the mobile SDKs"},
	{"", "workflowExecution.credentials", "new: the credentials to acquire, with their API channel upload URLs"},
}

// redirectParam is one query parameter of a success or error redirect.
type redirectParam struct {
	netverify, platform, note string
}

var redirectParams = []redirectParam{
	{"transactionReference", "workflowExecutionId", "the transaction's id (docs/jumio.md 6.1)"},
	{"transactionStatus", "acquisitionStatus", "SUCCESS or ERROR, same values"},
	{"customerInternalReference", "customerInternalReference", "kept"},
	{"errorCode", "errorCode", "kept; the Platform documents 9100, 9200, 9210, 9300, 9400, 9800, 9801, 9810, 9820, 9821, 9822, 9835, 9836"},
	{"", "accountId", "new: the Platform adds the account id; read it with workflowExecutionId"},
}

// platformErrorCodes are the errorCode values the Platform documents for
// its redirects (docs/jumio.md 7).
var platformErrorCodes = []string{"9100", "9200", "9210", "9300", "9400", "9800", "9801", "9810", "9820", "9821", "9822", "9835", "9836"}

// FromNetverifyInitiateResponse maps a Netverify /initiate response
// ({timestamp, redirectUrl, transactionReference}) to the Platform account
// response that replaces it: redirectUrl is web.href, transactionReference
// workflowExecution.id (docs/jumio.md 6.1). The Platform response holds
// more (account.id, which retrieval needs; sdk.token; the credentials):
// one warning says so, and one per field that cannot be carried. The
// error, which wraps ErrInvalidRequest, is only for a body that is not a
// JSON object.
func FromNetverifyInitiateResponse(body []byte) (wire.AccountResponse, []Warning, error) {
	var out wire.AccountResponse
	q, err := newRequest(nil, "initiate response", body)
	if err != nil {
		return out, nil, err
	}
	for _, k := range slices.Sorted(maps.Keys(q.fields)) {
		switch k {
		case "timestamp":
			if s := q.str(k); s != "" {
				t, err := wire.ParseTime(s)
				if err != nil {
					q.warn(k, WarnInvalid, "not a timestamp; not carried over")
					continue
				}
				out.Timestamp = wire.Time{Time: t.UTC().Truncate(time.Millisecond)}
			}
		case "redirectUrl":
			if s := q.str(k); s != "" {
				out.Web = &struct {
					Href       string `json:"href,omitempty"`
					SuccessURL string `json:"successUrl,omitempty"`
					ErrorURL   string `json:"errorUrl,omitempty"`
				}{Href: s}
			}
		case "transactionReference":
			out.WorkflowExecution.ID = q.str(k)
		default:
			q.warn(k, WarnUnknownField, "not a Netverify initiate response field kycflow knows; not carried over")
		}
	}
	q.warn("account.id", WarnMissing, "the Platform response adds account.id: store it with workflowExecution.id, retrieval and deletion need both")
	return out, q.warns, nil
}

// FromNetverifyRedirect maps the URL Netverify redirected the end user to
// (a success or error URL with its query parameters) to the one the
// Platform redirects to: the same URL with transactionReference renamed
// workflowExecutionId and transactionStatus acquisitionStatus;
// customerInternalReference and errorCode are kept (docs/jumio.md 6.1, 7).
// The Platform adds accountId, which Netverify had no equivalent of: one
// warning says so, and one per parameter that is unknown or has a value
// the Platform does not document. Parameters keep their order. raw may be
// a whole URL or its query string alone. The error, which wraps
// ErrInvalidRequest, is for text that is not a URL.
func FromNetverifyRedirect(raw string) (string, []Warning, error) {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil {
		return "", nil, fmt.Errorf("%w: redirect is not a URL", ErrInvalidRequest)
	}
	query := u.RawQuery
	bare := u.Scheme == "" && u.Host == "" && !strings.Contains(raw, "?")
	if bare {
		query = strings.TrimPrefix(raw, "?")
	}
	var warns []Warning
	warn := func(field string, kind WarningKind, msg string) {
		warns = append(warns, Warning{Field: field, Kind: kind, Message: msg})
	}
	var parts []string
	for _, kv := range strings.Split(query, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			return "", nil, fmt.Errorf("%w: redirect query is not URL-encoded", ErrInvalidRequest)
		}
		value, err := url.QueryUnescape(v)
		if err != nil {
			return "", nil, fmt.Errorf("%w: redirect query is not URL-encoded", ErrInvalidRequest)
		}
		i := slices.IndexFunc(redirectParams, func(p redirectParam) bool { return p.netverify != "" && p.netverify == name })
		switch {
		case i < 0:
			warn(name, WarnUnknownField, "not a Netverify redirect parameter kycflow knows; kept as it was, check your handler reads it from the Platform")
		case name == "transactionStatus" && value != "SUCCESS" && value != "ERROR":
			warn(name, WarnInvalid, "not SUCCESS or ERROR, the values of acquisitionStatus; carried over")
		case name == "errorCode" && !slices.Contains(platformErrorCodes, value):
			warn(name, WarnChanged, "not an errorCode the Platform documents; carried over, map it to one of "+strings.Join(platformErrorCodes, ", "))
		}
		if i >= 0 {
			name = redirectParams[i].platform
		}
		parts = append(parts, url.QueryEscape(name)+"="+url.QueryEscape(value))
	}
	warn("accountId", WarnMissing, "the Platform adds accountId to the redirect: read it with workflowExecutionId, retrieval needs both")
	if bare {
		return strings.Join(parts, "&"), warns, nil
	}
	u.RawQuery = strings.Join(parts, "&")
	return u.String(), warns, nil
}
