package events_test

import (
	"testing"
	"time"

	"github.com/kycflow/kycflow/pkg/events"
)

// TestCallbackOrderTime: a callback is ordered by when it says it was
// sent, at most MaxCallbackLead after it was received; by when it was
// received when it says nothing.
func TestCallbackOrderTime(t *testing.T) {
	received := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { t := received.Add(d); return &t }
	for _, tc := range []struct {
		name     string
		sent     *time.Time
		received time.Time
		want     time.Time
	}{
		{"sent before received", at(-time.Hour), received, *at(-time.Hour)},
		{"sent a little ahead", at(events.MaxCallbackLead), received, *at(events.MaxCallbackLead)},
		{"sent far ahead", at(74 * 365 * 24 * time.Hour), received, *at(events.MaxCallbackLead)},
		{"no sent time", nil, received, received},
		{"zero sent time", &time.Time{}, received, received},
		{"not known when received", at(time.Hour), time.Time{}, *at(time.Hour)},
	} {
		if got := events.CallbackOrderTime(tc.sent, tc.received); !got.Equal(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
		ts := events.Timestamps{CallbackSent: tc.sent}
		if !tc.received.IsZero() {
			ts.Received = &tc.received
		}
		if got := ts.OrderTime(); !got.Equal(tc.want) {
			t.Errorf("%s: OrderTime %v, want %v", tc.name, got, tc.want)
		}
	}
}
