package cli

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/kycflow/kycflow/pkg/events"
)

// TestMaskPlatformDetails: every extraction field of a Platform workflow
// details document (docs/jumio.md 4.6, wire.ExtractionData), the date parts,
// the liveness age estimate, client addresses and image links are masked;
// ids, types, countries, decisions and labels stay.
func TestMaskPlatformDetails(t *testing.T) {
	raw, err := os.ReadFile("../../pkg/jumio/testdata/platform/details-passed.json")
	if err != nil {
		t.Fatal(err)
	}
	// Fields the fixture lacks, from docs/jumio.md 4.6, and one Jumio may add.
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	data := doc["capabilities"].(map[string]any)["extraction"].([]any)[0].(map[string]any)["data"].(map[string]any)
	extra := map[string]any{
		"issuingDateParts": map[string]any{"year": "2022", "month": "01", "day": "15"}, "currentAge": 34, "personalNumber": "PN-998877",
		"optionalMrzField1": "MRZOPT1", "issuingAuthority": "DMV SACRAMENTO", "placeOfBirth": "FRESNO", "mothersName": "MARY DOE",
		"taxNumber": "TX-55443322", "dlCategories": []any{map[string]any{"category": "B", "issueDate": "2010-05-05"}},
		"nfcValidationResult": "READ_VALIDATED", "someFutureField": "FUTURE-VALUE",
	}
	for k, v := range extra {
		data[k] = v
	}
	raw, _ = json.Marshal(doc)
	enriched, _ := json.Marshal(events.EnrichedEvent{SchemaVersion: 1, RawType: events.RawPlatformDetails, Raw: raw})

	for name, in := range map[string][]byte{"details": raw, "enriched event": enriched} {
		got := string(maskPayload(in))
		for _, personal := range []string{"JANE", "DOE", "1990", "2030", "2022", "D1234567", "1 MAIN ST", "SAN JOSE", "95113",
			"203.0.113.10", "24-44", `"predictedAge": 34`, `"currentAge": 34`, "PN-998877", "MRZOPT1", "SACRAMENTO", "FRESNO",
			"TX-55443322", "2010-05-05", "FUTURE-VALUE", "/parts/"} {
			if strings.Contains(got, personal) {
				t.Errorf("%s: masked payload holds %q", name, personal)
			}
		}
		for _, kept := range []string{"9f2c1e7a-3b4d-4c5e-8f60-1a2b3c4d5e6f", "DRIVING_LICENSE", "REGULAR_DRIVING_LICENSE", `"USA"`,
			"IPROOV_STANDARD", "MATCH", "READ_VALIDATED", "PASSED", "10011"} {
			if !strings.Contains(got, kept) {
				t.Errorf("%s: masked payload lost %q", name, kept)
			}
		}
	}
}

// TestMaskNetverify: in every Netverify callback fixture, as a form body
// and as the JSON object an enriched event keeps, and in a retrieval
// document, only ids, statuses, types, dates and check results stay.
func TestMaskNetverify(t *testing.T) {
	forms, err := filepath.Glob("../../pkg/jumio/testdata/netverify/*.form")
	if err != nil || len(forms) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range forms {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		values, err := url.ParseQuery(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		obj := map[string]any{}
		var keptValues, personal []string
		for k, vs := range values {
			obj[k] = vs[0]
			if formKeepKeys[strings.ToLower(k)] {
				keptValues = append(keptValues, vs...)
				continue
			}
			personal = append(personal, vs...)
		}
		asJSON, _ := json.Marshal(obj)
		callback, _ := json.Marshal(events.CallbackEvent{SchemaVersion: 1, API: events.APINetverify, Form: string(b)})
		enriched, _ := json.Marshal(events.EnrichedEvent{SchemaVersion: 1, RawType: events.RawNetverifyCallback, Raw: asJSON})
		for name, in := range map[string][]byte{"form": b, "callback event": callback, "enriched event": enriched} {
			got := string(maskPayload(in))
			if name == "form" {
				got, _ = url.QueryUnescape(got)
			}
			for _, v := range personal {
				if len(v) >= 3 && !slices.Contains(keptValues, v) && strings.Contains(got, v) {
					t.Errorf("%s %s: masked payload holds %q", filepath.Base(f), name, v)
				}
			}
			if id := values.Get("jumioIdScanReference") + values.Get("scanReference") + values.Get("transactionReference"); !strings.Contains(got, id) {
				t.Errorf("%s %s: masked payload lost the reference %q", filepath.Base(f), name, id)
			}
		}
	}

	data, err := os.ReadFile("../../pkg/jumio/testdata/netverify/retrieval-data.json")
	if err != nil {
		t.Fatal(err)
	}
	got := string(maskPayload(data))
	for _, personal := range []string{"JANE", "DOE", "1990-01-01", "2030-12-31", "P1234567", "203.0.113.10"} {
		if strings.Contains(got, personal) {
			t.Errorf("retrieval data: masked payload holds %q", personal)
		}
	}
	for _, kept := range []string{"5b6c7d8e-1111-4222-8333-944455556666", "PASSPORT", "AUT", "APPROVED_VERIFIED", "MATCH"} {
		if !strings.Contains(got, kept) {
			t.Errorf("retrieval data: masked payload lost %q", kept)
		}
	}
}

// TestTailJSONMasks: tail --json masks personal data and still prints
// results that decode; --reveal prints them as stored.
func TestTailJSONMasks(t *testing.T) {
	s := newServer(t)
	r := events.Result{SchemaVersion: 1, IDs: events.IDs{EventID: "e1", AccountID: "4a1b2c3d-5e6f-4711-8899-aabbccddeeff", WorkflowExecutionID: "9f2c1e7a-3b4d-4c5e-8f60-1a2b3c4d5e6f"},
		Status: events.StatusProcessed, Decision: events.Decision{Type: events.DecisionPassed}, Reasons: []events.Reason{},
		Document: &events.Document{Type: "PASSPORT", IssuingCountry: "AUT", Number: "P1234567", ExpiryDate: "2030-12-31", IssuingDate: "2020-12-31", State: "WIEN"},
		Person: &events.Person{FirstName: "JANE", LastName: "DOE", DateOfBirth: "1990-01-01", Gender: "F", Nationality: "AUT",
			Address: &events.Address{Line1: "1 EXAMPLE STREET", City: "SAMPLETOWN", PostalCode: "1010", Country: "AUT"}},
		Images: []events.ImageRef{{Category: "ID", Classifier: "FRONT", Href: "https://retrieval.amer-1.jumio.ai/api/v1/accounts/a/credentials/c/parts/FRONT"}}}
	b, _ := json.Marshal(r)
	m := nats.NewMsg(events.ResultSubject(events.SubjectResults, r.Decision.Type, "10011", r.IDs.AccountID, r.IDs.WorkflowExecutionID))
	m.Data = b
	if _, err := s.js.PublishMsg(t.Context(), m); err != nil {
		t.Fatal(err)
	}

	out := s.kycflow(0, "tail", "--all", "--json", "--count", "1")
	var got events.Result
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("masked output is not a result: %v\n%s", err, out)
	}
	if got.IDs != r.IDs || got.Decision.Type != events.DecisionPassed || got.Document.Type != "PASSPORT" || got.Document.IssuingCountry != "AUT" {
		t.Errorf("masked result lost ids or the decision: %+v", got)
	}
	for _, personal := range []string{"P1234567", "2030-12-31", "2020-12-31", "WIEN", "JANE", "DOE", "1990-01-01", "EXAMPLE", "SAMPLETOWN", "1010", "/parts/"} {
		if strings.Contains(out, personal) {
			t.Errorf("tail --json printed %q", personal)
		}
	}
	if out := s.kycflow(0, "tail", "--all", "--json", "--reveal", "--count", "1"); !strings.Contains(out, "JANE") || !strings.Contains(out, "P1234567") {
		t.Errorf("tail --json --reveal does not print the result as stored:\n%s", out)
	}
	s.kycflow(2, "tail", "--reveal")
}
