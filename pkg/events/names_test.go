package events

import (
	"slices"
	"testing"
	"time"
)

func TestSubjects(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{CallbackSubject(APIPlatform, "acc", "exe"), "jumio.callbacks.platform.acc.exe"},
		{CallbackSubject(APINetverify, "", "scan"), "jumio.callbacks.netverify.legacy.scan"},
		{EnrichedSubject("acc", "exe"), "jumio.enriched.acc.exe"},
		{ResultSubject("", DecisionNotExecuted, "10011", "acc", "exe"), "jumio.results.not_executed.10011.acc.exe"},
		{ResultSubject("jumio.results.crm", DecisionPassed, "", "", "exe"), "jumio.results.crm.passed._.legacy.exe"},
		// A decision Jumio does not document passes through, but never
		// as the token of one it does.
		{ResultSubject("", "FAILED", "10011", "acc", "exe"), "jumio.results.failed.10011.acc.exe"},
		{ResultSubject("", "passed", "10011", "acc", "exe"), "jumio.results.undocumented.10011.acc.exe"},
		{ResultSubject("", "Not_Executed", "10011", "acc", "exe"), "jumio.results.undocumented.10011.acc.exe"},
		{DLQSubject(StageEnrich, "", "acc", "exe"), "jumio.dlq.enrich.acc.exe"},
		{DLQSubject(StageNotify, "crm-webhook", "acc", "exe"), "jumio.dlq.notify-crm-webhook.acc.exe"},
		{Token("a.b*c>d e"), "a_b_c_d_e"},
		{Token(""), "_"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestEventIDsAreDeterministic(t *testing.T) {
	a, _ := time.Parse(time.RFC3339Nano, "2024-03-14T10:15:30.1Z")
	b, _ := time.Parse(time.RFC3339Nano, "2024-03-14T10:15:30.100Z")
	if PlatformEventID("a", "e", "PROCESSED", a) != PlatformEventID("a", "e", "PROCESSED", b) {
		t.Error("same instant written differently gives different ids")
	}
	if PlatformEventID("a", "e", "PROCESSED", a) == PlatformEventID("a", "e", "SESSION_EXPIRED", a) {
		t.Error("different status gives the same id")
	}
	// A copy naming another account (forged with the execution's ids and
	// time) must not take the genuine callback's id.
	if PlatformEventID("a", "e", "PROCESSED", a) == PlatformEventID("b", "e", "PROCESSED", a) {
		t.Error("different account gives the same id")
	}
	if PlatformEventID("a", "e", "X", a) == NetverifyEventID([]FormField{{"jumioIdScanReference", "e"}, {"verificationStatus", "X"}}) {
		t.Error("platform and netverify ids collide")
	}
	if EventID("ab", "c") == EventID("a", "bc") {
		t.Error("parts are not separated")
	}
	if got := len(PlatformEventID("a", "e", "s", time.Time{})); got != 64 {
		t.Errorf("id length: got %d, want 64", got)
	}
}

// TestNetverifyEventIDCoversTheWholeCallback: the same fields, in any
// order, give the same id; any field added, removed or changed, or two
// values of one name swapped, gives another; fields cannot be shifted
// into one another.
func TestNetverifyEventIDCoversTheWholeCallback(t *testing.T) {
	base := []FormField{{"jumioIdScanReference", "5b6c7d8e-1111-4222-8333-944455556666"}, {"verificationStatus", "APPROVED_VERIFIED"},
		{"callbackDate", "2021-05-10T08:05:10.123Z"}, {"idFirstName", "JANE"}, {"customerId", "a"}, {"customerId", "b"}}
	id := func(fs ...FormField) string { return NetverifyEventID(slices.Clone(fs)) }
	want := id(base...)
	reordered := slices.Clone(base)
	slices.Reverse(reordered[:4])
	if got := id(reordered...); got != want {
		t.Errorf("fields in another order: id %s, want %s", got, want)
	}
	for _, tc := range []struct {
		name   string
		fields []FormField
	}{
		{"a name changed", append(slices.Clone(base[:3]), FormField{"idFirstName", "JOHN"}, base[4], base[5])},
		{"a field added", append(slices.Clone(base), FormField{"idLastName", "DOE"})},
		{"a field removed", slices.Clone(base[:5])},
		{"values of one name swapped", append(slices.Clone(base[:4]), base[5], base[4])},
		{"an empty field added", append(slices.Clone(base), FormField{"x", ""})},
		{"a value shifted into its name", append(slices.Clone(base[:3]), FormField{"idFirstNameJANE", ""}, base[4], base[5])},
	} {
		if got := id(tc.fields...); got == want {
			t.Errorf("%s: same id as the genuine callback", tc.name)
		}
	}
}
