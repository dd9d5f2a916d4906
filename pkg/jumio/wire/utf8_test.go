package wire

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestInvalidUTF8Refused: a callback whose text is not valid UTF-8 text
// anywhere, raw or percent-encoded, in a JSON string or a JSON escape of
// a lone surrogate, in a form body or a query string, is refused whole
// with ErrInvalidUTF8 (naming the form field where there is one), by the
// full Netverify parse and the ids-only one alike; valid text in any
// script passes.
func TestInvalidUTF8Refused(t *testing.T) {
	exec := `"workflowExecution":{"id":"` + tolExec + `","status":"PROCESSED"},"account":{"id":"` + tolAccount + `"}`
	for _, tc := range []struct {
		name, body string
		bad        bool
	}{
		{"userReference with a raw 0xFF", `{` + exec + `,"userReference":"usr` + "\xff" + `"}`, true},
		{"a raw invalid byte outside the known fields", `{` + exec + `,"x":"` + "\xc3\x28" + `"}`, true},
		{"lone high surrogate escape", `{` + exec + `,"userReference":"\ud800"}`, true},
		{"lone low surrogate escape", `{` + exec + `,"userReference":"\uDC00x"}`, true},
		{"high surrogate then text", `{` + exec + `,"userReference":"\ud83dx\ude00"}`, true},
		{"surrogate in UTF-8 form", `{` + exec + `,"userReference":"` + "\xed\xa0\x80" + `"}`, true},
		{"overlong slash", `{` + exec + `,"userReference":"` + "\xc0\xaf" + `"}`, true},
		{"surrogate pair escape", `{` + exec + `,"userReference":"\ud83d\ude00"}`, false},
		{"escaped backslash then ud800", `{` + exec + `,"userReference":"\\ud800"}`, false},
		{"accents and CJK", `{` + exec + `,"userReference":"Zoë 山田"}`, false},
	} {
		t.Run("platform/"+tc.name, func(t *testing.T) {
			_, err := ParsePlatformCallback([]byte(tc.body))
			if got := errors.Is(err, ErrInvalidUTF8); got != tc.bad || (!tc.bad && err != nil) {
				t.Errorf("ParsePlatformCallback: %v, want invalid UTF-8 %v", err, tc.bad)
			}
		})
	}
	iv := url.QueryEscape(`{"similarity":"MATCH","reason":"\udc01"}`)
	for _, tc := range []struct {
		name, body, query string
		field             string // "" when valid
	}{
		{"percent-encoded 0xFF 0xFE in a name", idForm("idFirstName=%FF%FE"), "", "idFirstName"},
		{"raw 0xFF in a name", idForm("idLastName=Mu\xffller"), "", "idLastName"},
		{"truncated sequence", idForm("idFirstName=Jos%C3"), "", "idFirstName"},
		{"truncated sequence before the next byte", idForm("idFirstName=%E2%82x"), "", "idFirstName"},
		{"overlong encoding", idForm("idFirstName=%C0%AF"), "", "idFirstName"},
		{"UTF-8 encoded surrogate", idForm("idFirstName=%ED%A0%80"), "", "idFirstName"},
		{"in a kept field", idForm("customerId=usr%FF"), "", "customerId"},
		{"in a field name", idForm("id%FFName=x"), "", "body"},
		{"lone surrogate escape in JSON", idForm("identityVerification=" + iv), "", "identityVerification"},
		{"in the query string", idForm(""), "idFirstName=%FF", "idFirstName"},
		{"raw in the query string", idForm(""), "idFirstName=\xfe", "idFirstName"},
		{"valid accents", idForm("idFirstName=Zo%C3%AB&idLastName=%E5%B1%B1%E7%94%B0"), "", ""},
		{"valid U+FFFD", idForm("idFirstName=%EF%BF%BD"), "", ""},
		{"valid surrogate pair escape", idForm("identityVerification=" + url.QueryEscape(`{"reason":"\ud83d\ude00"}`)), "", ""},
	} {
		t.Run("netverify/"+tc.name, func(t *testing.T) {
			for name, parse := range map[string]func([]byte, string) (*NetverifyMessage, string, error){
				"ParseNetverifyRequest": ParseNetverifyRequest, "ParseNetverifyRequestIDs": ParseNetverifyRequestIDs,
			} {
				_, _, err := parse([]byte(tc.body), tc.query)
				var ce *CallbackError
				switch {
				case tc.field == "" && err != nil:
					t.Errorf("%s: %v, want accepted", name, err)
				case tc.field != "" && (!errors.Is(err, ErrInvalidUTF8) || !errors.As(err, &ce) || ce.Field != tc.field):
					t.Errorf("%s: %v, want invalid UTF-8 in %s", name, err, tc.field)
				}
			}
		})
	}
	if err := CheckQuery("a=%FF"); !errors.Is(err, ErrInvalidUTF8) {
		t.Errorf("CheckQuery(a=%%FF) = %v, want ErrInvalidUTF8", err)
	}
}

// FuzzCheckComponent: checkComponent agrees with decoding the component
// (url.QueryUnescape) and asking unicode/utf8, wherever the decoded text
// holds no backslash (JSON escapes are its own addition).
func FuzzCheckComponent(f *testing.F) {
	for _, s := range []string{"", "a", "%FF", "%C3%A9", "Zo%C3%AB", "%E2%82", "\xff", "a+b", "%zz", "%", "%4", "%ED%A0%80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := checkComponent(s)
		dec, err := url.QueryUnescape(s)
		switch {
		case err != nil:
			if got != componentMalformed {
				t.Fatalf("checkComponent(%q) = %d, url.QueryUnescape: %v", s, got, err)
			}
		case got == componentMalformed:
			t.Fatalf("checkComponent(%q) malformed, url.QueryUnescape accepts it", s)
		case !utf8.ValidString(dec) && got != componentNotUTF8:
			t.Fatalf("checkComponent(%q) = %d, decoded text is not valid UTF-8", s, got)
		}
	})
}

// FuzzDecodeComponent: decode, given what scanQuery's pass found in a
// component, judges it as checkComponent does and decodes it as
// url.QueryUnescape does; what it returned earlier stays as it was while
// later components fill and replace its buffer.
func FuzzDecodeComponent(f *testing.F) {
	for _, s := range []string{"", "a", "%FF", "%C3%A9", "Zo%C3%AB", "%E2%82", "\xff", "a+b", "%zz", "%", "%4", "%ED%A0%80", `\ud800`, `%5Cud83d%5Cude00`, "a=b"} {
		f.Add(s, "x%41+y")
	}
	f.Fuzz(func(t *testing.T, s, next string) {
		s, next = strings.ReplaceAll(s, "&", ""), strings.ReplaceAll(next, "&", "")
		textOf := func(s string) text {
			var t text
			for i := range len(s) {
				switch formBytes[s[i]] {
				case byteEscape:
					t |= textEscaped
				case byteCheck:
					t |= textChecked
				}
			}
			return t
		}
		// Room for s alone: next takes a buffer of its own.
		d := &decoder{left: len(s)}
		got, c := d.decode(s, textOf(s))
		if want := checkComponent(s); c != want {
			t.Fatalf("decode(%q) = %d, checkComponent: %d", s, c, want)
		}
		if c != componentOK {
			return
		}
		want, err := url.QueryUnescape(s)
		if err != nil || got != want {
			t.Fatalf("decode(%q) = %q, url.QueryUnescape: %q, %v", s, got, want, err)
		}
		for range 3 {
			d.decode(next, textOf(next))
		}
		if got != want {
			t.Fatalf("decode(%q) changed to %q by the components decoded after it", s, got)
		}
	})
}
