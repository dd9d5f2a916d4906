package events_test

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/kycflow/kycflow/pkg/events"
)

func ExampleProject() {
	r := events.Result{
		IDs:          events.IDs{WorkflowExecutionID: "9f2c1e7a-3b4d-4c5e-8f60-1a2b3c4d5e6f"},
		Status:       events.StatusProcessed,
		Decision:     events.Decision{Type: events.DecisionPassed},
		Capabilities: []events.Capability{{Name: "usability", Decision: events.DecisionPassed, Label: "OK"}},
		Document:     &events.Document{Type: "PASSPORT", IssuingCountry: "AUT", Number: "P1234567"},
		Person:       &events.Person{FirstName: "JANE", LastName: "DOE"},
	}
	for _, p := range events.Policies {
		v := events.Project(r, p)
		fmt.Printf("%s: person %v, document %+v, capabilities %d\n", v.Policy, v.Person != nil, v.Document != nil && v.Document.Number != "", len(v.Capabilities))
	}
	// Output:
	// full: person true, document true, capabilities 1
	// no_pii: person false, document false, capabilities 1
	// decision_only: person false, document false, capabilities 0
}

func ExampleParsePolicy() {
	p, err := events.ParsePolicy("no_pii")
	fmt.Println(p, err)
	_, err = events.ParsePolicy("everything")
	fmt.Println(err)
	// Output:
	// no_pii <nil>
	// events: unknown field policy "everything" (want full, no_pii or decision_only)
}

func ExampleResult_LogValue() {
	r := events.Result{
		IDs:      events.IDs{EventID: "e1", WorkflowExecutionID: "9f2c1e7a-3b4d-4c5e-8f60-1a2b3c4d5e6f"},
		Source:   events.Source{API: events.APINetverify, Kind: events.KindIDVerification},
		Status:   events.StatusProcessed,
		Decision: events.Decision{Type: events.DecisionRejected},
		Person:   &events.Person{FirstName: "JANE", LastName: "DOE"},
	}
	h := slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})
	slog.New(h).Info("result stored", "result", r, "person", r.Person)
	// Output:
	// level=INFO msg="result stored" result.event_id=e1 result.account_id="" result.workflow_execution_id=9f2c1e7a-3b4d-4c5e-8f60-1a2b3c4d5e6f result.api=netverify result.kind=id_verification result.workflow_key="" result.status=PROCESSED result.decision=REJECTED result.verification_status="" result.reasons=0 person=[redacted]
}
