package events

import (
	"bytes"
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

// Documented reports whether d is one of the decision types Jumio
// documents, spelled as Jumio spells it.
func (d DecisionType) Documented() bool {
	switch d {
	case DecisionPassed, DecisionWarning, DecisionRejected, DecisionNotExecuted:
		return true
	}
	return false
}

// Expired reports whether s is SESSION_EXPIRED or TOKEN_EXPIRED: the end
// user did not finish, whatever decision Jumio reported.
func (s Status) Expired() bool {
	return s == StatusSessionExpired || s == StatusTokenExpired
}

// Result is the normalized verification result: one shape whichever Jumio
// API produced it. schema/result.v1.json describes it; docs/mapping.md in
// the repository lists where every field comes from. Each field's comment
// names its sources as "Platform: …" (workflow details of the Retrieval
// API, or the callback) and "Netverify: …" (ID-verification callback,
// retrieval /data, authentication callback, document-verification
// callback).
//
// A Result holds personal data (Person, Document, Images). It implements
// slog.LogValuer and fmt.Stringer and prints ids and the decision only; use
// Project to give a consumer no more than its policy allows.
type Result struct {
	// SchemaVersion is ResultSchemaVersion (1).
	SchemaVersion int `json:"schemaVersion"`
	// IDs identify the verification.
	IDs IDs `json:"ids"`
	// Source says which API, callback kind, region and workflow produced
	// the result.
	Source Source `json:"source"`
	// Status is the workflow status.
	// Platform: workflow.status of the details (the callback's
	// workflowExecution.status when the details have none).
	// Netverify: derived — ID verification: NO_ID_UPLOADED is expired
	// (TOKEN_EXPIRED when nothing shows the user started: no
	// firstAttemptDate and idScanSource WEB; SESSION_EXPIRED otherwise),
	// anything else PROCESSED; retrieval: transaction.status (PENDING →
	// ACQUIRED, DONE → PROCESSED, FAILED → expired); authentication:
	// EXPIRED → TOKEN_EXPIRED, else PROCESSED; document verification:
	// transaction.status (FAILED without a document → SESSION_EXPIRED).
	// "UNKNOWN" when the source gave none.
	Status Status `json:"status"`
	// Decision is the overall decision. An expired status always comes
	// with decision NOT_EXECUTED, whatever Jumio reported.
	Decision Decision `json:"decision"`
	// VerificationStatus is the Netverify verificationStatus, or for
	// Platform results the Netverify-equivalent one, for consumers written
	// against Netverify. Empty when there is no equivalent (decision
	// WARNING, a workflow still running, authentication and document
	// verification results).
	// Platform: derived from status, decision and capabilities (docs/jumio.md
	// 6.5, reverse direction; mapping.LegacyStatus).
	// Netverify: verificationStatus (callback) or document.status
	// (retrieval; for a /data/verification response alone, the status its
	// reject code belongs to).
	VerificationStatus string `json:"verificationStatus,omitempty"`
	// IdentityVerification is the Netverify identityVerification, or for
	// Platform results the Netverify-equivalent one: on Netverify a
	// similarity or liveness failure came as verificationStatus
	// APPROVED_VERIFIED (the document) plus this object (the person), and
	// so it does here, from either API. Absent when there was no
	// similarity or liveness check.
	// Platform: derived from the similarity and liveness capabilities
	// (mapping.LegacyIdentity). Netverify: identityVerification (callback,
	// retrieval verification.identityVerification).
	IdentityVerification *IdentityVerification `json:"identityVerification,omitempty"`
	// UnreadableFields name the fields of the Jumio document that carry a
	// verification outcome and could not be read (truncated JSON, a value
	// of another type), by Jumio's name ("identityVerification",
	// "capabilities.similarity", "decision", …), never their value. A
	// result with unreadable fields is never PASSED: its decision is
	// WARNING, a manual review, unless it is REJECTED (kept) or expired
	// (NOT_EXECUTED, kept); each field also has a capability result with
	// decision WARNING and label UNREADABLE; and its verificationStatus is
	// never APPROVED_VERIFIED. Absent when every field was read.
	UnreadableFields []string `json:"unreadableFields,omitempty"`
	// Reasons are the capabilities that did not pass, most severe first
	// (REJECTED, WARNING, NOT_EXECUTED), and within a decision in the order
	// Jumio sent them; empty (never null) when every capability passed.
	Reasons []Reason `json:"reasons"`
	// Capabilities are every capability result in a fixed order: by
	// capability (usability, imageChecks, extraction, dataChecks, liveness,
	// similarity, authentication, …, unknown names alphabetically), then
	// id, then label. Empty (never null) when there are none.
	Capabilities []Capability `json:"capabilities"`
	// Document is the identity document; absent when nothing was
	// extracted.
	Document *Document `json:"document,omitempty"`
	// Person is the document holder; absent when nothing was extracted.
	Person *Person `json:"person,omitempty"`
	// Images are references to the images Jumio holds, never the images.
	Images []ImageRef `json:"images,omitempty"`
	// Credentials are the credentials of the verification: category,
	// consent and the end user's IP address (personal data).
	// Platform: credentials[] (id, category, clientIp, consent).
	// Netverify: one ID credential carrying clientIp (ID callback,
	// retrieval transaction.clientIp). Absent when there are none.
	Credentials []Credential `json:"credentials,omitempty"`
	// Links are Jumio links that are not personal data.
	Links *Links `json:"links,omitempty"`
	// Extra holds what Jumio sent that has no field of its own in the
	// result, by Jumio's path, as JSON: fields Jumio added after this
	// schema, fields whose contents Jumio does not document (Platform
	// feedback, rules, consent, captureClient; Netverify extractedData),
	// capability data kept out of Capability.Data because it may be
	// personal data (liveness predictedAge, screening searchResultUrl, …),
	// and the Netverify fields without a Platform equivalent (idScanStatus,
	// idCheck*, presetCountry, presetIdType). Paths: "feedback",
	// "workflow.<key>", "credentials[<i>].<key>",
	// "capabilities.<name>[<i>].data.<key>", "document.<key>",
	// "transaction.<key>", "verification.<key>", or a Netverify form
	// field's name in lower case. It may hold personal data: PolicyNoPII
	// and PolicyDecisionOnly drop it. Absent when there is nothing.
	Extra map[string]JSONValue `json:"extra,omitempty"`
	// Timestamps of the verification, all UTC.
	Timestamps Timestamps `json:"timestamps"`
	// Migration links the result of a transaction Jumio migrated from
	// Netverify to the Platform to its Netverify original; absent
	// otherwise. Not personal data: it holds ids.
	// Platform: set by the enricher when the execution is a scan kycflow
	// asked Jumio to migrate (kycflow migrate-data). Netverify: none.
	Migration *Migration `json:"migration,omitempty"`
	// Policy is the field policy Project applied; absent on a result that
	// was not projected (which holds every field).
	Policy Policy `json:"policy,omitempty"`
}

// IDs are the identifiers of one verification. They are not personal data:
// Jumio requires references to hold none.
type IDs struct {
	// EventID is the id of the callback event the result was made from
	// (CallbackEvent.EventID).
	EventID string `json:"eventId"`
	// AccountID is the Jumio account id.
	// Platform: account.id. Netverify: none (empty).
	AccountID string `json:"accountId,omitempty"`
	// WorkflowExecutionID is the workflow execution id; for Netverify the
	// scan reference, which Jumio keeps as the id when it migrates data.
	// Platform: workflow.id (callback workflowExecution.id).
	// Netverify: jumioIdScanReference (ID callback), scanReference
	// (retrieval, document verification), transactionReference
	// (authentication).
	WorkflowExecutionID string `json:"workflowExecutionId"`
	// ScanReference is the Netverify scan (or transaction) reference.
	// Platform: none (empty). Netverify: as WorkflowExecutionID.
	ScanReference string `json:"scanReference,omitempty"`
	// UserReference is the caller's user reference.
	// Platform: workflow.userReference, else the callback's userReference.
	// Netverify: customerId (ID callback), transaction.customerId
	// (retrieval, document verification), userReference (authentication).
	UserReference string `json:"userReference,omitempty"`
	// CustomerInternalReference is the caller's transaction reference.
	// Platform: workflow.customerInternalReference.
	// Netverify: merchantIdScanReference (ID callback),
	// transaction.merchantScanReference (retrieval, document verification).
	CustomerInternalReference string `json:"customerInternalReference,omitempty"`
	// ReportingCriteria is the caller's reporting criteria. Jumio does not
	// require it to be free of personal data: PolicyNoPII and
	// PolicyDecisionOnly drop it.
	// Platform: workflow.reportingCriteria, should Jumio send it (the
	// account request's reportingCriteria). Netverify:
	// merchantReportingCriteria (ID callback),
	// transaction.merchantReportingCriteria (retrieval, document
	// verification).
	ReportingCriteria string `json:"reportingCriteria,omitempty"`
}

// Source says where a result came from.
type Source struct {
	// API is the Jumio API that produced the result.
	API API `json:"api"`
	// Kind is the kind of callback that produced the result: "workflow"
	// for every Platform result; id_verification, authentication or
	// document_verification for Netverify.
	Kind CallbackKind `json:"kind,omitempty"`
	// Region is the Jumio region (amer-1, emea-1, apac-1): the region of
	// the ingest endpoint that received the callback (CallbackEvent.Region).
	// Platform: when the event has none, the region named by the
	// credential part hrefs (parsed, never followed).
	Region string `json:"region,omitempty"`
	// WorkflowDefinitionKey is the Platform workflow definition key.
	// Platform: workflow.definitionKey (callback
	// workflowExecution.definitionKey), a string even when Jumio sent a
	// number. Netverify: none (empty).
	WorkflowDefinitionKey string `json:"workflowDefinitionKey,omitempty"`
	// Product is the product name configured for the workflow: the
	// mapping's product table (built in, overridable by configuration)
	// looked up by the definition key, or for Netverify by
	// "netverify.<kind>". Empty when the table has no entry.
	Product string `json:"product,omitempty"`
	// CaptureSource is how the end user's images reached Jumio.
	// Platform: none (each image's ImageRef.CaptureType says it).
	// Netverify: idScanSource (ID callback: WEB, WEB_CAM, WEB_UPLOAD, API,
	// SDK), transaction.source (retrieval: WEB, WEB-CAM, REDIRECT, …;
	// document verification: DOC_UPLOAD, DOC_API, DOC_SDK), scanSource
	// (authentication: SDK, WEB).
	CaptureSource string `json:"captureSource,omitempty"`
}

// Decision is the overall decision.
type Decision struct {
	// Type is PASSED, WARNING, REJECTED or NOT_EXECUTED. Platform:
	// decision.type (NOT_EXECUTED when the status is expired or Jumio sent
	// none; WARNING for a type Jumio does not document), WARNING instead
	// of a PASSED that the details contradict (a capability WARNING,
	// REJECTED or of an undocumented decision; no capability at all, or
	// none that passed). Netverify: derived from
	// verificationStatus, transactionResult or the document status, then
	// lowered by identity verification and additional checks (a
	// NO_MATCH similarity rejects an APPROVED_VERIFIED ID); an unknown
	// verificationStatus is WARNING (REJECTED for DENIED_… and ERROR_…),
	// never a type of its own. WARNING, never PASSED, when a field
	// carrying an outcome could not be read (UnreadableFields), unless
	// REJECTED or expired. Never PASSED unless the verification ended
	// (status PROCESSED): NOT_EXECUTED, labelled with the status, while
	// it runs (INITIATED, ACQUIRED), WARNING for a status kycflow does
	// not know.
	Type DecisionType `json:"type"`
	// Label is Jumio's decision label. Platform: decision.details.label
	// (the status when expired). Netverify: the type, or for expiry the
	// status; an authentication transactionResult INVALID gives
	// PRECONDITION_NOT_FULFILLED (with type NOT_EXECUTED).
	Label string `json:"label,omitempty"`
	// RiskScore is Jumio's risk score, -1 … 100; absent when Jumio gave
	// none. Platform: decision.risk.score (-1 when expired; a score that
	// cannot be read or lies outside -1 … 100 is absent, and
	// decision.risk.score is an unreadable field). Netverify: none.
	RiskScore *float64 `json:"riskScore,omitempty"`
}

// Reason is one cause of a non-passing decision: a capability that did not
// pass, with its label and, where one maps, the Netverify reject code.
type Reason struct {
	// Capability is the capability's name (Capability.Name).
	// Platform: the key of the capabilities object. Netverify: derived, as
	// Capability.Name (rejectReason → usability, imageChecks or
	// dataChecks; identityVerification → similarity or liveness; …).
	Capability string `json:"capability"`
	// Decision is the capability's decision (Capability.Decision), never
	// PASSED. Platform: capabilities.<name>[].decision.type. Netverify:
	// derived from the field the capability came from.
	Decision DecisionType `json:"decision"`
	// Label is the capability's label (Capability.Label).
	// Platform: capabilities.<name>[].decision.details.label. Netverify:
	// derived (docs/jumio.md 6.4–6.7), e.g. rejectReasonCode 100 →
	// MANIPULATED_DOCUMENT; an unknown value is kept as the label.
	Label string `json:"label"`
	// LegacyRejectCode is the Netverify rejectReasonCode (e.g. "100").
	// Platform: from the capability label by the reverse table of docs/jumio.md
	// 6.5. Netverify: rejectReason.rejectReasonCode.
	LegacyRejectCode string `json:"legacyRejectCode,omitempty"`
	// LegacyDetailCode is the Netverify rejectReasonDetails detailsCode
	// (e.g. "1001"). Platform: from the label, as LegacyRejectCode.
	// Netverify: rejectReason.rejectReasonDetails[].detailsCode.
	LegacyDetailCode string `json:"legacyDetailCode,omitempty"`
}

// Capability is one capability result (one entry per evaluated credential).
type Capability struct {
	// Name is the Platform capability name (usability, imageChecks, …).
	// Platform: the key of the capabilities object (a known name in
	// another case read as the known name), unknown names kept.
	// Netverify: derived (docs/jumio.md 6.4–6.7): rejectReason → usability,
	// imageChecks or dataChecks; identityVerification → similarity and
	// liveness; transactionResult → authentication; additionalChecks →
	// watchlistScreening, addressValidation, proofOfResidency,
	// braCpfValidation; mrzCheck → dataChecks.
	Name string `json:"name"`
	// ID is the capability entry id. Platform: capabilities.<name>[].id.
	// Netverify: none.
	ID string `json:"id,omitempty"`
	// Decision is the entry's decision. Platform: decision.type (an
	// entry without one is unreadable: WARNING / UNREADABLE). Netverify:
	// derived.
	Decision DecisionType `json:"decision"`
	// Label is the entry's label. Platform: decision.details.label.
	// Netverify: derived; an unknown Netverify value is kept as the label.
	Label string `json:"label,omitempty"`
	// CredentialIDs are the credentials the capability evaluated.
	// Platform: credentials[].id. Netverify: none.
	CredentialIDs []string `json:"credentialIds,omitempty"`
	// CredentialCategories are the categories of the credentials the
	// capability evaluated (ID, SELFIE, FACEMAP, DOCUMENT, DATA, …), each
	// once, in that order. Platform: credentials[].category. Netverify:
	// ID for the capabilities of an ID verification's document
	// (usability, imageChecks, extraction, dataChecks), DOCUMENT for
	// document verification; none otherwise.
	CredentialCategories []string `json:"credentialCategories,omitempty"`
	// Data is the capability's data where it is not personal data (for
	// example a similarity value or a liveness type); extraction data goes
	// to Document and Person instead. Platform: a fixed list of keys of
	// capabilities.<name>[].data per capability. Netverify: the value the
	// capability was derived from (similarity, validity, reason,
	// searchResults, mrzCheck, …).
	Data map[string]string `json:"data,omitempty"`
}

// Document describes the identity document. Number, ExpiryDate,
// IssuingDate and State are personal data: PolicyNoPII keeps only Type,
// SubType and IssuingCountry. Document implements slog.LogValuer and
// fmt.Stringer and prints only its type and country.
type Document struct {
	// Type is PASSPORT, DRIVING_LICENSE, ID_CARD, VISA, … or for document
	// verification a Netverify document code (BS, CC, UB, …).
	// Platform: extraction data.type. Netverify: idType (ID callback),
	// document.type (retrieval, document verification).
	Type string `json:"type,omitempty"`
	// SubType. Platform: extraction data.subType. Netverify: idSubtype,
	// document.idSubtype; customDocumentCode for document verification.
	SubType string `json:"subType,omitempty"`
	// IssuingCountry is an ISO 3166-1 alpha-3 code (or XKX).
	// Platform: extraction data.issuingCountry. Netverify: idCountry,
	// document.issuingCountry; document.country for document verification.
	IssuingCountry string `json:"issuingCountry,omitempty"`
	// Number is the document number.
	// Platform: extraction data.documentNumber. Netverify: idNumber,
	// document.number.
	Number string `json:"number,omitempty"`
	// ExpiryDate is YYYY-MM-DD as Jumio sent it.
	// Platform: extraction data.expiryDate. Netverify: idExpiry,
	// document.expiry.
	ExpiryDate string `json:"expiryDate,omitempty"`
	// IssuingDate is YYYY-MM-DD as Jumio sent it.
	// Platform: extraction data.issuingDate. Netverify: issuingDate,
	// document.issuingDate.
	IssuingDate string `json:"issuingDate,omitempty"`
	// State is the issuing state or subdivision.
	// Platform: extraction data.state. Netverify: idUsState,
	// document.usState.
	State string `json:"state,omitempty"`
	// PersonalNumber is the personal number printed on the document.
	// Platform: extraction data.personalNumber. Netverify: personalNumber,
	// document.personalNumber.
	PersonalNumber string `json:"personalNumber,omitempty"`
	// OptionalMRZField1 is the first MRZ optional field.
	// Platform: extraction data.optionalMrzField1. Netverify:
	// optionalData1, document.optionalData1.
	OptionalMRZField1 string `json:"optionalMrzField1,omitempty"`
	// OptionalMRZField2 is the second, as OptionalMRZField1
	// (optionalMrzField2, optionalData2).
	OptionalMRZField2 string `json:"optionalMrzField2,omitempty"`
	// IssuingAuthority. Platform: extraction data.issuingAuthority.
	// Netverify: issuingAuthority, document.issuingAuthority.
	IssuingAuthority string `json:"issuingAuthority,omitempty"`
	// IssuingPlace. Platform: extraction data.issuingPlace. Netverify:
	// issuingPlace, document.issuingPlace.
	IssuingPlace string `json:"issuingPlace,omitempty"`
	// IssuingNumber. Platform: extraction data.issuingNumber. Netverify:
	// issuingNumber, document.issuingNumber.
	IssuingNumber string `json:"issuingNumber,omitempty"`
	// PassportNumber is, on a visa, the number of the passport it is in.
	// Platform: extraction data.passportNumber. Netverify: passportNumber.
	PassportNumber string `json:"passportNumber,omitempty"`
	// DurationOfStay of a visa. Platform: extraction data.durationOfStay.
	// Netverify: durationOfStay.
	DurationOfStay string `json:"durationOfStay,omitempty"`
	// NumberOfEntries of a visa. Platform: extraction
	// data.numberOfEntries. Netverify: numberOfEntries.
	NumberOfEntries string `json:"numberOfEntries,omitempty"`
	// VisaCategory. Platform: extraction data.visaCategory. Netverify:
	// visaCategory.
	VisaCategory string `json:"visaCategory,omitempty"`
	// DrivingLicenseCategories are the categories of a driving licence.
	// Platform: extraction data.dlCategories. Netverify: dlCategories.
	DrivingLicenseCategories []DrivingLicenseCategory `json:"drivingLicenseCategories,omitempty"`
	// CarPermission is YES, NO or NOT_READABLE. Platform: none.
	// Netverify: dlCarPermission.
	CarPermission string `json:"carPermission,omitempty"`
	// ExpiryDateParts are the parts of the expiry date Jumio could read.
	// Platform: extraction data.expiryDateParts. Netverify: none.
	ExpiryDateParts *DateParts `json:"expiryDateParts,omitempty"`
	// IssuingDateParts are the parts of the issuing date Jumio could read.
	// Platform: extraction data.issuingDateParts. Netverify: none.
	IssuingDateParts *DateParts `json:"issuingDateParts,omitempty"`
}

// DrivingLicenseCategory is one category of a driving licence (Platform
// extraction data.dlCategories[], Netverify dlCategories[]; same fields).
type DrivingLicenseCategory struct {
	// Category is the category's code (B, C1, …).
	Category string `json:"category,omitempty"`
	// IssueDate is YYYY-MM-DD as Jumio sent it.
	IssueDate string `json:"issueDate,omitempty"`
	// ExpiryDate is YYYY-MM-DD as Jumio sent it.
	ExpiryDate string `json:"expiryDate,omitempty"`
	// IsReadable is "true" or "false" as Jumio sent it.
	IsReadable string `json:"isReadable,omitempty"`
	// Availability is as Jumio sent it.
	Availability string `json:"availability,omitempty"`
}

// DateParts are the parts of a date Jumio could read; a missing part is
// absent.
type DateParts struct {
	// Year is YYYY.
	Year string `json:"year,omitempty"`
	// Month is MM.
	Month string `json:"month,omitempty"`
	// Day is DD.
	Day string `json:"day,omitempty"`
}

// Person describes the document holder. Every field is personal data;
// Person implements slog.LogValuer and fmt.Stringer and prints none.
type Person struct {
	// FirstName. Platform: extraction data.firstName. Netverify:
	// idFirstName, document.firstName.
	FirstName string `json:"firstName,omitempty"`
	// LastName. Platform: extraction data.lastName. Netverify: idLastName,
	// document.lastName.
	LastName string `json:"lastName,omitempty"`
	// DateOfBirth is YYYY-MM-DD as Jumio sent it (possibly partial).
	// Platform: extraction data.dateOfBirth. Netverify: idDob,
	// document.dob.
	DateOfBirth string `json:"dateOfBirth,omitempty"`
	// Gender. Platform: extraction data.gender. Netverify: gender,
	// document.gender.
	Gender string `json:"gender,omitempty"`
	// Nationality. Platform: extraction data.nationality. Netverify:
	// nationality, document.nationality.
	Nationality string `json:"nationality,omitempty"`
	// Address. Platform: extraction data.address. Netverify: idAddress,
	// document.address.
	Address *Address `json:"address,omitempty"`
	// PlaceOfBirth. Platform: extraction data.placeOfBirth. Netverify:
	// placeOfBirth, document.placeOfBirth.
	PlaceOfBirth string `json:"placeOfBirth,omitempty"`
	// MothersName. Platform: extraction data.mothersName. Netverify:
	// mothersName, document.mothersName.
	MothersName string `json:"mothersName,omitempty"`
	// FathersName. Platform: extraction data.fathersName. Netverify:
	// fathersName, document.fathersName.
	FathersName string `json:"fathersName,omitempty"`
	// DNI (Spain, Peru, …). Platform: extraction data.dni. Netverify: dni.
	DNI string `json:"dni,omitempty"`
	// CURP (Mexico). Platform: extraction data.curp. Netverify: curp,
	// document.curp.
	CURP string `json:"curp,omitempty"`
	// CPF (Brazil). Platform: extraction data.cpf. Netverify: cpf,
	// document.cpf.
	CPF string `json:"cpf,omitempty"`
	// PESEL (Poland). Platform: extraction data.pesel. Netverify: none.
	PESEL string `json:"pesel,omitempty"`
	// TaxNumber. Platform: extraction data.taxNumber. Netverify:
	// taxNumber, document.taxNumber.
	TaxNumber string `json:"taxNumber,omitempty"`
	// RegistrationNumber. Platform: extraction data.registrationNumber.
	// Netverify: registrationNumber, document.registrationNumber.
	RegistrationNumber string `json:"registrationNumber,omitempty"`
	// PersonalIdentificationNumber. Platform: extraction
	// data.personalIdentificationNumber. Netverify: <same name>,
	// document.<same name>.
	PersonalIdentificationNumber string `json:"personalIdentificationNumber,omitempty"`
	// RGNumber (Brazil). Platform: extraction data.rgNumber. Netverify:
	// rgNumber, document.rgNumber.
	RGNumber string `json:"rgNumber,omitempty"`
	// VoterIDNumber. Platform: extraction data.voterIdNumber. Netverify:
	// voterIdNumber, document.voterIdNumber.
	VoterIDNumber string `json:"voterIdNumber,omitempty"`
	// DateOfBirthParts are the parts of the date of birth Jumio could
	// read. Platform: extraction data.dateOfBirthParts. Netverify: none.
	DateOfBirthParts *DateParts `json:"dateOfBirthParts,omitempty"`
	// OriginalDateOfBirth is the date of birth as printed, where
	// DateOfBirth had to be completed (missing parts filled with 01).
	// Platform: none (DateOfBirthParts says which parts were read).
	// Netverify: originDob.
	OriginalDateOfBirth string `json:"originalDateOfBirth,omitempty"`
	// CurrentAge is the age Jumio computed from the date of birth.
	// Platform: extraction data.currentAge. Netverify: none.
	CurrentAge string `json:"currentAge,omitempty"`
}

// Address is a postal address as Jumio extracts it (the same sub-fields in
// Platform extraction data.address and Netverify idAddress /
// document.address). Every field is personal data; Address implements
// slog.LogValuer and fmt.Stringer and prints none.
type Address struct {
	// Line1 … Line5 are address.line1 … line5 (Platform) and
	// idAddress.line1 … line5 / document.address.line1 … line5
	// (Netverify).
	Line1 string `json:"line1,omitempty"`
	// Line2: see Line1.
	Line2 string `json:"line2,omitempty"`
	// Line3: see Line1.
	Line3 string `json:"line3,omitempty"`
	// Line4: see Line1.
	Line4 string `json:"line4,omitempty"`
	// Line5: see Line1.
	Line5 string `json:"line5,omitempty"`
	// City is address.city (both APIs).
	City string `json:"city,omitempty"`
	// PostalCode is address.postalCode (both APIs).
	PostalCode string `json:"postalCode,omitempty"`
	// Subdivision is address.subdivision (both APIs), or Netverify's
	// stateCode when subdivision is absent.
	Subdivision string `json:"subdivision,omitempty"`
	// Country is address.country (both APIs), ISO 3166-1 alpha-3.
	Country string `json:"country,omitempty"`
	// Formatted is address.formattedAddress (both APIs).
	Formatted string `json:"formattedAddress,omitempty"`
}

// ImageRef points at an image held by Jumio; kycflow never copies or
// follows it. The Href is personal data; ImageRef implements
// slog.LogValuer and fmt.Stringer and prints it redacted. A []ImageRef
// given to slog's JSON handler as one value is encoded as JSON, unredacted:
// log the Result, or each ImageRef.
//
// Platform: credentials[].parts[] that have an href. Netverify:
// idScanImage (ID/FRONT), idScanImageBackside (ID/BACK), idScanImageFace
// (SELFIE/FACE), livenessImages (FACEMAP/LIVENESS_n), retrieval facemap
// (FACEMAP/FACEMAP), document verification document.images
// (DOCUMENT/PAGE_n) and originalDocument (DOCUMENT/ORIGINAL).
type ImageRef struct {
	// Category is the credential category (ID, SELFIE, FACEMAP, DOCUMENT,
	// …). Platform: credentials[].category. Netverify: by the field the
	// image came from (see the type's comment).
	Category string `json:"category,omitempty"`
	// CredentialID is the credential id. Platform: credentials[].id.
	// Netverify: none.
	CredentialID string `json:"credentialId,omitempty"`
	// Classifier is the part classifier (FRONT, BACK, FACE, LIVENESS_1, …).
	// Platform: parts[].classifier. Netverify: by the field the image came
	// from (see the type's comment).
	Classifier string `json:"classifier"`
	// Href is Jumio's URL of the image, which needs Jumio credentials to
	// fetch; always an absolute http(s) URL. Platform: parts[].href.
	// Netverify: the image field's URL.
	Href string `json:"href"`
	// CaptureType is how the image was captured, as Jumio sent it.
	// Platform: parts[].captureType. Netverify: none (Source.CaptureSource
	// says it for the whole transaction).
	CaptureType string `json:"captureType,omitempty"`
}

// IdentityVerification is Netverify's identityVerification: whether the
// selfie shows the document's holder, and a live person.
type IdentityVerification struct {
	// Similarity is MATCH, NO_MATCH or NOT_POSSIBLE. Platform: similarity
	// data.similarity, else by its decision (PASSED MATCH, REJECTED
	// NO_MATCH, WARNING or NOT_EXECUTED NOT_POSSIBLE).
	Similarity string `json:"similarity,omitempty"`
	// Validity is TRUE or FALSE (liveness). Platform: liveness PASSED is
	// TRUE, REJECTED and WARNING FALSE; NOT_EXECUTED gives none.
	Validity string `json:"validity,omitempty"`
	// Reason says why Validity is FALSE (SELFIE_CROPPED_FROM_ID,
	// MULTIPLE_PEOPLE, …). Platform: from the liveness label (docs/jumio.md
	// 6.6, reverse direction).
	Reason string `json:"reason,omitempty"`
}

// Credential is one credential of a verification.
type Credential struct {
	// ID is the credential id. Platform: credentials[].id. Netverify: none.
	ID string `json:"id,omitempty"`
	// Category is ID, SELFIE, FACEMAP, DOCUMENT, DATA or a category Jumio
	// adds later.
	Category string `json:"category,omitempty"`
	// ClientIP is the end user's IP address: personal data, dropped by
	// PolicyNoPII. Platform: credentials[].clientIp. Netverify: clientIp
	// (ID callback), transaction.clientIp (retrieval).
	ClientIP string `json:"clientIp,omitempty"`
	// Consent is the end user's consent for this credential.
	// Platform: credentials[].consent. Netverify: none.
	Consent *Consent `json:"consent,omitempty"`
}

// Consent is a credential's consent.
type Consent struct {
	// DecisionAccepted is as Jumio sent it ("true", "false").
	DecisionAccepted string `json:"decisionAccepted,omitempty"`
	// CollectedBy is as Jumio sent it.
	CollectedBy string `json:"collectedBy,omitempty"`
}

// Links are Jumio links of a verification that hold no personal data.
// kycflow never follows them.
type Links struct {
	// Steps is the workflow's steps endpoint (per-step decisions: ID_IV,
	// SCREENING, …). Platform: steps.href. Netverify: none.
	Steps string `json:"steps,omitempty"`
}

// Timestamps of one verification, all UTC.
type Timestamps struct {
	// Created. Platform: createdAt. Netverify: transactionDate (ID and
	// authentication callbacks), transaction.date (retrieval, document
	// verification).
	Created *time.Time `json:"created,omitempty"`
	// Started. Platform: startedAt (absent for flows never started).
	// Netverify: firstAttemptDate (ID callback).
	Started *time.Time `json:"started,omitempty"`
	// Completed. Platform: completedAt. Netverify: none.
	Completed *time.Time `json:"completed,omitempty"`
	// CallbackSent is CallbackEvent.CallbackSentAt. Platform:
	// callbackSentAt. Netverify: callbackDate (timestamp for document
	// verification).
	CallbackSent *time.Time `json:"callbackSent,omitempty"`
	// Received is when ingest received the callback
	// (CallbackEvent.ReceivedAt).
	Received *time.Time `json:"received,omitempty"`
	// Enriched is when the enricher made the result; mapping leaves it
	// for the enricher to set.
	Enriched *time.Time `json:"enriched,omitempty"`
	// WipedOut is when the transaction's personal data was deleted at
	// Jumio: the result is a tombstone, with ids, status and decision but
	// no document, person or images. Platform: wipedOutAt of the details.
	// Netverify: none; a callback of a transaction kycflow erased gets a
	// tombstone with the time of the erasure (the enricher sets it).
	WipedOut *time.Time `json:"wipedOut,omitempty"`
}

// OrderTime orders the results of one execution: when Jumio sent the
// callback, else when ingest received it (as the enricher orders an
// execution's callbacks, see CallbackOrderTime); zero when neither is
// known.
func (t Timestamps) OrderTime() time.Time {
	var received time.Time
	if t.Received != nil {
		received = *t.Received
	}
	return CallbackOrderTime(t.CallbackSent, received)
}

// MaxCallbackLead is how far a callback's own time (callbackSentAt,
// callbackDate) may be ahead of when ingest received it and still order
// it as it says. It is the tolerance for a sender's clock ahead of
// kycflow's (beyond it, callbacks order by when they came, and a retry
// that came late can pass a newer callback), and the window in which a
// date forged ahead can have a genuine callback dropped as older.
const MaxCallbackLead = time.Minute

// CallbackOrderTime is the time that orders a callback among its
// execution's: when it says it was sent, but at most MaxCallbackLead
// after it was received (when that is known), else when it was received.
// A date further ahead (a sender's clock or time zone wrong, or a forged
// callback) would make the execution's genuine callbacks sent before it
// look older, and drop them as stale, for as long as the date says.
func CallbackOrderTime(sent *time.Time, received time.Time) time.Time {
	switch {
	case sent == nil || sent.IsZero():
		return received
	case !received.IsZero() && sent.After(received.Add(MaxCallbackLead)):
		return received.Add(MaxCallbackLead)
	}
	return *sent
}

// Migration links a migrated transaction's result to its Netverify
// original.
type Migration struct {
	// ScanReference is the Netverify scan (or transaction) reference of
	// the original. Jumio keeps it as the workflow execution id of the
	// migrated copy, so it equals IDs.WorkflowExecutionID; results of the
	// original carry it in IDs.ScanReference.
	// Platform: workflow.id. Netverify: none.
	ScanReference string `json:"scanReference"`
	// NetverifyDelivered says, on a route whose migrated results are
	// "mark"ed, that the route had delivered a Netverify result of the
	// original: the consumer holds this verification already, under the
	// scan reference. Set by the notifier per route, never by the
	// enricher.
	NetverifyDelivered bool `json:"netverifyDelivered,omitempty"`
}

// EnrichedEvent is what the enricher stores in JUMIO_ENRICHED: the
// normalized result and the raw Jumio document it was made from. Both hold
// personal data; EnrichedEvent implements slog.LogValuer and fmt.Stringer
// and prints ids and the decision only.
type EnrichedEvent struct {
	// SchemaVersion is ResultSchemaVersion.
	SchemaVersion int    `json:"schemaVersion"`
	Result        Result `json:"result"`
	// RawType names the raw document: "platform.workflow-details",
	// "netverify.callback" or "netverify.retrieval-data".
	RawType string `json:"rawType"`
	// Raw is the Jumio document as retrieved (or, for Netverify callbacks,
	// the callback fields as a JSON object). It is absent from tombstones,
	// when the enricher is set to keep no raw documents (data
	// minimisation: RawType still names the document the result was made
	// from), and from notifier dead letters.
	Raw json.RawMessage `json:"raw,omitempty"`
}

// Raw document types of EnrichedEvent.RawType.
const (
	RawPlatformDetails   = "platform.workflow-details"
	RawNetverifyCallback = "netverify.callback"
	RawNetverifyData     = "netverify.retrieval-data"
	// RawTombstone: the result is a tombstone made without a Jumio
	// document (the transaction was erased); Raw is empty.
	RawTombstone = "tombstone"
)

// JSONValue is a JSON value kept as Jumio sent it, compacted (so that two
// encodings of one value are equal bytes, whatever their spacing).
type JSONValue []byte

// MarshalJSON writes the value (null when empty).
func (v JSONValue) MarshalJSON() ([]byte, error) {
	if len(v) == 0 {
		return []byte("null"), nil
	}
	return v, nil
}

// UnmarshalJSON keeps the value, compacted.
func (v *JSONValue) UnmarshalJSON(b []byte) error {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return err
	}
	*v = buf.Bytes()
	return nil
}
