package wire

import (
	"encoding/json"
	"strings"
)

// Link is an {id, href} reference in Platform payloads. kycflow never
// follows Href: retrieval URLs are built from ids and the configured region.
type Link struct {
	ID   string `json:"id"`
	Href string `json:"href,omitempty"`
}

// Callback is a Jumio Platform callback body (JSON). It carries status and
// ids only, no personal data.
// https://documentation.jumio.ai/docs/developer-resources/callback
type Callback struct {
	// CallbackSentAt is when Jumio sent the callback.
	CallbackSentAt Time `json:"callbackSentAt"`
	// UserReference is echoed from the account request; kycflow may put a
	// signed token in it (see SignUserReference).
	UserReference     string            `json:"userReference,omitempty"`
	WorkflowExecution CallbackExecution `json:"workflowExecution"`
	Account           Link              `json:"account"`
}

// CallbackExecution is the workflowExecution object of a Platform callback.
type CallbackExecution struct {
	ID   string `json:"id"`
	Href string `json:"href,omitempty"`
	// DefinitionKey is the workflow definition key; Jumio documents a
	// string but numbers are accepted.
	DefinitionKey String `json:"definitionKey,omitempty"`
	// Status is PROCESSED, SESSION_EXPIRED, TOKEN_EXPIRED or a value Jumio
	// adds later.
	Status string `json:"status"`
}

// NetverifyCallback is a Netverify ID-verification callback
// (callBackType NETVERIFYID), decoded from its form fields. JSON-valued
// fields are decoded; "N/A" values are empty.
// https://github.com/Jumio/implementation-guides/blob/master/netverify/callback.md
type NetverifyCallback struct {
	CallbackType         string
	ScanReference        string // jumioIdScanReference
	VerificationStatus   string
	IDScanStatus         string
	IDScanSource         string
	IDChecks             map[string]string // idCheckDataPositions, … keyed by their form names
	TransactionDate      Time
	CallbackDate         Time
	FirstAttemptDate     Time
	IDType               string
	IDSubtype            string
	IDCountry            string
	IDNumber             string
	IDFirstName          string
	IDLastName           string
	IDDob                string
	IDExpiry             string
	IDUSState            string
	PersonalNumber       string
	IssuingDate          string
	Gender               string
	Nationality          string
	Address              *NetverifyAddress
	MerchantIDScanRef    string // merchantIdScanReference
	MerchantReporting    string // merchantReportingCriteria
	CustomerID           string
	ClientIP             string
	IDScanImage          string
	IDScanImageFace      string
	IDScanImageBackside  string
	LivenessImages       []string
	RejectReason         *RejectReason
	IdentityVerification *IdentityVerification
	// Extra holds every other non-empty field by its form name.
	Extra map[string]string
}

// NetverifyAddress is Netverify's RAW address JSON (idAddress, document.address).
type NetverifyAddress struct {
	Line1            String `json:"line1,omitempty"`
	Line2            String `json:"line2,omitempty"`
	Line3            String `json:"line3,omitempty"`
	Line4            String `json:"line4,omitempty"`
	Line5            String `json:"line5,omitempty"`
	Country          String `json:"country,omitempty"`
	PostalCode       String `json:"postalCode,omitempty"`
	City             String `json:"city,omitempty"`
	Subdivision      String `json:"subdivision,omitempty"`
	StateCode        String `json:"stateCode,omitempty"`
	FormattedAddress String `json:"formattedAddress,omitempty"`
}

// IdentityVerification is Netverify's identityVerification JSON.
type IdentityVerification struct {
	// Similarity is MATCH, NO_MATCH or NOT_POSSIBLE.
	Similarity String `json:"similarity,omitempty"`
	// Validity arrives as a boolean or a string in any case.
	Validity Bool `json:"validity"`
	// Reason is set when Validity is false.
	Reason String `json:"reason,omitempty"`
}

// NetverifyAuthCallback is a Netverify authentication callback
// (callBackType NETVERIFY_AUTHENTICATION).
type NetverifyAuthCallback struct {
	CallbackType                   string
	TransactionReference           string
	EnrollmentTransactionReference string
	// TransactionResult is PASSED, FAILED, INVALID or EXPIRED.
	TransactionResult string
	TransactionDate   Time
	CallbackDate      Time
	ScanSource        string
	IDScanImageFace   string
	LivenessImages    []string
	UserReference     string
}

// NetverifyDocumentCallback is a Netverify document-verification callback
// (no callBackType; scanReference plus JSON transaction and document).
type NetverifyDocumentCallback struct {
	ScanReference string
	Timestamp     Time
	Transaction   NetverifyDocTransaction
	Document      NetverifyDocument
}

// NetverifyDocTransaction is the transaction JSON of a DV callback.
type NetverifyDocTransaction struct {
	Date                      Time   `json:"date"`
	Status                    String `json:"status"` // DONE, FAILED
	Source                    String `json:"source"` // DOC_UPLOAD, DOC_API, DOC_SDK
	MerchantScanReference     String `json:"merchantScanReference,omitempty"`
	CustomerID                String `json:"customerId,omitempty"`
	MerchantReportingCriteria String `json:"merchantReportingCriteria,omitempty"`
}

// NetverifyDocument is the document JSON of a DV callback.
type NetverifyDocument struct {
	Status             String          `json:"status"` // UPLOADED, EXTRACTED, DISCARDED
	Country            String          `json:"country,omitempty"`
	Type               String          `json:"type,omitempty"` // CC, BS, UB, …
	CustomDocumentCode String          `json:"customDocumentCode,omitempty"`
	Images             []string        `json:"images,omitempty"`
	OriginalDocument   String          `json:"originalDocument,omitempty"`
	ExtractedData      json.RawMessage `json:"extractedData,omitempty"`
}

// ---- Platform Retrieval API -------------------------------------------------

// WorkflowStatus is the response of the workflow status endpoint.
type WorkflowStatus struct {
	Account           Link              `json:"account"`
	WorkflowExecution CallbackExecution `json:"workflowExecution"`
}

// WorkflowDetails is the response of the workflow details endpoint
// (GET /api/v1/accounts/{accountId}/workflow-executions/{id}).
type WorkflowDetails struct {
	Workflow    WorkflowInfo     `json:"workflow"`
	Account     Link             `json:"account"`
	CreatedAt   Time             `json:"createdAt"`
	StartedAt   Time             `json:"startedAt"`
	CompletedAt Time             `json:"completedAt"`
	WipedOutAt  Time             `json:"wipedOutAt"`
	Decision    WorkflowDecision `json:"decision"`
	Steps       *struct {
		Href string `json:"href,omitempty"`
	} `json:"steps,omitempty"`
	Credentials []Credential `json:"credentials,omitempty"`
	// Capabilities maps a capability name (usability, imageChecks,
	// extraction, …) to its entries, one per evaluated credential. Unknown
	// capability names are kept.
	Capabilities map[string][]CapabilityEntry `json:"capabilities,omitempty"`
}

// WorkflowInfo is the workflow object of the details response.
type WorkflowInfo struct {
	ID                        string `json:"id"`
	Status                    string `json:"status"`
	DefinitionKey             String `json:"definitionKey,omitempty"`
	UserReference             String `json:"userReference,omitempty"`
	CustomerInternalReference String `json:"customerInternalReference,omitempty"`
}

// WorkflowDecision is a decision object: {type, details.label, risk.score}.
type WorkflowDecision struct {
	Type    string `json:"type"`
	Details struct {
		Label string `json:"label,omitempty"`
	} `json:"details"`
	Risk *struct {
		Score *float64 `json:"score,omitempty"`
	} `json:"risk,omitempty"`
}

// Label returns details.label.
func (d WorkflowDecision) Label() string { return d.Details.Label }

// RiskScore returns risk.score, or nil when absent.
func (d WorkflowDecision) RiskScore() *float64 {
	if d.Risk == nil {
		return nil
	}
	return d.Risk.Score
}

// Credential is one credential of a workflow execution.
type Credential struct {
	ID       string           `json:"id"`
	Category string           `json:"category"`
	ClientIP string           `json:"clientIp,omitempty"`
	Parts    []CredentialPart `json:"parts,omitempty"`
}

// CredentialPart is one part (image) of a credential. FACEMAP parts have no
// Href.
type CredentialPart struct {
	Classifier  string `json:"classifier"`
	Href        string `json:"href,omitempty"`
	CaptureType string `json:"captureType,omitempty"`
}

// CapabilityEntry is one capability result.
type CapabilityEntry struct {
	ID          string           `json:"id"`
	Credentials []CredentialRef  `json:"credentials,omitempty"`
	Decision    WorkflowDecision `json:"decision"`
	// ValidFaceMapForAuthentication is set on liveness entries.
	ValidFaceMapForAuthentication string `json:"validFaceMapForAuthentication,omitempty"`
	// Data is the capability's data as Jumio sent it; its shape depends
	// on the capability (ExtractionData for extraction).
	Data json.RawMessage `json:"data,omitempty"`
}

// CredentialRef refers to a credential from a capability entry.
type CredentialRef struct {
	ID       string `json:"id"`
	Category string `json:"category,omitempty"`
}

// ExtractionData is the data of an extraction capability entry. "N/A"
// values decode as empty.
type ExtractionData struct {
	Type           String            `json:"type,omitempty"`
	SubType        String            `json:"subType,omitempty"`
	IssuingCountry String            `json:"issuingCountry,omitempty"`
	FirstName      String            `json:"firstName,omitempty"`
	LastName       String            `json:"lastName,omitempty"`
	DateOfBirth    String            `json:"dateOfBirth,omitempty"`
	ExpiryDate     String            `json:"expiryDate,omitempty"`
	IssuingDate    String            `json:"issuingDate,omitempty"`
	DocumentNumber String            `json:"documentNumber,omitempty"`
	PersonalNumber String            `json:"personalNumber,omitempty"`
	State          String            `json:"state,omitempty"`
	Gender         String            `json:"gender,omitempty"`
	Nationality    String            `json:"nationality,omitempty"`
	Address        *NetverifyAddress `json:"address,omitempty"`
}

// Steps is the response of the steps endpoint.
type Steps struct {
	Steps []Step `json:"steps"`
}

// Step is one workflow step.
type Step struct {
	ID            string           `json:"id"`
	Name          string           `json:"name"`
	CapabilityIDs []string         `json:"capabilityIds,omitempty"`
	Decision      WorkflowDecision `json:"decision"`
}

// ---- Netverify Retrieval API ------------------------------------------------

// NetverifyScanStatus is the response of GET /api/netverify/v2/scans/{ref}.
type NetverifyScanStatus struct {
	Timestamp     Time   `json:"timestamp"`
	ScanReference string `json:"scanReference"`
	// Status is PENDING, DONE or FAILED.
	Status string `json:"status"`
}

// NetverifyData is the response of GET /api/netverify/v2/scans/{ref}/data.
type NetverifyData struct {
	Timestamp     Time                     `json:"timestamp"`
	ScanReference string                   `json:"scanReference"`
	Document      NetverifyDataDocument    `json:"document"`
	Transaction   NetverifyDataTransaction `json:"transaction"`
	Verification  NetverifyVerification    `json:"verification"`
	Facemap       *struct {
		Classifier string `json:"classifier,omitempty"`
		Href       string `json:"href,omitempty"`
	} `json:"facemap,omitempty"`
}

// NetverifyDataDocument is the document object of Netverify retrieval.
type NetverifyDataDocument struct {
	Status         String            `json:"status"`
	Type           String            `json:"type,omitempty"`
	IDSubtype      String            `json:"idSubtype,omitempty"`
	IssuingCountry String            `json:"issuingCountry,omitempty"`
	FirstName      String            `json:"firstName,omitempty"`
	LastName       String            `json:"lastName,omitempty"`
	Dob            String            `json:"dob,omitempty"`
	Expiry         String            `json:"expiry,omitempty"`
	IssuingDate    String            `json:"issuingDate,omitempty"`
	Number         String            `json:"number,omitempty"`
	USState        String            `json:"usState,omitempty"`
	PersonalNumber String            `json:"personalNumber,omitempty"`
	Gender         String            `json:"gender,omitempty"`
	Nationality    String            `json:"nationality,omitempty"`
	Address        *NetverifyAddress `json:"address,omitempty"`
}

// NetverifyDataTransaction is the transaction object of Netverify retrieval.
type NetverifyDataTransaction struct {
	Status                    String `json:"status"`
	Source                    String `json:"source,omitempty"`
	Date                      Time   `json:"date"`
	ClientIP                  String `json:"clientIp,omitempty"`
	CustomerID                String `json:"customerId,omitempty"`
	MerchantScanReference     String `json:"merchantScanReference,omitempty"`
	MerchantReportingCriteria String `json:"merchantReportingCriteria,omitempty"`
}

// NetverifyVerification is the verification object of Netverify retrieval.
type NetverifyVerification struct {
	MRZCheck             String                     `json:"mrzCheck,omitempty"`
	RejectReason         *RejectReason              `json:"rejectReason,omitempty"`
	IdentityVerification *IdentityVerification      `json:"identityVerification,omitempty"`
	AdditionalChecks     map[string]json.RawMessage `json:"additionalChecks,omitempty"`
	// ScanReference and Timestamp are set when the object is retrieved on
	// its own (…/data/verification).
	ScanReference string `json:"scanReference,omitempty"`
	Timestamp     Time   `json:"timestamp"`
}

// NetverifyImages is the response of GET /api/netverify/v2/scans/{ref}/images.
// Hrefs point at Jumio and are personal data.
type NetverifyImages struct {
	Timestamp      Time             `json:"timestamp"`
	ScanReference  string           `json:"scanReference"`
	Images         []NetverifyImage `json:"images"`
	LivenessImages []string         `json:"livenessImages,omitempty"`
}

// NetverifyImage is one entry of NetverifyImages: classifier front, face or
// back.
type NetverifyImage struct {
	Classifier string `json:"classifier"`
	Href       string `json:"href"`
}

// Health is the answer of Jumio's status endpoint
// (GET https://status.{region}.jumio.ai): the overall status and one per
// component (api, callback, mobile, processing, retrieval, web), each UP,
// DEGRADED or DOWN, or a value Jumio adds later.
type Health struct {
	Status  String            `json:"status"`
	Details map[string]String `json:"details,omitempty"`
}

// Health statuses.
const (
	HealthUp       = "UP"
	HealthDegraded = "DEGRADED"
	HealthDown     = "DOWN"
)

// Component returns the status of a component (upper case), or the
// overall status when the answer names no such component.
func (h Health) Component(name string) string {
	if v, ok := h.Details[name]; ok && v != "" {
		return strings.ToUpper(string(v))
	}
	return strings.ToUpper(string(h.Status))
}
