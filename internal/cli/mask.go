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
// in Jumio payloads and kycflow results: names, dates of birth, document
// numbers and dates, addresses, contact data, network addresses, image
// data. Their values are masked whole, objects included.
var personalKeys = map[string]bool{
	"firstname": true, "lastname": true, "middlename": true, "fullname": true, "givenname": true, "familyname": true,
	"dateofbirth": true, "dob": true, "placeofbirth": true, "gender": true, "nationality": true, "currentage": true,
	"number": true, "documentnumber": true, "personalnumber": true, "idnumber": true, "mrz": true,
	"expirydate": true, "expiry": true, "issuingdate": true, "issuedate": true, "issuingauthority": true,
	"address": true, "formattedaddress": true, "city": true, "postalcode": true, "zip": true, "street": true,
	"line1": true, "line2": true, "line3": true, "line4": true, "line5": true, "subdivision": true,
	"email": true, "phone": true, "phonenumber": true, "clientip": true, "userip": true, "ipaddress": true,
	"optionaldata1": true, "optionaldata2": true, "signature": true, "facemap": true,
}

// personalKeyParts mask keys that contain them ("idFirstName", "idDob",
// "idAddress", "idScanImageFace").
var personalKeyParts = []string{"firstname", "lastname", "birth", "dob", "address", "image", "personalnumber", "idnumber"}

// formKeepKeys are the Netverify callback fields shown unmasked: ids,
// statuses, types, dates of the transaction and the checks' results.
// Every other form value is masked.
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
// when it is JSON: values of personal keys, image links, and every value
// of a Netverify form (the "form" field of a stored callback, or a bare
// form body) but ids, statuses, types and dates. A body that is neither
// JSON nor a form is masked whole.
func maskPayload(b []byte) []byte {
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err == nil {
		out, _ := json.MarshalIndent(maskValue("", v), "", "  ")
		return out
	}
	if f, ok := maskForm(string(b)); ok {
		return []byte(f)
	}
	return []byte(masked)
}

func maskValue(key string, v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			switch {
			case x == nil:
				out[k] = nil
			case personalKey(k):
				out[k] = masked
			case strings.EqualFold(k, "form"):
				if s, ok := x.(string); ok {
					if f, ok := maskForm(s); ok {
						out[k] = f
						continue
					}
				}
				out[k] = masked
			default:
				out[k] = maskValue(k, x)
			}
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = maskValue(key, x)
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
