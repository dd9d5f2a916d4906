package wire

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParsePlatformCallbackFixtures(t *testing.T) {
	for _, name := range []string{"callback-processed.json", "callback-session-expired.json", "callback-token-expired-short-href.json"} {
		t.Run(name, func(t *testing.T) {
			cb, err := ParsePlatformCallback(readFixture(t, filepath.Join("platform", name)))
			if err != nil {
				t.Fatalf("ParsePlatformCallback: %v", err)
			}
			if cb.WorkflowExecution.ID == "" || cb.Account.ID == "" || cb.CallbackSentAt.IsZero() {
				t.Errorf("got %+v, want ids and callbackSentAt", cb)
			}
			if _, ok := cb.Region(); !ok {
				t.Errorf("Region: no region from hrefs")
			}
			if len(cb.EventID()) != 64 {
				t.Errorf("EventID: got %q", cb.EventID())
			}
		})
	}
}

func TestParseNetverifyCallbackFixtures(t *testing.T) {
	for _, tc := range []struct {
		name, status string
		details      int
	}{
		{"callback-approved-verified.form", "APPROVED_VERIFIED", 0},
		{"callback-denied-fraud-details-array.form", "DENIED_FRAUD", 2},
		{"callback-not-readable-details-object.form", "ERROR_NOT_READABLE_ID", 1},
		{"callback-no-id-uploaded.form", "NO_ID_UPLOADED", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			values, err := url.ParseQuery(strings.TrimSpace(string(readFixture(t, filepath.Join("netverify", tc.name)))))
			if err != nil {
				t.Fatal(err)
			}
			m, err := ParseNetverifyCallback(values)
			if err != nil {
				t.Fatalf("ParseNetverifyCallback: %v", err)
			}
			if m.ID == nil || m.Status() != tc.status {
				t.Fatalf("got %v status %q, want ID callback %q", m, m.Status(), tc.status)
			}
			got := 0
			if m.ID.RejectReason != nil {
				got = len(m.ID.RejectReason.Details)
			}
			if got != tc.details {
				t.Errorf("reject details: got %d, want %d", got, tc.details)
			}
			if len(m.Warnings) != 0 {
				t.Errorf("warnings: %v", m.Warnings)
			}
		})
	}
}

func TestParseCallbackErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		body  string
		field string
	}{
		{"not json", "nope", "body"},
		{"missing execution", `{"account":{"id":"4a1b2c3d-5e6f-4711-8899-aabbccddeeff"},"workflowExecution":{"status":"PROCESSED"}}`, "workflowExecution.id"},
		{"bad account", `{"account":{"id":"x"},"workflowExecution":{"id":"9f2c1e7a-3b4d-4c5e-8f60-1a2b3c4d5e6f","status":"PROCESSED"}}`, "account.id"},
		{"bad time", `{"callbackSentAt":"yesterday","account":{"id":"4a1b2c3d-5e6f-4711-8899-aabbccddeeff"},"workflowExecution":{"id":"9f2c1e7a-3b4d-4c5e-8f60-1a2b3c4d5e6f","status":"PROCESSED"}}`, "callbackSentAt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePlatformCallback([]byte(tc.body))
			var ce *CallbackError
			if !errors.As(err, &ce) || !errors.Is(err, ErrInvalidCallback) {
				t.Fatalf("got %v, want a *CallbackError", err)
			}
			if ce.Field != tc.field {
				t.Errorf("field: got %q, want %q", ce.Field, tc.field)
			}
		})
	}
}
