package events

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	keyA = bytes.Repeat([]byte{0xa1}, 32)
	keyB = bytes.Repeat([]byte{0xb2}, 24)
)

func signedHeader(t *testing.T, keys [][]byte, id string, ts time.Time, body []byte) http.Header {
	t.Helper()
	h := http.Header{}
	h.Set(HeaderWebhookID, id)
	h.Set(HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderWebhookSignature, SignWebhook(keys, id, ts.Unix(), body))
	return h
}

func TestVerifyWebhook(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"type":"kycflow.result.v1","data":{}}`)
	secretA, secretB := FormatWebhookSecret(keyA), FormatWebhookSecret(keyB)
	for _, tc := range []struct {
		name    string
		secrets []string
		header  func() http.Header
		body    []byte
		want    error
	}{
		{"valid", []string{secretA}, func() http.Header { return signedHeader(t, [][]byte{keyA}, "msg_1", now, body) }, body, nil},
		{"bare base64 secret", []string{strings.TrimPrefix(secretA, WebhookSecretPrefix)}, func() http.Header { return signedHeader(t, [][]byte{keyA}, "msg_1", now, body) }, body, nil},
		{"rotation: signed with old and new, receiver has new", []string{secretB}, func() http.Header { return signedHeader(t, [][]byte{keyA, keyB}, "msg_1", now, body) }, body, nil},
		{"rotation: signed with new, receiver has old and new", []string{secretA, secretB}, func() http.Header { return signedHeader(t, [][]byte{keyB}, "msg_1", now, body) }, body, nil},
		{"other schemes skipped", []string{secretA}, func() http.Header {
			h := signedHeader(t, [][]byte{keyA}, "msg_1", now, body)
			h.Set(HeaderWebhookSignature, "v1a,AAAA v1,!!! "+h.Get(HeaderWebhookSignature))
			return h
		}, body, nil},
		{"wrong secret", []string{secretB}, func() http.Header { return signedHeader(t, [][]byte{keyA}, "msg_1", now, body) }, body, ErrWebhookSignature},
		{"tampered body", []string{secretA}, func() http.Header { return signedHeader(t, [][]byte{keyA}, "msg_1", now, body) }, append([]byte(" "), body...), ErrWebhookSignature},
		{"tampered id", []string{secretA}, func() http.Header {
			h := signedHeader(t, [][]byte{keyA}, "msg_1", now, body)
			h.Set(HeaderWebhookID, "msg_2")
			return h
		}, body, ErrWebhookSignature},
		{"old timestamp", []string{secretA}, func() http.Header { return signedHeader(t, [][]byte{keyA}, "msg_1", now.Add(-6*time.Minute), body) }, body, ErrWebhookTimestamp},
		{"future timestamp", []string{secretA}, func() http.Header { return signedHeader(t, [][]byte{keyA}, "msg_1", now.Add(6*time.Minute), body) }, body, ErrWebhookTimestamp},
		{"missing signature", []string{secretA}, func() http.Header {
			h := signedHeader(t, [][]byte{keyA}, "msg_1", now, body)
			h.Del(HeaderWebhookSignature)
			return h
		}, body, ErrWebhookHeader},
		{"timestamp not a number", []string{secretA}, func() http.Header {
			h := signedHeader(t, [][]byte{keyA}, "msg_1", now, body)
			h.Set(HeaderWebhookTimestamp, "yesterday")
			return h
		}, body, ErrWebhookHeader},
		{"no secrets", nil, func() http.Header { return signedHeader(t, [][]byte{keyA}, "msg_1", now, body) }, body, ErrWebhookSecret},
		{"short secret", []string{FormatWebhookSecret(keyA[:10])}, func() http.Header { return signedHeader(t, [][]byte{keyA}, "msg_1", now, body) }, body, ErrWebhookSecret},
		{"secret not base64", []string{"whsec_***"}, func() http.Header { return signedHeader(t, [][]byte{keyA}, "msg_1", now, body) }, body, ErrWebhookSecret},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyWebhook(tc.secrets, tc.header(), tc.body, 0, now)
			if tc.want == nil && err != nil || !errors.Is(err, tc.want) {
				t.Errorf("VerifyWebhook: got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestParseWebhookSecretNeverEchoesTheSecret(t *testing.T) {
	for _, s := range []string{"whsec_c2VjcmV0LXZhbHVl", "whsec_not*base64*secret"} {
		_, err := ParseWebhookSecret(s)
		if !errors.Is(err, ErrWebhookSecret) {
			t.Fatalf("ParseWebhookSecret: got %v, want ErrWebhookSecret", err)
		}
		if strings.Contains(err.Error(), strings.TrimPrefix(s, WebhookSecretPrefix)) {
			t.Errorf("error %q contains the secret", err)
		}
	}
}

func TestSignWebhookKnownVector(t *testing.T) {
	// The example of the Standard Webhooks reference libraries.
	key, err := ParseWebhookSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := SignWebhook([][]byte{key}, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("SignWebhook: got %s, want %s", got, want)
	}
}

func FuzzVerifyWebhook(f *testing.F) {
	f.Add("msg_1", "1700000000", "v1,AAAA", []byte("{}"))
	f.Add("", "x", "", []byte(nil))
	secret := FormatWebhookSecret(keyA)
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set(HeaderWebhookID, id)
		h.Set(HeaderWebhookTimestamp, ts)
		h.Set(HeaderWebhookSignature, sig)
		err := VerifyWebhook([]string{secret}, h, body, 0, time.Unix(1_700_000_000, 0))
		if err == nil {
			t.Fatalf("forged webhook verified: id %q ts %q sig %q", id, ts, sig)
		}
	})
}
