package schema_test

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/events/schema"
	"github.com/kycflow/kycflow/pkg/mapping"
)

// goldenResults reads every normalized result among the mapping golden
// files (the request mapping goldens are not results).
func goldenResults(t *testing.T) map[string]events.Result {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join("..", "..", "mapping", "testdata", "*.golden.json"))
	out := map[string]events.Result{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(b, &probe); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if _, ok := probe["schemaVersion"]; !ok {
			continue
		}
		var r events.Result
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out[filepath.Base(p)] = r
	}
	if len(out) < 20 {
		t.Fatalf("found %d golden results, want the mapping goldens", len(out))
	}
	return out
}

// TestResultGoldensMatchSchema validates every golden result of
// pkg/mapping, and each of its projections, against result.v1.json, and
// checks that the schema declares every property the results use.
func TestResultGoldensMatchSchema(t *testing.T) {
	s := compile(t, schema.ResultV1)
	raw, _ := schema.FS.ReadFile(schema.ResultV1)
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	enriched := time.Date(2024, 3, 14, 10, 15, 32, 0, time.UTC)
	for name, r := range goldenResults(t) {
		r.Timestamps.Enriched = &enriched
		for _, p := range append([]events.Policy{""}, events.Policies...) {
			v := r
			if p != "" {
				v = events.Project(r, p)
			}
			if err := validate(t, s, v); err != nil {
				t.Errorf("%s, policy %q: %v", name, p, err)
			}
			b, _ := json.Marshal(v)
			var got any
			_ = json.Unmarshal(b, &got)
			for _, path := range undeclared(doc, doc, got, "") {
				t.Errorf("%s: %s is not declared in %s", name, path, schema.ResultV1)
			}
		}
	}
}

// TestResultSchemaRejectsMistakes checks that the schema catches the
// mistakes it is there for.
func TestResultSchemaRejectsMistakes(t *testing.T) {
	s := compile(t, schema.ResultV1)
	// The first golden, by name, that every mutation below can break: a
	// Platform result with a person, a creation time and an image (ranging
	// over the map would pick another one each run).
	var good events.Result
	goldens := goldenResults(t)
	for _, name := range slices.Sorted(maps.Keys(goldens)) {
		r := goldens[name]
		if r.Source.API == events.APIPlatform && r.Person != nil && r.Timestamps.Created != nil && len(r.Images) > 0 {
			good = r
			break
		}
	}
	if good.Person == nil {
		t.Fatal("no golden Platform result with a person, a creation time and an image")
	}
	local := good.Timestamps.Created.In(time.FixedZone("CET", 3600))
	for _, tc := range []struct {
		name   string
		mutate func(r *events.Result)
	}{
		{"unknown api", func(r *events.Result) { r.Source.API = "v4" }},
		{"unknown region", func(r *events.Result) { r.Source.Region = "us-east-1" }},
		{"missing execution id", func(r *events.Result) { r.IDs.WorkflowExecutionID = "" }},
		{"malformed event id", func(r *events.Result) { r.IDs.EventID = "1" }},
		{"platform without account", func(r *events.Result) { r.IDs.AccountID = "" }},
		{"offset timestamp", func(r *events.Result) { r.Timestamps.Created = &local }},
		{"expired but passed", func(r *events.Result) { r.Status = events.StatusTokenExpired }},
		{"no_pii with a person", func(r *events.Result) { r.Policy = events.PolicyNoPII }},
		{"no_pii with a document date", func(r *events.Result) {
			*r = events.Project(*r, events.PolicyNoPII)
			r.Document.ExpiryDate = "2030-01-01"
		}},
		{"no_pii with a document state", func(r *events.Result) {
			*r = events.Project(*r, events.PolicyNoPII)
			r.Document.State = "CA"
		}},
		{"null reasons", func(r *events.Result) { r.Reasons = nil }},
		{"passing reason", func(r *events.Result) {
			r.Reasons = []events.Reason{{Capability: "usability", Decision: events.DecisionPassed, Label: "OK"}}
		}},
		{"risk score over 100", func(r *events.Result) { s := 101.0; r.Decision.RiskScore = &s }},
		{"relative image href", func(r *events.Result) { r.Images[0].Href = "/parts/FRONT" }},
		{"tombstone with a person", func(r *events.Result) { r.Timestamps.WipedOut = r.Timestamps.Created }},
		{"migration of a Netverify result", func(r *events.Result) {
			r.Migration = &events.Migration{ScanReference: r.IDs.WorkflowExecutionID}
			r.Source.API, r.IDs.AccountID, r.Source.Kind, r.Source.WorkflowDefinitionKey = events.APINetverify, "", events.KindIDVerification, ""
		}},
		{"migration without a scan reference", func(r *events.Result) { r.Migration = &events.Migration{} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := good.Clone()
			tc.mutate(&r)
			if err := validate(t, s, r); err == nil {
				t.Error("schema accepted a broken result")
			}
		})
	}
}

// undeclared returns the paths of object properties in v that the schema
// node does not declare. The schema lets consumers accept additions, so
// this is how kycflow's own tests stay strict.
func undeclared(root, node map[string]any, v any, path string) []string {
	if ref, ok := node["$ref"].(string); ok {
		def := strings.TrimPrefix(ref, "#/$defs/")
		node = root["$defs"].(map[string]any)[def].(map[string]any)
	}
	var out []string
	switch v := v.(type) {
	case map[string]any:
		props, _ := node["properties"].(map[string]any)
		extra, _ := node["additionalProperties"].(map[string]any)
		for _, k := range slices.Sorted(maps.Keys(v)) {
			child, ok := props[k].(map[string]any)
			if !ok {
				if extra == nil {
					out = append(out, path+"/"+k)
				}
				continue
			}
			out = append(out, undeclared(root, child, v[k], path+"/"+k)...)
		}
	case []any:
		items, _ := node["items"].(map[string]any)
		for _, e := range v {
			if items != nil {
				out = append(out, undeclared(root, items, e, path+"/*")...)
			}
		}
	}
	return out
}

// TestResultSchemaAcceptsTombstonesAndMigrations: a tombstone of each API
// (mapping.Tombstone) and a migrated Platform result validate.
func TestResultSchemaAcceptsTombstonesAndMigrations(t *testing.T) {
	s := compile(t, schema.ResultV1)
	at := time.Date(2024, 3, 20, 8, 0, 0, 0, time.UTC)
	sent := at.Add(-time.Hour)
	const id = "5b6c7d8e-1111-4222-8333-944455556666"
	cases := map[string]events.Result{
		"platform tombstone": mapping.Tombstone(events.CallbackEvent{SchemaVersion: 1, EventID: strings.Repeat("ab", 32),
			API: events.APIPlatform, Kind: events.KindWorkflow, AccountID: "4a1b2c3d-5e6f-4711-8899-aabbccddeeff",
			WorkflowExecutionID: id, WorkflowDefinitionKey: "10011", Status: "PROCESSED", CallbackSentAt: &sent, ReceivedAt: sent}, at, nil),
		"netverify tombstone": mapping.Tombstone(events.CallbackEvent{SchemaVersion: 1, EventID: strings.Repeat("cd", 32),
			API: events.APINetverify, Kind: events.KindIDVerification, WorkflowExecutionID: id, Status: "APPROVED_VERIFIED",
			CallbackSentAt: &sent, ReceivedAt: sent}, at, nil),
	}
	for name, r := range goldenResults(t) {
		if r.Source.API == events.APIPlatform {
			r.Migration = &events.Migration{ScanReference: r.IDs.WorkflowExecutionID, NetverifyDelivered: true}
			cases["migrated "+name] = r
			break
		}
	}
	for name, r := range cases {
		if err := validate(t, s, r); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
