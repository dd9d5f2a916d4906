package events

import (
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
	if PlatformEventID("e", "PROCESSED", a) != PlatformEventID("e", "PROCESSED", b) {
		t.Error("same instant written differently gives different ids")
	}
	if PlatformEventID("e", "PROCESSED", a) == PlatformEventID("e", "SESSION_EXPIRED", a) {
		t.Error("different status gives the same id")
	}
	if PlatformEventID("e", "X", a) == NetverifyEventID("e", "X", a) {
		t.Error("platform and netverify ids collide")
	}
	if EventID("ab", "c") == EventID("a", "bc") {
		t.Error("parts are not separated")
	}
	if got := len(PlatformEventID("e", "s", time.Time{})); got != 64 {
		t.Errorf("id length: got %d, want 64", got)
	}
}
