package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
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

// objectOf returns the keys of a JSON object, or of a JSON string holding
// one; ok is false for anything else.
func objectOf(raw json.RawMessage) (map[string]json.RawMessage, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, false
		}
		raw = bytes.TrimSpace([]byte(s))
	}
	if len(raw) == 0 || raw[0] != '{' {
		return nil, false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil, false
	}
	return m, true
}

// arrayOf returns the elements of a JSON array, or of a JSON string holding
// one; ok is false for anything else.
func arrayOf(raw json.RawMessage) ([]json.RawMessage, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, false
		}
		raw = bytes.TrimSpace([]byte(s))
	}
	if len(raw) == 0 || raw[0] != '[' {
		return nil, false
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return nil, false
	}
	return list, true
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

// fieldIndex maps the JSON names of a struct's fields to their index,
// embedded structs' fields promoted (an outer name wins), as encoding/json
// does.
func fieldIndex(t reflect.Type) map[string][]int {
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

// fields decodes the keys of an object into the struct v.
func (d *tolerant) fields(m map[string]json.RawMessage, v reflect.Value, path string) {
	byName := fieldIndex(v.Type())
	for key, raw := range m {
		idx, ok := byName[key]
		if !ok {
			for name, j := range byName {
				if strings.EqualFold(name, key) {
					idx, ok = j, true
					break
				}
			}
		}
		if !ok {
			d.keep(join(path, key), raw)
			continue
		}
		d.value(raw, v.FieldByIndex(idx), join(path, key))
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
		err := json.Unmarshal(raw, p.Interface())
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
		m, ok := objectOf(raw)
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
		list, ok := arrayOf(raw)
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
		m, ok := objectOf(raw)
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
