package mapping_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
	"github.com/kycflow/kycflow/pkg/mapping"
)

func ExampleFromPlatform() {
	// The callback ingest stored, and the details the enricher retrieved.
	callback := []byte(`{"callbackSentAt":"2024-03-14T11:02:07.5Z",
		"workflowExecution":{"id":"c0ffee00-1111-4222-8333-444455556666","definitionKey":"3","status":"SESSION_EXPIRED"},
		"account":{"id":"deadbeef-0000-4000-8000-000000000001"}}`)
	details := []byte(`{"workflow":{"id":"c0ffee00-1111-4222-8333-444455556666","status":"SESSION_EXPIRED","definitionKey":"3"},
		"account":{"id":"deadbeef-0000-4000-8000-000000000001"},
		"decision":{"type":"REJECTED","details":{"label":"REJECTED"},"risk":{"score":100}},
		"capabilities":{"usability":[{"id":"f1000000-0000-4000-8000-000000000001","decision":{"type":"NOT_EXECUTED","details":{"label":"NOT_UPLOADED"}}}]}}`)

	cb, _ := wire.ParsePlatformCallback(callback)
	ev := cb.Event(wire.RegionEMEA, time.Date(2024, 3, 14, 11, 2, 8, 0, time.UTC), callback)
	var d wire.WorkflowDetails
	_ = json.Unmarshal(details, &d)

	r := mapping.FromPlatform(ev, &d, nil)
	fmt.Println(r.Source.Product)
	fmt.Println(r.Status, r.Decision.Type, r.Decision.Label, *r.Decision.RiskScore)
	fmt.Println(r.VerificationStatus)
	for _, rs := range r.Reasons {
		fmt.Println(rs.Capability, rs.Decision, rs.Label)
	}
	// Output:
	// ID and Identity Verification
	// SESSION_EXPIRED NOT_EXECUTED SESSION_EXPIRED -1
	// NO_ID_UPLOADED
	// usability NOT_EXECUTED NOT_UPLOADED
}

func ExampleFromNetverify() {
	form := "callBackType=NETVERIFYID&jumioIdScanReference=6c7d8e9f-2222-4333-8444-a55566667777" +
		"&verificationStatus=DENIED_FRAUD&callbackDate=2021-05-10T09%3A03%3A00.1Z&idType=PASSPORT&idCountry=USA" +
		"&rejectReason=" + url.QueryEscape(`{"rejectReasonCode":"100","rejectReasonDescription":"MANIPULATED_DOCUMENT",`+
		`"rejectReasonDetails":[{"detailsCode":"1001","detailsDescription":"PHOTO"},{"detailsCode":"1004","detailsDescription":"DOB"}]}`)
	values, _ := url.ParseQuery(form)
	m, _ := wire.ParseNetverifyCallback(values)
	ev := m.Event(wire.RegionAMER, time.Date(2021, 5, 10, 9, 3, 1, 0, time.UTC), form)

	r := mapping.FromNetverify(ev, m, nil)
	fmt.Println(r.Source.API, r.Source.Kind, r.Status, r.Decision.Type, r.VerificationStatus)
	for _, c := range r.Capabilities {
		fmt.Println(c.Name, c.Decision, c.Label)
	}
	for _, rs := range r.Reasons {
		fmt.Println(rs.Label, rs.LegacyRejectCode, rs.LegacyDetailCode)
	}
	// Output:
	// netverify id_verification PROCESSED REJECTED DENIED_FRAUD
	// usability PASSED OK
	// imageChecks REJECTED MANIPULATED_DOCUMENT_DOB
	// imageChecks REJECTED MANIPULATED_DOCUMENT_PHOTO
	// MANIPULATED_DOCUMENT_PHOTO 100 1001
	// MANIPULATED_DOCUMENT_DOB 100 1004
}

func ExampleLegacyStatus() {
	r := events.Result{
		Source:   events.Source{API: events.APIPlatform},
		Status:   events.StatusProcessed,
		Decision: events.Decision{Type: events.DecisionRejected},
		Reasons: []events.Reason{
			{Capability: "usability", Decision: events.DecisionRejected, Label: "BLURRED", LegacyRejectCode: "200", LegacyDetailCode: "2001"},
		},
	}
	fmt.Println(mapping.LegacyStatus(r))
	// Output: ERROR_NOT_READABLE_ID 200 2001
}

func ExampleParseProducts() {
	// As read from KYCFLOW_PRODUCTS.
	products, err := mapping.ParseProducts("10011=Onboarding KYC, 10547=Age check")
	if err != nil {
		fmt.Println(err)
		return
	}
	t := mapping.DefaultTables().WithProducts(products)
	fmt.Println(t.Product("10011"))
	fmt.Println(t.Product("10547"))
	fmt.Println(t.Product("2"))
	// Output:
	// Onboarding KYC
	// Age check
	// ID Verification
}

func ExampleFromNetverifyInitiate() {
	body := []byte(`{"customerInternalReference":"transaction_1234","userReference":"user_1234",
		"successUrl":"https://www.abc.com/success","workflowId":201,
		"presets":[{"index":1,"country":"AUT","type":"PASSPORT"}],"locale":"en-GB","tokenLifetimeInMinutes":60}`)
	req, warnings, err := mapping.FromNetverifyInitiate(body)
	if err != nil {
		fmt.Println(err)
		return
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(req)
	for _, w := range warnings {
		fmt.Println(w.Kind, w)
	}
	// Output:
	// {
	//   "customerInternalReference": "transaction_1234",
	//   "workflowDefinition": {
	//     "key": 3,
	//     "credentials": [
	//       {
	//         "category": "ID",
	//         "country": {
	//           "predefinedType": "DEFINED",
	//           "values": [
	//             "AUT"
	//           ]
	//         },
	//         "type": {
	//           "predefinedType": "DEFINED",
	//           "values": [
	//             "PASSPORT"
	//           ]
	//         }
	//       }
	//     ]
	//   },
	//   "userReference": "user_1234",
	//   "tokenLifetime": "60m",
	//   "web": {
	//     "successUrl": "https://www.abc.com/success",
	//     "locale": "en-GB"
	//   }
	// }
	// changed workflowId: this workflowId allowed camera only; on the Platform the capture method is a Portal setting of the workflow
}

func ExampleFromPerformNetverify() {
	body := []byte(`{"merchantIdScanReference":"txn-1","country":"DEU","idType":"ID_CARD",
		"frontsideImage":"/9j/4AAQ","callbackGranularity":"onAllSteps"}`)
	req, warnings, _ := mapping.FromPerformNetverify(body)
	fmt.Println(req.CustomerInternalReference, req.WorkflowDefinition.Key)
	for _, w := range warnings {
		fmt.Println(w.Kind, w.Field)
	}
	// Output:
	// txn-1 2
	// not_carried callbackGranularity
	// not_carried frontsideImage
	// changed workflowDefinition.key
}
