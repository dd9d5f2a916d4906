package events_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kycflow/kycflow/pkg/events"
)

func validInitiated() events.InitiatedEvent {
	return events.InitiatedEvent{SchemaVersion: 1, AccountID: "4a1b2c3d-5e6f-4711-8899-aabbccddeeff",
		WorkflowExecutionID: "9f2c1e7a-3b4d-4c5e-8f60-1a2b3c4d5e6f", WorkflowDefinitionKey: "10011",
		InitiatedAt: time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC), TokenLifetime: "30m", Source: "onboarding-api"}
}

func TestInitiatedEventValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*events.InitiatedEvent)
		ok   bool
	}{
		{"valid", func(*events.InitiatedEvent) {}, true},
		{"no token lifetime", func(e *events.InitiatedEvent) { e.TokenLifetime = "" }, true},
		{"sixty days", func(e *events.InitiatedEvent) { e.TokenLifetime = "60d" }, true},
		{"version 2", func(e *events.InitiatedEvent) { e.SchemaVersion = 2 }, false},
		{"account not a UUID", func(e *events.InitiatedEvent) { e.AccountID = "legacy" }, false},
		{"execution missing", func(e *events.InitiatedEvent) { e.WorkflowExecutionID = "" }, false},
		{"no time", func(e *events.InitiatedEvent) { e.InitiatedAt = time.Time{} }, false},
		{"lifetime under 5m", func(e *events.InitiatedEvent) { e.TokenLifetime = "4m" }, false},
		{"lifetime over 60d", func(e *events.InitiatedEvent) { e.TokenLifetime = "61d" }, false},
		{"lifetime not Jumio's", func(e *events.InitiatedEvent) { e.TokenLifetime = "1 hour" }, false},
		{"source with a newline", func(e *events.InitiatedEvent) { e.Source = "a\nb" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := validInitiated()
			tt.mod(&e)
			err := e.Validate()
			if tt.ok != (err == nil) {
				t.Fatalf("Validate = %v, want ok %v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, events.ErrInvalidInitiated) {
				t.Errorf("error %v does not match ErrInvalidInitiated", err)
			}
			if _, _, _, err := e.Message("/test"); tt.ok != (err == nil) {
				t.Errorf("Message = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestInitiatedEventMessage(t *testing.T) {
	e := validInitiated()
	subj, hdr, body, err := e.Message("/onboarding-api")
	if err != nil {
		t.Fatal(err)
	}
	if want := "jumio.executions.initiated.4a1b2c3d-5e6f-4711-8899-aabbccddeeff.9f2c1e7a-3b4d-4c5e-8f60-1a2b3c4d5e6f"; subj != want {
		t.Errorf("subject %s, want %s", subj, want)
	}
	if hdr[events.HeaderMsgID][0] != e.EventID() || hdr[events.HeaderCEID][0] != e.EventID() || hdr[events.HeaderCEType][0] != events.TypeInitiated {
		t.Errorf("headers %v: want Nats-Msg-Id = ce-id = the event id and the initiated type", hdr)
	}
	again := validInitiated()
	again.InitiatedAt = again.InitiatedAt.Add(time.Minute)
	if again.EventID() != e.EventID() {
		t.Error("announcing the execution again gives another event id")
	}
	if len(body) == 0 {
		t.Error("no body")
	}
}

func TestParseTokenLifetime(t *testing.T) {
	for in, want := range map[string]time.Duration{"30m": 30 * time.Minute, "+2h": 2 * time.Hour, "7d": 7 * 24 * time.Hour, "300s": 5 * time.Minute} {
		got, err := events.ParseTokenLifetime(in)
		if err != nil || got != want {
			t.Errorf("ParseTokenLifetime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "30", "m", "-5m", "1w", "1.5h"} {
		if _, err := events.ParseTokenLifetime(in); err == nil {
			t.Errorf("ParseTokenLifetime(%q): no error", in)
		}
	}
}

// TestReconciledEventID: one id per execution and status, other than any
// callback's, whatever the callback's time.
func TestReconciledEventID(t *testing.T) {
	const x = "9f2c1e7a-3b4d-4c5e-8f60-1a2b3c4d5e6f"
	ids := map[string]string{
		"reconciled PROCESSED":       events.ReconciledEventID(x, "PROCESSED"),
		"reconciled TOKEN_EXPIRED":   events.ReconciledEventID(x, "TOKEN_EXPIRED"),
		"callback PROCESSED no time": events.PlatformEventID("a", x, "PROCESSED", time.Time{}),
		"callback PROCESSED":         events.PlatformEventID("a", x, "PROCESSED", time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)),
	}
	seen := map[string]string{}
	for name, id := range ids {
		if other, ok := seen[id]; ok {
			t.Errorf("%s and %s share an id", name, other)
		}
		seen[id] = name
	}
	if diff := cmp.Diff(events.ReconciledEventID(x, "PROCESSED"), ids["reconciled PROCESSED"]); diff != "" {
		t.Error("ReconciledEventID is not deterministic")
	}
}

func TestExecutionsInFilters(t *testing.T) {
	const a, x = "4a1b2c3d-5e6f-4711-8899-aabbccddeeff", "9f2c1e7a-3b4d-4c5e-8f60-1a2b3c4d5e6f"
	subj := events.InitiatedSubject(a, x)
	for name, filters := range map[string]map[string]string{"account": events.AccountFilters(a), "execution": events.ExecutionFilters(x)} {
		f, ok := filters[events.StreamExecutions]
		if !ok || !matches(f, subj) {
			t.Errorf("%s filter %q of JUMIO_EXECUTIONS does not select %s", name, f, subj)
		}
	}
}

// matches reports whether a NATS subject filter selects subj.
func matches(filter, subj string) bool {
	fs, ss := split(filter), split(subj)
	for i, f := range fs {
		if f == ">" {
			return i < len(ss)
		}
		if i >= len(ss) || (f != "*" && f != ss[i]) {
			return false
		}
	}
	return len(fs) == len(ss)
}

func split(s string) []string {
	var out []string
	start := 0
	for i := range len(s) {
		if s[i] == '.' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
