package mapping

import (
	"bytes"
	"cmp"
	"encoding/json"
	"maps"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// entry is a capability result being built, with the Netverify reject code
// it came from, when the source said, and its place in the source (reasons
// keep the order Jumio sent them).
type entry struct {
	events.Capability
	code, detail string
	seq          int
}

// builder assembles a Result; finish applies the rules every result obeys
// whatever its source.
type builder struct {
	r    events.Result
	caps []entry
	t    *Tables
	// missing names the mandatory fields a PASSED extraction of an ID
	// lacks (see extract); never their values.
	missing []string
}

func newBuilder(ev events.CallbackEvent, api events.API, t *Tables) *builder {
	b := &builder{t: t.orDefault()}
	b.r.SchemaVersion = events.ResultSchemaVersion
	b.r.IDs.EventID = ev.EventID
	b.r.Source.API = api
	b.r.Source.Region = knownRegion(ev.Region)
	b.r.Timestamps.CallbackSent = utc(ptrTime(ev.CallbackSentAt))
	b.r.Timestamps.Received = utc(ev.ReceivedAt)
	return b
}

// add appends a capability result; an empty decision is NOT_EXECUTED.
func (b *builder) add(name string, decision events.DecisionType, label string, data map[string]string) *entry {
	if decision == "" {
		decision = events.DecisionNotExecuted
	}
	for k, v := range data {
		if v == "" {
			delete(data, k)
		}
	}
	if len(data) == 0 {
		data = nil
	}
	b.caps = append(b.caps, entry{Capability: events.Capability{Name: name, Decision: decision, Label: label, Data: data}, seq: len(b.caps)})
	return &b.caps[len(b.caps)-1]
}

// unreadable records that field, which carries a verification outcome,
// could not be read: it is named in UnreadableFields, and each capability
// it feeds (or, when it feeds none on its own, a capability named after
// the field) gets a result WARNING / UNREADABLE naming it. finish makes
// such a result WARNING unless it is REJECTED or expired.
func (b *builder) unreadable(field string, capabilities ...string) []*entry {
	if !slices.Contains(b.r.UnreadableFields, field) {
		b.r.UnreadableFields = append(b.r.UnreadableFields, field)
	}
	if len(capabilities) == 0 {
		capabilities = []string{field}
	}
	var out []*entry
	for _, c := range capabilities {
		out = append(out, b.add(c, events.DecisionWarning, labelUnreadable, map[string]string{"field": field}))
	}
	return out
}

// extra keeps a value that has no field of its own in the result, at path.
func (b *builder) extra(path string, raw json.RawMessage) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) || bytes.Equal(raw, []byte(`""`)) {
		return
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil || !utf8.Valid(buf.Bytes()) {
		return
	}
	if b.r.Extra == nil {
		b.r.Extra = map[string]events.JSONValue{}
	}
	b.r.Extra[path] = buf.Bytes()
}

// extraString keeps a string value (a Netverify form field) in Extra.
func (b *builder) extraString(path, value string) {
	if v := word(value); v != "" {
		raw, _ := json.Marshal(v)
		b.extra(path, raw)
	}
}

// attach sets data key on every entry of capability name; when there is
// none (the capability did not run: a prerequisite failed), the data gets
// an entry NOT_EXECUTED / PRECONDITION_NOT_FULFILLED, as the Platform
// reports a capability whose prerequisite failed (docs/jumio.md 4.6).
func (b *builder) attach(name string, data map[string]string) {
	for k, v := range data {
		if v == "" {
			delete(data, k)
		}
	}
	if len(data) == 0 {
		return
	}
	if !b.has(name) {
		e := b.add(name, events.DecisionNotExecuted, labelPrecondition, nil)
		e.CredentialCategories = categoriesOf(name)
	}
	for k, v := range data {
		b.setData(name, k, v)
	}
}

// has reports whether a capability of that name was added.
func (b *builder) has(name string) bool {
	return slices.ContainsFunc(b.caps, func(e entry) bool { return e.Name == name })
}

// setData sets key on every entry of capability name.
func (b *builder) setData(name, key, value string) {
	if value == "" {
		return
	}
	for i := range b.caps {
		if b.caps[i].Name == name {
			if b.caps[i].Data == nil {
				b.caps[i].Data = map[string]string{}
			}
			b.caps[i].Data[key] = value
		}
	}
}

// image appends an image reference when href is an absolute http(s) URL;
// anything else is dropped, never followed.
func (b *builder) image(category, credentialID, classifier, href string) *events.ImageRef {
	href = strings.TrimSpace(href)
	if !validHref(href) || classifier == "" {
		return nil
	}
	b.r.Images = append(b.r.Images, events.ImageRef{Category: category, CredentialID: credentialID, Classifier: classifier, Href: href})
	return &b.r.Images[len(b.r.Images)-1]
}

func validHref(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" &&
		utf8.ValidString(s) && !strings.ContainsAny(s, " \t\r\n\\\"<>{}|^`")
}

// finish applies the rules every result obeys and returns it.
func (b *builder) finish() events.Result {
	r := &b.r
	if r.Status == "" {
		r.Status = statusUnknown
	}
	if r.Decision.Type == "" {
		r.Decision.Type = events.DecisionNotExecuted
	}
	// Expiry comes from the status, not the decision: Jumio has reported an
	// expired session as REJECTED with score 100.
	if r.Status.Expired() {
		r.Decision.Type = events.DecisionNotExecuted
		r.Decision.Label = string(r.Status)
		if r.Decision.RiskScore != nil {
			r.Decision.RiskScore = ptr(-1.0)
		}
	}
	// Only a verification that ended has a verdict: a PASSED of one still
	// running (INITIATED, ACQUIRED; Netverify PENDING) is not executed yet,
	// and one of a status kycflow does not know (or of none) goes to
	// manual review.
	if r.Decision.Type == events.DecisionPassed && r.Status != events.StatusProcessed && !r.Status.Expired() {
		switch r.Status {
		case events.StatusInitiated, events.StatusAcquired:
			r.Decision.Type, r.Decision.Label = events.DecisionNotExecuted, string(r.Status)
		default:
			r.Decision.Type, r.Decision.Label = events.DecisionWarning, string(events.DecisionWarning)
		}
	}
	// A field that carries an outcome and could not be read never leaves
	// the verdict standing: the result goes to manual review (WARNING),
	// unless it is already REJECTED, or expired (no outcome at all);
	// docs/architecture.md#an-unreadable-verdict-field-is-a-manual-review.
	if len(r.UnreadableFields) > 0 {
		slices.Sort(r.UnreadableFields)
		if !r.Status.Expired() && r.Decision.Type != events.DecisionRejected {
			r.Decision.Type = events.DecisionWarning
			r.Decision.Label = string(events.DecisionWarning)
		}
		if r.VerificationStatus == nvApproved {
			r.VerificationStatus = ""
		}
	}
	// APPROVED_VERIFIED says the document passed: not of a verification
	// that has not ended (an expired one is NO_ID_UPLOADED, docs/jumio.md
	// 6.2), nor of a document whose own checks did not pass.
	if r.VerificationStatus == nvApproved && (r.Status != events.StatusProcessed || b.documentFailed()) {
		r.VerificationStatus = ""
		if r.Status.Expired() {
			r.VerificationStatus = nvNoIDUploaded
		}
	}
	// Reasons: most severe first, then in the order Jumio sent them.
	bySource := slices.Clone(b.caps)
	slices.SortStableFunc(bySource, func(a, b entry) int {
		return cmp.Or(cmp.Compare(severity(a.Decision), severity(b.Decision)), cmp.Compare(a.seq, b.seq))
	})
	r.Reasons = []events.Reason{}
	for _, e := range bySource {
		if e.Decision == events.DecisionPassed {
			continue
		}
		code, detail := e.code, e.detail
		if code == "" && r.Source.API == events.APIPlatform && documentCapability(e.Name, e.CredentialCategories) {
			// Netverify's reject codes are about the ID document: a
			// selfie's usability has none.
			code, detail = legacyCode(e.Name, e.Decision, e.Label)
		}
		rs := events.Reason{Capability: e.Name, Decision: e.Decision, Label: e.Label, LegacyRejectCode: code, LegacyDetailCode: detail}
		if !slices.Contains(r.Reasons, rs) {
			r.Reasons = append(r.Reasons, rs)
		}
	}
	slices.SortFunc(b.caps, compareEntries)
	b.caps = slices.CompactFunc(b.caps, func(a, b entry) bool { return compareEntries(a, b) == 0 })
	r.Capabilities = make([]events.Capability, 0, len(b.caps))
	for _, e := range b.caps {
		r.Capabilities = append(r.Capabilities, e.Capability)
	}
	slices.SortFunc(r.Images, compareImages)
	r.Images = slices.Compact(r.Images)
	if len(r.Images) == 0 {
		r.Images = nil
	}
	return *r
}

// documentFailed reports whether a capability of the ID document did not
// pass.
func (b *builder) documentFailed() bool {
	return slices.ContainsFunc(b.caps, func(e entry) bool {
		return e.Decision != events.DecisionPassed && documentCapability(e.Name, e.CredentialCategories)
	})
}

// categoriesOf returns the credential categories a capability derived from
// a Netverify result evaluated: ID for those of an ID verification's
// document; none for the others (Netverify does not say).
func categoriesOf(capability string) []string {
	if slices.Contains(idChain, capability) {
		return []string{"ID"}
	}
	return nil
}

// sortCategories orders credential categories as categoryOrder, unknown
// ones after, each once.
func sortCategories(cats []string) []string {
	slices.SortFunc(cats, func(a, b string) int {
		return cmp.Or(cmp.Compare(indexOr(categoryOrder, a), indexOr(categoryOrder, b)), strings.Compare(a, b))
	})
	cats = slices.Compact(cats)
	if len(cats) == 0 {
		return nil
	}
	return cats
}

func compareEntries(a, b entry) int {
	return cmp.Or(
		cmp.Compare(rank(a.Name), rank(b.Name)),
		strings.Compare(a.Name, b.Name),
		strings.Compare(a.ID, b.ID),
		strings.Compare(a.Label, b.Label),
		strings.Compare(string(a.Decision), string(b.Decision)),
		slices.Compare(a.CredentialIDs, b.CredentialIDs),
		slices.Compare(a.CredentialCategories, b.CredentialCategories),
		strings.Compare(a.code, b.code),
		strings.Compare(a.detail, b.detail),
		compareData(a.Data, b.Data),
	)
}

func compareData(a, b map[string]string) int {
	ka, kb := slices.Sorted(maps.Keys(a)), slices.Sorted(maps.Keys(b))
	if c := slices.Compare(ka, kb); c != 0 {
		return c
	}
	for _, k := range ka {
		if c := strings.Compare(a[k], b[k]); c != 0 {
			return c
		}
	}
	return 0
}

// Orders of image references: by credential category, then part
// classifier (numbered classifiers such as LIVENESS_n by number).
var (
	categoryOrder   = []string{"ID", "SELFIE", "FACEMAP", "DOCUMENT", "DATA"}
	classifierOrder = []string{"FRONT", "FRONT_WITH_FLASH", "BACK", "FACE", "FACEMAP", "LIVENESS_", "PAGE_", "ORIGINAL", "PREPARED_DATA"}
)

// indexOr is the index of v in list, or len(list) when it is not there.
func indexOr(list []string, v string) int {
	if i := slices.Index(list, v); i >= 0 {
		return i
	}
	return len(list)
}

func compareImages(a, b events.ImageRef) int {
	pa, _ := splitNumber(a.Classifier)
	pb, _ := splitNumber(b.Classifier)
	return cmp.Or(
		cmp.Compare(indexOr(categoryOrder, a.Category), indexOr(categoryOrder, b.Category)),
		strings.Compare(a.Category, b.Category),
		strings.Compare(a.CredentialID, b.CredentialID),
		cmp.Compare(indexOr(classifierOrder, pa), indexOr(classifierOrder, pb)),
		compareNatural(a.Classifier, b.Classifier),
		strings.Compare(a.Href, b.Href),
		strings.Compare(a.CaptureType, b.CaptureType),
	)
}

// compareNatural orders LIVENESS_2 before LIVENESS_10.
func compareNatural(a, b string) int {
	pa, na := splitNumber(a)
	pb, nb := splitNumber(b)
	return cmp.Or(strings.Compare(pa, pb), cmp.Compare(na, nb), strings.Compare(a, b))
}

func splitNumber(s string) (string, int) {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	n, err := strconv.Atoi(s[i:])
	if err != nil || i == len(s) {
		return s, -1
	}
	return s[:i], n
}

// severity orders decisions in reasons: the cause of a rejection first.
func severity(d events.DecisionType) int {
	switch d {
	case events.DecisionRejected:
		return 0
	case events.DecisionWarning:
		return 1
	case events.DecisionNotExecuted:
		return 2
	case events.DecisionPassed:
		return 4
	}
	return 3
}

// worse returns the more severe of two overall decisions, PASSED < WARNING
// < REJECTED; NOT_EXECUTED and unknown values never lower a decision.
func worse(a, b events.DecisionType) events.DecisionType {
	order := func(d events.DecisionType) int {
		switch d {
		case events.DecisionPassed:
			return 1
		case events.DecisionWarning:
			return 2
		case events.DecisionRejected:
			return 3
		}
		return 0
	}
	if order(a) == 0 || order(b) == 0 {
		return a
	}
	if order(b) > order(a) {
		return b
	}
	return a
}

// lowerDecision makes the overall decision at least as severe as every
// capability's (a PASSED ID verification with a NO_MATCH similarity is
// REJECTED); the label follows the type when it changes.
func (b *builder) lowerDecision() {
	d := b.r.Decision.Type
	for _, e := range b.caps {
		d = worse(d, e.Decision)
	}
	if d != b.r.Decision.Type {
		b.r.Decision.Type = d
		b.r.Decision.Label = string(d)
	}
}

func knownRegion(s string) string {
	if slices.Contains(wire.Regions, wire.Region(s)) {
		return s
	}
	return ""
}

func ptr[T any](v T) *T { return &v }

func ptrTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// utc returns t in UTC, or nil for the zero time.
func utc(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return ptr(t.UTC())
}

// riskScore returns s when it is a score Jumio can give (-1 … 100).
func riskScore(s *float64) *float64 {
	if s == nil || math.IsNaN(*s) || *s < -1 || *s > 100 {
		return nil
	}
	return ptr(*s)
}

// objectOf is wire.ObjectOf: the keys of a JSON object, or of a JSON
// string holding one (Jumio has been seen to double-encode).
func objectOf(raw json.RawMessage) (map[string]json.RawMessage, bool) { return wire.ObjectOf(raw) }

// str reads a scalar leniently: a string or a number, trimmed, "N/A" as
// empty; anything else is empty.
func str(raw json.RawMessage) string {
	s, _ := scalar(raw)
	return s
}

// scalar reads a scalar as str does; ok is false when raw holds something
// else (an object or an array), which is then unreadable. Absent and null
// are "" and ok.
func scalar(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", true
	}
	var s wire.String
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return clean(string(s)), true
}

// word reads a value Jumio sent: trimmed, "N/A" as empty, invalid UTF-8
// replaced so that the result's JSON says what the result holds.
func word[S ~string](s S) string { return clean(wire.NA(string(s))) }

func clean(s string) string { return strings.TrimSpace(strings.ToValidUTF8(s, "\uFFFD")) }

// address converts a Netverify-shaped address (Platform extraction uses
// the same fields); nil when empty.
func address(a *wire.NetverifyAddress) *events.Address {
	if a == nil {
		return nil
	}
	out := events.Address{
		Line1: word(a.Line1), Line2: word(a.Line2), Line3: word(a.Line3), Line4: word(a.Line4), Line5: word(a.Line5),
		City: word(a.City), PostalCode: word(a.PostalCode), Subdivision: word(a.Subdivision),
		Country: word(a.Country), Formatted: word(a.FormattedAddress),
	}
	if out.Subdivision == "" {
		out.Subdivision = word(a.StateCode)
	}
	if out == (events.Address{}) {
		return nil
	}
	return &out
}
