package wire

import (
	"bytes"
	"net/url"
	"strings"

	"github.com/kycflow/kycflow/pkg/events"
)

// idFields are the form fields ParseNetverifyRequestIDs reads: those that
// pick the kind of callback, identify it, and carry the user reference.
var idFields = []string{
	"callbacktype", "jumioidscanreference", "verificationstatus", "callbackdate", "customerid",
	"transactionreference", "transactionresult", "userreference", "scanreference", "timestamp",
	"transaction", "document",
}

// maxFormParams is net/url's default limit on the number of parameters.
const maxFormParams = 10000

// scanned is one kept field: the spelling it came under and its value.
type scanned struct{ key, value string }

// scanIDForm reads the fields of idFields from a form body and a query
// string with the same result as NetverifyForm followed by newForm, and
// every field decoded, in the order sent (for the event id, which covers
// the whole callback). Malformed input and text that is not valid UTF-8
// are rejected alike. A field sent under several spellings reads, as in
// newForm, the first value of the spelling that sorts first.
func scanIDForm(body []byte, rawQuery string) (form, []events.FormField, string, error) {
	body = bytes.TrimSpace(body)
	// The parts are scanned within raw, the copy that is kept anyway.
	raw := rawForm(body, rawQuery)
	parts := [2]string{raw}
	if len(body) > 0 && rawQuery != "" {
		parts = [2]string{raw[:len(body)], raw[len(body)+1:]}
	}
	kept := make(map[string]scanned, 8)
	fields := make([]events.FormField, 0, strings.Count(raw, "&")+1)
	for _, part := range parts {
		if part == "" {
			continue
		}
		if strings.Count(part, "&")+1 > maxFormParams {
			return nil, nil, "", malformed("body")
		}
		var err error
		if fields, err = scanQuery(part, kept, fields); err != nil {
			return nil, nil, "", err
		}
	}
	f := make(form, len(kept))
	for name, s := range kept {
		f[name] = s.value
	}
	return f, fields, raw, nil
}

// scanQuery walks one query string as url.ParseQuery does, appending each
// field to fields.
func scanQuery(q string, kept map[string]scanned, fields []events.FormField) ([]events.FormField, error) {
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
		// Both decode: their escapes were checked. A component without
		// escapes decodes to itself, without a copy.
		key, _ := url.QueryUnescape(k)
		value, _ := url.QueryUnescape(v)
		fields = append(fields, events.FormField{Name: key, Value: value})
		name := idField(strings.TrimSpace(key))
		if name == "" {
			continue
		}
		if prev, ok := kept[name]; !ok || key < prev.key {
			kept[name] = scanned{key: key, value: value}
		}
	}
	return fields, nil
}

// idField returns the lower-case name of key when it is one of idFields.
func idField(key string) string {
	for _, name := range idFields {
		if len(name) == len(key) && strings.EqualFold(name, key) {
			return name
		}
	}
	return ""
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
