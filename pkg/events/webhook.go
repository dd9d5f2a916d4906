package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Webhooks follow the Standard Webhooks specification
// (https://www.standardwebhooks.com, version 1): an HTTP POST whose body is
// a JSON envelope, with the headers webhook-id, webhook-timestamp and
// webhook-signature. The signature is HMAC-SHA256 over
// "<webhook-id>.<webhook-timestamp>.<body>" with each configured secret,
// written "v1,<base64>", several separated by spaces while a secret is
// being rotated.

// Standard Webhooks header names. Receivers read them case-insensitively
// (http.Header canonicalizes them).
const (
	// HeaderWebhookID identifies one webhook message. It stays the same
	// across retries of that message, so receivers use it as an
	// idempotency key.
	HeaderWebhookID = "webhook-id"
	// HeaderWebhookTimestamp is the attempt's time in Unix seconds.
	HeaderWebhookTimestamp = "webhook-timestamp"
	// HeaderWebhookSignature holds one or more space-separated signatures.
	HeaderWebhookSignature = "webhook-signature"
)

// HeaderGetter reads a header by name, case-insensitively; http.Header is
// one. VerifyWebhook takes it rather than http.Header so that this package
// stays free of net/http: pkg/mapping and every downstream service that
// only decodes results import it.
type HeaderGetter interface {
	Get(name string) string
}

// WebhookTypeResult is the type of a webhook that carries a Result.
const WebhookTypeResult = "kycflow.result.v1"

// WebhookSecretPrefix starts a signing secret in its serialized form:
// "whsec_" followed by the base64 of the key.
const WebhookSecretPrefix = "whsec_"

// Sizes of a signing key, decoded, as the specification sets them.
const (
	MinWebhookKeyBytes = 24
	MaxWebhookKeyBytes = 64
)

// DefaultWebhookTolerance is how far a webhook-timestamp may be from the
// receiver's clock, either way, before VerifyWebhook refuses the message.
const DefaultWebhookTolerance = 5 * time.Minute

// Errors of ParseWebhookSecret and VerifyWebhook. Each error returned
// matches exactly one of them with errors.Is.
var (
	// ErrWebhookSecret: a secret is not "whsec_<base64>" (or bare base64)
	// of 24 to 64 bytes.
	ErrWebhookSecret = errors.New("events: malformed webhook secret")
	// ErrWebhookHeader: webhook-id, webhook-timestamp or webhook-signature
	// is missing, or the timestamp is not an integer.
	ErrWebhookHeader = errors.New("events: missing or malformed webhook header")
	// ErrWebhookTimestamp: the timestamp is further from now than the
	// tolerance (a replayed or delayed message).
	ErrWebhookTimestamp = errors.New("events: webhook timestamp outside the tolerance")
	// ErrWebhookSignature: no v1 signature matches any secret.
	ErrWebhookSignature = errors.New("events: no valid webhook signature")
)

// WebhookEnvelope is the JSON body of a result webhook.
type WebhookEnvelope struct {
	// Type is WebhookTypeResult.
	Type string `json:"type"`
	// Timestamp is when the verification event happened: when Jumio sent
	// its callback (Result.Timestamps.CallbackSent), else when kycflow
	// received it. It is the same on every retry; the attempt's time is
	// the webhook-timestamp header.
	Timestamp time.Time `json:"timestamp"`
	// Data is the result, projected by the route's field policy
	// (Data.Policy says which).
	Data Result `json:"data"`
	// Replay is true when the message was delivered again by a replay
	// ("kycflow replay notify --redeliver"); the Kycflow-Replay header then
	// carries the replay marker.
	Replay bool `json:"replay,omitempty"`
}

// ParseWebhookSecret decodes a signing secret: "whsec_" followed by
// standard base64, or the base64 alone. The key must be 24 to 64 bytes.
// Errors match ErrWebhookSecret and never contain the secret.
func ParseWebhookSecret(s string) ([]byte, error) {
	b64 := strings.TrimPrefix(strings.TrimSpace(s), WebhookSecretPrefix)
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("%w: not base64", ErrWebhookSecret)
	}
	if len(key) < MinWebhookKeyBytes || len(key) > MaxWebhookKeyBytes {
		return nil, fmt.Errorf("%w: %d bytes, want %d to %d", ErrWebhookSecret, len(key), MinWebhookKeyBytes, MaxWebhookKeyBytes)
	}
	return key, nil
}

// FormatWebhookSecret is the serialized form of key: "whsec_<base64>".
func FormatWebhookSecret(key []byte) string {
	return WebhookSecretPrefix + base64.StdEncoding.EncodeToString(key)
}

// SignWebhook returns the webhook-signature header value for a message:
// one "v1,<base64 HMAC-SHA256>" per key over "<id>.<timestamp>.<body>",
// separated by spaces, in the order of keys. The timestamp is the Unix
// seconds sent in webhook-timestamp.
func SignWebhook(keys [][]byte, id string, timestamp int64, body []byte) string {
	var b strings.Builder
	for i, key := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("v1,")
		b.WriteString(base64.StdEncoding.EncodeToString(webhookMAC(key, id, strconv.FormatInt(timestamp, 10), body)))
	}
	return b.String()
}

func webhookMAC(key []byte, id, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// VerifyWebhook checks a received webhook: the three headers are present,
// webhook-timestamp is within tolerance of now (DefaultWebhookTolerance
// when tolerance <= 0), and at least one v1 signature in webhook-signature
// matches body under at least one of secrets (each "whsec_<base64>";
// several while the sender rotates them). Signatures of other schemes
// ("v1a,…") are skipped. Comparisons are constant-time.
//
// body must be the raw request body as received, before any JSON
// decoding. VerifyWebhook does not remember ids: use webhook-id as an
// idempotency key to drop a message delivered twice.
//
// The error matches ErrWebhookSecret, ErrWebhookHeader,
// ErrWebhookTimestamp or ErrWebhookSignature.
func VerifyWebhook(secrets []string, header HeaderGetter, body []byte, tolerance time.Duration, now time.Time) error {
	keys := make([][]byte, 0, len(secrets))
	for i, s := range secrets {
		k, err := ParseWebhookSecret(s)
		if err != nil {
			return fmt.Errorf("secret %d: %w", i+1, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return fmt.Errorf("%w: no secrets", ErrWebhookSecret)
	}
	id := header.Get(HeaderWebhookID)
	ts := header.Get(HeaderWebhookTimestamp)
	sigs := header.Get(HeaderWebhookSignature)
	if id == "" || ts == "" || sigs == "" {
		return fmt.Errorf("%w: want %s, %s and %s", ErrWebhookHeader, HeaderWebhookID, HeaderWebhookTimestamp, HeaderWebhookSignature)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s is not Unix seconds", ErrWebhookHeader, HeaderWebhookTimestamp)
	}
	if tolerance <= 0 {
		tolerance = DefaultWebhookTolerance
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: %s off by %s", ErrWebhookTimestamp, HeaderWebhookTimestamp, d.Round(time.Second))
	}
	macs := make([][]byte, len(keys))
	for i, k := range keys {
		macs[i] = webhookMAC(k, id, ts, body)
	}
	for sig := range strings.FieldsSeq(sigs) {
		version, b64, ok := strings.Cut(sig, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			continue
		}
		for _, mac := range macs {
			if hmac.Equal(got, mac) {
				return nil
			}
		}
	}
	return ErrWebhookSignature
}
