package wire

import (
	"bytes"
	"strings"

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
// url.QueryUnescape allocates a string for each: with the event id's hash,
// 8 allocations instead of 21 on a 30-field callback, 4.0 KiB instead of
// 4.4 (BenchmarkParseNetverifyRequestIDs; the times are within the noise
// of the shared machine). FuzzParseNetverifyCallback compares it with url.ParseQuery's
// reading.
func scanIDForm(body []byte, rawQuery string) (form, []events.FormField, string, error) {
	body = bytes.TrimSpace(body)
	// The parts are scanned within raw, the copy that is kept anyway.
	raw := rawForm(body, rawQuery)
	parts := [2]string{raw}
	if len(body) > 0 && rawQuery != "" {
		parts = [2]string{raw[:len(body)], raw[len(body)+1:]}
	}
	if strings.Count(raw, "&")+1 > maxFormParams {
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
	dec := &decoder{size: escapedLen(raw)}
	fields := make([]events.FormField, 0, strings.Count(raw, "&")+1)
	for _, part := range parts {
		if part == "" {
			continue
		}
		var err error
		if fields, err = scanQuery(part, &kept, dec, fields); err != nil {
			return nil, nil, "", err
		}
	}
	n := 0
	for _, s := range kept {
		if s.found {
			n++
		}
	}
	f := make(form, n)
	for i, s := range kept {
		if s.found {
			f[idFields[i]] = s.value
		}
	}
	return f, fields, raw, nil
}

// scanQuery walks one query string as url.ParseQuery does, appending each
// field to fields and keeping those of idFields in kept.
func scanQuery(q string, kept *[len(idFields)]scanned, dec *decoder, fields []events.FormField) ([]events.FormField, error) {
	for q != "" {
		var seg string
		seg, q, _ = strings.Cut(q, "&")
		if strings.Contains(seg, ";") {
			return nil, malformed("body")
		}
		if seg == "" {
			continue
		}
		k, v, _ := strings.Cut(seg, "=")
		switch checkComponent(k) {
		case componentMalformed:
			return nil, malformed("body")
		case componentNotUTF8:
			return nil, invalidUTF8("body")
		}
		switch checkComponent(v) {
		case componentMalformed:
			return nil, malformed("body")
		case componentNotUTF8:
			return nil, invalidUTF8(fieldName(k))
		}
		// Both decode: their escapes were checked.
		key, value := dec.unescape(k), dec.unescape(v)
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

// decoder decodes the query components of one form that hold escapes
// into one buffer, allocated on first use with room for all of them (no
// component decodes longer than it is sent), so that the strings it
// returns share one allocation.
type decoder struct {
	buf  strings.Builder
	size int // escapedLen of the form
}

// escapedLen is the length of the names and values of the query string q
// that hold escapes ('%' or '+').
func escapedLen(q string) int {
	n := 0
	for q != "" {
		var seg string
		seg, q, _ = strings.Cut(q, "&")
		k, v, _ := strings.Cut(seg, "=")
		if escaped(k) {
			n += len(k)
		}
		if escaped(v) {
			n += len(v)
		}
	}
	return n
}

func escaped(s string) bool { return strings.IndexByte(s, '%') >= 0 || strings.IndexByte(s, '+') >= 0 }

// unescape decodes a component whose escapes were checked
// (checkComponent) as url.QueryUnescape does: "+" is a space, "%XX" the
// byte XX. A component without either is returned as it is.
func (d *decoder) unescape(s string) string {
	if !escaped(s) {
		return s
	}
	if d.buf.Cap()-d.buf.Len() < len(s) {
		// A fresh buffer rather than a grown one, which would copy what
		// the strings returned so far still refer to.
		d.buf = strings.Builder{}
		d.buf.Grow(max(d.size, len(s)))
	}
	start := d.buf.Len()
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			d.buf.WriteByte(' ')
		case '%':
			d.buf.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
		default:
			d.buf.WriteByte(c)
		}
	}
	return d.buf.String()[start:]
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
