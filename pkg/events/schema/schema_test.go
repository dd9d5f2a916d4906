package schema_test

import (
	"bytes"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/events/schema"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// Compile compiles one schema file of schema.FS with format assertions on.
func compile(t *testing.T, name string) *jsonschema.Schema {
	t.Helper()
	b, err := schema.FS.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(name, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(name)
	if err != nil {
		t.Fatalf("compile %s: %v", name, err)
	}
	return s
}

func validate(t *testing.T, s *jsonschema.Schema, v any) error {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return s.Validate(doc)
}

// TestCallbackEventsMatchSchema builds the events ingest stores from every
// callback fixture and validates them against callback-event.v1.json.
func TestCallbackEventsMatchSchema(t *testing.T) {
	s := compile(t, schema.CallbackEventV1)
	now := time.Date(2024, 3, 14, 10, 15, 31, 0, time.UTC)
	dir := filepath.Join("..", "..", "jumio", "testdata")
	platform, _ := filepath.Glob(filepath.Join(dir, "platform", "callback-*.json"))
	netverify, _ := filepath.Glob(filepath.Join(dir, "netverify", "callback-*.form"))
	if len(platform) == 0 || len(netverify) == 0 {
		t.Fatal("no callback fixtures found")
	}
	var evs []events.CallbackEvent
	for _, p := range platform {
		raw, _ := os.ReadFile(p)
		cb, err := wire.ParsePlatformCallback(raw)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		evs = append(evs, cb.Event(wire.RegionAMER, now, raw))
	}
	for _, p := range netverify {
		raw, _ := os.ReadFile(p)
		body := strings.TrimSpace(string(raw))
		values, _ := url.ParseQuery(body)
		m, err := wire.ParseNetverifyCallback(values)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		evs = append(evs, m.Event(wire.RegionEMEA, now, body))
	}
	raw, _ := schema.FS.ReadFile(schema.CallbackEventV1)
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if err := validate(t, s, ev); err != nil {
			t.Errorf("event %s: %v", ev.WorkflowExecutionID, err)
		}
		// The schema accepts additions; kycflow emits declared keys only.
		b, _ := json.Marshal(ev)
		var got any
		_ = json.Unmarshal(b, &got)
		got.(map[string]any)["json"] = nil // the callback as received: Jumio's keys
		for _, path := range undeclared(doc, doc, got, "") {
			t.Errorf("event %s: %s is not declared in %s", ev.WorkflowExecutionID, path, schema.CallbackEventV1)
		}
	}
	// A consumer of version 1 accepts a property added later.
	added, _ := json.Marshal(evs[0])
	var withAddition map[string]any
	_ = json.Unmarshal(added, &withAddition)
	withAddition["addedLater"] = "x"
	if err := validate(t, s, withAddition); err != nil {
		t.Errorf("schema rejects an added property: %v", err)
	}
	// The schema rejects what ingest must never store.
	bad := evs[0]
	bad.EventID = "not-a-hash"
	if err := validate(t, s, bad); err == nil {
		t.Error("schema accepted a malformed event id")
	}
	bad = evs[0]
	bad.AccountID = ""
	if err := validate(t, s, bad); err == nil {
		t.Error("schema accepted a Platform event without an account")
	}
}

// TestInitiatedEventMatchesSchema: what InitiatedEvent.Message publishes
// is valid against initiated-event.v1.json; a body without ids is not.
func TestInitiatedEventMatchesSchema(t *testing.T) {
	s := compile(t, schema.InitiatedEventV1)
	ev := events.InitiatedEvent{SchemaVersion: 1, AccountID: "4a1b2c3d-5e6f-4711-8899-aabbccddeeff",
		WorkflowExecutionID: "9f2c1e7a-3b4d-4c5e-8f60-1a2b3c4d5e6f", InitiatedAt: time.Now().UTC(), TokenLifetime: "7d", Source: "kycflow initiate"}
	_, _, body, err := ev.Message("/kycflow/cli")
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	_ = json.Unmarshal(body, &doc)
	if err := validate(t, s, doc); err != nil {
		t.Errorf("initiated event: %v", err)
	}
	if err := validate(t, s, map[string]any{"schemaVersion": 1, "initiatedAt": "2026-03-04T10:00:00Z"}); err == nil {
		t.Error("an initiated event without ids is valid")
	}
}

// TestReconciledCallbackMatchesSchema: a reconciled callback event is
// valid; one that claims a callbackSentAt or comes from Netverify is not.
func TestReconciledCallbackMatchesSchema(t *testing.T) {
	s := compile(t, schema.CallbackEventV1)
	const x = "9f2c1e7a-3b4d-4c5e-8f60-1a2b3c4d5e6f"
	ev := events.CallbackEvent{SchemaVersion: 1, EventID: events.ReconciledEventID(x, "PROCESSED"), API: events.APIPlatform,
		Kind: events.KindWorkflow, Region: "amer-1", AccountID: "4a1b2c3d-5e6f-4711-8899-aabbccddeeff", WorkflowExecutionID: x,
		Status: "PROCESSED", ReceivedAt: time.Now().UTC(), Reconciled: true,
		JSON: json.RawMessage(`{"account":{"id":"4a1b2c3d-5e6f-4711-8899-aabbccddeeff"},"workflowExecution":{"id":"` + x + `","status":"PROCESSED"}}`)}
	if err := validate(t, s, ev); err != nil {
		t.Fatalf("reconciled callback: %v", err)
	}
	sent := ev
	at := time.Now()
	sent.CallbackSentAt = &at
	if err := validate(t, s, sent); err == nil {
		t.Error("a reconciled callback with a callbackSentAt is valid")
	}
}
