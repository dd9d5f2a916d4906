package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// tolerant decodes Jumio documents field by field, so that one field of an
// unexpected shape leaves that field out instead of failing the whole
// document (which would be retried and dead-lettered, though every other
// field is fine). It records, by path and never by value, each field it
// left out (warns), and keeps each key that names no field of the Go type
// (extra), so that nothing Jumio sends is silently lost.
//
// Shapes it reads beyond encoding/json:
//
//   - a JSON string holding the JSON of an object or array ("double
//     encoded"), where an object or array is expected;
//   - a number or boolean where a string is expected (as String does);
//   - an element of an array that does not decode is left out and named
//     ("credentials[2]").
//
// Key names match exactly, else case-insensitively, as encoding/json does.
type tolerant struct {
	warns []string
	extra map[string]json.RawMessage
}

// warn records that the field at path was left out.
func (d *tolerant) warn(path string) { d.warns = append(d.warns, path) }

// keep records a key the Go type has no field for.
func (d *tolerant) keep(path string, raw json.RawMessage) {
	if d.extra == nil {
		d.extra = map[string]json.RawMessage{}
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) == nil {
		raw = buf.Bytes()
	}
	d.extra[path] = raw
}

// ObjectOf returns the members of a JSON object, or of a JSON string
// holding one (Jumio has been seen to double-encode); ok is false for
// anything else. The values are slices of raw (or of the string's
// contents), not copies: do not modify them.
func ObjectOf(raw json.RawMessage) (map[string]json.RawMessage, bool) { return objectOf(raw) }

// objectOf is ObjectOf.
func objectOf(raw json.RawMessage) (map[string]json.RawMessage, bool) {
	m, ok := splitWith(raw, '{', jsonOf, splitObject)
	return m, ok && m != nil
}

// arrayOf returns the elements of a JSON array, or of a JSON string holding
// one; ok is false for anything else. The elements are slices of raw (or
// of the string's contents), not copies.
func arrayOf(raw json.RawMessage) ([]json.RawMessage, bool) {
	return splitWith(raw, '[', jsonOf, splitArray)
}

// splitWith splits the JSON that find (jsonOf or jsonIn) finds in raw,
// starting with open.
func splitWith[T any](raw json.RawMessage, open byte, find func(json.RawMessage, byte) (json.RawMessage, bool), split func([]byte) T) (T, bool) {
	raw, ok := find(raw, open)
	if !ok {
		var zero T
		return zero, false
	}
	return split(raw), true
}

// jsonOf returns raw, or the contents of the JSON string raw, trimmed,
// when it is valid JSON starting with open ('{' or '[').
func jsonOf(raw json.RawMessage, open byte) (json.RawMessage, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, false
		}
		raw = bytes.TrimSpace([]byte(s))
	}
	if len(raw) == 0 || raw[0] != open || !json.Valid(raw) {
		return nil, false
	}
	return raw, true
}

// checkedOnce is false only in tests, which compare the decoders with it
// on and off: then every part of a document is checked again on its own,
// as it was before it was checked once.
var checkedOnce = true

// objectIn is objectOf for raw, a value split out of a document that was
// checked to be valid JSON (by objectOf, or by encoding/json before it
// calls an UnmarshalJSON method): it is not checked again. The contents of
// a JSON string holding an object, which nothing checked as JSON, are.
// Checking every level of nesting again cost the enricher a pass over each
// subtree per level: without it BenchmarkDecodeWorkflowDetails
// (pkg/mapping) went from 266–336 to 175–192 µs and from 750 to 685
// allocations per document (three runs of each, interleaved, 2 CPUs);
// without the adapter values of the first version, 653 allocations.
// FuzzCheckedOnce holds the decoders to what checking every part gives.
func objectIn(raw json.RawMessage) (map[string]json.RawMessage, bool) {
	m, ok := splitWith(raw, '{', jsonIn, splitObject)
	return m, ok && m != nil
}

// arrayIn is arrayOf for raw, a value split out of a checked document (see
// objectIn).
func arrayIn(raw json.RawMessage) ([]json.RawMessage, bool) {
	return splitWith(raw, '[', jsonIn, splitArray)
}

// jsonIn is jsonOf for raw, a value split out of a checked document.
func jsonIn(raw json.RawMessage, open byte) (json.RawMessage, bool) {
	raw = bytes.TrimSpace(raw)
	if !checkedOnce || (len(raw) > 0 && raw[0] == '"') {
		return jsonOf(raw, open)
	}
	if len(raw) == 0 || raw[0] != open {
		return nil, false
	}
	return raw, true
}

// decodeIn decodes raw, a value split out of a checked document, with
// decode (an UnmarshalJSON method, or the decode behind one), without
// checking raw again as json.Unmarshal would.
func decodeIn(raw json.RawMessage, decode func([]byte) error) error {
	if !checkedOnce && !json.Valid(raw) {
		return ErrNotObject
	}
	return decode(raw)
}

// The enricher reads every retrieval document through objectOf and
// arrayOf, once per level of nesting. They used to decode into a map or a
// slice of json.RawMessage with encoding/json, which copies every value;
// splitting valid JSON in place does the same without the copies, and
// json.Valid keeps the check of what they accept: objectOf and arrayOf
// give what encoding/json gave for every input (FuzzObjectOf compares
// them). Under "kycflow bench e2e" the two were about a tenth of the
// enricher's CPU.

// splitObject returns the members of b, a valid JSON object: each value
// as a slice of b without the white space around it, the key unquoted as
// encoding/json unquotes it. A key sent twice with the same value counts
// once; sent twice with different values, it makes the object unreadable
// (nil): which of the two Jumio meant cannot be known, and taking either
// could turn a REJECTED into a PASSED (objectOf and objectIn report such
// an object as not one, so that a verdict field holding it is unreadable).
func splitObject(b []byte) map[string]json.RawMessage {
	m := make(map[string]json.RawMessage)
	i := skipSpace(b, 1)
	if b[i] == '}' {
		return m
	}
	for {
		end := stringEnd(b, i)
		key := unquoteKey(b[i:end])
		i = skipSpace(b, skipSpace(b, end)+1) // past ':'
		end = valueEnd(b, i)
		if prev, dup := m[key]; dup && !bytes.Equal(prev, b[i:end]) {
			return nil
		}
		m[key] = json.RawMessage(b[i:end:end])
		i = skipSpace(b, end)
		if b[i] == '}' {
			return m
		}
		i = skipSpace(b, i+1) // past ','
	}
}

// splitArray returns the elements of b, a valid JSON array, each as a
// slice of b without the white space around it.
func splitArray(b []byte) []json.RawMessage {
	list := []json.RawMessage{}
	i := skipSpace(b, 1)
	if b[i] == ']' {
		return list
	}
	for {
		end := valueEnd(b, i)
		list = append(list, json.RawMessage(b[i:end:end]))
		i = skipSpace(b, end)
		if b[i] == ']' {
			return list
		}
		i = skipSpace(b, i+1) // past ','
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the JSON string that starts at b[i].
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// valueEnd returns the index after the JSON value that starts at b[i].
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = stringEnd(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	}
	j := i
	for j < len(b) && !strings.ContainsRune(",}] \t\n\r", rune(b[j])) {
		j++
	}
	return j
}

// unquoteKey returns the JSON string q unquoted as encoding/json does
// (escapes decoded, invalid UTF-8 replaced); plain ASCII without escapes,
// the usual key, is its bytes.
func unquoteKey(q []byte) string {
	plain := true
	for _, c := range q[1 : len(q)-1] {
		if c == '\\' || c >= utf8.RuneSelf {
			plain = false
			break
		}
	}
	if plain {
		return string(q[1 : len(q)-1])
	}
	var s string
	_ = json.Unmarshal(q, &s) // q is a valid JSON string
	return s
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var (
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	rawMessageType  = reflect.TypeFor[json.RawMessage]()
	timeType        = reflect.TypeFor[Time]()
)

// tolerantLayouts are the timestamp shapes read beyond RFC 3339 (Time):
// a space for the T, and a date alone; without a zone, UTC.
var tolerantLayouts = []string{"2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999", "2006-01-02"}

// tolerantTime reads a timestamp as Time does, or in one of
// tolerantLayouts. Callbacks never read timestamps this way: their
// timestamps decide their event ids.
func tolerantTime(raw json.RawMessage) (Time, bool) {
	var t Time
	if t.UnmarshalJSON(raw) == nil {
		return t, true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return Time{}, false
	}
	for _, layout := range tolerantLayouts {
		if v, err := time.Parse(layout, strings.TrimSpace(s)); err == nil {
			return Time{v.UTC()}, true
		}
	}
	return Time{}, false
}

// fieldIndexes caches fieldIndex by type (reflect.Type to
// map[string][]int): every object of every document the enricher decodes
// asked for its type's index again. The maps are shared: read, never
// written.
var fieldIndexes sync.Map

// fieldIndex maps the JSON names of a struct's fields to their index,
// embedded structs' fields promoted (an outer name wins), as encoding/json
// does. The map is shared: do not modify it.
func fieldIndex(t reflect.Type) map[string][]int {
	if m, ok := fieldIndexes.Load(t); ok {
		return m.(map[string][]int)
	}
	m := buildFieldIndex(t)
	fieldIndexes.Store(t, m)
	return m
}

func buildFieldIndex(t reflect.Type) map[string][]int {
	out := map[string][]int{}
	var embedded [][]int
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			embedded = append(embedded, []int{i})
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = []int{i}
	}
	for _, idx := range embedded {
		for name, sub := range fieldIndex(t.Field(idx[0]).Type) {
			if _, ok := out[name]; !ok {
				out[name] = append(append([]int(nil), idx...), sub...)
			}
		}
	}
	return out
}

// fields decodes the keys of an object into the struct v. A field may be
// sent in another case than its name; one sent under two spellings with
// different values ("decision" and "DECISION") is neither: which one Jumio
// meant cannot be known, so it is left at its zero value and recorded (by
// its name), never decided by which key a map visits last.
func (d *tolerant) fields(m map[string]json.RawMessage, v reflect.Value, path string) {
	byName := fieldIndex(v.Type())
	type field struct {
		key      string // the least spelling sent, for the path
		idx      []int
		raw      json.RawMessage
		conflict bool
	}
	found := make(map[string]field, len(m))
	for key, raw := range m {
		name, idx := key, byName[key]
		if idx == nil {
			for n, j := range byName {
				if strings.EqualFold(n, key) {
					name, idx = n, j
					break
				}
			}
		}
		if idx == nil {
			d.keep(join(path, key), raw)
			continue
		}
		f, seen := found[name]
		switch {
		case !seen:
			f = field{key: key, idx: idx, raw: raw}
		case key < f.key:
			f.key = key
			fallthrough
		default:
			f.conflict = f.conflict || !sameValue(f.raw, raw)
		}
		found[name] = f
	}
	for name, f := range found {
		if f.conflict {
			d.warn(join(path, name))
			continue
		}
		d.value(f.raw, v.FieldByIndex(f.idx), join(path, f.key))
	}
}

// value decodes raw into v (settable), leaving v at its zero value and
// recording path when raw has a shape v cannot take.
func (d *tolerant) value(raw json.RawMessage, v reflect.Value, path string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return
	}
	t := v.Type()
	switch {
	case t == rawMessageType:
		v.SetBytes(append([]byte(nil), raw...))
		return
	case t == timeType:
		if tm, ok := tolerantTime(raw); ok {
			v.Set(reflect.ValueOf(tm))
		} else {
			d.warn(path)
		}
		return
	case reflect.PointerTo(t).Implements(unmarshalerType):
		p := reflect.New(t)
		err := decodeIn(raw, p.Interface().(json.Unmarshaler).UnmarshalJSON)
		if err != nil && raw[0] == '"' && t.Kind() != reflect.String && t.Kind() != reflect.Struct {
			// A list or object type sent double encoded.
			var s string
			if json.Unmarshal(raw, &s) == nil {
				p = reflect.New(t)
				err = json.Unmarshal([]byte(s), p.Interface())
			}
		}
		if err != nil {
			d.warn(path)
			return
		}
		v.Set(p.Elem())
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := objectIn(raw)
		if !ok {
			d.warn(path)
			return
		}
		d.fields(m, v, path)
	case reflect.Pointer:
		p := reflect.New(t.Elem())
		before := len(d.warns)
		d.value(raw, p.Elem(), path)
		if len(d.warns) > before && d.warns[len(d.warns)-1] == path {
			return
		}
		v.Set(p)
	case reflect.Slice:
		list, ok := arrayIn(raw)
		if !ok {
			d.warn(path)
			return
		}
		out := reflect.MakeSlice(t, 0, len(list))
		for i, e := range list {
			ev := reflect.New(t.Elem()).Elem()
			at := path + "[" + strconv.Itoa(i) + "]"
			before := len(d.warns)
			d.value(e, ev, at)
			if len(d.warns) > before && d.warns[len(d.warns)-1] == at {
				continue
			}
			out = reflect.Append(out, ev)
		}
		v.Set(out)
	case reflect.Map:
		m, ok := objectIn(raw)
		if !ok || t.Key().Kind() != reflect.String {
			d.warn(path)
			return
		}
		out := reflect.MakeMapWithSize(t, len(m))
		for k, e := range m {
			ev := reflect.New(t.Elem()).Elem()
			at := join(path, k)
			before := len(d.warns)
			d.value(e, ev, at)
			if len(d.warns) > before && d.warns[len(d.warns)-1] == at {
				continue
			}
			out.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), ev)
		}
		v.Set(out)
	case reflect.String:
		var s String
		if json.Unmarshal(raw, &s) != nil {
			d.warn(path)
			return
		}
		v.SetString(string(s))
	default:
		p := reflect.New(t)
		if json.Unmarshal(raw, p.Interface()) != nil {
			d.warn(path)
			return
		}
		v.Set(p.Elem())
	}
}

// ErrNotObject is returned by the tolerant decoders (WorkflowDetails,
// NetverifyData, …) for a document that is not a JSON object.
var ErrNotObject = errors.New("wire: not a JSON object")

// decodeTolerant decodes the JSON object b (or a JSON string holding one)
// into the struct v points to, field by field (see tolerant). It fails
// only when b is not a JSON object. warns come sorted.
func decodeTolerant(b []byte, v any, path string) (warns []string, extra map[string]json.RawMessage, err error) {
	m, ok := objectOf(b)
	if !ok {
		return nil, nil, ErrNotObject
	}
	var d tolerant
	d.fields(m, reflect.ValueOf(v).Elem(), path)
	slices.Sort(d.warns)
	return d.warns, d.extra, nil
}

// reflectValue is the value p points to.
func reflectValue(p any) reflect.Value { return reflect.ValueOf(p).Elem() }
