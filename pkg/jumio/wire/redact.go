package wire

import (
	"log/slog"
	"strconv"

	"github.com/kycflow/kycflow/pkg/events"
)

// The types below hold personal data (names, dates, document numbers,
// addresses, IP addresses, image links), end-user session links or
// tokens. Each implements slog.LogValuer, fmt.Stringer and fmt.GoStringer
// and gives ids, statuses, decisions and document types only, so that
// neither a log nor %v, %+v or %#v prints more. Their JSON encoding is
// unchanged: never log a body.

// LogValue logs the callback type, scan reference and statuses.
func (c NetverifyCallback) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("kind", string(events.KindIDVerification)),
		slog.String("workflow_execution_id", c.ScanReference),
		slog.String("status", c.VerificationStatus),
		slog.String("id_scan_status", c.IDScanStatus),
	)
}

// String prints the scan reference and verification status only.
func (c NetverifyCallback) String() string {
	return "netverify id_verification callback " + c.ScanReference + " " + c.VerificationStatus
}

// GoString prints what String prints.
func (c NetverifyCallback) GoString() string { return c.String() }

// LogValue logs nothing of the address.
func (a NetverifyAddress) LogValue() slog.Value { return slog.StringValue(events.Redacted) }

// String prints nothing of the address.
func (a NetverifyAddress) String() string { return events.Redacted }

// GoString prints nothing of the address.
func (a NetverifyAddress) GoString() string { return events.Redacted }

// LogValue logs the transaction reference and result.
func (c NetverifyAuthCallback) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("kind", string(events.KindAuthentication)),
		slog.String("workflow_execution_id", c.TransactionReference),
		slog.String("status", c.TransactionResult),
	)
}

// String prints the transaction reference and result only.
func (c NetverifyAuthCallback) String() string {
	return "netverify authentication callback " + c.TransactionReference + " " + c.TransactionResult
}

// GoString prints what String prints.
func (c NetverifyAuthCallback) GoString() string { return c.String() }

// LogValue logs the scan reference, the transaction status and the
// document's status, type and country.
func (c NetverifyDocumentCallback) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("kind", string(events.KindDocumentVerification)),
		slog.String("workflow_execution_id", c.ScanReference),
		slog.String("transaction_status", string(c.Transaction.Status)),
		slog.Any("document", c.Document),
	)
}

// String prints the scan reference and document status only.
func (c NetverifyDocumentCallback) String() string {
	return "netverify document_verification callback " + c.ScanReference + " " + string(c.Document.Status)
}

// GoString prints what String prints.
func (c NetverifyDocumentCallback) GoString() string { return c.String() }

// LogValue logs the status, type and country; images and extracted data
// are left out.
func (d NetverifyDocument) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("status", string(d.Status)),
		slog.String("type", string(d.Type)),
		slog.String("country", string(d.Country)),
		slog.Int("images", len(d.Images)),
	)
}

// String prints the status, type and country only.
func (d NetverifyDocument) String() string {
	return "netverify document " + string(d.Status) + " " + string(d.Type) + " " + string(d.Country)
}

// GoString prints what String prints.
func (d NetverifyDocument) GoString() string { return d.String() }

// LogValue logs the ids, status, definition key and decision.
func (d WorkflowDetails) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("account_id", d.Account.ID),
		slog.String("workflow_execution_id", d.Workflow.ID),
		slog.String("workflow_key", string(d.Workflow.DefinitionKey)),
		slog.String("status", d.Workflow.Status),
		slog.String("decision", d.Decision.Type),
		slog.Int("credentials", len(d.Credentials)),
		slog.Int("capabilities", len(d.Capabilities)),
	)
}

// String prints the execution id, status and decision only.
func (d WorkflowDetails) String() string {
	return "workflow details " + d.Workflow.ID + " " + d.Workflow.Status + " " + d.Decision.Type
}

// GoString prints what String prints.
func (d WorkflowDetails) GoString() string { return d.String() }

// LogValue logs the id and category; the client IP and part links are
// left out.
func (c Credential) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("credential_id", c.ID),
		slog.String("category", c.Category),
		slog.Int("parts", len(c.Parts)),
	)
}

// String prints the category and id only.
func (c Credential) String() string { return "credential " + c.Category + " " + c.ID }

// GoString prints what String prints.
func (c Credential) GoString() string { return c.String() }

// LogValue logs the classifier; the href is redacted.
func (p CredentialPart) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("classifier", p.Classifier),
		slog.String("href", redact(p.Href)),
	)
}

// String prints the classifier only.
func (p CredentialPart) String() string { return "credential part " + p.Classifier }

// GoString prints what String prints.
func (p CredentialPart) GoString() string { return p.String() }

// LogValue logs the id and decision; the data (extracted personal data
// for the extraction capability) is left out.
func (e CapabilityEntry) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", e.ID),
		slog.String("decision", e.Decision.Type),
		slog.String("label", e.Decision.Label()),
	)
}

// String prints the id and decision only.
func (e CapabilityEntry) String() string {
	return "capability " + e.ID + " " + e.Decision.Type + " " + e.Decision.Label()
}

// GoString prints what String prints.
func (e CapabilityEntry) GoString() string { return e.String() }

// LogValue logs the document type, sub type and issuing country only.
func (x ExtractionData) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("type", string(x.Type)),
		slog.String("sub_type", string(x.SubType)),
		slog.String("issuing_country", string(x.IssuingCountry)),
	)
}

// String prints the document type and issuing country only.
func (x ExtractionData) String() string {
	return "extraction " + string(x.Type) + " " + string(x.IssuingCountry)
}

// GoString prints what String prints.
func (x ExtractionData) GoString() string { return x.String() }

// LogValue logs the scan reference and the document and transaction
// statuses.
func (d NetverifyData) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("workflow_execution_id", d.ScanReference),
		slog.String("status", string(d.Document.Status)),
		slog.String("transaction_status", string(d.Transaction.Status)),
		slog.Any("document", d.Document),
	)
}

// String prints the scan reference and document status only.
func (d NetverifyData) String() string {
	return "netverify data " + d.ScanReference + " " + string(d.Document.Status)
}

// GoString prints what String prints.
func (d NetverifyData) GoString() string { return d.String() }

// LogValue logs the status, type and issuing country only.
func (d NetverifyDataDocument) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("status", string(d.Status)),
		slog.String("type", string(d.Type)),
		slog.String("issuing_country", string(d.IssuingCountry)),
	)
}

// String prints the status, type and issuing country only.
func (d NetverifyDataDocument) String() string {
	return "netverify document " + string(d.Status) + " " + string(d.Type) + " " + string(d.IssuingCountry)
}

// GoString prints what String prints.
func (d NetverifyDataDocument) GoString() string { return d.String() }

// LogValue logs the status and source; the client IP and references are
// left out.
func (t NetverifyDataTransaction) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("status", string(t.Status)),
		slog.String("source", string(t.Source)),
	)
}

// String prints the status and source only.
func (t NetverifyDataTransaction) String() string {
	return "netverify transaction " + string(t.Status) + " " + string(t.Source)
}

// GoString prints what String prints.
func (t NetverifyDataTransaction) GoString() string { return t.String() }

// LogValue logs the MRZ check and the reject code; additional checks
// (which may link to watchlist search results) are left out.
func (v NetverifyVerification) LogValue() slog.Value {
	code := ""
	if v.RejectReason != nil {
		code = string(v.RejectReason.Code)
	}
	return slog.GroupValue(
		slog.String("workflow_execution_id", v.ScanReference),
		slog.String("mrz_check", string(v.MRZCheck)),
		slog.String("reject_code", code),
	)
}

// String prints the scan reference and MRZ check only.
func (v NetverifyVerification) String() string {
	return "netverify verification " + v.ScanReference + " " + string(v.MRZCheck)
}

// GoString prints what String prints.
func (v NetverifyVerification) GoString() string { return v.String() }

// LogValue logs the scan reference and the number of images; the links
// are left out.
func (im NetverifyImages) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("workflow_execution_id", im.ScanReference),
		slog.Int("images", len(im.Images)),
		slog.Int("liveness_images", len(im.LivenessImages)),
	)
}

// String prints the scan reference and the number of images only.
func (im NetverifyImages) String() string {
	return "netverify images " + im.ScanReference + " " + strconv.Itoa(len(im.Images)+len(im.LivenessImages))
}

// GoString prints what String prints.
func (im NetverifyImages) GoString() string { return im.String() }

// LogValue logs the classifier; the href is redacted.
func (im NetverifyImage) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("classifier", im.Classifier),
		slog.String("href", redact(im.Href)),
	)
}

// String prints the classifier only.
func (im NetverifyImage) String() string { return "netverify image " + im.Classifier }

// GoString prints what String prints.
func (im NetverifyImage) GoString() string { return im.String() }

// LogValue logs the workflow key only: the references are the caller's,
// the callback URL may hold ingest's path secret, and the consent holds
// the end user's IP address and location.
func (r AccountRequest) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("workflow_key", strconv.Itoa(r.WorkflowDefinition.Key)),
		slog.String("callback_url", redact(r.CallbackURL)),
		slog.String("user_consent", redactAny(r.UserConsent != nil)),
	)
}

// String prints the workflow key only.
func (r AccountRequest) String() string {
	return "account request workflow " + strconv.Itoa(r.WorkflowDefinition.Key)
}

// GoString prints what String prints.
func (r AccountRequest) GoString() string { return r.String() }

// LogValue logs nothing of the consent (the end user's IP address and
// location).
func (c UserConsent) LogValue() slog.Value { return slog.StringValue(events.Redacted) }

// String prints nothing of the consent.
func (c UserConsent) String() string { return events.Redacted }

// GoString prints nothing of the consent.
func (c UserConsent) GoString() string { return events.Redacted }

// LogValue logs the account and workflow execution ids; the web link
// (the end user's session) and the SDK and API tokens are left out.
func (r AccountResponse) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("account_id", r.Account.ID),
		slog.String("workflow_execution_id", r.WorkflowExecution.ID),
	)
}

// String prints the account and workflow execution ids only.
func (r AccountResponse) String() string {
	return "account " + r.Account.ID + " workflow execution " + r.WorkflowExecution.ID
}

// GoString prints what String prints.
func (r AccountResponse) GoString() string { return r.String() }

// LogValue logs the id and category; the upload token and links are
// left out.
func (c AccountCredentialInfo) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("credential_id", c.ID),
		slog.String("category", c.Category),
	)
}

// String prints the category and id only.
func (c AccountCredentialInfo) String() string { return "credential " + c.Category + " " + c.ID }

// GoString prints what String prints.
func (c AccountCredentialInfo) GoString() string { return c.String() }

// redact returns events.Redacted for a non-empty value, so a log still
// says whether the value was there.
func redact(s string) string {
	if s == "" {
		return ""
	}
	return events.Redacted
}

// redactAny returns events.Redacted when a value is present.
func redactAny(present bool) string {
	if present {
		return events.Redacted
	}
	return ""
}

// LogValue logs nothing of the category: its dates are personal data.
func (c DLCategory) LogValue() slog.Value { return slog.StringValue(events.Redacted) }

// String prints nothing of the category.
func (c DLCategory) String() string { return events.Redacted }

// GoString prints nothing of the category.
func (c DLCategory) GoString() string { return events.Redacted }

// LogValue logs nothing of the fields.
func (x IdentityFields) LogValue() slog.Value { return slog.StringValue(events.Redacted) }

// String prints nothing of the fields.
func (x IdentityFields) String() string { return events.Redacted }

// GoString prints nothing of the fields.
func (x IdentityFields) GoString() string { return events.Redacted }

// LogValue logs nothing of the date.
func (p DateParts) LogValue() slog.Value { return slog.StringValue(events.Redacted) }

// String prints nothing of the date.
func (p DateParts) String() string { return events.Redacted }

// GoString prints nothing of the date.
func (p DateParts) GoString() string { return events.Redacted }
