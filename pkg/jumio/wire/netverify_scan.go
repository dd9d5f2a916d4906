package wire

import (
	"bytes"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/kycflow/kycflow/pkg/events"
)

// idFields are the form fields ParseNetverifyRequestIDs reads: those that
// pick the kind of callback, identify it, and carry the user reference.
var idFields = [...]string{
	"callbacktype", "jumioidscanreference", "verificationstatus", "callbackdate", "customerid",
	"transactionreference", "transactionresult", "userreference", "scanreference", "timestamp",
	"transaction", "document",
}

// maxFormParams is net/url's default limit on the number of parameters.
const maxFormParams = 10000

// scanned is one kept field: the spelling it came under and its value.
type scanned struct {
	key, value string
	found      bool
}

// scanIDForm reads the fields of idFields from a form body and a query
// string with the same result as NetverifyForm followed by newForm, and
// every field decoded, in the order sent (for the event id, which covers
// the whole callback). Malformed input and text that is not valid UTF-8
// are rejected alike. A field sent under several spellings reads, as in
// newForm, the first value of the spelling that sorts first.
//
// Ingest scans every Netverify callback with it. The fields it keeps go
// into an array by their place in idFields, not into a map, and the
// names and values that hold escapes are decoded into one buffer, where
// url.QueryUnescape allocates a string for each; the fields are appended
// to fields, which the caller may keep on its stack: with the event id's
// hash, 7 allocations instead of 21 on a 30-field callback, 3.3 KiB
// instead of 4.4 (BenchmarkParseNetverifyRequestIDs).
// FuzzParseNetverifyCallback compares it with url.ParseQuery's reading.
func scanIDForm(body []byte, rawQuery string, fields []events.FormField) (form, []events.FormField, string, error) {
	body = bytes.TrimSpace(body)
	// The parts are scanned within raw, the copy that is kept anyway.
	raw := rawForm(body, rawQuery)
	parts := [2]string{raw}
	if len(body) > 0 && rawQuery != "" {
		parts = [2]string{raw[:len(body)], raw[len(body)+1:]}
	}
	n := strings.Count(raw, "&") + 1 // the fields of the form, at most
	if n > maxFormParams {
		// Counted on the form as stored (body&query), which the enricher
		// parses again as one. Text that is no form, or not UTF-8, is
		// named first, as NetverifyForm names it.
		for _, part := range parts {
			if err := checkForm(part); err != nil {
				return nil, nil, "", err
			}
		}
		return nil, nil, "", malformed("body")
	}
	var kept [len(idFields)]scanned
	dec := &decoder{left: len(raw)}
	if cap(fields) < n {
		fields = make([]events.FormField, 0, n)
	}
	for _, part := range parts {
		if part == "" {
			continue
		}
		var err error
		if fields, err = scanQuery(part, &kept, dec, fields); err != nil {
			return nil, nil, "", err
		}
	}
	found := 0
	for _, s := range kept {
		if s.found {
			found++
		}
	}
	f := make(form, found)
	for i, s := range kept {
		if s.found {
			f[idFields[i]] = s.value
		}
	}
	return f, fields, raw, nil
}

// scanQuery walks one query string as url.ParseQuery does, appending each
// field to fields and keeping those of idFields in kept. One pass over
// each field, by the bytes' classes (formBytes), finds its end, its '='
// and what its name and value hold, so that a name or value of plain
// ASCII text is taken as it is, without a check of its own.
func scanQuery(q string, kept *[len(idFields)]scanned, dec *decoder, fields []events.FormField) ([]events.FormField, error) {
	for q != "" {
		eq, end := -1, len(q)
		var kt, vt text // what the name and the value hold
		in := &kt
	field:
		for i := 0; i < len(q); i++ {
			switch formBytes[q[i]] {
			case bytePlain:
			case byteAmp:
				end = i
				break field
			case byteEq:
				if eq < 0 {
					eq, in = i, &vt
				}
			case byteSemi:
				return nil, malformed("body") // as url.ParseQuery has it
			case byteEscape:
				*in |= textEscaped
			case byteCheck:
				*in |= textChecked
			}
		}
		seg := q[:end]
		q = q[min(end+1, len(q)):]
		if seg == "" {
			continue
		}
		k, v := seg, ""
		if eq >= 0 {
			k, v = seg[:eq], seg[eq+1:]
		}
		key, c := dec.decode(k, kt)
		switch c {
		case componentMalformed:
			return nil, malformed("body")
		case componentNotUTF8:
			return nil, invalidUTF8("body")
		}
		// A field without '=' has no value to decode: decode would count
		// a separator that is not there and leave the buffer short of the
		// room the rest of the form needs.
		value, c := "", componentOK
		if eq >= 0 {
			value, c = dec.decode(v, vt)
		}
		switch c {
		case componentMalformed:
			return nil, malformed("body")
		case componentNotUTF8:
			return nil, invalidUTF8(fieldName(k))
		}
		fields = append(fields, events.FormField{Name: key, Value: value})
		i := idField(strings.TrimSpace(key))
		if i < 0 {
			continue
		}
		if prev := &kept[i]; !prev.found || key < prev.key {
			*prev = scanned{key: key, value: value, found: true}
		}
	}
	return fields, nil
}

// The classes of a form's bytes, for scanQuery.
const (
	bytePlain  = iota
	byteAmp    // '&' ends a field
	byteEq     // the first '=' of a field ends its name
	byteSemi   // ';' makes the form malformed
	byteEscape // '%' or '+': the text is decoded
	byteCheck  // '\\' or a byte from 0x80 on: the text is checked (checkText)
)

var formBytes = func() (t [256]uint8) {
	t['&'], t['='], t[';'] = byteAmp, byteEq, byteSemi
	t['%'], t['+'] = byteEscape, byteEscape
	t['\\'] = byteCheck
	for c := 0x80; c < len(t); c++ {
		t[c] = byteCheck
	}
	return t
}()

// text is what scanQuery found in a field's name or value.
type text uint8

const (
	textEscaped text = 1 << iota // a '%' or a '+'
	textChecked                  // a '\\' or a byte from 0x80 on
)

// decoder checks and decodes the query components of one form. Those
// that hold escapes are decoded into one buffer, allocated when the first
// is met with room for the rest of the form (no component decodes longer
// than it is sent), so that the strings it returns share one allocation.
type decoder struct {
	buf  []byte
	left int // the length of the form from the component being decoded on
}

// decode decodes a component as url.QueryUnescape does ("+" is a space,
// "%XX" the byte XX) and checks it as checkComponent does: every '%' must
// start a valid escape (componentMalformed), and the decoded text must be
// valid UTF-8 in which no \u escape encodes a lone surrogate
// (componentNotUTF8). A component without escapes is returned as it is.
//
// It decodes first and then checks the decoded text as a whole
// (utf8.ValidString); plain ASCII text, which scanQuery's pass already
// knows for what it is, is not checked again. Checking every byte through
// the UTF-8 and \u rules while decoding (checkComponent), after a pass
// over the form to size the buffer, took 12.0–14.9 µs per 30-field
// callback where this takes 9.0–11.3 (BenchmarkParseNetverifyRequestIDs,
// five runs of each in turns on a busy 2-CPU machine).
// FuzzDecodeComponent keeps decode in agreement with checkComponent and
// url.QueryUnescape.
func (d *decoder) decode(s string, t text) (string, component) {
	left := d.left
	d.left -= len(s) + 1
	switch {
	case t == 0:
		return s, componentOK // plain ASCII text
	case t&textEscaped == 0:
		return s, checkText(s)
	}
	if cap(d.buf)-len(d.buf) < len(s) {
		// A fresh buffer rather than a grown one, which would move what
		// the strings returned so far refer to.
		d.buf = make([]byte, 0, max(left, len(s)))
	}
	start := len(d.buf)
	b := d.buf
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			b = append(b, ' ')
		case '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return "", componentMalformed
			}
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	d.buf = b
	// The bytes from start on are never written again (a full buffer is
	// replaced, not grown), so the string may share them.
	out := unsafe.String(unsafe.SliceData(b[start:]), len(b)-start)
	return out, checkText(out)
}

// checkText checks decoded text: valid UTF-8, and no \u escape in it
// encoding a lone surrogate.
func checkText(s string) component {
	if !utf8.ValidString(s) {
		return componentNotUTF8
	}
	if strings.IndexByte(s, '\\') >= 0 && !noLoneSurrogate(s) {
		return componentNotUTF8
	}
	return componentOK
}

// idField returns the index in idFields of key's lower-case form, or -1
// when it is none of them.
func idField(key string) int {
	for i, name := range idFields {
		if asciiEqualFold(name, key) {
			return i
		}
	}
	return -1
}

// asciiEqualFold reports whether lower (lower case) and s are equal with
// the ASCII letters of s folded; other bytes must be equal as they are
// (see lower: no Unicode folding).
func asciiEqualFold(lower, s string) bool {
	if len(lower) != len(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
