package mapping

import (
	"cmp"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// FromPlatform maps Platform workflow details, and the callback event that
// triggered their retrieval, to the normalized result. d may be nil (the
// details could not be retrieved): the result then holds what the event
// says. t may be nil for DefaultTables.
//
// Ids come from the event (the ids ingest verified and retrieval used),
// falling back to the details; the user reference comes from the details,
// falling back to the callback's. The status is workflow.status, falling back
// to the callback's status; SESSION_EXPIRED and TOKEN_EXPIRED give decision
// NOT_EXECUTED whatever decision.type says. Every capability entry is kept,
// in a fixed order; reasons are the entries that did not pass, with the
// Netverify reject code where one maps; the extraction entry fills Document
// and Person; credential parts with an href become image references (never
// followed). VerificationStatus is LegacyStatus of the result. Details
// with wipedOutAt give a tombstone: WipedOut set, no document, person or
// images.
//
// Enriched is left for the caller to set.
func FromPlatform(ev events.CallbackEvent, d *wire.WorkflowDetails, t *Tables) events.Result {
	b := newBuilder(ev, events.APIPlatform, t)
	if d == nil {
		d = &wire.WorkflowDetails{}
	}
	r := &b.r
	r.Source.Kind = events.KindWorkflow

	r.IDs.AccountID = firstID(ev.AccountID, d.Account.ID)
	r.IDs.WorkflowExecutionID = firstID(ev.WorkflowExecutionID, d.Workflow.ID)
	r.IDs.UserReference = firstWord(string(d.Workflow.UserReference), callbackUserReference(ev.JSON))
	r.IDs.CustomerInternalReference = word(d.Workflow.CustomerInternalReference)

	r.Source.WorkflowDefinitionKey = firstWord(string(d.Workflow.DefinitionKey), ev.WorkflowDefinitionKey)
	r.Source.Product = b.t.Product(r.Source.WorkflowDefinitionKey)
	if r.Source.Region == "" {
		r.Source.Region = regionFromParts(d.Credentials)
	}

	r.Status = events.Status(firstWord(d.Workflow.Status, ev.Status))
	r.Decision = events.Decision{
		Type:      events.DecisionType(word(d.Decision.Type)),
		Label:     word(d.Decision.Label()),
		RiskScore: riskScore(d.Decision.RiskScore()),
	}

	for _, name := range slices.Sorted(maps.Keys(d.Capabilities)) {
		if word(name) == "" {
			continue
		}
		for _, c := range d.Capabilities[name] {
			e := b.add(word(name), events.DecisionType(word(c.Decision.Type)), word(c.Decision.Label()), platformData(name, c.Data))
			e.ID = word(c.ID)
			for _, cr := range c.Credentials {
				if id := word(cr.ID); id != "" {
					e.CredentialIDs = append(e.CredentialIDs, id)
				}
			}
		}
	}
	extract(r, d.Capabilities[capExtraction])

	for _, c := range d.Credentials {
		for _, p := range c.Parts {
			b.image(word(c.Category), word(c.ID), word(p.Classifier), p.Href)
		}
	}

	r.Timestamps.Created = utc(d.CreatedAt.Time)
	r.Timestamps.Started = utc(d.StartedAt.Time)
	r.Timestamps.Completed = utc(d.CompletedAt.Time)

	// Wiped out: Jumio deleted the personal data. Whatever extracted data
	// or image link the details still carry is left out, so a tombstone
	// never holds personal data.
	if r.Timestamps.WipedOut = utc(d.WipedOutAt.Time); r.Timestamps.WipedOut != nil {
		r.Document, r.Person, r.Images = nil, nil, nil
	}

	out := b.finish()
	out.VerificationStatus, _, _ = LegacyStatus(out)
	return out
}

// callbackUserReference returns the userReference of the Platform callback
// body an event holds; "" when it has none or does not decode.
func callbackUserReference(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var cb struct {
		UserReference wire.String `json:"userReference"`
	}
	if json.Unmarshal(raw, &cb) != nil {
		return ""
	}
	return string(cb.UserReference)
}

// firstID returns the first well-formed Jumio id (a UUID).
func firstID(ids ...string) string {
	for _, id := range ids {
		if wire.ValidID(id) {
			return id
		}
	}
	return ""
}

func firstWord(a, b string) string { return cmp.Or(word(a), word(b)) }

// regionFromParts returns the region named by the credential part hrefs,
// which are parsed, never followed.
func regionFromParts(creds []wire.Credential) string {
	for _, c := range creds {
		for _, p := range c.Parts {
			if r, ok := wire.RegionFromHref(p.Href); ok {
				return string(r)
			}
		}
	}
	return ""
}

// platformData copies the keys of capabilityData from a capability's data;
// nested keys are written "parent.child", and "faceSearchFindings.count" is
// the number of findings.
func platformData(name string, raw json.RawMessage) map[string]string {
	i := slices.IndexFunc(capabilityData, func(c dataKeys) bool { return c.capability == name })
	if i < 0 || len(raw) == 0 {
		return nil
	}
	m := object(raw)
	out := map[string]string{}
	for _, key := range capabilityData[i].keys {
		var v string
		switch key {
		case "faceSearchFindings.status":
			v = str(object(m["faceSearchFindings"])["status"])
		case "faceSearchFindings.count":
			v = countFindings(object(m["faceSearchFindings"])["findings"])
		default:
			v = str(m[key])
		}
		if v != "" {
			out[key] = v
		}
	}
	return out
}

// countFindings counts face search findings, sent as an array or as one
// string.
func countFindings(raw json.RawMessage) string {
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		return strconv.Itoa(len(list))
	}
	if str(raw) != "" {
		return "1"
	}
	return ""
}

// extract fills Document and Person from the extraction entries: the first
// (by id) that passed and holds data, else the first that holds data.
// "N/A" values are absent.
func extract(r *events.Result, entries []wire.CapabilityEntry) {
	sorted := slices.Clone(entries)
	slices.SortStableFunc(sorted, func(a, b wire.CapabilityEntry) int {
		pa, pb := a.Decision.Type == string(events.DecisionPassed), b.Decision.Type == string(events.DecisionPassed)
		switch {
		case pa && !pb:
			return -1
		case pb && !pa:
			return 1
		}
		return strings.Compare(a.ID, b.ID)
	})
	for _, e := range sorted {
		m := object(e.Data)
		if len(m) == 0 {
			continue
		}
		var addr *wire.NetverifyAddress
		if raw, ok := m["address"]; ok {
			var a wire.NetverifyAddress
			if json.Unmarshal(raw, &a) == nil {
				addr = &a
			}
		}
		// Extraction data has the fields of a Netverify document object,
		// named as in Platform: data.<name>.
		f := func(name string) wire.String { return wire.String(str(m[name])) }
		setIdentity(r, wire.NetverifyDataDocument{
			Type: f("type"), IDSubtype: f("subType"), IssuingCountry: f("issuingCountry"), Number: f("documentNumber"),
			Expiry: f("expiryDate"), IssuingDate: f("issuingDate"), USState: f("state"), FirstName: f("firstName"),
			LastName: f("lastName"), Dob: f("dateOfBirth"), Gender: f("gender"), Nationality: f("nationality"), Address: addr,
		})
		if r.Document != nil || r.Person != nil {
			return
		}
	}
}
