package mapping

import (
	"github.com/kycflow/kycflow/pkg/events"
)

// The tables in this file are Jumio's vocabularies and the correspondences
// between them (docs/jumio.md 2.4, 4.6, 6.3–6.7). They are not tenant-specific,
// so they are not configurable. docs/mapping.md is generated from them.

// Capability names (Platform details capabilities.<name>).
const (
	capUsability      = "usability"
	capImageChecks    = "imageChecks"
	capExtraction     = "extraction"
	capDataChecks     = "dataChecks"
	capLiveness       = "liveness"
	capSimilarity     = "similarity"
	capAuthentication = "authentication"
	capWatchlist      = "watchlistScreening"
	capAddress        = "addressValidation"
	capResidency      = "proofOfResidency"
	capDrivingLicense = "drivingLicenseVerification"
	capCPF            = "braCpfValidation"
	capBiometric      = "biometricVerification"
)

// capabilityOrder is the order of capabilities in a result: Jumio's
// dependency chain (usability → imageChecks → extraction → dataChecks, then
// the checks that depend on them). Unknown names follow, alphabetically.
var capabilityOrder = []string{
	capUsability, capImageChecks, capExtraction, capDataChecks, capLiveness, capSimilarity,
	capAuthentication, capWatchlist, capAddress, capResidency, capDrivingLicense, capCPF, capBiometric,
}

var capabilityRank = func() map[string]int {
	m := make(map[string]int, len(capabilityOrder))
	for i, c := range capabilityOrder {
		m[c] = i
	}
	return m
}()

// rank orders capability names: known ones by capabilityOrder, unknown ones
// after them.
func rank(name string) int {
	if r, ok := capabilityRank[name]; ok {
		return r
	}
	return len(capabilityOrder)
}

// idChain is the prerequisite chain of ID capabilities: a capability that
// ran implies that those before it passed.
var idChain = []string{capUsability, capImageChecks, capExtraction, capDataChecks}

// Netverify verificationStatus values.
const (
	nvApproved           = "APPROVED_VERIFIED"
	nvDeniedFraud        = "DENIED_FRAUD"
	nvUnsupportedType    = "DENIED_UNSUPPORTED_ID_TYPE"
	nvUnsupportedCountry = "DENIED_UNSUPPORTED_ID_COUNTRY"
	nvNotReadable        = "ERROR_NOT_READABLE_ID"
	nvNoIDUploaded       = "NO_ID_UPLOADED"
)

// Labels used by the mapping itself.
const (
	labelOK           = "OK"
	labelNotUploaded  = "NOT_UPLOADED"
	labelPrecondition = "PRECONDITION_NOT_FULFILLED"
	labelTechnical    = "TECHNICAL_ERROR"
	// labelMissingData is the label of the extraction result kycflow
	// adds for a PASSED extraction of an ID without the data Jumio
	// names mandatory for one: Jumio's own word for such data.
	labelMissingData = "MISSING_MANDATORY_DATAPOINTS"
	// labelUnreadable is the label of the capability result kycflow adds
	// for a field that carries an outcome and could not be read.
	labelUnreadable = "UNREADABLE"
)

// statusUnknown is the status of a result whose source gave none.
const statusUnknown events.Status = "UNKNOWN"

// target is a capability result that a Netverify value maps to.
type target struct {
	capability string
	decision   events.DecisionType
	label      string
}

// Confidence of a correspondence, as docs/jumio.md rates it.
const (
	confirmed = "confirmed"
	high      = "high"
	medium    = "medium"
	low       = "low"
)

// verificationRow maps a Netverify verificationStatus to the overall
// decision and, when no rejectReason says more, the capabilities (docs/jumio.md
// 6.3, 6.5).
type verificationRow struct {
	status     string
	decision   events.DecisionType
	targets    []target
	confidence string
}

var verificationRows = []verificationRow{
	{nvApproved, events.DecisionPassed, []target{
		{capUsability, events.DecisionPassed, labelOK},
		{capImageChecks, events.DecisionPassed, labelOK},
		{capExtraction, events.DecisionPassed, labelOK},
		{capDataChecks, events.DecisionPassed, labelOK},
	}, confirmed},
	{nvDeniedFraud, events.DecisionRejected, []target{{capImageChecks, events.DecisionRejected, nvDeniedFraud}}, medium},
	{nvNotReadable, events.DecisionRejected, []target{{capUsability, events.DecisionRejected, nvNotReadable}}, medium},
	{nvUnsupportedType, events.DecisionRejected, []target{{capUsability, events.DecisionWarning, "UNSUPPORTED_DOCUMENT_TYPE"}}, high},
	{nvUnsupportedCountry, events.DecisionRejected, []target{{capUsability, events.DecisionWarning, "UNSUPPORTED_COUNTRY"}}, high},
	{nvNoIDUploaded, events.DecisionNotExecuted, []target{{capUsability, events.DecisionNotExecuted, labelNotUploaded}}, medium},
}

// index maps each row by its key; a later row replaces an earlier one.
func index[K comparable, R any](rows []R, key func(R) K) map[K]R {
	m := make(map[K]R, len(rows))
	for _, r := range rows {
		m[key(r)] = r
	}
	return m
}

var verificationIndex = index(verificationRows, func(r verificationRow) string { return r.status })

// rejectRow maps a Netverify rejectReasonCode (and detailsCode) to a
// Platform capability label (docs/jumio.md 2.4, 6.5).
type rejectRow struct {
	code, detail string
	// description is Netverify's rejectReasonDescription (and
	// detailsDescription).
	description string
	// status is the verificationStatus the code belongs to.
	status     string
	to         target
	confidence string
}

func rejected(c, label string) target { return target{c, events.DecisionRejected, label} }

func warned(c, label string) target { return target{c, events.DecisionWarning, label} }

var rejectRows = []rejectRow{
	{"100", "", "MANIPULATED_DOCUMENT", nvDeniedFraud, rejected(capImageChecks, "MANIPULATED_DOCUMENT"), high},
	{"100", "1001", "MANIPULATED_DOCUMENT / PHOTO", nvDeniedFraud, rejected(capImageChecks, "MANIPULATED_DOCUMENT_PHOTO"), high},
	{"100", "1002", "MANIPULATED_DOCUMENT / DOCUMENT_NUMBER", nvDeniedFraud, rejected(capImageChecks, "MANIPULATED_DOCUMENT_DOCUMENT_NUMBER"), high},
	{"100", "1003", "MANIPULATED_DOCUMENT / EXPIRY", nvDeniedFraud, rejected(capImageChecks, "MANIPULATED_DOCUMENT_EXPIRY"), high},
	{"100", "1004", "MANIPULATED_DOCUMENT / DOB", nvDeniedFraud, rejected(capImageChecks, "MANIPULATED_DOCUMENT_DOB"), high},
	{"100", "1005", "MANIPULATED_DOCUMENT / NAME", nvDeniedFraud, rejected(capImageChecks, "MANIPULATED_DOCUMENT_NAME"), high},
	{"100", "1006", "MANIPULATED_DOCUMENT / ADDRESS", nvDeniedFraud, rejected(capImageChecks, "MANIPULATED_DOCUMENT_ADDRESS"), high},
	{"100", "1007", "MANIPULATED_DOCUMENT / SECURITY_CHECKS", nvDeniedFraud, rejected(capImageChecks, "MANIPULATED_DOCUMENT_SECURITY_CHECKS"), high},
	{"100", "1008", "MANIPULATED_DOCUMENT / SIGNATURE", nvDeniedFraud, rejected(capImageChecks, "MANIPULATED_DOCUMENT_SIGNATURE"), high},
	{"100", "1009", "MANIPULATED_DOCUMENT / PERSONAL_NUMBER", nvDeniedFraud, rejected(capImageChecks, "MANIPULATED_DOCUMENT_PERSONAL_NUMBER"), high},
	{"100", "10011", "MANIPULATED_DOCUMENT / PLACE_OF_BIRTH", nvDeniedFraud, rejected(capImageChecks, "MANIPULATED_DOCUMENT_PLACE_OF_BIRTH"), high},
	{"105", "", "FRAUDSTER", nvDeniedFraud, rejected(capDataChecks, "CUSTOMER_FEEDBACK"), low},
	{"106", "", "FAKE", nvDeniedFraud, rejected(capImageChecks, "FAKE"), high},
	{"107", "", "PHOTO_MISMATCH", nvDeniedFraud, rejected(capImageChecks, "GHOST_IMAGE_DIFFERENT"), low},
	{"108", "", "MRZ_CHECK_FAILED", nvDeniedFraud, rejected(capDataChecks, "MRZ_CHECKSUM"), high},
	{"109", "", "PUNCHED_DOCUMENT", nvDeniedFraud, rejected(capImageChecks, "PUNCHED"), high},
	{"110", "", "CHIP_DATA_MANIPULATED", nvDeniedFraud, rejected(capDataChecks, "NFC_CERTIFICATE"), medium},
	{"111", "", "MISMATCH_PRINTED_BARCODE_DATA", nvDeniedFraud, rejected(capDataChecks, "MISMATCHING_DATAPOINTS"), high},
	{"113", "", "MISMATCHING_DATA_REPEATED_FACE", nvDeniedFraud, rejected(capDataChecks, "MISMATCHING_DATA_REPEATED_FACE"), high},
	{"102", "", "PHOTOCOPY_BLACK_WHITE", nvNotReadable, rejected(capUsability, "BLACK_WHITE"), medium},
	{"103", "", "PHOTOCOPY_COLOR", nvNotReadable, rejected(capUsability, "PHOTOCOPY"), high},
	{"104", "", "DIGITAL_COPY", nvNotReadable, rejected(capUsability, "DIGITAL_COPY"), medium},
	{"200", "", "NOT_READABLE_DOCUMENT", nvNotReadable, rejected(capUsability, "BAD_QUALITY_IMAGE"), medium},
	{"200", "2001", "NOT_READABLE_DOCUMENT / BLURRED", nvNotReadable, rejected(capUsability, "BLURRED"), high},
	{"200", "2002", "NOT_READABLE_DOCUMENT / BAD_QUALITY", nvNotReadable, rejected(capUsability, "BAD_QUALITY_IMAGE"), high},
	{"200", "2003", "NOT_READABLE_DOCUMENT / MISSING_PART_DOCUMENT", nvNotReadable, rejected(capUsability, "PART_OF_DOCUMENT_MISSING"), high},
	{"200", "2004", "NOT_READABLE_DOCUMENT / HIDDEN_PART_DOCUMENT", nvNotReadable, rejected(capUsability, "PART_OF_DOCUMENT_HIDDEN"), high},
	{"200", "2005", "NOT_READABLE_DOCUMENT / DAMAGED_DOCUMENT", nvNotReadable, rejected(capUsability, "DAMAGED_DOCUMENT"), high},
	{"200", "2006", "NOT_READABLE_DOCUMENT / GLARE", nvNotReadable, rejected(capUsability, "GLARE"), high},
	{"201", "", "NO_DOCUMENT", nvNotReadable, rejected(capUsability, "NOT_A_DOCUMENT"), high},
	{"202", "", "SAMPLE_DOCUMENT", nvNotReadable, rejected(capImageChecks, "SAMPLE"), high},
	{"206", "", "MISSING_BACK", nvNotReadable, rejected(capUsability, "MISSING_PAGE"), high},
	{"207", "", "WRONG_DOCUMENT_PAGE", nvNotReadable, rejected(capUsability, "MISSING_PAGE"), low},
	{"209", "", "MISSING_SIGNATURE", nvNotReadable, rejected(capUsability, "MISSING_SIGNATURE"), high},
	{"210", "", "CAMERA_BLACK_WHITE", nvNotReadable, rejected(capUsability, "BLACK_WHITE"), high},
	{"211", "", "DIFFERENT_PERSONS_SHOWN", nvNotReadable, warned(capImageChecks, "DIFFERENT_PERSON"), low},
	{"213", "", "INVALID_WATERMARK", nvNotReadable, rejected(capImageChecks, "WATERMARK"), high},
	{"300", "", "MANUAL_REJECTION", nvNotReadable, rejected(capImageChecks, "OTHER_REJECTION"), low},
}

type codeKey struct{ code, detail string }

var rejectIndex = index(rejectRows, func(r rejectRow) codeKey { return codeKey{r.code, r.detail} })

// codeStatus is the verificationStatus a reject code belongs to.
var codeStatus = func() map[string]string {
	m := map[string]string{}
	for _, r := range rejectRows {
		m[r.code] = r.status
	}
	return m
}()

// legacyRow maps a Platform capability result (capability, decision and
// label together: imageChecks WARNING DIFFERENT_PERSON is 211, REJECTED
// DIFFERENT_PERSON has no code) back to the Netverify reject code a legacy
// consumer knows (docs/jumio.md 6.5, reverse direction).
type legacyRow struct {
	capability string
	decision   events.DecisionType
	label      string
	code       string
	detail     string
}

// legacyKey is the key of legacyIndex.
type legacyKey struct {
	capability string
	decision   events.DecisionType
	label      string
}

// legacyRows holds every label with a Netverify code: the reverse of each
// rejectRow, with the preferred row where several Netverify codes map to
// one label, plus older and related labels.
var legacyRows = func() []legacyRow {
	seen := map[legacyKey]bool{}
	var rows []legacyRow
	add := func(r legacyRow) {
		k := legacyKey{r.capability, r.decision, r.label}
		if !seen[k] {
			seen[k] = true
			rows = append(rows, r)
		}
	}
	rej := events.DecisionRejected
	// Preferred where several codes share a label: the high-confidence
	// row of docs/jumio.md 6.5.
	add(legacyRow{capUsability, rej, "PHOTOCOPY", "103", ""})
	add(legacyRow{capUsability, rej, "BLACK_WHITE", "210", ""})
	add(legacyRow{capUsability, rej, "BAD_QUALITY_IMAGE", "200", "2002"})
	add(legacyRow{capUsability, rej, "MISSING_PAGE", "206", ""})
	for _, r := range rejectRows {
		add(legacyRow{r.to.capability, r.to.decision, r.to.label, r.code, r.detail})
	}
	// Labels docs/jumio.md 6.5 gives as alternatives. MANIPULATED_DOCUMENT_GENDER,
	// _ISSUING_DATE and DIGITAL_MANIPULATION have no Netverify code, nor
	// has MISMATCH_FRONT_BACK: docs/jumio.md documents none.
	for _, r := range []legacyRow{
		{capUsability, rej, "BAD_QUALITY", "200", "2002"},
		{capImageChecks, rej, "DIGITAL_COPY", "104", ""},
		{capImageChecks, rej, "LOOKUPS_HIGH_RISK_FACE", "105", ""},
		{capDataChecks, rej, "LOOKUPS_HIGH_RISK_SAME_DATA", "105", ""},
		{capDataChecks, rej, "LOOKUPS_HIGH_RISK_SAME_FACE_MISMATCHING_DATA", "105", ""},
		{capDataChecks, rej, "LOOKUPS_HIGH_RISK_DEVICE", "105", ""},
		{capDataChecks, rej, "LOOKUPS_HIGH_RISK_IP_ADDRESS", "105", ""},
	} {
		add(r)
	}
	return rows
}()

var legacyIndex = index(legacyRows, func(r legacyRow) legacyKey { return legacyKey{r.capability, r.decision, r.label} })

// legacyCode returns the Netverify reject code of a capability result.
func legacyCode(capability string, decision events.DecisionType, label string) (code, detail string) {
	r := legacyIndex[legacyKey{capability, decision, label}]
	return r.code, r.detail
}

// valueRow maps a Netverify value (similarity, liveness reason,
// authentication result, additional-check searchResults) to a capability
// decision and label.
type valueRow struct {
	value      string
	decision   events.DecisionType
	label      string
	confidence string
}

// similarityRows: identityVerification.similarity → similarity (docs/jumio.md 6.6).
var similarityRows = []valueRow{
	{"MATCH", events.DecisionPassed, "MATCH", high},
	{"NO_MATCH", events.DecisionRejected, "NO_MATCH", high},
	{"NOT_POSSIBLE", events.DecisionWarning, "NOT_POSSIBLE", medium},
}

// livenessRows: identityVerification.validity / reason → liveness (docs/jumio.md
// 6.6). The empty value is validity FALSE without a reason.
var livenessRows = []valueRow{
	{"TRUE", events.DecisionPassed, labelOK, high},
	{"", events.DecisionRejected, "LIVENESS_UNDETERMINED", low},
	{"SELFIE_CROPPED_FROM_ID", events.DecisionRejected, "ID_USED_AS_SELFIE", high},
	{"ENTIRE_ID_USED_AS_SELFIE", events.DecisionRejected, "ID_USED_AS_SELFIE", high},
	{"MULTIPLE_PEOPLE", events.DecisionRejected, "MULTIPLE_PEOPLE", high},
	{"SELFIE_IS_SCREEN_PAPER_VIDEO", events.DecisionRejected, "DIGITAL_COPY", medium},
	{"SELFIE_MANIPULATED", events.DecisionRejected, "MANIPULATED", high},
	{"AGE_DIFFERENCE_TOO_BIG", events.DecisionWarning, "AGE_DIFFERENCE", high},
	{"NO_FACE_PRESENT", events.DecisionRejected, "NO_FACE_PRESENT", high},
	{"FACE_NOT_FULLY_VISIBLE", events.DecisionRejected, "FACE_NOT_FULLY_VISIBLE", high},
	{"BAD_QUALITY", events.DecisionWarning, "BAD_QUALITY", high},
	{"BLACK_AND_WHITE", events.DecisionRejected, "BLACK_WHITE", high},
	{"LIVENESS_FAILED", events.DecisionRejected, "LIVENESS_UNDETERMINED", medium},
}

// authRows: authentication transactionResult → authentication (docs/jumio.md 6.6).
var authRows = []valueRow{
	{"PASSED", events.DecisionPassed, labelOK, high},
	{"FAILED", events.DecisionRejected, "FAILED", high},
	{"INVALID", events.DecisionNotExecuted, labelPrecondition, medium},
	{"EXPIRED", events.DecisionNotExecuted, labelPrecondition, medium},
}

// searchRows: additionalChecks searchResults → capability (docs/jumio.md 6.7).
// CHECK_NOT_DONE takes its label from searchResponse (or searchReason).
var searchRows = []valueRow{
	{"POSITIVE_RESULT", events.DecisionPassed, labelOK, medium},
	{"PARTIAL_RESULT", events.DecisionWarning, "ALERT", medium},
	{"NEGATIVE_RESULT", events.DecisionRejected, "DENY", medium},
	{"CHECK_NOT_DONE", events.DecisionNotExecuted, "", medium},
}

// watchlistRows: the searchStatus of an additional check without a
// searchResults word (watchlistScreening), with the number of searchResults
// when DONE (or SUCCESS), → the capability, as the Platform reports a
// screening (docs/jumio.md 4.6).
var watchlistRows = []valueRow{
	{"DONE, no results", events.DecisionPassed, labelOK, low},
	{"DONE, results", events.DecisionWarning, "ALERT", low},
	{"NOT_DONE", events.DecisionNotExecuted, "NOT_ENOUGH_DATA", low},
	{"ERROR", events.DecisionNotExecuted, labelTechnical, low},
}

// documentRows: document-verification document.status → usability and
// extraction, and the overall decision.
var documentRows = []valueRow{
	{"EXTRACTED", events.DecisionPassed, labelOK, low},
	{"UPLOADED", events.DecisionPassed, labelOK, low},
	{"DISCARDED", events.DecisionRejected, "DISCARDED", low},
}

func valueIndex(rows []valueRow) map[string]valueRow {
	return index(rows, func(r valueRow) string { return r.value })
}

var (
	similarityIndex = valueIndex(similarityRows)
	livenessIndex   = valueIndex(livenessRows)
	authIndex       = valueIndex(authRows)
	searchIndex     = valueIndex(searchRows)
	documentIndex   = valueIndex(documentRows)
	watchlistIndex  = valueIndex(watchlistRows)
)

// additionalChecks maps Netverify retrieval additionalChecks names to
// Platform capabilities (docs/jumio.md 6.4, 6.7). faceSearchFindings is data of
// imageChecks, not a capability of its own.
var additionalChecks = []struct{ netverify, capability string }{
	{"addressValidation", capAddress},
	{"proofOfResidency", capResidency},
	{"watchlistScreening", capWatchlist},
	{"personalNumberValidation", capCPF},
	{"faceSearchFindings", capImageChecks},
}

// dataKeys are the data keys kept for one capability.
type dataKeys struct {
	capability string
	keys       []string
}

// capabilityData lists, per capability, the keys of Platform
// capabilities.<name>[].data copied to Capability.Data. Everything else in
// data is left out: it may be personal data (extraction data goes to
// Document and Person; predictedAge, searchResultUrl and face search
// findings stay in the raw document).
var capabilityData = []dataKeys{
	{capImageChecks, []string{"faceSearchFindings.status", "faceSearchFindings.count"}},
	{capExtraction, []string{"nfcValidationResult"}},
	{capLiveness, []string{"type"}},
	{capSimilarity, []string{"similarity"}},
	{capWatchlist, []string{"searchDate", "searchStatus", "searchId", "searchReference", "searchResults"}},
}

// livenessReasonRows map a Platform liveness label back to the Netverify
// identityVerification reason (docs/jumio.md 6.6, reverse direction): the
// reverse of livenessRows, with the preferred reason where several share
// a label, and PHOTOCOPY, the paper half of SELFIE_IS_SCREEN_PAPER_VIDEO.
var livenessReasonRows = func() []valueRow {
	rows := []valueRow{
		{"ENTIRE_ID_USED_AS_SELFIE", events.DecisionRejected, "ID_USED_AS_SELFIE", high},
		{"LIVENESS_FAILED", events.DecisionRejected, "LIVENESS_UNDETERMINED", medium},
		{"SELFIE_IS_SCREEN_PAPER_VIDEO", events.DecisionRejected, "PHOTOCOPY", medium},
	}
	seen := map[string]bool{"ID_USED_AS_SELFIE": true, "LIVENESS_UNDETERMINED": true, "PHOTOCOPY": true}
	for _, r := range livenessRows {
		if r.value != "TRUE" && r.value != "" && !seen[r.label] {
			seen[r.label] = true
			rows = append(rows, r)
		}
	}
	return rows
}()

// livenessReason is the Netverify reason of a liveness label; an unknown
// label is kept as it is.
func livenessReason(label string) string {
	for _, r := range livenessReasonRows {
		if r.label == label {
			return r.value
		}
	}
	return label
}
