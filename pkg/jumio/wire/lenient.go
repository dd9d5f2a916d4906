package wire

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Retrieval documents are decoded tolerantly: one odd field must not fail
// a whole verification result, which would be retried and dead-lettered
// though every other field is fine. Workflow details hold dozens of fields
// Jumio fills from many subsystems, and real documents have been seen with
// a risk score as a string and timestamps in other shapes. A field that
// cannot be read is left out and named in the document's Warnings (never
// with its value), so that pkg/mapping can refuse to let a verdict stand
// on a field it could not read; a field the type does not name is kept in
// Extra. Callback parsing stays strict where it decides what is stored
// (ParsePlatformCallback, ParseNetverifyCallback): a callback's ids and
// timestamp decide how it is de-duplicated.

// UnmarshalJSON decodes a workflow details document field by field:
//
//   - workflow, account, timestamps, steps, credentials and their parts: a
//     field of another shape is left out and named in Warnings
//     ("createdAt", "credentials[1].parts[0].href", "workflow"); a list
//     or object sent as a JSON string holding its JSON is decoded;
//   - decision: a decision that is not an object, or whose type is neither
//     a string nor a number, is left out and named "decision" (see
//     WorkflowDecision.UnmarshalJSON);
//   - capabilities: a capability sent as a single object is one entry; an
//     entry that is not an object, or whose decision cannot be read, is
//     kept with Unreadable set; a capability that is neither object nor
//     array is one such entry; a capabilities value that is not an object
//     is named "capabilities";
//   - keys the type does not name are kept in Extra by path.
//
// Only a body that is not a JSON object fails (ErrNotObject).
func (d *WorkflowDetails) UnmarshalJSON(b []byte) error {
	m, ok := objectOf(b)
	if !ok {
		return ErrNotObject
	}
	type plain WorkflowDetails
	*d = WorkflowDetails{}
	var t tolerant
	// The capabilities in any spelling, as encoding/json would read
	// them; two spellings with different values are neither.
	var capsRaw json.RawMessage
	hasCaps, capsConflict := false, false
	for k, raw := range m {
		if !strings.EqualFold(k, "capabilities") {
			continue
		}
		if hasCaps && !sameValue(capsRaw, raw) {
			capsConflict = true
		}
		capsRaw, hasCaps = raw, true
		delete(m, k)
	}
	t.fields(m, reflectValue((*plain)(d)), "")
	switch {
	case capsConflict:
		t.warn("capabilities")
	case hasCaps && !isNull(capsRaw):
		d.Capabilities, d.CapabilityOrder = decodeCapabilities(capsRaw, &t)
	}
	slices.Sort(t.warns)
	d.Warnings, d.Extra = t.warns, t.extra
	return nil
}

// decodeCapabilities decodes the capabilities object, keeping the order of
// its keys.
// raw is a value of a checked document (see objectIn).
func decodeCapabilities(raw json.RawMessage, t *tolerant) (map[string][]CapabilityEntry, []string) {
	inner, ok := jsonIn(raw, '{')
	if !ok {
		t.warn("capabilities")
		return nil, nil
	}
	m := splitObject(inner)
	if m == nil {
		t.warn("capabilities")
		return nil, nil
	}
	caps := make(map[string][]CapabilityEntry, len(m))
	order := objectKeys(inner)
	for _, name := range order {
		caps[name] = decodeEntries(m[name])
	}
	return caps, order
}

// objectKeys returns the keys of b, a valid JSON object, in the order they
// appear, each once.
func objectKeys(b []byte) []string {
	var keys []string
	i := skipSpace(b, 1)
	if b[i] == '}' {
		return keys
	}
	for {
		end := stringEnd(b, i)
		if key := unquoteKey(b[i:end]); !slices.Contains(keys, key) {
			keys = append(keys, key)
		}
		i = skipSpace(b, skipSpace(b, end)+1) // past ':'
		i = skipSpace(b, valueEnd(b, i))
		if b[i] == '}' {
			return keys
		}
		i = skipSpace(b, i+1) // past ','
	}
}

// UnmarshalJSON decodes a decision object ({type, details.label,
// risk.score}) tolerantly: type and label may be strings or numbers; a
// label of another shape is left out; a risk score may be a number or a
// string holding one, and a score of any other shape (or NaN, ±Inf), or a
// risk that is not an object, is absent with RiskUnreadable set. A
// decision that is not an object, or whose type cannot be read, fails:
// its outcome is unknown.
func (d *WorkflowDecision) UnmarshalJSON(b []byte) error {
	if !json.Valid(b) {
		return ErrNotObject
	}
	return d.decode(b)
}

// decode is UnmarshalJSON for b, a value of a checked document (see
// objectIn).
func (d *WorkflowDecision) decode(b []byte) error {
	if ambiguousIn(b) {
		// A key sent twice, or in two spellings ("type" and "TYPE"),
		// with different values: its outcome cannot be known.
		return ErrNotObject
	}
	return d.decodeClear(b)
}

// decodeClear is decode for b, a value checked not to be ambiguous (a
// capability entry's decision, checked with the entry).
func (d *WorkflowDecision) decodeClear(b []byte) error {
	if isNull(b) {
		*d = WorkflowDecision{}
		return nil
	}
	m, ok := objectIn(b)
	if !ok {
		return ErrNotObject
	}
	var typ String
	if raw, ok := member(m, "type"); ok {
		if err := json.Unmarshal(raw, &typ); err != nil {
			return err
		}
	}
	*d = WorkflowDecision{Type: string(typ)}
	if raw, ok := member(m, "details"); ok {
		if details, ok := objectIn(raw); ok {
			var label String
			if raw, ok := member(details, "label"); ok && json.Unmarshal(raw, &label) == nil {
				d.Details.Label = string(label)
			}
		}
	}
	if raw, ok := member(m, "risk"); ok && !isNull(raw) {
		risk, ok := objectIn(raw)
		if !ok {
			d.RiskUnreadable = true
			return nil
		}
		score, _ := member(risk, "score")
		d.Risk = &struct {
			Score *float64 `json:"score,omitempty"`
		}{Score: lenientFloat(score)}
		d.RiskUnreadable = d.Risk.Score == nil && len(bytes.TrimSpace(score)) > 0 && !isNull(score)
	}
	return nil
}

// member returns the member of m named name, matched as encoding/json
// matches a field: exactly, else in another case. m holds no two
// spellings of a name with different values (see ambiguous), so which
// spelling is taken does not matter.
func member(m map[string]json.RawMessage, name string) (json.RawMessage, bool) {
	if raw, ok := m[name]; ok {
		return raw, true
	}
	for k, raw := range m {
		if strings.EqualFold(k, name) {
			return raw, true
		}
	}
	return nil, false
}

// entryKeys are the keys of a capability entry CapabilityEntry decodes
// into its own fields.
var entryKeys = []string{"id", "validFaceMapForAuthentication", "data", "credentials", "decision"}

// entryKey is the name among entryKeys that key spells (in any case), or
// key itself.
func entryKey(key string) string {
	for _, k := range entryKeys {
		if strings.EqualFold(k, key) {
			return k
		}
	}
	return key
}

// UnmarshalJSON decodes a capability entry tolerantly: id and
// validFaceMapForAuthentication may be strings, numbers or booleans,
// credentials that are not an array of objects are left out, and a
// decision that cannot be read (see WorkflowDecision.UnmarshalJSON), or
// none with a type, sets Unreadable. Keys it does not name are kept in Extra.
func (e *CapabilityEntry) UnmarshalJSON(b []byte) error {
	if !json.Valid(b) {
		return ErrNotObject
	}
	return e.decode(b)
}

// decode is UnmarshalJSON for b, a value of a checked document (see
// objectIn).
func (e *CapabilityEntry) decode(b []byte) error {
	m, ok := objectIn(b)
	if !ok {
		return ErrNotObject
	}
	*e = CapabilityEntry{}
	// An entry with a key sent twice, or in two spellings ("decision"
	// and "Decision", "similarity" and "SIMILARITY" in its data), with
	// different values has no outcome that can be known; checked once
	// for the whole entry, its decision included.
	ambiguous := ambiguousIn(b)
	for key, raw := range m {
		switch entryKey(key) {
		case "id":
			var s String
			_ = json.Unmarshal(raw, &s)
			e.ID = string(s)
		case "validFaceMapForAuthentication":
			var s String
			_ = json.Unmarshal(raw, &s)
			e.ValidFaceMapForAuthentication = string(s)
		case "data":
			if !isNull(raw) {
				e.Data = append(json.RawMessage(nil), bytes.TrimSpace(raw)...)
			}
		case "credentials":
			var t tolerant
			var refs []CredentialRef
			t.value(raw, reflectValue(&refs), "credentials")
			e.Credentials = refs
		case "decision":
			var dec WorkflowDecision
			if err := decodeIn(raw, dec.decodeClear); err != nil {
				e.Unreadable = true
			} else {
				e.Decision = dec
			}
		default:
			if e.Extra == nil {
				e.Extra = map[string]json.RawMessage{}
			}
			var buf bytes.Buffer
			if json.Compact(&buf, raw) == nil {
				raw = buf.Bytes()
			}
			e.Extra[key] = raw
		}
	}
	// An entry is there to carry a decision: without one (no decision, a
	// null one, one without a type) its outcome is unknown.
	if strings.TrimSpace(e.Decision.Type) == "" || ambiguous {
		e.Unreadable = true
	}
	return nil
}

// decodeEntries decodes a capability's entries from an array or a single
// object, b being a value of a checked document (see objectIn). An
// element that is not an entry, or a value that is neither array nor
// object, gives an entry with Unreadable set: something was there, and its
// outcome is unknown.
func decodeEntries(b []byte) []CapabilityEntry {
	if isNull(b) {
		return nil
	}
	entry := func(raw []byte) CapabilityEntry {
		var e CapabilityEntry
		if decodeIn(raw, e.decode) != nil {
			return CapabilityEntry{Unreadable: true}
		}
		return e
	}
	if _, ok := jsonIn(b, '{'); ok {
		return []CapabilityEntry{entry(b)}
	}
	list, ok := arrayIn(b)
	if !ok {
		return []CapabilityEntry{{Unreadable: true}}
	}
	out := make([]CapabilityEntry, 0, len(list))
	for _, r := range list {
		out = append(out, entry(r))
	}
	return out
}

// UnmarshalJSON decodes a Netverify retrieval /data response field by
// field (see tolerant): a field of another shape (a timestamp that is not
// RFC 3339, an object sent as a string) is left out and named in Warnings
// by path ("transaction.date", "verification.identityVerification"); an
// object or list sent as a JSON string holding its JSON is decoded; keys
// the type does not name are kept in Extra by path. Only a body that is
// not a JSON object fails (ErrNotObject).
func (d *NetverifyData) UnmarshalJSON(b []byte) error {
	type plain NetverifyData
	*d = NetverifyData{}
	warns, extra, err := decodeTolerant(b, (*plain)(d), "")
	if err != nil {
		return err
	}
	d.Warnings, d.Extra = warns, extra
	return nil
}

// UnmarshalJSON decodes identityVerification field by field: a similarity
// or reason of another shape, or a validity that is neither a boolean nor
// a string holding one (nor "N/A"), is left out and named in Warnings.
// Only a value that is not a JSON object fails.
func (iv *IdentityVerification) UnmarshalJSON(b []byte) error {
	type plain IdentityVerification
	*iv = IdentityVerification{}
	warns, extra, err := decodeTolerant(b, (*plain)(iv), "")
	if err != nil {
		return err
	}
	if m, _ := objectIn(b); m != nil { // decodeTolerant checked b
		for k, raw := range m {
			if !strings.EqualFold(k, "validity") || isNull(raw) || iv.Validity.Valid {
				continue
			}
			var s String
			if json.Unmarshal(raw, &s) != nil || strings.TrimSpace(string(s)) != "" {
				warns = append(warns, "validity")
			}
		}
	}
	slices.Sort(warns)
	iv.Warnings, iv.Extra = slices.Compact(warns), extra
	return nil
}

// UnmarshalJSON decodes extraction data field by field (see tolerant):
// a field of another shape is left out and named in Warnings; keys the
// type does not name are kept in Extra. Only a value that is not a JSON
// object fails.
func (x *ExtractionData) UnmarshalJSON(b []byte) error {
	type plain ExtractionData
	*x = ExtractionData{}
	warns, extra, err := decodeTolerant(b, (*plain)(x), "")
	if err != nil {
		return err
	}
	x.Warnings, x.Extra = warns, extra
	return nil
}

// lenientFloat reads a JSON number, or a string holding one; anything else
// (and NaN, ±Inf) is nil.
func lenientFloat(raw json.RawMessage) *float64 {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || isNull(raw) {
		return nil
	}
	s := string(raw)
	if raw[0] == '"' {
		if json.Unmarshal(raw, &s) != nil {
			return nil
		}
		s = strings.TrimSpace(s)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return &f
}

func isNull(b []byte) bool { return bytes.Equal(bytes.TrimSpace(b), []byte("null")) }

// UnmarshalJSON decodes a Netverify scan status response field by field
// (see tolerant): a timestamp that cannot be read is left out, so that it
// does not hide the status. Only a body that is not a JSON object fails.
func (s *NetverifyScanStatus) UnmarshalJSON(b []byte) error {
	type plain NetverifyScanStatus
	*s = NetverifyScanStatus{}
	_, _, err := decodeTolerant(b, (*plain)(s), "")
	return err
}
