package wire

import (
	"bytes"
	"encoding/json"
	"reflect"
)

// Ambiguous reports whether raw, JSON (or a JSON string holding JSON),
// holds at any depth an object with a key sent twice, or under two
// spellings encoding/json reads as one field ("decision" and "Decision"),
// with different values. Which of them Jumio meant cannot be known, and
// reading either could turn a REJECTED into a PASSED: a field that carries
// an outcome and is ambiguous is unreadable
// (docs/mapping.md, "Unreadable fields"). Text that is not valid JSON is
// not ambiguous (it is unreadable for other reasons).
func Ambiguous(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return false
		}
		raw = bytes.TrimSpace([]byte(s))
	}
	if len(raw) == 0 || (raw[0] != '{' && raw[0] != '[') || !json.Valid(raw) {
		return false
	}
	return ambiguous(raw)
}

// ambiguousIn is Ambiguous for raw, a value split out of a checked
// document (see objectIn): only a JSON string's contents are checked
// again.
func ambiguousIn(raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return false
	}
	if raw[0] == '"' || !checkedOnce {
		return Ambiguous(raw)
	}
	return ambiguous(raw)
}

// ambiguous is Ambiguous for b, a valid JSON value without surrounding
// white space. It compares each object's keys among themselves (objects
// in Jumio's documents have a few dozen keys at most) and allocates only
// for objects with more keys than its stack holds, or keys with escapes.
func ambiguous(b []byte) bool {
	switch b[0] {
	case '[':
		i := skipSpace(b, 1)
		if b[i] == ']' {
			return false
		}
		for {
			end := valueEnd(b, i)
			if ambiguous(b[i:end]) {
				return true
			}
			i = skipSpace(b, end)
			if b[i] == ']' {
				return false
			}
			i = skipSpace(b, i+1) // past ','
		}
	case '{':
	default:
		return false
	}
	type member struct{ key, value []byte }
	var stack [24]member
	members := stack[:0]
	i := skipSpace(b, 1)
	if b[i] == '}' {
		return false
	}
	for {
		end := stringEnd(b, i)
		key := b[i+1 : end-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			key = []byte(unquoteKey(b[i:end]))
		}
		i = skipSpace(b, skipSpace(b, end)+1) // past ':'
		end = valueEnd(b, i)
		value := b[i:end]
		for _, m := range members {
			if bytes.EqualFold(m.key, key) && !sameValue(m.value, value) {
				return true
			}
		}
		if ambiguous(value) {
			return true
		}
		members = append(members, member{key, value})
		i = skipSpace(b, end)
		if b[i] == '}' {
			return false
		}
		i = skipSpace(b, i+1) // past ','
	}
}

// sameValue reports whether a and b, valid JSON values, are one value as
// encoding/json reads them: 5 and 5.0, "PASSED" and "\u0050ASSED" are.
// It decodes only when the texts differ, which is rare (a key sent twice).
func sameValue(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var va, vb any
	return json.Unmarshal(a, &va) == nil && json.Unmarshal(b, &vb) == nil && reflect.DeepEqual(va, vb)
}
