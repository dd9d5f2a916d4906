package wire

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	refSecret    = []byte("current-secret")
	refOldSecret = []byte("previous-secret")
	refNow       = time.Date(2024, 3, 14, 10, 0, 0, 0, time.UTC)
)

func TestUserReferenceRoundTrip(t *testing.T) {
	for _, ref := range []string{"", "usr_7f3a9c", "a", "ACME:42.x-y", strings.Repeat("x", 17)} {
		t.Run(ref, func(t *testing.T) {
			tok, err := SignUserReference(refSecret, ref, refNow)
			if err != nil {
				t.Fatalf("SignUserReference: %v", err)
			}
			if len(tok) > UserReferenceMaxLen {
				t.Errorf("token length: got %d, want <= %d", len(tok), UserReferenceMaxLen)
			}
			if got := strings.HasPrefix(tok, "u="); got != (ref != "") {
				t.Errorf("token %q: u= present %v, want %v", tok, got, ref != "")
			}
			got, err := VerifyUserReference(tok, [][]byte{refOldSecret, refSecret}, time.Hour, refNow.Add(30*time.Minute))
			if err != nil {
				t.Fatalf("VerifyUserReference: %v", err)
			}
			if got != ref {
				t.Errorf("ref: got %q, want %q", got, ref)
			}
		})
	}
}

// msToken builds a token in a production integration's format: t in Unix
// milliseconds, no u= part, the HMAC over "<t>.<userID>" (userID empty:
// the form kycflow can verify).
func msToken(secret []byte, at time.Time, userID ...string) string {
	ts := strconv.FormatInt(at.UnixMilli(), 10)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts + "." + strings.Join(userID, "")))
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// TestVerifyUserReferenceCapturedTokens: a captured integration's token
// that signs a user id it does not carry cannot be verified.
func TestVerifyUserReferenceCapturedTokens(t *testing.T) {
	at := time.UnixMilli(1678904069066)
	tok := msToken(refSecret, at, "usr_7f3a9c")
	if _, err := VerifyUserReference(tok, [][]byte{refSecret}, time.Hour, at.Add(time.Minute)); !errors.Is(err, ErrUserReferenceSignature) {
		t.Errorf("got %v, want ErrUserReferenceSignature", err)
	}
}

func TestVerifyUserReferenceMilliseconds(t *testing.T) {
	at := time.UnixMilli(1678904069066)
	tok := msToken(refSecret, at)
	if _, err := VerifyUserReference(tok, [][]byte{refSecret}, time.Hour, at.Add(time.Minute)); err != nil {
		t.Fatalf("VerifyUserReference: %v", err)
	}
	if _, err := VerifyUserReference(tok, [][]byte{refSecret}, time.Hour, at.Add(2*time.Hour)); !errors.Is(err, ErrUserReferenceExpired) {
		t.Errorf("two hours later: got %v, want ErrUserReferenceExpired", err)
	}
}

func TestVerifyUserReferenceErrors(t *testing.T) {
	good, err := SignUserReference(refSecret, "usr_1", refNow)
	if err != nil {
		t.Fatal(err)
	}
	sig := good[strings.Index(good, "v1="):]
	for _, tc := range []struct {
		name    string
		token   string
		secrets [][]byte
		maxAge  time.Duration
		now     time.Time
		want    error
	}{
		{"empty", "", [][]byte{refSecret}, time.Hour, refNow, ErrUserReferenceMissing},
		{"blank", "  ", [][]byte{refSecret}, time.Hour, refNow, ErrUserReferenceMissing},
		{"plain reference", "usr_7f3a9c", [][]byte{refSecret}, time.Hour, refNow, ErrUserReferenceMalformed},
		{"no signature", "u=usr_1,t=1710410400", [][]byte{refSecret}, time.Hour, refNow, ErrUserReferenceMalformed},
		{"no time", "u=usr_1," + sig, [][]byte{refSecret}, time.Hour, refNow, ErrUserReferenceMalformed},
		{"time not digits", "u=usr_1,t=17104104x0," + sig, [][]byte{refSecret}, time.Hour, refNow, ErrUserReferenceMalformed},
		{"time too long", "u=usr_1,t=17104104000000," + sig, [][]byte{refSecret}, time.Hour, refNow, ErrUserReferenceMalformed},
		{"signature not hex", "t=1710410400,v1=zz", [][]byte{refSecret}, time.Hour, refNow, ErrUserReferenceMalformed},
		{"signature short", "t=1710410400,v1=abcd", [][]byte{refSecret}, time.Hour, refNow, ErrUserReferenceMalformed},
		{"two times", "t=1,t=2," + sig, [][]byte{refSecret}, time.Hour, refNow, ErrUserReferenceMalformed},
		{"two refs", "u=a,u=b,t=1," + sig, [][]byte{refSecret}, time.Hour, refNow, ErrUserReferenceMalformed},
		{"ref with @", "u=jane@example.com,t=1," + sig, [][]byte{refSecret}, time.Hour, refNow, ErrUserReferenceMalformed},
		{"part without =", "t=1,junk," + sig, [][]byte{refSecret}, time.Hour, refNow, ErrUserReferenceMalformed},
		{"huge", strings.Repeat("v9=x,", 200) + good, [][]byte{refSecret}, time.Hour, refNow, ErrUserReferenceMalformed},
		{"wrong secret", good, [][]byte{[]byte("other")}, time.Hour, refNow, ErrUserReferenceSignature},
		{"no secrets", good, nil, time.Hour, refNow, ErrUserReferenceSignature},
		{"empty secret", good, [][]byte{{}}, time.Hour, refNow, ErrUserReferenceSignature},
		{"ref changed", strings.Replace(good, "usr_1", "usr_2", 1), [][]byte{refSecret}, time.Hour, refNow, ErrUserReferenceSignature},
		{"time changed", strings.Replace(good, "t=1710410400", "t=1710410401", 1), [][]byte{refSecret}, time.Hour, refNow, ErrUserReferenceSignature},
		{"ref dropped", good[strings.Index(good, "t="):], [][]byte{refSecret}, time.Hour, refNow, ErrUserReferenceSignature},
		{"expired", good, [][]byte{refSecret}, time.Hour, refNow.Add(time.Hour + time.Second), ErrUserReferenceExpired},
		{"future", good, [][]byte{refSecret}, time.Hour, refNow.Add(-UserReferenceClockSkew - time.Second), ErrUserReferenceExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref, err := VerifyUserReference(tc.token, tc.secrets, tc.maxAge, tc.now)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if ref != "" {
				t.Errorf("ref: got %q on error, want empty", ref)
			}
		})
	}
}

func TestVerifyUserReferenceAcceptsWithinLimits(t *testing.T) {
	good, err := SignUserReference(refSecret, "usr_1", refNow)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		token  string
		maxAge time.Duration
		now    time.Time
	}{
		{"at max age", good, time.Hour, refNow.Add(time.Hour)},
		{"no max age", good, 0, refNow.Add(1000 * time.Hour)},
		{"within skew", good, time.Hour, refNow.Add(-UserReferenceClockSkew)},
		{"unknown scheme ignored", good + ",v2=whatever", time.Hour, refNow},
		{"reordered", "t=1710410400,u=usr_1," + good[strings.Index(good, "v1="):], time.Hour, refNow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref, err := VerifyUserReference(tc.token, [][]byte{refSecret}, tc.maxAge, tc.now)
			if err != nil {
				t.Fatalf("VerifyUserReference: %v", err)
			}
			if ref != "usr_1" {
				t.Errorf("ref: got %q, want usr_1", ref)
			}
		})
	}
}

func TestSignUserReferenceErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secret []byte
		ref    string
	}{
		{"empty secret", nil, "usr_1"},
		{"comma", refSecret, "a,b"},
		{"equals", refSecret, "a=b"},
		{"e-mail", refSecret, "jane@example.com"},
		{"space", refSecret, "Jane Doe"},
		{"non-ASCII", refSecret, "jürgen"},
		{"slash", refSecret, "a/b"},
		{"too long", refSecret, strings.Repeat("x", 18)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := SignUserReference(tc.secret, tc.ref, refNow)
			if !errors.Is(err, ErrUserReferenceInvalid) {
				t.Fatalf("got %q, %v; want ErrUserReferenceInvalid", tok, err)
			}
		})
	}
}
