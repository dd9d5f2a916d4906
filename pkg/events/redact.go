package events

import (
	"log/slog"
)

// Redacted stands in for personal data in logs and printed values.
const Redacted = "[redacted]"

// LogValue logs the ids, the source, the status and the decision: never the
// person, the document number or image links.
func (r Result) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("event_id", r.IDs.EventID),
		slog.String("account_id", r.IDs.AccountID),
		slog.String("workflow_execution_id", r.IDs.WorkflowExecutionID),
		slog.String("api", string(r.Source.API)),
		slog.String("kind", string(r.Source.Kind)),
		slog.String("workflow_key", r.Source.WorkflowDefinitionKey),
		slog.String("status", string(r.Status)),
		slog.String("decision", string(r.Decision.Type)),
		slog.String("verification_status", r.VerificationStatus),
		slog.Int("reasons", len(r.Reasons)),
	)
}

// String prints the execution id, status and decision only, so that a
// Result formatted with %v or %+v never prints personal data.
func (r Result) String() string {
	return "result " + r.IDs.WorkflowExecutionID + " " + string(r.Status) + " " + string(r.Decision.Type)
}

// LogValue logs the document's type and issuing country; the number,
// dates and state are redacted.
func (d Document) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("type", d.Type),
		slog.String("sub_type", d.SubType),
		slog.String("issuing_country", d.IssuingCountry),
		slog.String("number", redact(d.Number)),
	)
}

// String prints the document's type and issuing country only.
func (d Document) String() string {
	return "document " + d.Type + " " + d.IssuingCountry
}

// LogValue logs nothing of the person.
func (p Person) LogValue() slog.Value { return slog.StringValue(Redacted) }

// String prints nothing of the person.
func (p Person) String() string { return Redacted }

// LogValue logs nothing of the address.
func (a Address) LogValue() slog.Value { return slog.StringValue(Redacted) }

// String prints nothing of the address.
func (a Address) String() string { return Redacted }

// LogValue logs the category, credential and classifier; the href is
// redacted.
func (i ImageRef) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("category", i.Category),
		slog.String("credential_id", i.CredentialID),
		slog.String("classifier", i.Classifier),
		slog.String("href", redact(i.Href)),
	)
}

// String prints the category and classifier only.
func (i ImageRef) String() string { return "image " + i.Category + "/" + i.Classifier }

// LogValue logs the result's ids and decision and the raw document's type
// and size, never its content (which holds personal data).
func (e EnrichedEvent) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Any("result", e.Result),
		slog.String("raw_type", e.RawType),
		slog.Int("raw_bytes", len(e.Raw)),
	)
}

// String prints what Result.String prints.
func (e EnrichedEvent) String() string { return "enriched " + e.Result.String() }

// String prints the API, kind, execution id and status only: never the
// callback body, which for Netverify holds personal data.
func (e CallbackEvent) String() string {
	return "callback " + string(e.API) + " " + string(e.Kind) + " " + e.WorkflowExecutionID + " " + e.Status
}

// GoString prints what String prints, so that %#v shows no body either.
func (e CallbackEvent) GoString() string { return e.String() }

// GoString prints what String prints, so that %#v shows no personal data.
func (r Result) GoString() string { return r.String() }

// GoString prints what String prints.
func (d Document) GoString() string { return d.String() }

// GoString prints nothing of the person.
func (p Person) GoString() string { return Redacted }

// GoString prints nothing of the address.
func (a Address) GoString() string { return Redacted }

// GoString prints what String prints.
func (i ImageRef) GoString() string { return i.String() }

// GoString prints what String prints.
func (e EnrichedEvent) GoString() string { return e.String() }

// redact returns Redacted for a non-empty value, so a log still says
// whether the value was there.
func redact(s string) string {
	if s == "" {
		return ""
	}
	return Redacted
}

// LogValue logs the category and id; the IP address is personal data.
func (c Credential) LogValue() slog.Value {
	return slog.GroupValue(slog.String("category", c.Category), slog.String("id", c.ID))
}

// String prints the category and id only.
func (c Credential) String() string { return "credential " + c.Category + " " + c.ID }

// GoString prints what String prints.
func (c Credential) GoString() string { return c.String() }

// LogValue logs nothing of the category: its dates are personal data.
func (c DrivingLicenseCategory) LogValue() slog.Value { return slog.StringValue(Redacted) }

// String prints nothing of the category.
func (c DrivingLicenseCategory) String() string { return Redacted }

// GoString prints nothing of the category.
func (c DrivingLicenseCategory) GoString() string { return Redacted }

// LogValue logs nothing of the date.
func (d DateParts) LogValue() slog.Value { return slog.StringValue(Redacted) }

// String prints nothing of the date.
func (d DateParts) String() string { return Redacted }

// GoString prints nothing of the date.
func (d DateParts) GoString() string { return Redacted }
