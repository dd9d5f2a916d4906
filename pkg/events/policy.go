package events

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Policy says which fields of a Result a consumer may see. Routes of the
// notifier name one; Project applies it.
type Policy string

// Field policies.
const (
	// PolicyFull keeps every field.
	PolicyFull Policy = "full"
	// PolicyNoPII drops the person, the image references, the fields kept
	// in Extra, the reporting criteria, the credentials' IP addresses and
	// every document field but its type, sub type and issuing country.
	// Every capability, the reasons, the ids and the legacy
	// identityVerification stay.
	PolicyNoPII Policy = "no_pii"
	// PolicyDecisionOnly keeps the ids (but the reporting criteria),
	// source, status, decision, verificationStatus, identityVerification,
	// unreadable fields, reasons and timestamps: no capabilities, document,
	// person, images, credentials, links or Extra.
	PolicyDecisionOnly Policy = "decision_only"
)

// Policies lists every policy, most permissive first.
var Policies = []Policy{PolicyFull, PolicyNoPII, PolicyDecisionOnly}

// ErrUnknownPolicy is returned (wrapped) by ParsePolicy for a name that is
// not a policy.
var ErrUnknownPolicy = errors.New("events: unknown field policy")

// ParsePolicy reads a policy name ("full", "no_pii", "decision_only"; case
// and surrounding spaces ignored, "-" accepted for "_"). The empty string
// is an error: a route must say what it may see.
func ParsePolicy(s string) (Policy, error) {
	p := Policy(strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "-", "_"))
	if slices.Contains(Policies, p) {
		return p, nil
	}
	return "", fmt.Errorf("%w %q (want full, no_pii or decision_only)", ErrUnknownPolicy, s)
}

// Project returns a copy of r that holds only what policy p allows, with
// Policy set to the policy applied. An unknown policy is applied as
// PolicyDecisionOnly, the most restrictive. The copy shares no slice, map
// or pointer with r, so either can be changed without affecting the other.
// Project is pure and safe for concurrent use.
func Project(r Result, p Policy) Result {
	out := r.Clone()
	switch p {
	case PolicyFull:
	case PolicyNoPII:
		out.Person = nil
		out.Images = nil
		out.Extra = nil
		out.IDs.ReportingCriteria = ""
		for i := range out.Credentials {
			out.Credentials[i].ClientIP = ""
		}
		if d := out.Document; d != nil {
			out.Document = &Document{Type: d.Type, SubType: d.SubType, IssuingCountry: d.IssuingCountry}
			if d.Type == "" && d.SubType == "" && d.IssuingCountry == "" {
				out.Document = nil
			}
		}
	default:
		p = PolicyDecisionOnly
		out.Capabilities = []Capability{}
		out.Document = nil
		out.Person = nil
		out.Images = nil
		out.Credentials = nil
		out.Links = nil
		out.Extra = nil
		out.IDs.ReportingCriteria = ""
	}
	out.Policy = p
	return out
}

// Clone returns a deep copy of r: no slice, map or pointer is shared. Nil
// slices stay nil and empty ones empty, so the JSON is the same.
func (r Result) Clone() Result {
	out := r
	out.Decision.RiskScore = clonePtr(r.Decision.RiskScore)
	out.IdentityVerification = clonePtr(r.IdentityVerification)
	out.UnreadableFields = slices.Clone(r.UnreadableFields)
	out.Reasons = slices.Clone(r.Reasons)
	if r.Capabilities != nil {
		out.Capabilities = make([]Capability, len(r.Capabilities))
		for i, c := range r.Capabilities {
			c.CredentialIDs = slices.Clone(c.CredentialIDs)
			c.CredentialCategories = slices.Clone(c.CredentialCategories)
			c.Data = maps.Clone(c.Data)
			out.Capabilities[i] = c
		}
	}
	if d := r.Document; d != nil {
		c := *d
		c.DrivingLicenseCategories = slices.Clone(d.DrivingLicenseCategories)
		c.ExpiryDateParts = clonePtr(d.ExpiryDateParts)
		c.IssuingDateParts = clonePtr(d.IssuingDateParts)
		out.Document = &c
	}
	if r.Person != nil {
		p := *r.Person
		p.Address = clonePtr(r.Person.Address)
		p.DateOfBirthParts = clonePtr(r.Person.DateOfBirthParts)
		out.Person = &p
	}
	out.Images = slices.Clone(r.Images)
	if r.Credentials != nil {
		out.Credentials = make([]Credential, len(r.Credentials))
		for i, c := range r.Credentials {
			c.Consent = clonePtr(c.Consent)
			out.Credentials[i] = c
		}
	}
	out.Links = clonePtr(r.Links)
	if r.Extra != nil {
		out.Extra = make(map[string]JSONValue, len(r.Extra))
		for k, v := range r.Extra {
			out.Extra[k] = slices.Clone(v)
		}
	}
	out.Timestamps = Timestamps{
		Created:      clonePtr(r.Timestamps.Created),
		Started:      clonePtr(r.Timestamps.Started),
		Completed:    clonePtr(r.Timestamps.Completed),
		CallbackSent: clonePtr(r.Timestamps.CallbackSent),
		Received:     clonePtr(r.Timestamps.Received),
		Enriched:     clonePtr(r.Timestamps.Enriched),
		WipedOut:     clonePtr(r.Timestamps.WipedOut),
	}
	out.Migration = clonePtr(r.Migration)
	return out
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
