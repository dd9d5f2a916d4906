package wire

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// A signed user reference is a token kycflow puts into the userReference of
// an account request and checks when Jumio echoes it in the callback:
//
//	u=<ref>,t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<ref>")>
//
// The "u=<ref>," part is left out when there is no reference. Jumio does
// not sign callbacks (it documents only its source addresses), so this is
// the one check that ties a callback to a transaction we initiated. The
// scheme follows a pattern seen in a production integration, and
// VerifyUserReference accepts t in milliseconds as that integration sends
// it; but its tokens sign "<t>.<userId>" without carrying the user id, so
// they do not verify here and cannot be accepted as they are: callbacks of
// transactions initiated by such an integration need tokens made by
// SignUserReference, or the check left off for them.
//
// Jumio limits userReference to 100 characters and forbids personal data in
// it, so the reference must be an opaque id (SignUserReference enforces the
// length and a conservative character set).

// UserReferenceMaxLen is Jumio's limit on userReference.
const UserReferenceMaxLen = 100

// UserReferenceClockSkew is how far in the future a token's timestamp may
// lie (clocks of the signer and the verifier differ) before it is rejected.
const UserReferenceClockSkew = 5 * time.Minute

// Errors of SignUserReference and VerifyUserReference, matched with
// errors.Is. None of them carries the token or the reference.
var (
	// ErrUserReferenceMissing: the callback has no userReference.
	ErrUserReferenceMissing = errors.New("jumio: user reference missing")
	// ErrUserReferenceMalformed: the userReference is not a signed token.
	ErrUserReferenceMalformed = errors.New("jumio: user reference malformed")
	// ErrUserReferenceSignature: no configured secret produces the token's
	// signature.
	ErrUserReferenceSignature = errors.New("jumio: user reference signature mismatch")
	// ErrUserReferenceExpired: the token is older than the maximum age, or
	// dated more than UserReferenceClockSkew in the future.
	ErrUserReferenceExpired = errors.New("jumio: user reference expired")
	// ErrUserReferenceInvalid: SignUserReference was given an empty
	// secret, a reference with characters outside [A-Za-z0-9._:-], or one
	// that makes the token longer than UserReferenceMaxLen.
	ErrUserReferenceInvalid = errors.New("jumio: user reference cannot be signed")
)

// SignUserReference returns the signed token for ref at time now. ref may
// be empty; otherwise it must be an opaque id of ASCII letters, digits and
// '.', '_', ':', '-' (no ',' or '=', which delimit the token, and no '@' or
// spaces, which would let an e-mail address or a name slip in). With a
// 10-digit timestamp the token leaves room for a reference of 17
// characters. Errors wrap ErrUserReferenceInvalid.
func SignUserReference(secret []byte, ref string, now time.Time) (string, error) {
	if len(secret) == 0 {
		return "", fmt.Errorf("%w: empty secret", ErrUserReferenceInvalid)
	}
	if !validRef(ref) {
		return "", fmt.Errorf("%w: reference has a character outside [A-Za-z0-9._:-]", ErrUserReferenceInvalid)
	}
	t := strconv.FormatInt(now.Unix(), 10)
	var b strings.Builder
	if ref != "" {
		b.WriteString("u=")
		b.WriteString(ref)
		b.WriteByte(',')
	}
	b.WriteString("t=")
	b.WriteString(t)
	b.WriteString(",v1=")
	b.WriteString(hex.EncodeToString(userRefMAC(secret, t, ref)))
	if b.Len() > UserReferenceMaxLen {
		return "", fmt.Errorf("%w: token of %d characters exceeds Jumio's %d (reference too long)", ErrUserReferenceInvalid, b.Len(), UserReferenceMaxLen)
	}
	return b.String(), nil
}

// VerifyUserReference checks a signed token against each of secrets (the
// current one and those being rotated out) and returns its reference (""
// when the token has none). t may be in seconds or milliseconds. The
// signature is compared in constant time. The token must be no older than
// maxAge (maxAge <= 0 skips that check) and no more than
// UserReferenceClockSkew in the future. Errors wrap
// ErrUserReferenceMissing, ErrUserReferenceMalformed,
// ErrUserReferenceSignature or ErrUserReferenceExpired, in that order of
// checking.
func VerifyUserReference(token string, secrets [][]byte, maxAge time.Duration, now time.Time) (ref string, err error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return "", ErrUserReferenceMissing
	}
	if len(token) > 4*UserReferenceMaxLen {
		return "", ErrUserReferenceMalformed
	}
	var t string
	var sigs [][]byte
	seenU, seenT := false, false
	for part := range strings.SplitSeq(token, ",") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return "", ErrUserReferenceMalformed
		}
		switch k {
		case "u":
			if seenU || !validRef(v) || v == "" {
				return "", ErrUserReferenceMalformed
			}
			seenU, ref = true, v
		case "t":
			if seenT || len(v) == 0 || len(v) > 13 || !allDigits(v) {
				return "", ErrUserReferenceMalformed
			}
			seenT, t = true, v
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil || len(sig) != sha256.Size {
				return "", ErrUserReferenceMalformed
			}
			sigs = append(sigs, sig)
		default:
			// Later schemes (v2, …) are ignored, so that tokens can
			// carry two signatures while verifiers are upgraded.
		}
	}
	if !seenT || len(sigs) == 0 {
		return "", ErrUserReferenceMalformed
	}
	if !userRefSignatureOK(secrets, t, ref, sigs) {
		return "", ErrUserReferenceSignature
	}
	n, _ := strconv.ParseInt(t, 10, 64) // at most 13 digits: fits
	var at time.Time
	if n >= 1e11 { // 1e11 seconds is the year 5138: this is milliseconds
		at = time.UnixMilli(n)
	} else {
		at = time.Unix(n, 0)
	}
	switch {
	case at.After(now.Add(UserReferenceClockSkew)):
		return "", fmt.Errorf("%w: dated in the future", ErrUserReferenceExpired)
	case maxAge > 0 && now.Sub(at) > maxAge:
		return "", ErrUserReferenceExpired
	}
	return ref, nil
}

func userRefSignatureOK(secrets [][]byte, t, ref string, sigs [][]byte) bool {
	ok := 0
	for _, secret := range secrets {
		if len(secret) == 0 {
			continue
		}
		want := userRefMAC(secret, t, ref)
		for _, sig := range sigs {
			// Every pair is compared, so the time does not depend on
			// which secret matched.
			ok |= boolInt(hmac.Equal(sig, want))
		}
	}
	return ok == 1
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func userRefMAC(secret []byte, t, ref string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(t))
	m.Write([]byte{'.'})
	m.Write([]byte(ref))
	return m.Sum(nil)
}

func refByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-'
}

func validRef(s string) bool {
	for i := 0; i < len(s); i++ {
		if !refByte(s[i]) {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
