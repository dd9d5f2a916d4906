package notifier_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/internal/notifier"
	"github.com/kycflow/kycflow/internal/notifier/notifiertest"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/events/schema"
)

// TestDeliveredResultsMatchTheSchema validates what both sinks send, for
// every policy, against result.v1.json: the NATS message body and the
// webhook envelope's data.
func TestDeliveredResultsMatchTheSchema(t *testing.T) {
	b, err := schema.FS.ReadFile(schema.ResultV1)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(schema.ResultV1, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(schema.ResultV1)
	if err != nil {
		t.Fatal(err)
	}
	check := func(where string, body []byte) {
		t.Helper()
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		if err := s.Validate(v); err != nil {
			t.Errorf("%s: %v", where, err)
		}
	}

	_, js := brokertest.Start(t).JetStream(t)
	ns := natsSink(t, js, "")
	rcv := notifiertest.NewReceiver(t, notifiertest.Secret)
	ws := webhookSink(t, rcv, nil)
	for i, p := range events.Policies {
		r := events.Project(notifiertest.Result(i), p)
		d := notifier.Delivery{ID: "d-" + string(p), EventID: r.IDs.EventID, Result: r}
		if err := ns.Deliver(t.Context(), d); err != nil {
			t.Fatal(err)
		}
		if err := ws.Deliver(t.Context(), d); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range brokertest.Messages(t, js, events.StreamResults) {
		check("NATS "+m.Subject, m.Data)
	}
	for _, req := range rcv.Accepted() {
		var env struct {
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(req.Body, &env); err != nil {
			t.Fatal(err)
		}
		check("webhook "+req.ID(), env.Data)
	}
	if n := len(rcv.Accepted()); n != len(events.Policies) {
		t.Errorf("webhooks: got %d, want %d", n, len(events.Policies))
	}
}
