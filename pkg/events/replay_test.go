package events

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReplayMarkerRoundTrip(t *testing.T) {
	for _, m := range []ReplayMarker{
		{ID: "r1"},
		{ID: "r2", Redeliver: true},
		{ID: "r3", Redeliver: true, Routes: []string{"crm", "warehouse"}},
		{ID: "r4", Redeliver: true, Routes: []string{"crm"}, Redrive: true},
	} {
		got, err := ParseReplayMarker(m.String())
		if err != nil {
			t.Fatalf("ParseReplayMarker(%q): %v", m.String(), err)
		}
		if diff := cmp.Diff(m, got); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
}

func TestReplayMarkerErrors(t *testing.T) {
	for _, s := range []string{"", "redeliver=true", "id=", "id=a b"} {
		if _, err := ParseReplayMarker(s); !errors.Is(err, ErrBadReplayMarker) {
			t.Errorf("ParseReplayMarker(%q): got %v, want ErrBadReplayMarker", s, err)
		}
	}
}

func TestReplayMarkerCovers(t *testing.T) {
	all := ReplayMarker{ID: "x"}
	some := ReplayMarker{ID: "x", Routes: []string{"crm"}}
	if !all.Covers("any") || !some.Covers("crm") || some.Covers("other") {
		t.Error("Covers: wrong answer")
	}
	if all.MessageID("e") == (ReplayMarker{ID: "y"}).MessageID("e") {
		t.Error("MessageID: different replays give the same id")
	}
}
