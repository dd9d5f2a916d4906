package mapping

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/events/schema"
)

// resultSchema is schema/result.v1.json, compiled once, with format
// assertions on.
var resultSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	b, err := schema.FS.ReadFile(schema.ResultV1)
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(schema.ResultV1, doc); err != nil {
		return nil, err
	}
	return c.Compile(schema.ResultV1)
})

var (
	eventIDRE = regexp.MustCompile(events.EventIDPattern)
	kinds     = map[events.API][]events.CallbackKind{
		events.APIPlatform:  {events.KindWorkflow},
		events.APINetverify: {events.KindIDVerification, events.KindAuthentication, events.KindDocumentVerification},
	}
	legacyStatuses = []string{"", nvApproved, nvDeniedFraud, nvUnsupportedType, nvUnsupportedCountry, nvNotReadable, nvNoIDUploaded}
)

// invariants returns every way r breaks the rules all results obey; empty
// when it obeys them all. It holds for any input, so the fuzz tests check
// it too.
func invariants(r events.Result) []string {
	var p []string
	bad := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }

	for _, pol := range append([]events.Policy{""}, events.Policies...) {
		v := r
		if pol != "" {
			v = events.Project(r, pol)
		}
		if err := validateSchema(v); err != nil {
			bad("policy %q: schema: %v", pol, err)
		}
	}
	if r.SchemaVersion != events.ResultSchemaVersion {
		bad("schemaVersion %d", r.SchemaVersion)
	}
	if !slices.Contains(kinds[r.Source.API], r.Source.Kind) {
		bad("api %q with kind %q", r.Source.API, r.Source.Kind)
	}
	if r.Source.Region != "" && knownRegion(r.Source.Region) == "" {
		bad("region %q", r.Source.Region)
	}
	if !eventIDRE.MatchString(r.IDs.EventID) || r.IDs.WorkflowExecutionID == "" {
		bad("ids %+v: want an event id and a workflow execution id", r.IDs)
	}
	switch r.Source.API {
	case events.APIPlatform:
		if r.IDs.AccountID == "" || r.IDs.ScanReference != "" {
			bad("platform ids %+v", r.IDs)
		}
	case events.APINetverify:
		if r.IDs.AccountID != "" || r.IDs.ScanReference != r.IDs.WorkflowExecutionID || r.Source.WorkflowDefinitionKey != "" {
			bad("netverify ids %+v, key %q", r.IDs, r.Source.WorkflowDefinitionKey)
		}
	}
	if r.Status == "" || r.Decision.Type == "" {
		bad("status %q, decision %q", r.Status, r.Decision.Type)
	}
	if r.Status.Expired() && (r.Decision.Type != events.DecisionNotExecuted || r.Decision.Label != string(r.Status)) {
		bad("status %s with decision %+v", r.Status, r.Decision)
	}
	if s := r.Decision.RiskScore; s != nil && (*s < -1 || *s > 100) {
		bad("risk score %v", *s)
	}
	if r.Reasons == nil || r.Capabilities == nil {
		bad("nil reasons or capabilities")
	}

	// Capabilities: in order; every one that did not pass is a reason.
	for i, c := range r.Capabilities {
		if c.Name == "" || c.Decision == "" {
			bad("capability %d: %+v", i, c)
		}
		if i > 0 {
			prev := r.Capabilities[i-1]
			if rank(prev.Name) > rank(c.Name) || (rank(prev.Name) == rank(c.Name) && prev.Name > c.Name) ||
				(prev.Name == c.Name && prev.ID > c.ID) {
				bad("capabilities out of order: %s/%s before %s/%s", prev.Name, prev.ID, c.Name, c.ID)
			}
		}
		if c.Decision != events.DecisionPassed && !slices.ContainsFunc(r.Reasons, func(rs events.Reason) bool {
			return rs.Capability == c.Name && rs.Decision == c.Decision && rs.Label == c.Label
		}) {
			bad("capability %s %s %s is not a reason", c.Name, c.Decision, c.Label)
		}
	}
	// Reasons: most severe first, no duplicates, each one a capability.
	for i, rs := range r.Reasons {
		if rs.Decision == events.DecisionPassed {
			bad("reason %d passed", i)
		}
		if i > 0 {
			if severity(r.Reasons[i-1].Decision) > severity(rs.Decision) {
				bad("reasons out of order at %d", i)
			}
			if r.Reasons[i-1] == rs {
				bad("duplicate reason %+v", rs)
			}
		}
		if !slices.ContainsFunc(r.Capabilities, func(c events.Capability) bool {
			return rs.Capability == c.Name && rs.Decision == c.Decision && rs.Label == c.Label
		}) {
			bad("reason %+v has no capability", rs)
		}
		if rs.LegacyDetailCode != "" && rs.LegacyRejectCode == "" {
			bad("reason %+v: detail code without a code", rs)
		}
	}
	for _, ts := range []*time.Time{r.Timestamps.Created, r.Timestamps.Started, r.Timestamps.Completed, r.Timestamps.CallbackSent, r.Timestamps.Received, r.Timestamps.Enriched} {
		if ts != nil && (ts.Location() != time.UTC || ts.IsZero()) {
			bad("timestamp %v not UTC", ts)
		}
	}
	for _, img := range r.Images {
		if u, err := url.Parse(img.Href); err != nil || u.Host == "" || img.Classifier == "" {
			bad("image %s", img)
		}
	}

	// The Netverify equivalent.
	vs, code, detail := LegacyStatus(r)
	if r.Source.API == events.APIPlatform {
		if !slices.Contains(legacyStatuses, vs) || vs != r.VerificationStatus {
			bad("legacy status %q, verificationStatus %q", vs, r.VerificationStatus)
		}
		if code != "" && vs != nvDeniedFraud && vs != nvNotReadable {
			bad("reject code %s with %s", code, vs)
		}
		if detail != "" && code == "" {
			bad("detail %s without code", detail)
		}
	}

	// Projections: copies that share nothing, hold what the policy allows.
	full := events.Project(r, events.PolicyFull)
	full.Policy = ""
	if diff := cmp.Diff(r, full); diff != "" {
		bad("full projection differs:\n%s", diff)
	}
	noPII := events.Project(r, events.PolicyNoPII)
	if d := noPII.Document; noPII.Person != nil || noPII.Images != nil || noPII.Extra != nil || noPII.IDs.ReportingCriteria != "" ||
		(d != nil && !cmp.Equal(*d, events.Document{Type: d.Type, SubType: d.SubType, IssuingCountry: d.IssuingCountry})) ||
		slices.ContainsFunc(noPII.Credentials, func(c events.Credential) bool { return c.ClientIP != "" }) {
		bad("no_pii projection holds personal data")
	}
	only := events.Project(r, events.PolicyDecisionOnly)
	if only.Person != nil || only.Images != nil || only.Document != nil || len(only.Capabilities) != 0 ||
		only.Credentials != nil || only.Extra != nil || only.Links != nil {
		bad("decision_only projection holds more than the decision")
	}

	// A JSON round trip gives the same result.
	b, err := json.Marshal(r)
	if err != nil {
		bad("marshal: %v", err)
	} else {
		var back events.Result
		if err := json.Unmarshal(b, &back); err != nil {
			bad("unmarshal: %v", err)
		} else if diff := cmp.Diff(r, back); diff != "" {
			bad("JSON round trip differs:\n%s", diff)
		}
	}
	return p
}

func validateSchema(r events.Result) error {
	s, err := resultSchema()
	if err != nil {
		return err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return err
	}
	return s.Validate(doc)
}

// personalKeys name the fields of Jumio payloads (and requests) that hold
// personal data; every string below one of them is a personal value.
var personalKeys = map[string]bool{
	"firstName": true, "lastName": true, "idFirstName": true, "idLastName": true, "name": true,
	"dob": true, "idDob": true, "dateOfBirth": true, "placeOfBirth": true, "mothersName": true, "fathersName": true,
	"number": true, "idNumber": true, "documentNumber": true, "personalNumber": true,
	"expiryDate": true, "expiry": true, "idExpiry": true, "issuingDate": true,
	"state": true, "usState": true, "idUsState": true,
	"address": true, "idAddress": true, "clientIp": true, "ipAddress": true, "userIp": true,
	"href": true, "idScanImage": true, "idScanImageFace": true, "idScanImageBackside": true, "livenessImages": true,
	"images": true, "originalDocument": true, "extractedData": true, "validFaceMapForAuthentication": true,
	"searchResultUrl": true, "frontsideImage": true, "backsideImage": true, "faceImage": true,
}

// personalValues returns the personal values of an input (JSON, or a form
// whose JSON-valued fields are decoded): the strings of four or more
// characters below a personal key.
func personalValues(input []byte) []string {
	var doc any
	if json.Unmarshal(input, &doc) != nil {
		values, _ := url.ParseQuery(strings.TrimSpace(string(input)))
		m := map[string]any{}
		for k, vs := range values {
			var v any
			if json.Unmarshal([]byte(vs[0]), &v) != nil {
				v = vs[0]
			}
			m[k] = v
		}
		doc = m
	}
	var out []string
	var walk func(v any, personal bool)
	walk = func(v any, personal bool) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				walk(c, personal || personalKeys[k])
			}
		case []any:
			for _, c := range v {
				walk(c, personal)
			}
		case string:
			if personal && len(v) >= 4 && !strings.EqualFold(v, "N/A") {
				out = append(out, v)
			}
		}
	}
	walk(doc, false)
	return out
}

// idKeys hold ids, which are not personal data and may by chance contain a
// short personal value's digits.
var idKeys = map[string]bool{
	"eventId": true, "accountId": true, "workflowExecutionId": true, "scanReference": true,
	"id": true, "credentialIds": true, "credentialId": true,
	// links hold Jumio URLs made of ids (the steps endpoint).
	"links": true,
}

// leaks returns the personal values found in the strings of r's JSON.
func leaks(r events.Result, personal []string) []string {
	b, _ := json.Marshal(r)
	var doc any
	_ = json.Unmarshal(b, &doc)
	var found []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				if !idKeys[k] {
					walk(c)
				}
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		case string:
			for _, p := range personal {
				if strings.Contains(v, p) {
					found = append(found, p)
				}
			}
		}
	}
	walk(doc)
	return found
}

// TestInvariants checks every golden output against the invariants, and
// that its no_pii and decision_only projections hold none of the personal
// values of its input.
func TestInvariants(t *testing.T) {
	for _, c := range goldenCases(t) {
		out := run(t, c)
		if out.result == nil {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			r := *out.result
			for _, p := range invariants(r) {
				t.Error(p)
			}
			personal := personalValues(out.input)
			if r.Person != nil && len(personal) == 0 {
				t.Errorf("input has a person but no personal values were found")
			}
			for _, pol := range []events.Policy{events.PolicyNoPII, events.PolicyDecisionOnly} {
				if l := leaks(events.Project(r, pol), personal); len(l) > 0 {
					t.Errorf("policy %s leaks %d personal values", pol, len(l))
				}
			}
		})
	}
}

// TestRequestWarningsHoldNoValues checks that no request warning repeats a
// value of the body (other than one that is also a field name, as in the
// seed document's "firstName":"firstName").
func TestRequestWarningsHoldNoValues(t *testing.T) {
	for _, c := range goldenCases(t) {
		out := run(t, c)
		if out.request == nil {
			continue
		}
		var values []string
		keys := map[string]bool{}
		var walk func(v any)
		walk = func(v any) {
			switch v := v.(type) {
			case map[string]any:
				for k, c := range v {
					keys[k] = true
					walk(c)
				}
			case []any:
				for _, c := range v {
					walk(c)
				}
			case string:
				if len(v) >= 4 {
					values = append(values, v)
				}
			}
		}
		var doc any
		_ = json.Unmarshal(out.input, &doc)
		walk(doc)
		for _, w := range out.request.Warnings {
			for _, v := range values {
				if keys[v] {
					continue
				}
				if strings.Contains(w.Message, v) || strings.Contains(w.Field, v) {
					t.Errorf("%s: warning %s repeats a value of the body", c.name, w.Field)
				}
			}
		}
	}
}
