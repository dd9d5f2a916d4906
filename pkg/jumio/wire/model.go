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
	// IdentityFields are the optional, activation-dependent fields named
	// as in retrieval and Platform extraction data (dni, curp, cpf,
	// placeOfBirth, issuingAuthority, dlCategories, …).
	IdentityFields
	// OptionalData1 and OptionalData2 are the MRZ optional fields.
	OptionalData1 string
	OptionalData2 string
	// OriginDob is the date of birth as printed, when IDDob had to be
	// completed (parts missing on HKG and IND documents are filled with 01).
	OriginDob string
	// DLCarPermission is YES, NO or NOT_READABLE.
	DLCarPermission string
	// PresetCountry and PresetIDType are the presets the transaction was
	// initiated with.
	PresetCountry string
	PresetIDType  string
	// Facemap is the link to the facemap, when enabled.
	Facemap string
	// Extra holds every other non-empty field by its form name.
	Extra map[string]string
}

// IdentityFields are identity fields that Netverify callbacks, Netverify
// retrieval documents and Platform extraction data name alike (docs/jumio.md
// 2.3, 4.6, 5). All are personal data.
type IdentityFields struct {
	IssuingAuthority             String       `json:"issuingAuthority,omitempty"`
	IssuingPlace                 String       `json:"issuingPlace,omitempty"`
	IssuingNumber                String       `json:"issuingNumber,omitempty"`
	PassportNumber               String       `json:"passportNumber,omitempty"`
	DurationOfStay               String       `json:"durationOfStay,omitempty"`
	NumberOfEntries              String       `json:"numberOfEntries,omitempty"`
	VisaCategory                 String       `json:"visaCategory,omitempty"`
	PlaceOfBirth                 String       `json:"placeOfBirth,omitempty"`
	MothersName                  String       `json:"mothersName,omitempty"`
	FathersName                  String       `json:"fathersName,omitempty"`
	DNI                          String       `json:"dni,omitempty"`
	CURP                         String       `json:"curp,omitempty"`
	CPF                          String       `json:"cpf,omitempty"`
	PESEL                        String       `json:"pesel,omitempty"`
	TaxNumber                    String       `json:"taxNumber,omitempty"`
	RegistrationNumber           String       `json:"registrationNumber,omitempty"`
	PersonalIdentificationNumber String       `json:"personalIdentificationNumber,omitempty"`
	RGNumber                     String       `json:"rgNumber,omitempty"`
	VoterIDNumber                String       `json:"voterIdNumber,omitempty"`
	DLCategories                 []DLCategory `json:"dlCategories,omitempty"`
}

// DLCategory is one driving-licence category (dlCategories).
type DLCategory struct {
	Category   String `json:"category,omitempty"`
	IssueDate  String `json:"issueDate,omitempty"`
	ExpiryDate String `json:"expiryDate,omitempty"`
	// IsReadable arrives as a boolean or a string.
	IsReadable   String `json:"isReadable,omitempty"`
	Availability String `json:"availability,omitempty"`
}

// DateParts are the parts of a date Jumio could read
// (expiryDateParts, dateOfBirthParts, issuingDateParts); missing parts are
// empty.
type DateParts struct {
	Year  String `json:"year,omitempty"`
	Month String `json:"month,omitempty"`
	Day   String `json:"day,omitempty"`
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

// IdentityVerification is Netverify's identityVerification JSON. It
// decodes field by field (UnmarshalJSON): a field of another shape is left
// out and named in Warnings.
type IdentityVerification struct {
	// Similarity is MATCH, NO_MATCH or NOT_POSSIBLE.
	Similarity String `json:"similarity,omitempty"`
	// Validity arrives as a boolean or a string in any case.
	Validity Bool `json:"validity"`
	// Reason is set when Validity is false.
	Reason String `json:"reason,omitempty"`
	// SimilarityScore, SimilarityDecision (MANUAL or AUTOMATED) and
	// HandwrittenNoteMatches are sent only where Jumio enabled them.
	SimilarityScore        String `json:"similarityScore,omitempty"`
	SimilarityDecision     String `json:"similarityDecision,omitempty"`
	HandwrittenNoteMatches String `json:"handwrittenNoteMatches,omitempty"`
	// Warnings name the fields that could not be read and were left out
	// ("similarity", "validity", …); names only, never values.
	Warnings []string `json:"-"`
	// Extra holds the fields this type does not name, by name.
	Extra map[string]json.RawMessage `json:"-"`
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
	// Extra holds every other non-empty field by its form name.
	Extra map[string]string
}

// NetverifyDocumentCallback is a Netverify document-verification callback
// (no callBackType; scanReference plus JSON transaction and document).
type NetverifyDocumentCallback struct {
	ScanReference string
	Timestamp     Time
	Transaction   NetverifyDocTransaction
	Document      NetverifyDocument
	// Extra holds every other non-empty form field by its form name, and
	// the keys of transaction and document this type does not name
	// ("document.<key>").
	Extra map[string]string
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
	// CapabilityOrder names the capabilities in the order Jumio sent them.
	CapabilityOrder []string `json:"-"`
	// Warnings name the fields that could not be read and were left out
	// ("decision", "credentials[1].parts", "capabilities", …); names only,
	// never values. See UnmarshalJSON.
	Warnings []string `json:"-"`
	// Extra holds the fields this type does not name, by path
	// ("feedback", "workflow.<key>", "credentials[0].<key>", …).
	Extra map[string]json.RawMessage `json:"-"`
}

// WorkflowInfo is the workflow object of the details response.
type WorkflowInfo struct {
	ID                        string `json:"id"`
	Status                    string `json:"status"`
	DefinitionKey             String `json:"definitionKey,omitempty"`
	UserReference             String `json:"userReference,omitempty"`
	CustomerInternalReference String `json:"customerInternalReference,omitempty"`
	// ReportingCriteria is the account request's reportingCriteria, should
	// Jumio return it (the Platform keeps it, docs/jumio.md 6.1).
	ReportingCriteria String `json:"reportingCriteria,omitempty"`
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
	// RiskUnreadable is set when a risk, or its score, was sent and could
	// not be read (a score "N/A", an object, a risk that is not an
	// object): it is left out, and its outcome is unknown.
	RiskUnreadable bool `json:"-"`
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
	// Consent is the end user's consent given for this credential.
	Consent *CredentialConsent `json:"consent,omitempty"`
}

// CredentialConsent is the consent object of a credential.
type CredentialConsent struct {
	// DecisionAccepted arrives as a boolean or a string.
	DecisionAccepted String `json:"decisionAccepted,omitempty"`
	CollectedBy      String `json:"collectedBy,omitempty"`
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
	// Unreadable is set when the entry, or its decision, could not be read:
	// its outcome is unknown. An entry that is not an object is kept as an
	// empty entry with Unreadable set.
	Unreadable bool `json:"-"`
	// Extra holds the fields this type does not name, by name.
	Extra map[string]json.RawMessage `json:"-"`
}

// CredentialRef refers to a credential from a capability entry.
type CredentialRef struct {
	ID       string `json:"id"`
	Category string `json:"category,omitempty"`
}

// ExtractionData is the data of an extraction capability entry (docs/jumio.md
// 4.6). "N/A" values decode as empty. It decodes field by field
// (UnmarshalJSON): a field of another shape is left out and named in
// Warnings, and keys it does not name are kept in Extra.
type ExtractionData struct {
	Type              String            `json:"type,omitempty"`
	SubType           String            `json:"subType,omitempty"`
	IssuingCountry    String            `json:"issuingCountry,omitempty"`
	FirstName         String            `json:"firstName,omitempty"`
	LastName          String            `json:"lastName,omitempty"`
	DateOfBirth       String            `json:"dateOfBirth,omitempty"`
	ExpiryDate        String            `json:"expiryDate,omitempty"`
	IssuingDate       String            `json:"issuingDate,omitempty"`
	DocumentNumber    String            `json:"documentNumber,omitempty"`
	PersonalNumber    String            `json:"personalNumber,omitempty"`
	State             String            `json:"state,omitempty"`
	Gender            String            `json:"gender,omitempty"`
	Nationality       String            `json:"nationality,omitempty"`
	Address           *NetverifyAddress `json:"address,omitempty"`
	OptionalMRZField1 String            `json:"optionalMrzField1,omitempty"`
	OptionalMRZField2 String            `json:"optionalMrzField2,omitempty"`
	IdentityFields
	ExpiryDateParts  *DateParts `json:"expiryDateParts,omitempty"`
	DateOfBirthParts *DateParts `json:"dateOfBirthParts,omitempty"`
	IssuingDateParts *DateParts `json:"issuingDateParts,omitempty"`
	CurrentAge       String     `json:"currentAge,omitempty"`
	// AdditionalLanguage is the document's data in a second script; its
	// shape is not documented.
	AdditionalLanguage json.RawMessage `json:"additionalLanguage,omitempty"`
	// NFCValidationResult is READ_VALIDATED, READ_ONLY, VALIDATION_FAILED,
	// SKIPPED, … (the document's chip).
	NFCValidationResult String `json:"nfcValidationResult,omitempty"`
	// Warnings name the fields left out; Extra holds those not named here.
	Warnings []string                   `json:"-"`
	Extra    map[string]json.RawMessage `json:"-"`
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
	// Status is ScanPending, ScanDone or ScanFailed.
	Status string `json:"status"`
}

// Netverify scan statuses: the status of /scans/{ref}, and the
// transaction.status of the scan's data.
const (
	ScanPending = "PENDING"
	ScanDone    = "DONE"
	ScanFailed  = "FAILED"
)

// Ended reports whether the data's transaction status says its scan has
// ended (ScanDone or ScanFailed, in any case). A status missing, or
// unreadable (which the decoder leaves out), is no end.
func (d *NetverifyData) Ended() bool {
	s := d.transactionStatus()
	return s == ScanDone || s == ScanFailed
}

// Pending reports whether the data's transaction status says the scan is
// still PENDING.
func (d *NetverifyData) Pending() bool { return d.transactionStatus() == ScanPending }

func (d *NetverifyData) transactionStatus() string {
	if d == nil {
		return ""
	}
	return strings.ToUpper(strings.TrimSpace(string(d.Transaction.Status)))
}

// NetverifyData is the response of GET /api/netverify/v2/scans/{ref}/data.
// It decodes field by field (UnmarshalJSON): a field of another shape is
// left out and named in Warnings, and keys it does not name are kept in
// Extra.
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
	// Warnings name the fields that could not be read and were left out
	// ("verification.identityVerification", "document.status", …); names
	// only, never values.
	Warnings []string `json:"-"`
	// Extra holds the fields this type does not name, by path
	// ("document.<key>", …).
	Extra map[string]json.RawMessage `json:"-"`
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
	OptionalData1  String            `json:"optionalData1,omitempty"`
	OptionalData2  String            `json:"optionalData2,omitempty"`
	IdentityFields
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
