package mapping

import (
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
// it came from, when the source said.
type entry struct {
	events.Capability
	code, detail string
}

// builder assembles a Result; finish applies the rules every result obeys
// whatever its source.
type builder struct {
	r    events.Result
	caps []entry
	t    *Tables
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
	b.caps = append(b.caps, entry{Capability: events.Capability{Name: name, Decision: decision, Label: label, Data: data}})
	return &b.caps[len(b.caps)-1]
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
func (b *builder) image(category, credentialID, classifier, href string) {
	href = strings.TrimSpace(href)
	if !validHref(href) || classifier == "" {
		return
	}
	b.r.Images = append(b.r.Images, events.ImageRef{Category: category, CredentialID: credentialID, Classifier: classifier, Href: href})
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
	slices.SortFunc(b.caps, compareEntries)
	b.caps = slices.CompactFunc(b.caps, func(a, b entry) bool { return compareEntries(a, b) == 0 })
	r.Capabilities = make([]events.Capability, 0, len(b.caps))
	r.Reasons = []events.Reason{}
	for _, e := range b.caps {
		r.Capabilities = append(r.Capabilities, e.Capability)
		if e.Decision == events.DecisionPassed {
			continue
		}
		code, detail := e.code, e.detail
		if code == "" && r.Source.API == events.APIPlatform {
			l := legacyIndex[[2]string{e.Name, e.Label}]
			code, detail = l.code, l.detail
		}
		r.Reasons = append(r.Reasons, events.Reason{Capability: e.Name, Decision: e.Decision, Label: e.Label, LegacyRejectCode: code, LegacyDetailCode: detail})
	}
	slices.SortFunc(r.Reasons, compareReasons)
	r.Reasons = slices.Compact(r.Reasons)
	slices.SortFunc(r.Images, compareImages)
	r.Images = slices.Compact(r.Images)
	if len(r.Images) == 0 {
		r.Images = nil
	}
	return *r
}

func compareEntries(a, b entry) int {
	return cmp.Or(
		cmp.Compare(rank(a.Name), rank(b.Name)),
		strings.Compare(a.Name, b.Name),
		strings.Compare(a.ID, b.ID),
		strings.Compare(a.Label, b.Label),
		strings.Compare(string(a.Decision), string(b.Decision)),
		slices.Compare(a.CredentialIDs, b.CredentialIDs),
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

// compareReasons orders reasons by severity, then capability, then
// Netverify code (reasons with one first, so a Netverify result keeps the
// order of its reject details), then label.
func compareReasons(a, b events.Reason) int {
	return cmp.Or(
		cmp.Compare(severity(a.Decision), severity(b.Decision)),
		strings.Compare(string(a.Decision), string(b.Decision)),
		cmp.Compare(rank(a.Capability), rank(b.Capability)),
		strings.Compare(a.Capability, b.Capability),
		cmp.Compare(absent(a.LegacyRejectCode), absent(b.LegacyRejectCode)),
		compareNatural(a.LegacyRejectCode, b.LegacyRejectCode),
		compareNatural(a.LegacyDetailCode, b.LegacyDetailCode),
		strings.Compare(a.Label, b.Label),
	)
}

// absent is 1 for an empty string, 0 otherwise: present values sort first.
func absent(s string) int {
	if s == "" {
		return 1
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

// object decodes a JSON object leniently: anything else is an empty object.
func object(raw json.RawMessage) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	return m
}

// str reads a scalar leniently: a string or a number, trimmed, "N/A" as
// empty; anything else is empty.
func str(raw json.RawMessage) string {
	var s wire.String
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return clean(string(s))
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

func nonEmptyDocument(d events.Document) *events.Document {
	if d == (events.Document{}) {
		return nil
	}
	return &d
}

func nonEmptyPerson(p events.Person) *events.Person {
	if p == (events.Person{}) {
		return nil
	}
	return &p
}
