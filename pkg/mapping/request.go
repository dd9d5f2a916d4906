package mapping

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// ErrInvalidRequest is returned (wrapped) by the request mappings for a
// body that is not a JSON object. The error never holds the body.
var ErrInvalidRequest = errors.New("mapping: invalid Netverify request")

// WarningKind says why a Netverify request field was not carried over as
// it was.
type WarningKind string

// Warning kinds.
const (
	// WarnUnknownField: not a field of that Netverify call; nothing was
	// carried over.
	WarnUnknownField WarningKind = "unknown_field"
	// WarnNotCarried: a Netverify feature the account request has no place
	// for; the message says what to do instead.
	WarnNotCarried WarningKind = "not_carried"
	// WarnInvalid: a value of the wrong type, or one the Platform refuses;
	// the message says whether it was carried over.
	WarnInvalid WarningKind = "invalid"
	// WarnMissing: the Platform requires a field the body did not give.
	WarnMissing WarningKind = "missing"
	// WarnChanged: carried over, with a change the caller should know of.
	WarnChanged WarningKind = "changed"
)

// Warning is one thing the request mapping could not carry over as it was.
// It names fields, never their values, so it can be logged and shown.
type Warning struct {
	// Field is the Netverify field ("presets[0].country", "frontsideImage"),
	// or the Platform field for what the body lacks
	// ("workflowDefinition.key").
	Field string `json:"field"`
	// Kind says what happened.
	Kind WarningKind `json:"kind"`
	// Message says what happened and what to do instead.
	Message string `json:"message"`
}

// String is "field: message".
func (w Warning) String() string { return w.Field + ": " + w.Message }

// requestField is one field of a Netverify request and where it goes in the
// account request. docs/mapping.md is generated from these tables.
type requestField struct {
	netverify string
	// platform is the account request field, "" when it is not carried.
	platform string
	// note says how it is carried, or what to do instead.
	note string
	// set carries the field over; nil for a field that cannot be, which
	// gives a WarnNotCarried warning with the note.
	set func(q *request, field string)
}

const (
	noteUpload   = "not carried: upload the image through the API channel — after creating the account, POST it as the multipart file of the credential part URL in the response (workflowExecution.credentials[].api.parts.front, back or face), then finalize the workflow execution"
	noteMime     = "not carried: the content type of the uploaded file part says it"
	noteCompare  = "not carried: Netverify checked it against the document; compare it with the extracted person and document of the result instead, or upload it as a DATA credential (PREPARED_DATA part) with a workflow that has one"
	noteEnabled  = "not carried: the extracted fields are set by the workflow and the Portal's data settings"
	noteGranular = "not carried: the Platform sends one callback per workflow status; there are no per-step callbacks"
	noteMRZ      = "not carried: MRZ checks are part of the dataChecks capability of every ID workflow"
	noteUSState  = "not carried: the Platform has no state preset; restrict countries and document types instead"
	noteWorkflow = "through the workflow table (built in: 100–102 → 2, 200–202 → 3; tenants set their own); the capture method of 101/102/201/202 (camera or upload only) is a Portal setting on the Platform"
	notePresets  = "one ID credential with DEFINED country and type values; several presets are merged into it"
	noteLifetime = "minutes, written with a unit (30 → \"30m\"); 5 to 86400 minutes"
	noteRequired = "required by the Platform (1–100 characters, none of <>\"/;`%{}|, no personal data)"
	noteUserRef  = "1–100 characters, no personal data"
	noteCallback = "up to 255 characters; overrides the Portal setting"
)

// Setters shared by both requests.
func setReference(q *request, k string)     { q.out.CustomerInternalReference = q.reference(k) }
func setUserReference(q *request, k string) { q.out.UserReference = q.reference(k) }
func setReporting(q *request, k string)     { q.out.ReportingCriteria = q.limit(k, q.str(k), 255) }
func setCallback(q *request, k string)      { q.out.CallbackURL = q.url(k, 255) }
func setCountry(q *request, k string)       { q.addValue(&q.id.Country, strings.ToUpper(q.str(k))) }
func setIDType(q *request, k string)        { q.addValue(&q.id.Type, strings.ToUpper(q.str(k))) }

var initiateFields = []requestField{
	{"customerInternalReference", "customerInternalReference", noteRequired, setReference},
	{"userReference", "userReference", noteUserRef, setUserReference},
	{"reportingCriteria", "reportingCriteria", "up to 255 characters", setReporting},
	{"callbackUrl", "callbackUrl", noteCallback, setCallback},
	{"successUrl", "web.successUrl", "up to 255 characters", func(q *request, k string) {
		if s := q.url(k, 255); s != "" {
			q.web().SuccessURL = s
		}
	}},
	{"errorUrl", "web.errorUrl", "up to 255 characters", func(q *request, k string) {
		if s := q.url(k, 255); s != "" {
			q.web().ErrorURL = s
		}
	}},
	{"locale", "web.locale", "up to 5 characters (en, en-GB, de, es-MX, …)", func(q *request, k string) {
		if s := q.limit(k, q.str(k), 5); s != "" {
			q.web().Locale = s
		}
	}},
	{"tokenLifetimeInMinutes", "tokenLifetime", noteLifetime, func(q *request, k string) {
		n, ok := q.number(k)
		switch {
		case !ok:
		case n < 5 || n > 86400:
			q.warn(k, WarnInvalid, "outside 5 to 86400 minutes; not carried over, the Platform default (30m) applies")
		default:
			q.out.TokenLifetime = strconv.Itoa(n) + "m"
		}
	}},
	{"workflowId", "workflowDefinition.key", noteWorkflow, func(q *request, k string) {
		if n, ok := q.number(k); ok {
			q.workflow(k, n)
		}
	}},
	{"presets", "workflowDefinition.credentials[ID].country / type", notePresets, (*request).presets},
	{"userConsent", "userConsent", "same shape", (*request).consent},
}

var performFields = []requestField{
	{"merchantIdScanReference", "customerInternalReference", noteRequired, setReference},
	{"customerId", "userReference", noteUserRef, setUserReference},
	{"merchantReportingCriteria", "reportingCriteria", "up to 255 characters", setReporting},
	{"callbackUrl", "callbackUrl", noteCallback, setCallback},
	{"country", "workflowDefinition.credentials[ID].country.values (DEFINED)", "one value", setCountry},
	{"idType", "workflowDefinition.credentials[ID].type.values (DEFINED)", "one value", setIDType},
	{"faceImage", "workflowDefinition.key", "its presence chooses the key of workflowId 200 (ID and Identity), its absence that of 100 (ID only); the image itself is not carried: " + strings.TrimPrefix(noteUpload, "not carried: "), nil},
	{"frontsideImage", "", noteUpload, nil},
	{"backsideImage", "", noteUpload, nil},
	{"frontsideImageMimeType", "", noteMime, nil},
	{"backsideImageMimeType", "", noteMime, nil},
	{"faceImageMimeType", "", noteMime, nil},
	{"userConsent", "userConsent", "same shape", (*request).consent},
	{"enabledFields", "", noteEnabled, nil},
	{"firstName", "", noteCompare, nil},
	{"lastName", "", noteCompare, nil},
	{"dob", "", noteCompare, nil},
	{"expiry", "", noteCompare, nil},
	{"number", "", noteCompare, nil},
	{"personalNumber", "", noteCompare, nil},
	{"usState", "", noteUSState, nil},
	{"callbackGranularity", "", noteGranular, nil},
	{"mrzCheck", "", noteMRZ, nil},
}

// request is a Netverify request body being mapped.
type request struct {
	t      *Tables
	fields map[string]json.RawMessage
	out    wire.AccountRequest
	id     wire.CredentialDefinition
	warns  []Warning
}

func newRequest(t *Tables, what string, body []byte) (*request, error) {
	q := &request{t: t.orDefault(), id: wire.CredentialDefinition{Category: "ID"}}
	if err := json.Unmarshal(body, &q.fields); err != nil || q.fields == nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("%w: %s body is not JSON (offset %d)", ErrInvalidRequest, what, se.Offset)
		}
		return nil, fmt.Errorf("%w: %s body is not a JSON object", ErrInvalidRequest, what)
	}
	return q, nil
}

func (q *request) warn(field string, kind WarningKind, msg string) {
	q.warns = append(q.warns, Warning{Field: field, Kind: kind, Message: msg})
}

// str reads a string field; a number is accepted, anything else is a
// warning. "" and null are absent.
func (q *request) str(field string) string {
	raw := q.fields[field]
	var s wire.String
	if err := json.Unmarshal(raw, &s); err != nil {
		q.warn(field, WarnInvalid, "not a string; not carried over")
		return ""
	}
	return strings.TrimSpace(string(s))
}

// limit warns when s is longer than the Platform allows; s is carried over
// anyway, so that Jumio's answer names the problem.
func (q *request) limit(field, s string, n int) string {
	if len([]rune(s)) > n {
		q.warn(field, WarnInvalid, fmt.Sprintf("longer than the %d characters the Platform accepts; carried over, Jumio will refuse it", n))
	}
	return s
}

func (q *request) url(field string, n int) string {
	s := q.limit(field, q.str(field), n)
	if u, err := url.Parse(s); s != "" && (err != nil || u.Scheme != "https" || u.Host == "") {
		q.warn(field, WarnInvalid, "not an absolute https URL; carried over, Jumio will refuse it")
	}
	return s
}

func (q *request) reference(field string) string {
	s := q.limit(field, q.str(field), 100)
	if strings.ContainsAny(s, "<>\"/;`%{}|") {
		q.warn(field, WarnInvalid, "holds one of <>\"/;`%{}|, which the Platform refuses; carried over, change it")
	}
	return s
}

func (q *request) web() *wire.WebSettings {
	if q.out.Web == nil {
		q.out.Web = &wire.WebSettings{}
	}
	return q.out.Web
}

// number reads an integer field sent as a number or a numeric string.
func (q *request) number(field string) (int, bool) {
	s := q.str(field)
	if s == "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		q.warn(field, WarnInvalid, "not a whole number; not carried over")
		return 0, false
	}
	return n, true
}

func (q *request) consent(field string) {
	if bytes.Equal(bytes.TrimSpace(q.fields[field]), []byte("null")) {
		return
	}
	var c wire.UserConsent
	if err := json.Unmarshal(q.fields[field], &c); err != nil {
		q.warn(field, WarnInvalid, "not a userConsent object; not carried over — biometric workflows for US users need it")
		return
	}
	q.out.UserConsent = &c
}

// workflow sets the key for a Netverify workflowId.
func (q *request) workflow(field string, id int) {
	key, ok := q.t.WorkflowKey(id)
	if !ok {
		q.warn(field, WarnInvalid, "no Platform workflow key is configured for this workflowId; set workflowDefinition.key to your workflow")
		return
	}
	q.out.WorkflowDefinition.Key = key
	for _, w := range defaultWorkflows {
		if w.id == id && w.capture != "" {
			q.warn(field, WarnChanged, "this workflowId allowed "+w.capture+"; on the Platform the capture method is a Portal setting of the workflow")
		}
	}
}

func (q *request) addValue(p **wire.Predefined, v string) {
	if v == "" {
		return
	}
	if *p == nil {
		*p = &wire.Predefined{PredefinedType: "DEFINED"}
	}
	if !slices.Contains((*p).Values, v) {
		(*p).Values = append((*p).Values, v)
	}
}

func (q *request) presets(field string) {
	var list []map[string]json.RawMessage
	if err := json.Unmarshal(q.fields[field], &list); err != nil {
		q.warn(field, WarnInvalid, "not an array of preset objects; not carried over")
		return
	}
	if len(list) > 1 {
		q.warn(field, WarnChanged, "several presets were merged into one ID credential allowing each country and type")
	}
	for i, p := range list {
		for _, k := range slices.Sorted(maps.Keys(p)) {
			name := fmt.Sprintf("%s[%d].%s", field, i, k)
			sub := &request{fields: p}
			switch k {
			case "index":
			case "country":
				q.addValue(&q.id.Country, strings.ToUpper(sub.str(k)))
			case "type":
				q.addValue(&q.id.Type, strings.ToUpper(sub.str(k)))
			default:
				q.warn(name, WarnUnknownField, "not a preset field kycflow knows; not carried over")
			}
			for _, w := range sub.warns {
				w.Field = name
				q.warns = append(q.warns, w)
			}
		}
	}
}

func (q *request) notCarried(f requestField) {
	raw := bytes.TrimSpace(q.fields[f.netverify])
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) || bytes.Equal(raw, []byte(`""`)) {
		return
	}
	q.warn(f.netverify, WarnNotCarried, strings.TrimPrefix(f.note, "not carried: "))
}

// apply carries every field of the body over with its setter; a field
// that cannot be carried, or is not one of fields, is a warning.
func (q *request) apply(fields map[string]requestField, call string) {
	for _, k := range slices.Sorted(maps.Keys(q.fields)) {
		f, ok := fields[k]
		switch {
		case !ok:
			q.warn(k, WarnUnknownField, "not a Netverify "+call+" field kycflow knows; not carried over")
		case f.set == nil:
			q.notCarried(f)
		default:
			f.set(q, k)
		}
	}
}

// finish adds the ID credential and the warnings for what the Platform
// requires and the body lacked, and returns the results.
func (q *request) finish() (wire.AccountRequest, []Warning, error) {
	if q.id.Country != nil || q.id.Type != nil {
		q.out.WorkflowDefinition.Credentials = []wire.CredentialDefinition{q.id}
	}
	if q.out.CustomerInternalReference == "" {
		q.warn("customerInternalReference", WarnMissing, "the Platform requires a customerInternalReference (1–100 characters, no personal data); set one before sending")
	}
	if q.out.WorkflowDefinition.Key == 0 && !slices.ContainsFunc(q.warns, func(w Warning) bool {
		return w.Field == "workflowId" || w.Field == "workflowDefinition.key"
	}) {
		q.warn("workflowDefinition.key", WarnMissing, "no workflowId to choose the workflow from; set workflowDefinition.key to your workflow")
	}
	if q.warns == nil {
		q.warns = []Warning{}
	}
	return q.out, q.warns, nil
}

var (
	initiateIndex = index(initiateFields, func(f requestField) string { return f.netverify })
	performIndex  = index(performFields, func(f requestField) string { return f.netverify })
)

// FromNetverifyInitiate maps a Netverify /initiate body (Netverify Web v4)
// to a Platform account request, with DefaultTables. See
// (*Tables).FromNetverifyInitiate.
func FromNetverifyInitiate(body []byte) (wire.AccountRequest, []Warning, error) {
	return DefaultTables().FromNetverifyInitiate(body)
}

// FromNetverifyInitiate maps a Netverify /initiate body (Netverify Web v4)
// to a Platform account request: successUrl, errorUrl and locale go to
// web.*, tokenLifetimeInMinutes to tokenLifetime ("30m"), workflowId to
// workflowDefinition.key through t's workflow table, presets to the ID
// credential's country and type values; the references and callbackUrl
// are kept. What cannot be carried over, unknown fields, values the
// Platform refuses and required fields the body lacks come back as
// warnings (in body field order), never as an error. The error, which
// wraps ErrInvalidRequest, is only for a body that is not a JSON object.
func (t *Tables) FromNetverifyInitiate(body []byte) (wire.AccountRequest, []Warning, error) {
	q, err := newRequest(t, "initiate", body)
	if err != nil {
		return wire.AccountRequest{}, nil, err
	}
	q.apply(initiateIndex, "initiate")
	return q.finish()
}

// FromPerformNetverify maps a Netverify /performNetverify body to a
// Platform account request, with DefaultTables. See
// (*Tables).FromPerformNetverify.
func FromPerformNetverify(body []byte) (wire.AccountRequest, []Warning, error) {
	return DefaultTables().FromPerformNetverify(body)
}

// FromPerformNetverify maps a Netverify /performNetverify body (an API
// channel ID verification with the images in the body) to a Platform
// account request: merchantIdScanReference, customerId,
// merchantReportingCriteria and callbackUrl become the references and
// callbackUrl; country and idType the ID credential's values; the presence
// of faceImage chooses the workflow of Netverify workflowId 200 (ID and
// Identity) over 100 (ID only). Images, their MIME types, enabledFields,
// the data to compare (firstName, lastName, dob, expiry, number,
// personalNumber), callbackGranularity and mrzCheck cannot be carried into
// an account request: each comes back as a warning that says what to do
// instead (images are uploaded through the API channel once the account
// exists). Unknown fields are warnings too; the error, which wraps
// ErrInvalidRequest, is only for a body that is not a JSON object.
func (t *Tables) FromPerformNetverify(body []byte) (wire.AccountRequest, []Warning, error) {
	q, err := newRequest(t, "performNetverify", body)
	if err != nil {
		return wire.AccountRequest{}, nil, err
	}
	q.apply(performIndex, "performNetverify")
	id := 100
	if s := bytes.TrimSpace(q.fields["faceImage"]); len(s) > 0 && !bytes.Equal(s, []byte("null")) && !bytes.Equal(s, []byte(`""`)) {
		id = 200
	}
	q.workflow("workflowDefinition.key", id)
	switch {
	case q.out.WorkflowDefinition.Key == 0:
	case id == 200:
		q.warn("workflowDefinition.key", WarnChanged, "chosen as the key of workflowId 200 (ID and Identity) because faceImage was sent; check it is your workflow")
	default:
		q.warn("workflowDefinition.key", WarnChanged, "chosen as the key of workflowId 100 (ID only) because no faceImage was sent; check it is your workflow")
	}
	return q.finish()
}
