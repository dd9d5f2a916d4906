package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/kycflow/kycflow/pkg/events"
)

// ErrInvalidCallback is matched (errors.Is) by every *CallbackError.
var ErrInvalidCallback = errors.New("jumio: invalid callback")

// CallbackError says which field of a callback is missing or malformed. It
// never holds the field's value, which may be personal data.
type CallbackError struct {
	// Field is the field's name as Jumio spells it
	// ("workflowExecution.id", "jumioIdScanReference", …), or "body".
	Field string
	// Reason is "missing", "malformed" or "not valid UTF-8".
	Reason string
}

func (e *CallbackError) Error() string {
	return "jumio: callback field " + e.Field + " " + e.Reason
}

// Is makes errors.Is(err, ErrInvalidCallback) true, and
// errors.Is(err, ErrInvalidUTF8) for text that is not valid UTF-8.
func (e *CallbackError) Is(target error) bool {
	return target == ErrInvalidCallback || target == ErrInvalidUTF8 && e.Reason == reasonUTF8
}

func missing(field string) error   { return &CallbackError{Field: field, Reason: "missing"} }
func malformed(field string) error { return &CallbackError{Field: field, Reason: "malformed"} }

// ValidID reports whether s is a well-formed Jumio id (a UUID): hex digits
// of either case in groups of 8-4-4-4-12 joined by '-'.
func ValidID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			if !isHex(s[i]) {
				return false
			}
		}
	}
	return true
}

// validStatus reports whether s is a status word: 1 to 64 ASCII letters,
// digits and underscores.
func validStatus(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// ParsePlatformCallback decodes a Jumio Platform callback body. Unknown
// fields are ignored and unknown status values accepted; the workflow
// execution id and account id must be UUIDs, the status a word, and
// callbackSentAt, when present, a timestamp. A body that is not valid
// UTF-8 text is refused whole (ErrInvalidUTF8). Errors are
// *CallbackError.
func ParsePlatformCallback(body []byte) (*Callback, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, malformed("body")
	}
	if !validJSONText(body) {
		return nil, invalidUTF8("body")
	}
	var cb Callback
	ok, err := decodeCallback(body, &cb)
	if !ok {
		if nestingDepth(body) > maxCallbackDepth {
			return nil, malformed("body")
		}
		// Unmarshal rejects trailing data after the object, as it should.
		cb = Callback{}
		err = json.Unmarshal(body, &cb)
	}
	if err != nil {
		if errors.Is(err, ErrBadTime) {
			return nil, malformed("callbackSentAt")
		}
		return nil, malformed("body")
	}
	switch {
	case cb.WorkflowExecution.ID == "":
		return nil, missing("workflowExecution.id")
	case !ValidID(cb.WorkflowExecution.ID):
		return nil, malformed("workflowExecution.id")
	case cb.Account.ID == "":
		return nil, missing("account.id")
	case !ValidID(cb.Account.ID):
		return nil, malformed("account.id")
	case cb.WorkflowExecution.Status == "":
		return nil, missing("workflowExecution.status")
	case !validStatus(cb.WorkflowExecution.Status):
		return nil, malformed("workflowExecution.status")
	}
	// One execution, one spelling: Jumio's ids are UUIDs, which name the
	// same execution in either case. Kept as sent, a copy in upper case
	// would be a callback of another execution (another subject, event
	// id and delivery record): enriched and delivered once more.
	cb.Account.ID, cb.WorkflowExecution.ID = strings.ToLower(cb.Account.ID), strings.ToLower(cb.WorkflowExecution.ID)
	return &cb, nil
}

// EventID is the callback's deterministic event id.
func (cb *Callback) EventID() string {
	return events.PlatformEventID(cb.Account.ID, cb.WorkflowExecution.ID, cb.WorkflowExecution.Status, cb.CallbackSentAt.Time)
}

// Region returns the region named by the callback's hrefs, if any. The
// hrefs are only parsed, never followed.
func (cb *Callback) Region() (Region, bool) {
	for _, h := range []string{cb.WorkflowExecution.Href, cb.Account.Href} {
		if r, ok := RegionFromHref(h); ok {
			return r, true
		}
	}
	return "", false
}

// LogValue logs ids and status only.
func (cb *Callback) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("account_id", cb.Account.ID),
		slog.String("workflow_execution_id", cb.WorkflowExecution.ID),
		slog.String("status", cb.WorkflowExecution.Status),
	)
}

// Event returns the callback event ingest stores, with the raw body.
func (cb *Callback) Event(region Region, receivedAt time.Time, raw []byte) events.CallbackEvent {
	e := events.CallbackEvent{
		SchemaVersion:         1,
		EventID:               cb.EventID(),
		API:                   events.APIPlatform,
		Kind:                  events.KindWorkflow,
		Region:                string(region),
		AccountID:             cb.Account.ID,
		WorkflowExecutionID:   cb.WorkflowExecution.ID,
		WorkflowDefinitionKey: string(cb.WorkflowExecution.DefinitionKey),
		Status:                cb.WorkflowExecution.Status,
		ReceivedAt:            receivedAt.UTC(),
		JSON:                  json.RawMessage(bytes.TrimSpace(raw)),
	}
	if !cb.CallbackSentAt.IsZero() {
		t := cb.CallbackSentAt.UTC()
		e.CallbackSentAt = &t
	}
	return e
}

// NetverifyMessage is a parsed Netverify callback of one of three kinds;
// exactly one of ID, Auth and Document is set.
type NetverifyMessage struct {
	Kind     events.CallbackKind
	ID       *NetverifyCallback
	Auth     *NetverifyAuthCallback
	Document *NetverifyDocumentCallback
	// Warnings name optional fields that could not be decoded and were
	// left out (names only, never values).
	Warnings []string

	// eventID is the id of the whole callback, set by the parse
	// functions (events.NetverifyEventID).
	eventID string
}

// Reference is the scan (or transaction) reference.
func (m *NetverifyMessage) Reference() string {
	switch {
	case m.ID != nil:
		return m.ID.ScanReference
	case m.Auth != nil:
		return m.Auth.TransactionReference
	case m.Document != nil:
		return m.Document.ScanReference
	}
	return ""
}

// Status is the verificationStatus, the authentication transactionResult,
// or the document verification document status (transaction status when
// the document has none).
func (m *NetverifyMessage) Status() string {
	switch {
	case m.ID != nil:
		return m.ID.VerificationStatus
	case m.Auth != nil:
		return m.Auth.TransactionResult
	case m.Document != nil:
		if s := string(m.Document.Document.Status); s != "" {
			return s
		}
		return string(m.Document.Transaction.Status)
	}
	return ""
}

// CallbackDate is the callbackDate (timestamp for document verification).
func (m *NetverifyMessage) CallbackDate() time.Time {
	switch {
	case m.ID != nil:
		return m.ID.CallbackDate.Time
	case m.Auth != nil:
		return m.Auth.CallbackDate.Time
	case m.Document != nil:
		return m.Document.Timestamp.Time
	}
	return time.Time{}
}

// EventID is the callback's deterministic event id: a hash of every field
// of the callback as it was parsed (events.NetverifyEventID), so that a
// copy that differs in any field has another id. It is "" for a message
// that no parse function made.
func (m *NetverifyMessage) EventID() string { return m.eventID }

// LogValue logs the kind, reference and status only.
func (m NetverifyMessage) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("kind", string(m.Kind)),
		slog.String("workflow_execution_id", m.Reference()),
		slog.String("status", m.Status()),
	)
}

// Event returns the callback event ingest stores; form is the callback as
// received (body, and query string when both were sent).
func (m *NetverifyMessage) Event(region Region, receivedAt time.Time, form string) events.CallbackEvent {
	e := events.CallbackEvent{
		SchemaVersion:       1,
		EventID:             m.EventID(),
		API:                 events.APINetverify,
		Kind:                m.Kind,
		Region:              string(region),
		WorkflowExecutionID: m.Reference(),
		Status:              m.Status(),
		ReceivedAt:          receivedAt.UTC(),
		Form:                form,
	}
	if t := m.CallbackDate(); !t.IsZero() {
		t = t.UTC()
		e.CallbackSentAt = &t
	}
	return e
}

// Netverify callBackType values.
const (
	CallbackTypeID             = "NETVERIFYID"
	CallbackTypeAuthentication = "NETVERIFY_AUTHENTICATION"
)

// form gives case-insensitive access to form fields ("callBackType" and
// "callbackType", "idCheckMRZcode" and "idCheckMRZCode" are the same field).
// "N/A" reads as empty.
type form map[string]string

// newForm keeps, for each field name in any case, the first value of the
// first spelling in sorted order, so that a field sent twice ("callBackType"
// and "callbackType", or in both body and query string) always reads the
// same and a callback always gets the same event id.
func newForm(values url.Values) form {
	f := make(form, len(values))
	n := 0
	for k, vs := range values {
		if len(vs) == 0 {
			continue
		}
		n++
		f[lower(strings.TrimSpace(k))] = vs[0]
	}
	if len(f) == n {
		return f // no name sent in two spellings: nothing to choose
	}
	clear(f)
	for _, k := range slices.Sorted(maps.Keys(values)) {
		vs := values[k]
		if len(vs) == 0 {
			continue
		}
		lk := lower(strings.TrimSpace(k))
		if _, seen := f[lk]; !seen {
			f[lk] = vs[0]
		}
	}
	return f
}

// verdictFields are the fields of an ID-verification callback that carry
// its outcome.
var verdictFields = append([]string{"verificationStatus", "identityVerification", "rejectReason", "idScanStatus"}, idChecks...)

// authVerdictFields and documentVerdictFields are the fields of an
// authentication and of a document-verification callback that carry its
// outcome.
var (
	authVerdictFields     = []string{"transactionResult"}
	documentVerdictFields = []string{"document", "transaction"}
)

// warnConflicts names in Warnings the fields of m's kind that carry its
// outcome and were sent more than once with different values
// (conflicting), and "callBackType" when the kind itself is in doubt:
// callBackType sent with different values, or the form carrying the
// outcome of another kind of callback besides its own (a
// verificationStatus beside a transactionResult). Which callback Jumio
// sent cannot be known then, and reading it as the kind parseForm chose
// could pass an authentication where the ID verification was denied.
func (m *NetverifyMessage) warnConflicts(values url.Values, f form) {
	own, others := verdictFields, [][]string{authVerdictFields, documentVerdictFields}
	switch {
	case m.Auth != nil:
		own, others = authVerdictFields, [][]string{verdictFields, documentVerdictFields}
	case m.Document != nil:
		own, others = documentVerdictFields, [][]string{verdictFields, authVerdictFields}
	}
	warn := func(w string) {
		if !slices.Contains(m.Warnings, w) { // a field can be malformed and sent twice
			m.Warnings = append(m.Warnings, w)
		}
	}
	for _, w := range conflicting(values, append(slices.Clone(own), "callBackType")) {
		warn(w)
	}
	for _, fields := range others {
		if slices.ContainsFunc(fields, f.has) {
			warn("callBackType")
		}
	}
}

// conflicting returns those of names sent more than once (in any case, in
// body or query string) with different values: the form reads the first
// of them, but which one Jumio meant cannot be known, so the field is
// named in Warnings and its outcome unreadable. Each field name is
// lowered once.
func conflicting(values url.Values, names []string) []string {
	type read struct {
		first      string
		seen, diff bool
	}
	byName := make(map[string]*read, len(names))
	for _, name := range names {
		byName[lower(name)] = &read{}
	}
	for k, vs := range values {
		r := byName[asciiLower(strings.TrimSpace(k))]
		if r == nil {
			continue
		}
		for _, v := range vs {
			v = strings.TrimSpace(NA(v))
			switch {
			case !r.seen:
				r.first, r.seen = v, true
			case v != r.first:
				r.diff = true
			}
		}
	}
	var out []string
	for _, name := range names {
		if byName[lower(name)].diff {
			out = append(out, name)
		}
	}
	return out
}

// lowerNames caches the lower-case form of the field names Jumio
// documents, so that reading a callback does not allocate one per field.
var lowerNames = map[string]string{}

// lower folds the ASCII letters of name only, as ingest's scan of the
// form does (idField): with Unicode folding, "JUMİOIDSCANREFERENCE" (a
// dotted capital I) or a Kelvin sign K would name a field here that
// ingest never read, so that ingest checked one reference and the
// enricher mapped another.
func lower(name string) string {
	if l, ok := lowerNames[name]; ok {
		return l
	}
	return asciiLower(name)
}

// asciiLower returns s with A–Z lowered and every other byte as it is.
func asciiLower(s string) string {
	i := strings.IndexFunc(s, func(r rune) bool { return 'A' <= r && r <= 'Z' })
	if i < 0 {
		return s
	}
	b := []byte(s)
	for j := i; j < len(b); j++ {
		if 'A' <= b[j] && b[j] <= 'Z' {
			b[j] += 'a' - 'A'
		}
	}
	return string(b)
}

func (f form) get(name string) string { return strings.TrimSpace(NA(f[lower(name)])) }

func (f form) has(name string) bool { return f.get(name) != "" }

// maxCallbackDepth bounds how deeply a Platform callback nests: Jumio's
// is two levels deep, and this leaves room for whatever it adds. Without a
// bound, a body as deep as encoding/json reads (10,000 levels) was stored
// one level deeper, inside its callback event, which then did not decode.
const maxCallbackDepth = 32

// nestingDepth is the deepest nesting of objects and arrays in b, strings
// skipped; on text that is not JSON it counts what it finds.
func nestingDepth(b []byte) int {
	depth, deepest := 0, 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			i = stringEnd(b, i) - 1
		case '{', '[':
			if depth++; depth > deepest {
				deepest = depth
			}
		case '}', ']':
			depth--
		}
	}
	return deepest
}

// ParseNetverifyCallback decodes a Netverify callback from its form fields
// (body and query string merged, as http.Request.ParseForm gives them).
// Field names match case-insensitively. The kind is chosen by callBackType,
// or for document verification (which has none) by scanReference. The
// reference must be a UUID, the status a word, and the callback date, when
// present, a timestamp; malformed optional JSON fields are dropped and
// named in Warnings. Errors are *CallbackError.
func ParseNetverifyCallback(values url.Values) (*NetverifyMessage, error) {
	return parseNetverify(values, true)
}

// ParseNetverifyIDs is ParseNetverifyCallback without the optional fields
// of ID-verification callbacks: the message holds the kind, reference,
// status, dates and customerId only. It accepts and rejects exactly what
// ParseNetverifyCallback does (optional fields never reject a callback)
// and gives the same event id, at a fraction of the cost; ingest uses it,
// as it stores the form as received and needs only the ids.
func ParseNetverifyIDs(values url.Values) (*NetverifyMessage, error) {
	return parseNetverify(values, false)
}

func parseNetverify(values url.Values, full bool) (*NetverifyMessage, error) {
	f := newForm(values)
	m, err := parseForm(f, full)
	if err != nil {
		return nil, err
	}
	if full {
		m.warnConflicts(values, f)
	}
	n := 0
	for _, vs := range values {
		n += len(vs)
	}
	fields := make([]events.FormField, 0, n)
	for k, vs := range values {
		for _, v := range vs {
			fields = append(fields, events.FormField{Name: k, Value: v})
		}
	}
	m.eventID = events.NetverifyEventID(fields)
	return m, nil
}

func parseForm(f form, full bool) (*NetverifyMessage, error) {
	ct := strings.ToUpper(f.get("callBackType"))
	switch {
	case ct == CallbackTypeAuthentication || (ct == "" && f.has("transactionReference") && f.has("transactionResult")):
		return parseNetverifyAuth(f)
	case ct == CallbackTypeID || f.has("jumioIdScanReference"):
		return parseNetverifyID(f, full)
	case f.has("scanReference"):
		return parseNetverifyDocument(f)
	case ct != "":
		return nil, malformed("callBackType")
	}
	return nil, missing("jumioIdScanReference")
}

// reference reads a scan or transaction reference: a UUID, in lower case
// whatever case it came in, as ParsePlatformCallback reads Platform ids,
// so that a copy in upper case is the same transaction (subject, state,
// delivery records), not another.
func reference(f form, field string) (string, error) {
	v := f.get(field)
	switch {
	case v == "":
		return "", missing(field)
	case !ValidID(v):
		return "", malformed(field)
	}
	return strings.ToLower(v), nil
}

func status(f form, field string) (string, error) {
	v := f.get(field)
	switch {
	case v == "":
		return "", missing(field)
	case !validStatus(v):
		return "", malformed(field)
	}
	return v, nil
}

// strictTime parses a timestamp that identifies the callback.
func strictTime(f form, field string) (Time, error) {
	t, err := ParseTime(f.get(field))
	if err != nil {
		return Time{}, malformed(field)
	}
	return Time{t}, nil
}

// looseTime parses an informational timestamp; a malformed one is dropped.
func (m *NetverifyMessage) looseTime(f form, field string) Time {
	t, err := ParseTime(f.get(field))
	if err != nil {
		m.Warnings = append(m.Warnings, field)
		return Time{}
	}
	return Time{t}
}

// jsonField decodes an optional JSON-valued field into v; a malformed value
// is dropped and named in Warnings. It reports whether v was filled.
//
// A value nested deeper than a Platform body may be (maxCallbackDepth) is
// malformed too: the check for repeated keys (Ambiguous) recurses once
// per level and scans each level's contents again, and the field is
// written by whoever passed the sender checks. Nested as deeply as
// encoding/json reads, a form of the default size held megabytes of
// goroutine stack and a quadratic scan per request.
func (m *NetverifyMessage) jsonField(f form, field string, v any) bool {
	s := f.get(field)
	if s == "" {
		return false
	}
	if nestingDepth([]byte(s)) > maxCallbackDepth {
		m.Warnings = append(m.Warnings, field)
		return false
	}
	if err := json.Unmarshal([]byte(s), v); err != nil || Ambiguous(json.RawMessage(s)) {
		// Ambiguous: a key sent twice, or in two spellings, with
		// different values; encoding/json took one of them.
		m.Warnings = append(m.Warnings, field)
		return false
	}
	return true
}

func (m *NetverifyMessage) stringList(f form, field string) []string {
	var out []string
	if !m.jsonField(f, field, &out) {
		return nil
	}
	return out
}

// idChecks are the seven idCheck* fields, by their documented spelling.
var idChecks = []string{
	"idCheckDataPositions", "idCheckDocumentValidation", "idCheckHologram", "idCheckMRZcode",
	"idCheckMicroprint", "idCheckSecurityFeatures", "idCheckSignature",
}

// idKnown, authKnown and documentKnown are the fields of each callback
// kind decoded into named struct fields; every other non-empty field goes
// to Extra.
var idKnown, authKnown, documentKnown = map[string]bool{}, map[string]bool{}, map[string]bool{}

func init() {
	idFields := append([]string{
		"callBackType", "jumioIdScanReference", "verificationStatus", "idScanStatus", "idScanSource",
		"transactionDate", "callbackDate", "firstAttemptDate", "firstAttempt", "idType", "idSubtype", "idCountry",
		"idNumber", "idFirstName", "idLastName", "idDob", "idExpiry", "idUsState", "personalNumber",
		"issuingDate", "gender", "nationality", "idAddress", "merchantIdScanReference",
		"merchantReportingCriteria", "customerId", "clientIp", "idScanImage", "idScanImageFace",
		"idScanImageBackside", "livenessImages", "rejectReason", "identityVerification", "idCheckMRZCode",
		"optionalData1", "optionalData2", "originDob", "dlCarPermission", "presetCountry", "presetIdType",
		"facemap", "dlCategories",
	}, idChecks...)
	for _, x := range identityFormFields(&IdentityFields{}) {
		idFields = append(idFields, x.name)
	}
	for _, k := range idFields {
		idKnown[strings.ToLower(k)] = true
	}
	for _, k := range []string{"callBackType", "transactionReference", "enrollmentTransactionReference", "transactionResult",
		"transactionDate", "callbackDate", "scanSource", "idScanImageFace", "livenessImages", "userReference"} {
		authKnown[strings.ToLower(k)] = true
	}
	for _, k := range []string{"scanReference", "timestamp", "transaction", "document"} {
		documentKnown[strings.ToLower(k)] = true
	}
	for _, k := range append([]string{
		"callBackType", "callbackType", "jumioIdScanReference", "verificationStatus", "idScanStatus", "idScanSource",
		"transactionDate", "callbackDate", "firstAttemptDate", "firstAttempt", "idType", "idSubtype", "idCountry",
		"idNumber", "idFirstName", "idLastName", "idDob", "idExpiry", "idUsState", "personalNumber", "issuingDate",
		"gender", "nationality", "idAddress", "merchantIdScanReference", "merchantReportingCriteria", "customerId",
		"clientIp", "idScanImage", "idScanImageFace", "idScanImageBackside", "livenessImages", "rejectReason",
		"identityVerification", "idCheckMRZCode", "transactionReference", "enrollmentTransactionReference",
		"transactionResult", "scanSource", "userReference", "scanReference", "timestamp", "transaction", "document",
	}, idChecks...) {
		lowerNames[k] = asciiLower(k)
	}
}

func parseNetverifyID(f form, full bool) (*NetverifyMessage, error) {
	ref, err := reference(f, "jumioIdScanReference")
	if err != nil {
		return nil, err
	}
	st, err := status(f, "verificationStatus")
	if err != nil {
		return nil, err
	}
	cbDate, err := strictTime(f, "callbackDate")
	if err != nil {
		return nil, err
	}
	m := &NetverifyMessage{Kind: events.KindIDVerification}
	if !full {
		m.ID = &NetverifyCallback{
			CallbackType:       f.get("callBackType"),
			ScanReference:      ref,
			VerificationStatus: st,
			CallbackDate:       cbDate,
			CustomerID:         f.get("customerId"),
		}
		return m, nil
	}
	cb := &NetverifyCallback{
		CallbackType:        f.get("callBackType"),
		ScanReference:       ref,
		VerificationStatus:  st,
		IDScanStatus:        f.get("idScanStatus"),
		IDScanSource:        f.get("idScanSource"),
		CallbackDate:        cbDate,
		TransactionDate:     m.looseTime(f, "transactionDate"),
		IDType:              f.get("idType"),
		IDSubtype:           f.get("idSubtype"),
		IDCountry:           f.get("idCountry"),
		IDNumber:            f.get("idNumber"),
		IDFirstName:         f.get("idFirstName"),
		IDLastName:          f.get("idLastName"),
		IDDob:               f.get("idDob"),
		IDExpiry:            f.get("idExpiry"),
		IDUSState:           f.get("idUsState"),
		PersonalNumber:      f.get("personalNumber"),
		IssuingDate:         f.get("issuingDate"),
		Gender:              f.get("gender"),
		Nationality:         f.get("nationality"),
		MerchantIDScanRef:   f.get("merchantIdScanReference"),
		MerchantReporting:   f.get("merchantReportingCriteria"),
		CustomerID:          f.get("customerId"),
		ClientIP:            f.get("clientIp"),
		IDScanImage:         f.get("idScanImage"),
		IDScanImageFace:     f.get("idScanImageFace"),
		IDScanImageBackside: f.get("idScanImageBackside"),
	}
	if f.has("firstAttemptDate") {
		cb.FirstAttemptDate = m.looseTime(f, "firstAttemptDate")
	} else if f.has("firstAttempt") {
		cb.FirstAttemptDate = m.looseTime(f, "firstAttempt")
	}
	for _, name := range idChecks {
		if v := f.get(name); v != "" {
			if cb.IDChecks == nil {
				cb.IDChecks = map[string]string{}
			}
			cb.IDChecks[name] = v
		}
	}
	var addr NetverifyAddress
	if m.jsonField(f, "idAddress", &addr) {
		cb.Address = &addr
	}
	var rr RejectReason
	if m.jsonField(f, "rejectReason", &rr) {
		cb.RejectReason = &rr
	}
	var iv IdentityVerification
	if m.jsonField(f, "identityVerification", &iv) {
		cb.IdentityVerification = &iv
	}
	cb.LivenessImages = m.stringList(f, "livenessImages")
	cb.OptionalData1, cb.OptionalData2 = f.get("optionalData1"), f.get("optionalData2")
	cb.OriginDob, cb.DLCarPermission = f.get("originDob"), f.get("dlCarPermission")
	cb.PresetCountry, cb.PresetIDType, cb.Facemap = f.get("presetCountry"), f.get("presetIdType"), f.get("facemap")
	for _, x := range identityFormFields(&cb.IdentityFields) {
		*x.v = String(f.get(x.name))
	}
	m.jsonField(f, "dlCategories", &cb.DLCategories)
	cb.Extra = extra(f, idKnown)
	m.ID = cb
	return m, nil
}

// extra returns the non-empty fields of f that known does not name.
func extra(f form, known map[string]bool) map[string]string {
	var out map[string]string
	for k, v := range f {
		if v = strings.TrimSpace(NA(v)); v != "" && !known[k] {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}

// identityFormFields lists the string fields of IdentityFields with their
// form names (dlCategories, JSON, is read on its own).
func identityFormFields(x *IdentityFields) []struct {
	name string
	v    *String
} {
	return []struct {
		name string
		v    *String
	}{
		{"issuingAuthority", &x.IssuingAuthority}, {"issuingPlace", &x.IssuingPlace}, {"issuingNumber", &x.IssuingNumber},
		{"passportNumber", &x.PassportNumber}, {"durationOfStay", &x.DurationOfStay}, {"numberOfEntries", &x.NumberOfEntries},
		{"visaCategory", &x.VisaCategory}, {"placeOfBirth", &x.PlaceOfBirth}, {"mothersName", &x.MothersName},
		{"fathersName", &x.FathersName}, {"dni", &x.DNI}, {"curp", &x.CURP}, {"cpf", &x.CPF}, {"pesel", &x.PESEL},
		{"taxNumber", &x.TaxNumber}, {"registrationNumber", &x.RegistrationNumber},
		{"personalIdentificationNumber", &x.PersonalIdentificationNumber}, {"rgNumber", &x.RGNumber},
		{"voterIdNumber", &x.VoterIDNumber},
	}
}

func parseNetverifyAuth(f form) (*NetverifyMessage, error) {
	ref, err := reference(f, "transactionReference")
	if err != nil {
		return nil, err
	}
	st, err := status(f, "transactionResult")
	if err != nil {
		return nil, err
	}
	cbDate, err := strictTime(f, "callbackDate")
	if err != nil {
		return nil, err
	}
	m := &NetverifyMessage{Kind: events.KindAuthentication}
	m.Auth = &NetverifyAuthCallback{
		CallbackType:                   f.get("callBackType"),
		TransactionReference:           ref,
		EnrollmentTransactionReference: f.get("enrollmentTransactionReference"),
		TransactionResult:              st,
		CallbackDate:                   cbDate,
		TransactionDate:                m.looseTime(f, "transactionDate"),
		ScanSource:                     f.get("scanSource"),
		IDScanImageFace:                f.get("idScanImageFace"),
		LivenessImages:                 m.stringList(f, "livenessImages"),
		UserReference:                  f.get("userReference"),
		Extra:                          extra(f, authKnown),
	}
	return m, nil
}

func parseNetverifyDocument(f form) (*NetverifyMessage, error) {
	ref, err := reference(f, "scanReference")
	if err != nil {
		return nil, err
	}
	ts, err := strictTime(f, "timestamp")
	if err != nil {
		return nil, err
	}
	m := &NetverifyMessage{Kind: events.KindDocumentVerification}
	dv := &NetverifyDocumentCallback{ScanReference: ref, Timestamp: ts}
	if !f.has("transaction") && !f.has("document") {
		return nil, missing("document")
	}
	m.jsonField(f, "transaction", &dv.Transaction)
	m.jsonField(f, "document", &dv.Document)
	dv.Extra = extra(f, documentKnown)
	for _, obj := range []string{"transaction", "document"} {
		var keys map[string]json.RawMessage
		if json.Unmarshal([]byte(f.get(obj)), &keys) != nil {
			continue
		}
		known := fieldIndex(reflect.TypeOf(dv.Transaction))
		if obj == "document" {
			known = fieldIndex(reflect.TypeOf(dv.Document))
		}
		for k, raw := range keys {
			if _, ok := known[k]; !ok {
				if dv.Extra == nil {
					dv.Extra = map[string]string{}
				}
				dv.Extra[obj+"."+k] = string(bytes.TrimSpace(raw))
			}
		}
	}
	m.Document = dv
	st := m.Status()
	switch {
	case st == "":
		return nil, missing("document.status")
	case !validStatus(st):
		return nil, malformed("document.status")
	}
	return m, nil
}

// String never prints personal data: only the kind and the reference.
func (m NetverifyMessage) String() string {
	return fmt.Sprintf("netverify %s callback %s", m.Kind, m.Reference())
}

// GoString prints what String prints.
func (m NetverifyMessage) GoString() string { return m.String() }
