package events

import (
	"encoding/json"
	"time"
)

// ResultSchemaVersion is the version of the Result shape. Additions within a
// version are backward compatible; anything else bumps it.
const ResultSchemaVersion = 1

// DecisionType is Jumio's overall or per-capability decision. Unknown values
// from Jumio pass through unchanged.
type DecisionType string

// Known decision types.
const (
	DecisionPassed      DecisionType = "PASSED"
	DecisionWarning     DecisionType = "WARNING"
	DecisionRejected    DecisionType = "REJECTED"
	DecisionNotExecuted DecisionType = "NOT_EXECUTED"
)

// Status is the workflow status. Unknown values from Jumio pass through
// unchanged.
type Status string

// Known statuses (Platform workflow.status vocabulary).
const (
	StatusInitiated      Status = "INITIATED"
	StatusAcquired       Status = "ACQUIRED"
	StatusProcessed      Status = "PROCESSED"
	StatusSessionExpired Status = "SESSION_EXPIRED"
	StatusTokenExpired   Status = "TOKEN_EXPIRED"
)

// Result is the normalized verification result: one shape whichever Jumio
// API produced it. schema/result.v1.json describes it.
//
// A Result holds personal data (Person, Document, Images). It implements
// slog.LogValuer and logs ids and the decision only; use Project to give a
// consumer no more than its policy allows.
type Result struct {
	// SchemaVersion is ResultSchemaVersion.
	SchemaVersion int      `json:"schemaVersion"`
	IDs           IDs      `json:"ids"`
	Source        Source   `json:"source"`
	Status        Status   `json:"status"`
	Decision      Decision `json:"decision"`
	// VerificationStatus is the Netverify verificationStatus, or for
	// Platform results the Netverify-equivalent one, for consumers written
	// against Netverify. Empty when there is no equivalent.
	VerificationStatus string       `json:"verificationStatus,omitempty"`
	Reasons            []Reason     `json:"reasons"`
	Capabilities       []Capability `json:"capabilities"`
	Document           *Document    `json:"document,omitempty"`
	Person             *Person      `json:"person,omitempty"`
	Images             []ImageRef   `json:"images,omitempty"`
	Timestamps         Timestamps   `json:"timestamps"`
}

// IDs are the identifiers of one verification.
type IDs struct {
	// EventID is the id of the callback event the result was made from.
	EventID string `json:"eventId"`
	// AccountID is the Jumio account id; empty for Netverify.
	AccountID string `json:"accountId,omitempty"`
	// WorkflowExecutionID is the workflow execution id; for Netverify the
	// scan reference, which Jumio keeps as the id when it migrates data.
	WorkflowExecutionID string `json:"workflowExecutionId"`
	// ScanReference is the Netverify scan (or transaction) reference.
	ScanReference string `json:"scanReference,omitempty"`
	// UserReference is the caller's user reference (Netverify customerId).
	UserReference string `json:"userReference,omitempty"`
	// CustomerInternalReference is the caller's transaction reference
	// (Netverify merchantIdScanReference).
	CustomerInternalReference string `json:"customerInternalReference,omitempty"`
}

// Source says where a result came from.
type Source struct {
	API API `json:"api"`
	// Kind is the kind of callback that produced the result.
	Kind CallbackKind `json:"kind,omitempty"`
	// Region is the Jumio region (amer-1, emea-1, apac-1).
	Region string `json:"region,omitempty"`
	// WorkflowDefinitionKey is the Platform workflow definition key.
	WorkflowDefinitionKey string `json:"workflowDefinitionKey,omitempty"`
	// Product is the product name configured for the workflow key.
	Product string `json:"product,omitempty"`
}

// Decision is the overall decision.
type Decision struct {
	Type  DecisionType `json:"type"`
	Label string       `json:"label,omitempty"`
	// RiskScore is Jumio's risk score, -1 … 100; absent when Jumio gave none.
	RiskScore *float64 `json:"riskScore,omitempty"`
}

// Reason is one cause of a non-passing decision: a capability that did not
// pass, with its label and, where one maps, the Netverify reject code.
type Reason struct {
	Capability string       `json:"capability"`
	Decision   DecisionType `json:"decision"`
	Label      string       `json:"label"`
	// LegacyRejectCode is the Netverify rejectReasonCode (e.g. "100").
	LegacyRejectCode string `json:"legacyRejectCode,omitempty"`
	// LegacyDetailCode is the Netverify rejectReasonDetails detailsCode
	// (e.g. "1001").
	LegacyDetailCode string `json:"legacyDetailCode,omitempty"`
}

// Capability is one capability result (one entry per evaluated credential).
type Capability struct {
	// Name is the Platform capability name (usability, imageChecks, …).
	Name     string       `json:"name"`
	ID       string       `json:"id,omitempty"`
	Decision DecisionType `json:"decision"`
	Label    string       `json:"label,omitempty"`
	// CredentialIDs are the credentials the capability evaluated.
	CredentialIDs []string `json:"credentialIds,omitempty"`
	// Data is the capability's data where it is not personal data (for
	// example a similarity value or a liveness type); extraction data goes
	// to Document and Person instead.
	Data map[string]string `json:"data,omitempty"`
}

// Document describes the identity document.
type Document struct {
	Type           string `json:"type,omitempty"`
	SubType        string `json:"subType,omitempty"`
	IssuingCountry string `json:"issuingCountry,omitempty"`
	Number         string `json:"number,omitempty"`
	ExpiryDate     string `json:"expiryDate,omitempty"`
	IssuingDate    string `json:"issuingDate,omitempty"`
	State          string `json:"state,omitempty"`
}

// Person describes the document holder.
type Person struct {
	FirstName   string   `json:"firstName,omitempty"`
	LastName    string   `json:"lastName,omitempty"`
	DateOfBirth string   `json:"dateOfBirth,omitempty"`
	Gender      string   `json:"gender,omitempty"`
	Nationality string   `json:"nationality,omitempty"`
	Address     *Address `json:"address,omitempty"`
}

// Address is a postal address as Jumio extracts it.
type Address struct {
	Line1       string `json:"line1,omitempty"`
	Line2       string `json:"line2,omitempty"`
	Line3       string `json:"line3,omitempty"`
	Line4       string `json:"line4,omitempty"`
	Line5       string `json:"line5,omitempty"`
	City        string `json:"city,omitempty"`
	PostalCode  string `json:"postalCode,omitempty"`
	Subdivision string `json:"subdivision,omitempty"`
	Country     string `json:"country,omitempty"`
	Formatted   string `json:"formattedAddress,omitempty"`
}

// ImageRef points at an image held by Jumio; kycflow never copies images.
type ImageRef struct {
	// Category is the credential category (ID, SELFIE, FACEMAP, …).
	Category string `json:"category,omitempty"`
	// CredentialID is the Platform credential id.
	CredentialID string `json:"credentialId,omitempty"`
	// Classifier is the part classifier (FRONT, BACK, FACE, LIVENESS_1, …).
	Classifier string `json:"classifier"`
	// Href is Jumio's retrieval URL of the image.
	Href string `json:"href,omitempty"`
}

// Timestamps of one verification, all UTC.
type Timestamps struct {
	Created      *time.Time `json:"created,omitempty"`
	Started      *time.Time `json:"started,omitempty"`
	Completed    *time.Time `json:"completed,omitempty"`
	CallbackSent *time.Time `json:"callbackSent,omitempty"`
	Received     *time.Time `json:"received,omitempty"`
	Enriched     *time.Time `json:"enriched,omitempty"`
}

// EnrichedEvent is what the enricher stores in JUMIO_ENRICHED: the
// normalized result and the raw Jumio document it was made from.
type EnrichedEvent struct {
	// SchemaVersion is ResultSchemaVersion.
	SchemaVersion int    `json:"schemaVersion"`
	Result        Result `json:"result"`
	// RawType names the raw document: "platform.workflow-details",
	// "netverify.callback" or "netverify.retrieval-data".
	RawType string `json:"rawType"`
	// Raw is the Jumio document as retrieved (or, for Netverify callbacks,
	// the callback fields as a JSON object).
	Raw json.RawMessage `json:"raw,omitempty"`
}

// Raw document types of EnrichedEvent.RawType.
const (
	RawPlatformDetails   = "platform.workflow-details"
	RawNetverifyCallback = "netverify.callback"
	RawNetverifyData     = "netverify.retrieval-data"
)
