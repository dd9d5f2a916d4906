package wire

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"
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
// white space. It compares each key with the first of the object's keys
// that encoding/json reads as the same field, and only that one: the
// keys of one field that came before all hold its value (else b was
// found ambiguous at the second), so the first speaks for them. The keys
// are compared among themselves while they fit the stack (objects in
// Jumio's documents have a few dozen keys at most) and looked up by
// their folded form beyond it: the text is a callback's, which anyone
// who passed the sender checks writes, and an object of thousands of
// keys compared pairwise, each pair decoded again, held a request for
// seconds.
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
	var stack [24]keyValue
	members := stack[:0]
	var byFold map[string]int // index into members, once they outgrow stack
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
		first := -1
		if byFold != nil {
			if j, ok := byFold[foldKey(key)]; ok {
				first = j
			}
		} else {
			for j := range members {
				if bytes.EqualFold(members[j].key, key) {
					first = j
					break
				}
			}
		}
		if first >= 0 && !members[first].same(value) {
			return true
		}
		if ambiguous(value) {
			return true
		}
		if first < 0 {
			members = append(members, keyValue{key: key, value: value})
			switch {
			case byFold != nil:
				byFold[foldKey(key)] = len(members) - 1
			case len(members) > len(stack):
				byFold = make(map[string]int, 2*len(members))
				for j, m := range members {
					byFold[foldKey(m.key)] = j
				}
			}
		}
		i = skipSpace(b, end)
		if b[i] == '}' {
			return false
		}
		i = skipSpace(b, i+1) // past ','
	}
}

// keyValue is a key of an object and its value, with the value as
// encoding/json reads it once a repeat of the key needed it.
type keyValue struct {
	key, value []byte
	decoded    any
	state      uint8 // 0 not decoded yet, 1 decoded, 2 does not decode
}

// same reports whether value is m's value as encoding/json reads them
// (see sameValue), decoding m's value at most once.
func (m *keyValue) same(value []byte) bool {
	if bytes.Equal(m.value, value) {
		return true
	}
	if m.state == 0 {
		// Into a local first: decoding into m.decoded would move the
		// caller's array of keys to the heap, for every object.
		var d any
		m.state = 2
		if json.Unmarshal(m.value, &d) == nil {
			m.decoded, m.state = d, 1
		}
	}
	var v any
	return m.state == 1 && json.Unmarshal(value, &v) == nil && reflect.DeepEqual(m.decoded, v)
}

// foldKey is key with each character replaced by the least of those
// bytes.EqualFold takes for it: two keys are equal under EqualFold
// exactly when their folded forms are equal.
func foldKey(key []byte) string {
	var b strings.Builder
	b.Grow(len(key))
	for len(key) > 0 {
		r, n := utf8.DecodeRune(key)
		key = key[n:]
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b.WriteRune(least)
	}
	return b.String()
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
