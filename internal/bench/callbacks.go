package bench

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"time"

	"github.com/kycflow/kycflow/pkg/events"
)

// Callback is one request body and the path suffix it goes to.
type Callback struct {
	// API is the endpoint ("platform" or "netverify").
	API events.API
	// ContentType of Body.
	ContentType string
	// Body is the callback as Jumio would send it.
	Body []byte
	// ExecutionID is the workflow execution id or scan reference.
	ExecutionID string
	// Subject is the subject ingest stores the callback under
	// (events.CallbackSubject): one per execution. The reference server
	// stores the body under it too, so that both pay JetStream's
	// per-subject index alike.
	Subject string
}

// uuidFor derives a stable, well-formed UUID (version 4 layout) from parts.
func uuidFor(parts ...any) string {
	h := sha256.Sum256(fmt.Append(nil, parts...))
	h[6] = h[6]&0x0f | 0x40
	h[8] = h[8]&0x3f | 0x80
	s := hex.EncodeToString(h[:16])
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
}

// PlatformCallback returns the n-th of a series of distinct, realistic
// Jumio Platform callbacks (PROCESSED, amer-1 hrefs, a signed-looking
// userReference), about 0.7 KiB. The same seed and n give the same body.
func PlatformCallback(seed string, n int) Callback {
	exec := uuidFor(seed, "exec", n)
	acct := uuidFor(seed, "acct", n%1000)
	sentAt := time.Date(2024, 3, 14, 10, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Millisecond).Format("2006-01-02T15:04:05.000Z")
	body := fmt.Sprintf(`{
  "callbackSentAt": "%s",
  "userReference": "t=1710410400,v1=%s",
  "workflowExecution": {
    "id": "%s",
    "href": "https://retrieval.amer-1.jumio.ai/api/v1/accounts/%s/workflow-executions/%s",
    "definitionKey": "10011",
    "status": "PROCESSED"
  },
  "account": {
    "id": "%s",
    "href": "https://retrieval.amer-1.jumio.ai/api/v1/accounts/%s"
  }
}`, sentAt, hex.EncodeToString([]byte(exec))[:64], exec, acct, exec, acct, acct)
	return Callback{API: events.APIPlatform, ContentType: "application/json", Body: []byte(body), ExecutionID: exec,
		Subject: events.CallbackSubject(events.APIPlatform, acct, exec)}
}

// NetverifyCallback returns the n-th of a series of distinct, realistic
// Netverify ID-verification callbacks (APPROVED_VERIFIED form bodies with
// invented personal data), about 1.4 KiB.
func NetverifyCallback(seed string, n int) Callback {
	ref := uuidFor(seed, "scan", n)
	at := time.Date(2021, 5, 10, 8, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Millisecond)
	v := url.Values{}
	for k, val := range map[string]string{
		"callBackType": "NETVERIFYID", "jumioIdScanReference": ref, "verificationStatus": "APPROVED_VERIFIED",
		"idScanStatus": "SUCCESS", "idScanSource": "WEB_UPLOAD", "idCheckDataPositions": "OK",
		"idCheckDocumentValidation": "OK", "idCheckHologram": "OK", "idCheckMRZcode": "OK", "idCheckMicroprint": "OK",
		"idCheckSecurityFeatures": "OK", "idCheckSignature": "OK",
		"transactionDate": at.Add(-4 * time.Minute).Format("2006-01-02T15:04:05.000Z"),
		"callbackDate":    at.Format("2006-01-02T15:04:05.000Z"),
		"idType":          "PASSPORT", "idSubtype": "E_PASSPORT", "idCountry": "AUT", "idFirstName": "JANE", "idLastName": "DOE",
		"idDob": "1990-01-01", "idExpiry": "2030-12-31", "idNumber": "P1234567", "personalNumber": "N/A",
		"merchantIdScanReference": fmt.Sprintf("txn-%06d", n), "customerId": "usr_7f3a9c", "clientIp": "203.0.113.10",
		"idScanImage":          "https://netverify.com/recognition/v1/idscan/" + ref + "/front",
		"idScanImageFace":      "https://netverify.com/recognition/v1/idscan/" + ref + "/face",
		"idAddress":            `{"country":"AUT","city":"WIEN","postalCode":"1010"}`,
		"identityVerification": `{"similarity":"MATCH","validity":true}`,
	} {
		v.Set(k, val)
	}
	// Netverify callbacks name no account: ingest stores them under the
	// legacy account token.
	return Callback{API: events.APINetverify, ContentType: "application/x-www-form-urlencoded", Body: []byte(v.Encode()), ExecutionID: ref,
		Subject: events.CallbackSubject(events.APINetverify, "", ref)}
}

// MixedCallback alternates Platform and Netverify callbacks: about 1 KiB
// on average.
func MixedCallback(seed string, n int) Callback {
	if n%2 == 0 {
		return PlatformCallback(seed, n)
	}
	return NetverifyCallback(seed, n)
}
