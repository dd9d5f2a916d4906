package wire

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// Retrieval documents are decoded leniently: one odd field must not fail a
// whole verification result. Workflow details hold dozens of fields Jumio
// fills from many subsystems, and real documents have been seen with a
// risk score as a string and timestamps in other shapes. Callback parsing
// stays strict (ParsePlatformCallback, ParseNetverifyCallback): a
// callback's ids and timestamp decide what is stored and how it is
// de-duplicated.

// UnmarshalJSON decodes a workflow details document. Beyond the default
// decoding it tolerates, in the fields named, what would otherwise fail
// the whole document:
//
//   - createdAt, startedAt, completedAt, wipedOutAt: a value that is not a
//     timestamp is absent (the zero Time);
//   - capabilities: a capability sent as a single object is one entry, and
//     a capability or entry that is neither object nor array is left out;
//   - decisions and capability entries, see WorkflowDecision.UnmarshalJSON
//     and CapabilityEntry.UnmarshalJSON.
//
// A body that is not a JSON object, or fields of the wrong kind elsewhere
// (workflow, account, credentials), still fail.
func (d *WorkflowDetails) UnmarshalJSON(b []byte) error {
	type plain WorkflowDetails
	var v struct {
		*plain
		CreatedAt    lenientTime                  `json:"createdAt"`
		StartedAt    lenientTime                  `json:"startedAt"`
		CompletedAt  lenientTime                  `json:"completedAt"`
		WipedOutAt   lenientTime                  `json:"wipedOutAt"`
		Capabilities map[string]capabilityEntries `json:"capabilities,omitempty"`
	}
	*d = WorkflowDetails{}
	v.plain = (*plain)(d)
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	d.CreatedAt, d.StartedAt, d.CompletedAt, d.WipedOutAt = Time(v.CreatedAt), Time(v.StartedAt), Time(v.CompletedAt), Time(v.WipedOutAt)
	if v.Capabilities != nil {
		d.Capabilities = make(map[string][]CapabilityEntry, len(v.Capabilities))
		for name, entries := range v.Capabilities {
			d.Capabilities[name] = entries
		}
	}
	return nil
}

// UnmarshalJSON decodes a decision object ({type, details.label,
// risk.score}) leniently: type and label may be strings or numbers, and a
// risk score may be a number or a string holding one; a score of any other
// shape (or NaN, ±Inf) is absent.
func (d *WorkflowDecision) UnmarshalJSON(b []byte) error {
	var v struct {
		Type    String `json:"type"`
		Details *struct {
			Label String `json:"label"`
		} `json:"details"`
		Risk *struct {
			Score json.RawMessage `json:"score"`
		} `json:"risk"`
	}
	if isNull(b) {
		*d = WorkflowDecision{}
		return nil
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*d = WorkflowDecision{Type: string(v.Type)}
	if v.Details != nil {
		d.Details.Label = string(v.Details.Label)
	}
	if v.Risk != nil {
		d.Risk = &struct {
			Score *float64 `json:"score,omitempty"`
		}{Score: lenientFloat(v.Risk.Score)}
	}
	return nil
}

// UnmarshalJSON decodes a capability entry leniently: id and
// validFaceMapForAuthentication may be strings, numbers or booleans,
// credentials that are not an array of objects are left out, and the
// decision is decoded as WorkflowDecision.UnmarshalJSON does (a decision
// that is not an object is absent).
func (e *CapabilityEntry) UnmarshalJSON(b []byte) error {
	var v struct {
		ID                            String          `json:"id"`
		Credentials                   json.RawMessage `json:"credentials"`
		Decision                      json.RawMessage `json:"decision"`
		ValidFaceMapForAuthentication String          `json:"validFaceMapForAuthentication"`
		Data                          json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*e = CapabilityEntry{
		ID:                            string(v.ID),
		ValidFaceMapForAuthentication: string(v.ValidFaceMapForAuthentication),
	}
	if len(v.Data) > 0 && !isNull(v.Data) {
		e.Data = v.Data
	}
	if len(v.Credentials) > 0 {
		var refs []CredentialRef
		if json.Unmarshal(v.Credentials, &refs) == nil {
			e.Credentials = refs
		}
	}
	if len(v.Decision) > 0 {
		var dec WorkflowDecision
		if json.Unmarshal(v.Decision, &dec) == nil {
			e.Decision = dec
		}
	}
	return nil
}

// lenientTime is a Time whose malformed values decode as the zero time.
type lenientTime Time

func (t *lenientTime) UnmarshalJSON(b []byte) error {
	var v Time
	if err := v.UnmarshalJSON(b); err != nil {
		v = Time{}
	}
	*t = lenientTime(v)
	return nil
}

// capabilityEntries decodes a capability's entries from an array (entries
// that are not objects are left out), a single object, or anything else
// (no entries).
type capabilityEntries []CapabilityEntry

func (c *capabilityEntries) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	*c = nil
	switch {
	case len(b) > 0 && b[0] == '{':
		var e CapabilityEntry
		if json.Unmarshal(b, &e) == nil {
			*c = capabilityEntries{e}
		}
	case len(b) > 0 && b[0] == '[':
		var raw []json.RawMessage
		if json.Unmarshal(b, &raw) != nil {
			return nil
		}
		out := make(capabilityEntries, 0, len(raw))
		for _, r := range raw {
			var e CapabilityEntry
			if r = bytes.TrimSpace(r); len(r) > 0 && r[0] == '{' && json.Unmarshal(r, &e) == nil {
				out = append(out, e)
			}
		}
		*c = out
	}
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
