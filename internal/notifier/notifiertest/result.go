package notifiertest

import (
	"fmt"
	"strconv"
	"time"

	"github.com/kycflow/kycflow/pkg/events"
)

// Personal data in Result, for tests that look for it in what a route
// delivered.
var PersonalData = []string{"JANE", "DOE", "1990-02-03", "P1234567", "1 MAIN ST", "SPRINGFIELD", "https://retrieval.amer-1.jumio.ai/api/v1/images/secret-front"}

// AccountID and ExecutionID are the ids of Result(i).
func AccountID(i int) string   { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }
func ExecutionID(i int) string { return fmt.Sprintf("10000000-0000-4000-8000-%012d", i) }

// Result returns a full PROCESSED/PASSED Platform result for execution
// number i, with every personal field set (see PersonalData).
func Result(i int) events.Result {
	at := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	received := time.Now().UTC()
	score := 12.5
	return events.Result{
		SchemaVersion: events.ResultSchemaVersion,
		IDs: events.IDs{
			EventID:             events.EventID("notifiertest", strconv.Itoa(i)),
			AccountID:           AccountID(i),
			WorkflowExecutionID: ExecutionID(i),
			UserReference:       "user-ref",
		},
		Source:   events.Source{API: events.APIPlatform, Kind: events.KindWorkflow, Region: "amer-1", WorkflowDefinitionKey: "10011", Product: "ID + Identity"},
		Status:   events.StatusProcessed,
		Decision: events.Decision{Type: events.DecisionPassed, Label: "PASSED", RiskScore: &score},
		Reasons:  []events.Reason{},
		Capabilities: []events.Capability{
			{Name: "extraction", ID: "c1", Decision: events.DecisionPassed, Label: "OK", CredentialIDs: []string{"cred-1"}},
		},
		Document: &events.Document{Type: "PASSPORT", IssuingCountry: "USA", Number: "P1234567", ExpiryDate: "2030-01-01"},
		Person: &events.Person{
			FirstName: "JANE", LastName: "DOE", DateOfBirth: "1990-02-03",
			Address: &events.Address{Line1: "1 MAIN ST", City: "SPRINGFIELD", Country: "USA"},
		},
		Images:     []events.ImageRef{{Category: "ID", Classifier: "FRONT", Href: "https://retrieval.amer-1.jumio.ai/api/v1/images/secret-front"}},
		Timestamps: events.Timestamps{Created: &at, Completed: &at, CallbackSent: &at, Received: &received},
	}
}

// sameTime compares times by instant, as JSON round trips them.
func sameTime(a, b time.Time) bool { return a.Equal(b) }
