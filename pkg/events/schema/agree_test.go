package schema_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/events/schema"
)

// TestResultSchemaAgreesWithTheGoType walks events.Result and
// result.v1.json together: every Go field is a property of the schema, a
// field Go always writes (no omitempty) is required by the schema and a
// field Go may leave out is not, and the eventId patterns are
// events.EventIDPattern, what the enricher accepts.
func TestResultSchemaAgreesWithTheGoType(t *testing.T) {
	var root map[string]any
	for name, file := range map[string]string{"result": schema.ResultV1, "callback event": schema.CallbackEventV1} {
		b, _ := schema.FS.ReadFile(file)
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		pattern := eventIDPattern(doc)
		if pattern != events.EventIDPattern {
			t.Errorf("%s schema: eventId pattern %q, want events.EventIDPattern %q", name, pattern, events.EventIDPattern)
		}
		if file == schema.ResultV1 {
			root = doc
		}
	}
	var walk func(typ reflect.Type, node map[string]any, path string)
	walk = func(typ reflect.Type, node map[string]any, path string) {
		node = resolve(root, node)
		props, _ := node["properties"].(map[string]any)
		var required []string
		for _, r := range asSlice(node["required"]) {
			required = append(required, r.(string))
		}
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			at := path + "/" + name
			prop, ok := props[name].(map[string]any)
			if !ok {
				t.Errorf("%s: the Go field %s.%s is not in the schema", at, typ.Name(), f.Name)
				continue
			}
			omitted := strings.Contains(opts, "omitempty")
			if req := slices.Contains(required, name); req == omitted {
				t.Errorf("%s: Go omitempty %v, schema required %v", at, omitted, req)
			}
			ft := f.Type
			for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
				ft = ft.Elem()
				if ft.Kind() != reflect.Uint8 {
					prop = resolve(root, prop)
					if items, ok := prop["items"].(map[string]any); ok {
						prop = items
					}
				}
			}
			if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Time]() {
				walk(ft, prop, at)
			}
		}
		for name := range props {
			if !slices.ContainsFunc(fieldsOf(typ), func(f string) bool { return f == name }) {
				t.Errorf("%s/%s: the schema names a property the Go type %s does not have", path, name, typ.Name())
			}
		}
	}
	walk(reflect.TypeFor[events.Result](), root, "")
}

func fieldsOf(typ reflect.Type) []string {
	var out []string
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		out = append(out, name)
	}
	return out
}

// resolve follows a node's $ref into $defs.
func resolve(root, node map[string]any) map[string]any {
	for {
		ref, ok := node["$ref"].(string)
		if !ok {
			return node
		}
		node = root["$defs"].(map[string]any)[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
	}
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// eventIDPattern finds the pattern of the eventId property anywhere in a
// schema document.
func eventIDPattern(doc any) string {
	switch v := doc.(type) {
	case map[string]any:
		if p, ok := v["eventId"].(map[string]any); ok {
			if s, ok := p["pattern"].(string); ok {
				return s
			}
		}
		for _, c := range v {
			if s := eventIDPattern(c); s != "" {
				return s
			}
		}
	case []any:
		for _, c := range v {
			if s := eventIDPattern(c); s != "" {
				return s
			}
		}
	}
	return ""
}
