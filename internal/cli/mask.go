package cli

import (
	"bytes"
	"encoding/json"
	"net/url"
	"sort"
	"strings"
)

// masked replaces a personal value.
const masked = "***"

// personalKeys are JSON keys (lower case) whose values are personal data
// in Jumio payloads and kycflow results: every extraction field of
// docs/jumio.md 4.6 and pkg/jumio's ExtractionData but the document's type,
// sub type and country; the Netverify callback and retrieval fields of the
// same kind (2.3, 5); the liveness age estimate; contact data, network
// addresses and image data. Their values are masked, objects and arrays
// leaf by leaf.
var personalKeys = map[string]bool{
	// Names.
	"firstname": true, "lastname": true, "middlename": true, "fullname": true, "givenname": true, "familyname": true,
	"mothersname": true, "fathersname": true, "additionallanguage": true,
	// Birth, age, sex, nationality.
	"dateofbirth": true, "dob": true, "origindob": true, "placeofbirth": true, "gender": true, "nationality": true,
	"currentage": true, "predictedage": true, "ageconfidencerange": true,
	// Document and personal numbers.
	"number": true, "documentnumber": true, "personalnumber": true, "idnumber": true, "passportnumber": true,
	"personalidentificationnumber": true, "taxnumber": true, "cpf": true, "curp": true, "dni": true, "pesel": true,
	"rgnumber": true, "voteridnumber": true, "registrationnumber": true, "issuingnumber": true,
	"mrz": true, "optionalmrzfield1": true, "optionalmrzfield2": true, "optionaldata1": true, "optionaldata2": true,
	// Document dates, issuer, state and visa or licence details.
	"expirydate": true, "expiry": true, "issuingdate": true, "issuedate": true, "issuingauthority": true, "issuingplace": true,
	"state": true, "usstate": true, "dlcategories": true, "dlcarpermission": true,
	"drivinglicensecategories": true, "carpermission": true,
	"durationofstay": true, "numberofentries": true, "visacategory": true,
	// Addresses.
	"address": true, "formattedaddress": true, "city": true, "postalcode": true, "zip": true, "street": true,
	"line1": true, "line2": true, "line3": true, "line4": true, "line5": true, "subdivision": true,
	// Contact and network data.
	"email": true, "phone": true, "phonenumber": true, "clientip": true, "userip": true, "ipaddress": true,
	// Images, biometrics, screening links.
	"signature": true, "facemap": true, "searchresulturl": true,
	// A result's extra (what has no field of its own, possibly personal)
	// and reporting criteria (not guaranteed free of personal data).
	"extra": true, "reportingcriteria": true, "merchantreportingcriteria": true,
}

// personalKeyParts mask keys that contain them ("idFirstName", "idDob",
// "idExpiry", "idAddress", "idScanImageFace", "dateOfBirthParts",
// "issuingDateParts").
var personalKeyParts = []string{"firstname", "lastname", "birth", "dob", "address", "image", "personalnumber", "idnumber", "expiry", "issuingdate"}

// extractionKeep are the keys of an extraction capability's data shown
// unmasked; everything else there is masked, known to be personal or not.
var extractionKeep = map[string]bool{"type": true, "subtype": true, "issuingcountry": true, "nfcvalidationresult": true}

// formKeepKeys are the Netverify callback fields shown unmasked: ids,
// statuses, types, dates of the transaction and the checks' results.
// Every other form value is masked, and so is every other field of a
// Netverify callback stored as a JSON object (an enriched event's raw
// callback).
var formKeepKeys = map[string]bool{
	"callbacktype": true, "jumioidscanreference": true, "scanreference": true, "transactionreference": true,
	"enrollmenttransactionreference": true, "merchantidscanreference": true, "merchantscanreference": true,
	"customerid": true, "userreference": true, "verificationstatus": true, "idscanstatus": true, "idscansource": true,
	"transactiondate": true, "callbackdate": true, "timestamp": true, "idtype": true, "idsubtype": true,
	"idcountry": true, "transactionresult": true, "scansource": true, "rejectreason": true, "firstattempt": true,
	"idcheckdatapositions": true, "idcheckdocumentvalidation": true, "idcheckhologram": true, "idcheckmrzcode": true,
	"idcheckmicroprint": true, "idchecksecurityfeatures": true, "idchecksignature": true,
}

func personalKey(k string) bool {
	k = strings.ToLower(k)
	if personalKeys[k] {
		return true
	}
	for _, p := range personalKeyParts {
		if strings.Contains(k, p) {
			return true
		}
	}
	return false
}

// maskPayload returns a message body with personal data masked, indented
// when it is JSON (see maskJSON); a Netverify form body has every value
// but ids, statuses, types and dates masked; anything else is masked
// whole.
func maskPayload(b []byte) []byte {
	if v, ok := decodeJSON(b); ok {
		out, _ := json.MarshalIndent(maskValue(v, maskAll), "", "  ")
		return out
	}
	if f, ok := maskForm(string(b)); ok {
		return []byte(f)
	}
	return []byte(masked)
}

// maskJSON returns a JSON document on one line with the values of personal
// keys masked, leaf by leaf, so that the document keeps its shape (a
// masked result still decodes as a result); ok is false when b is not
// JSON.
func maskJSON(b []byte) ([]byte, bool) {
	v, ok := decodeJSON(b)
	if !ok {
		return nil, false
	}
	out, err := json.Marshal(maskValue(v, maskAll))
	return out, err == nil
}

func decodeJSON(b []byte) (any, bool) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if dec.Decode(&v) != nil || dec.More() {
		return nil, false
	}
	return v, true
}

// keep decides which keys of an object keep their values: nil masks the
// personal keys, otherwise every key it does not keep is masked.
type keep func(key string) bool

var maskAll keep

func keepExtraction(k string) bool { return extractionKeep[strings.ToLower(k)] }
func keepForm(k string) bool       { return formKeepKeys[strings.ToLower(k)] }

// netverifyCallback reports whether an object holds the fields of a
// Netverify callback.
func netverifyCallback(m map[string]any) bool {
	for k := range m {
		switch strings.ToLower(k) {
		case "callbacktype", "jumioidscanreference":
			return true
		}
	}
	return false
}

// maskValue masks v: in objects, the values of personal keys (or, with
// kept set, of every key it does not keep); strings that are image links.
func maskValue(v any, kept keep) any {
	switch t := v.(type) {
	case map[string]any:
		if kept == nil && netverifyCallback(t) {
			kept = keepForm
		}
		out := make(map[string]any, len(t))
		for k, x := range t {
			switch {
			case x == nil:
				out[k] = nil
			case kept != nil && !kept(k), kept == nil && personalKey(k):
				out[k] = maskLeaves(x)
			case strings.EqualFold(k, "form"):
				if s, ok := x.(string); ok {
					if f, ok := maskForm(s); ok {
						out[k] = f
						continue
					}
				}
				out[k] = masked
			case strings.EqualFold(k, "extraction"):
				out[k] = maskExtraction(x)
			default:
				out[k] = maskValue(x, maskAll)
			}
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = maskValue(x, kept)
		}
		return out
	case string:
		// Image links: credential parts and Netverify images.
		if strings.Contains(t, "/parts/") || strings.Contains(t, "/images/") {
			return masked
		}
	}
	return v
}

// maskExtraction masks the entries of an extraction capability: their
// data keeps extractionKeep only.
func maskExtraction(v any) any {
	entries, ok := v.([]any)
	if !ok {
		return maskValue(v, maskAll)
	}
	out := make([]any, len(entries))
	for i, e := range entries {
		m, ok := e.(map[string]any)
		if !ok {
			out[i] = maskValue(e, maskAll)
			continue
		}
		em := make(map[string]any, len(m))
		for k, x := range m {
			if strings.EqualFold(k, "data") && x != nil {
				em[k] = maskValue(x, keepExtraction)
			} else {
				em[k] = maskValue(x, maskAll)
			}
		}
		out[i] = em
	}
	return out
}

// maskLeaves masks every leaf of v, keeping the objects' keys and the
// arrays' lengths; an empty string stays empty and null stays null.
func maskLeaves(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = maskLeaves(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = maskLeaves(x)
		}
		return out
	case nil:
		return nil
	case string:
		if t == "" {
			return ""
		}
	}
	return masked
}

// maskForm masks a form-encoded Netverify callback, keeping formKeepKeys.
func maskForm(s string) (string, bool) {
	v, err := url.ParseQuery(s)
	if err != nil || len(v) == 0 {
		return "", false
	}
	known := false
	for k := range v {
		known = known || formKeepKeys[strings.ToLower(k)]
	}
	if !known {
		return "", false // not a Netverify callback
	}
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		for _, x := range v[k] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			if !formKeepKeys[strings.ToLower(k)] {
				x = masked
			}
			b.WriteString(url.QueryEscape(k) + "=" + url.QueryEscape(x))
		}
	}
	return b.String(), true
}
