package wire

import (
	"bytes"
	"errors"
	"net/url"
	"strings"
	"unicode/utf8"
)

// ErrInvalidUTF8 is matched (errors.Is) by the *CallbackError of a
// callback whose text is not valid UTF-8: invalid bytes anywhere in a
// Platform body, a Netverify form or its query string, raw or
// percent-encoded (idFirstName=%FF%FE), or a JSON \u escape of a lone
// UTF-16 surrogate (which no UTF-8 text can hold). Such a callback is
// refused whole: decoding it would turn the bytes into U+FFFD, silently
// changing a name, or keep them, handing invalid text to every consumer.
var ErrInvalidUTF8 = errors.New("jumio: callback text is not valid UTF-8")

// reasonUTF8 is the CallbackError.Reason of invalid UTF-8.
const reasonUTF8 = "not valid UTF-8"

func invalidUTF8(field string) error { return &CallbackError{Field: field, Reason: reasonUTF8} }

// validJSONText reports whether a JSON document is valid UTF-8 text: its
// bytes are, and no \u escape encodes a lone surrogate. It does not check
// the JSON syntax.
func validJSONText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	return bytes.IndexByte(b, '\\') < 0 || noLoneSurrogate(b)
}

// noLoneSurrogate reports whether no \u escape in s encodes a lone
// UTF-16 surrogate (see escapes).
func noLoneSurrogate[T string | []byte](s T) bool {
	var e escapes
	for i := 0; i < len(s); i++ {
		if !e.next(s[i]) {
			return false
		}
	}
	return e.done()
}

// component is what checkComponent found.
type component uint8

const (
	componentOK        component = iota
	componentMalformed           // a '%' that starts no valid escape
	componentNotUTF8             // decoded, not valid UTF-8 text
)

// checkComponent checks a URL query component (a form field's name or
// value, as sent): every '%' must start a valid escape, and the decoded
// bytes must be valid UTF-8 in which no \u escape encodes a lone
// surrogate (the JSON-valued fields of Netverify forms are decoded as
// JSON). It does not allocate.
func checkComponent(s string) component {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '\\') < 0 {
		if utf8.ValidString(s) {
			return componentOK
		}
		return componentNotUTF8
	}
	var (
		pend [utf8.UTFMax]byte
		n    int
		e    escapes
	)
	valid := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' {
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return componentMalformed
			}
			c = unhex(s[i+1])<<4 | unhex(s[i+2])
			i += 2
		}
		if !valid {
			continue // only the escapes are checked further
		}
		if !e.next(c) {
			valid = false
			continue
		}
		if n == 0 && c < utf8.RuneSelf {
			continue
		}
		pend[n] = c
		n++
		if utf8.FullRune(pend[:n]) {
			if r, size := utf8.DecodeRune(pend[:n]); r == utf8.RuneError && size <= 1 || size != n {
				valid = false
			}
			n = 0
		}
	}
	if !valid || n != 0 || !e.done() {
		return componentNotUTF8
	}
	return componentOK
}

// checkForm checks every field name and value of a query string (a form
// body or a URL's query): malformed("body") for an invalid escape,
// invalidUTF8 naming the field (or "body" when its name is the problem)
// for text that is not valid UTF-8.
func checkForm(q string) error {
	for q != "" {
		var seg string
		seg, q, _ = strings.Cut(q, "&")
		if seg == "" {
			continue
		}
		if strings.Contains(seg, ";") {
			return malformed("body") // as url.ParseQuery has it
		}
		k, v, _ := strings.Cut(seg, "=")
		switch checkComponent(k) {
		case componentMalformed:
			return malformed("body")
		case componentNotUTF8:
			return invalidUTF8("body")
		}
		switch checkComponent(v) {
		case componentMalformed:
			return malformed("body")
		case componentNotUTF8:
			return invalidUTF8(fieldName(k))
		}
	}
	return nil
}

// fieldName is the decoded name of a field whose name was checked, for an
// error; "body" when it cannot be decoded or is no plain word.
func fieldName(k string) string {
	name, err := url.QueryUnescape(k)
	if err != nil || !validFieldName(name) {
		return "body"
	}
	return name
}

// validFieldName reports whether s can name a field in an error: 1 to 64
// ASCII letters, digits, '.', '_' or '-'.
func validFieldName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// escapes follows the \u escapes of a byte stream, as JSON writes them,
// and finds a lone UTF-16 surrogate: a high one (D800–DBFF) not followed
// at once by an escaped low one (DC00–DFFF), or a low one alone.
type escapes struct {
	state   uint8  // 0 text, 1 after '\', 2–5 reading the hex digits
	v       uint16 // the digits read so far
	wantLow bool   // a high surrogate was read: an escaped low one must follow
}

// next takes the next byte; it reports false at a lone surrogate.
func (e *escapes) next(c byte) bool {
	switch e.state {
	case 0:
		if c == '\\' {
			e.state = 1
			return true
		}
		return !e.wantLow
	case 1:
		if c == 'u' {
			e.state, e.v = 2, 0
			return true
		}
		e.state = 0 // any other escape, "\\" included
		return !e.wantLow
	}
	if !isHex(c) {
		e.state = 0 // not an escape JSON would accept
		return !e.wantLow
	}
	e.v = e.v<<4 | uint16(unhex(c))
	if e.state++; e.state < 6 {
		return true
	}
	e.state = 0
	high, low := e.v >= 0xD800 && e.v <= 0xDBFF, e.v >= 0xDC00 && e.v <= 0xDFFF
	switch {
	case e.wantLow:
		e.wantLow = false
		return low
	case high:
		e.wantLow = true
		return true
	}
	return !low
}

// done reports whether the stream ended without a lone surrogate pending.
func (e *escapes) done() bool { return !e.wantLow }

// CheckQuery checks a URL's raw query string as NetverifyForm does: nil,
// or a *CallbackError for an invalid escape or for text that is not valid
// UTF-8 (ErrInvalidUTF8).
func CheckQuery(rawQuery string) error { return checkForm(rawQuery) }
