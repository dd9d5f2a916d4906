package schema_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/events/schema"
)

// A consumer compiles result.v1.json from FS with a JSON Schema library of
// its choice and validates the results it receives. Properties added
// within version 1 are accepted.
func Example() {
	b, _ := schema.FS.ReadFile(schema.ResultV1)
	doc, _ := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	c := jsonschema.NewCompiler()
	_ = c.AddResource(schema.ResultV1, doc)
	s, err := c.Compile(schema.ResultV1)
	if err != nil {
		fmt.Println(err)
		return
	}
	completed := time.Date(2024, 3, 14, 10, 15, 31, 0, time.UTC)
	r := events.Result{
		SchemaVersion: events.ResultSchemaVersion,
		IDs: events.IDs{
			EventID:             "4c0ac8b6e6b1d6a0c4c1f8e1f4bfa2f7e5c2b0d9d5a1e3c7b9f0a2d4c6e8f0a1",
			AccountID:           "11111111-1111-4111-8111-111111111111",
			WorkflowExecutionID: "22222222-2222-4222-8222-222222222222",
		},
		Source:       events.Source{API: events.APIPlatform, Kind: events.KindWorkflow, WorkflowDefinitionKey: "10011"},
		Status:       events.StatusProcessed,
		Decision:     events.Decision{Type: events.DecisionPassed, Label: "PASSED"},
		Reasons:      []events.Reason{},
		Capabilities: []events.Capability{},
		Timestamps:   events.Timestamps{Completed: &completed},
	}
	validate := func(v any) error {
		b, _ := json.Marshal(v)
		inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		return s.Validate(inst)
	}
	fmt.Println("result:", validate(r) == nil)

	var m map[string]any
	b, _ = json.Marshal(r)
	_ = json.Unmarshal(b, &m)
	m["addedLater"] = true
	fmt.Println("with a property added later:", validate(m) == nil)

	r.Status = events.StatusSessionExpired // expired, yet PASSED
	fmt.Println("expired but passed:", validate(r) == nil)
	// Output:
	// result: true
	// with a property added later: true
	// expired but passed: false
}
