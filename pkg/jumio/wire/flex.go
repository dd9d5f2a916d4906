package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// String is a string that Jumio sometimes sends as a JSON number (for
// example workflowExecution.definitionKey): it decodes from a string, a
// number or null, and treats "N/A" as absent.
type String string

// UnmarshalJSON accepts a JSON string, number or null.
func (s *String) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || bytes.Equal(b, []byte("null")):
		*s = ""
		return nil
	case b[0] == '"':
		v, err := jsonString(b)
		if err != nil {
			return err
		}
		*s = String(NA(v))
		return nil
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return err
		}
		*s = String(n.String())
		return nil
	case bytes.Equal(b, []byte("true")) || bytes.Equal(b, []byte("false")):
		*s = String(b)
		return nil
	}
	return fmt.Errorf("jumio: want a string or a number, got %s", jsonKind(b))
}

// jsonKind names the kind of a JSON value for an error, which must not
// quote the value: it may be personal data.
func jsonKind(b []byte) string {
	switch b[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "an invalid value"
}

// NA returns "" for Jumio's "N/A" placeholder (any case, surrounding spaces
// ignored) and v otherwise.
func NA(v string) string {
	if strings.EqualFold(strings.TrimSpace(v), "N/A") {
		return ""
	}
	return v
}

// Bool is a boolean that Jumio sends as true, "true", "TRUE" or "True"
// (identityVerification.validity). Valid is false when the value was absent
// or not a recognisable boolean.
type Bool struct {
	Value bool
	Valid bool
}

// UnmarshalJSON accepts a JSON boolean or a string holding one in any case;
// anything else (including "N/A") decodes to an invalid Bool without error.
func (v *Bool) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	var s string
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	} else {
		s = string(b)
	}
	*v = ParseBool(s)
	return nil
}

// MarshalJSON writes true, false or null.
func (v Bool) MarshalJSON() ([]byte, error) {
	if !v.Valid {
		return []byte("null"), nil
	}
	return strconv.AppendBool(nil, v.Value), nil
}

// ParseBool reads "true"/"false" in any case; anything else is invalid.
func ParseBool(s string) Bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true":
		return Bool{Value: true, Valid: true}
	case "false":
		return Bool{Value: false, Valid: true}
	}
	return Bool{}
}

// Time is a Jumio timestamp: RFC 3339 in UTC with 0 to 3 (or more)
// fractional-second digits. A missing, null, empty or "N/A" value is the
// zero Time.
type Time struct{ time.Time }

// UnmarshalJSON accepts a JSON string timestamp, null, or "" / "N/A".
func (t *Time) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		t.Time = time.Time{}
		return nil
	}
	if len(b) == 0 || b[0] != '"' {
		return fmt.Errorf("jumio: timestamp is not a string")
	}
	s, err := jsonString(b)
	if err != nil {
		return fmt.Errorf("jumio: timestamp is not a string")
	}
	v, err := ParseTime(s)
	if err != nil {
		return err
	}
	t.Time = v
	return nil
}

// MarshalJSON writes the time in UTC RFC 3339 with milliseconds, or null.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(t.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
}

// ErrBadTime is returned (wrapped) for a timestamp that is not RFC 3339.
var ErrBadTime = fmt.Errorf("jumio: malformed timestamp")

// ParseTime parses a Jumio timestamp ("2024-03-14T10:15:30.123Z", with 0–9
// fractional digits, or with an offset) into UTC. "", "N/A" give the zero
// time and no error; a time outside the years 0–9999 in UTC is
// ErrBadTime.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(NA(s))
	if s == "" {
		return time.Time{}, nil
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		// Jumio documents "Z"; accept a missing zone as UTC too.
		v2, err2 := time.Parse("2006-01-02T15:04:05.999999999", s)
		if err2 != nil {
			return time.Time{}, ErrBadTime
		}
		v = v2
	}
	v = v.UTC()
	if y := v.Year(); y < 0 || y > 9999 {
		// RFC 3339 has four-digit years: a time whose zone moves it
		// out of them could be read but never written back (the
		// stored callback event would not decode).
		return time.Time{}, ErrBadTime
	}
	return v, nil
}

// jsonString decodes a JSON string literal; the common case, without
// escapes, takes no detour through reflection.
func jsonString(b []byte) (string, error) {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' && !bytes.ContainsAny(b[1:len(b)-1], "\\\"") {
		inner := b[1 : len(b)-1]
		plain := true
		for _, c := range inner {
			if c < 0x20 || c >= 0x80 {
				plain = false
				break
			}
		}
		if plain {
			return string(inner), nil
		}
	}
	var v string
	err := json.Unmarshal(b, &v)
	return v, err
}

// RejectReason is Netverify's rejectReason JSON. RejectReasonDetails arrive
// as a single object when there is one and as an array when there are
// several; Details always holds a slice.
type RejectReason struct {
	Code        String                  `json:"rejectReasonCode"`
	Description String                  `json:"rejectReasonDescription"`
	Details     RejectReasonDetailsList `json:"rejectReasonDetails,omitempty"`
}

// RejectReasonDetail is one rejectReasonDetails entry.
type RejectReasonDetail struct {
	Code        String `json:"detailsCode"`
	Description String `json:"detailsDescription"`
}

// RejectReasonDetailsList decodes from an object or an array of objects.
type RejectReasonDetailsList []RejectReasonDetail

// UnmarshalJSON accepts an object, an array of objects or null.
func (l *RejectReasonDetailsList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || bytes.Equal(b, []byte("null")):
		*l = nil
		return nil
	case b[0] == '[':
		var v []RejectReasonDetail
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*l = v
		return nil
	case b[0] == '{':
		var v RejectReasonDetail
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*l = []RejectReasonDetail{v}
		return nil
	case b[0] == '"':
		// Some integrations double-encode: a JSON string holding JSON.
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if strings.TrimSpace(NA(s)) == "" {
			*l = nil
			return nil
		}
		return l.UnmarshalJSON([]byte(s))
	}
	return fmt.Errorf("jumio: rejectReasonDetails is neither object nor array")
}
