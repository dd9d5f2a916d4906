package jumio

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestMigrationErrorMessages: the documented messages in the body shapes
// Jumio's APIs use, and ids Jumio names that were not in the request.
func TestMigrationErrorMessages(t *testing.T) {
	const a, b, other = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222", "33333333-3333-4333-8333-333333333333"
	sent := []string{a, b}
	for _, tc := range []struct {
		body  string
		class MigrationClass
		refs  []string
	}{
		{`{"message":"Scans [` + a + `, ` + b + `] are wiped out"}`, MigrationWipedOut, []string{a, b}},
		{`{"errorMessage":"Scan references [\"` + b + `\"] not found"}`, MigrationNotFound, []string{b}},
		{`{"detail":"Scans [` + a + `] not in final state"}`, MigrationNotFinal, []string{a}},
		{`{"message":"Scan references [` + a + `] are in progress or already migrated"}`, MigrationInProgress, []string{a}},
		{`{"message":"Scan references [` + b + `,` + other + `] already migrated"}`, MigrationAlreadyMigrated, []string{b}},
		{`{"message":"Account [` + other + `] not found"}`, MigrationAccountNotFound, nil},
		{`{"message":"Scan references [` + other + `] not found"}`, "", nil},
		{`{"message":"Something else"}`, "", nil},
	} {
		ae := &APIError{Endpoint: EndpointMigrationCreate, Status: 400}
		fillErrorBody(ae, []byte(tc.body))
		err := migrationError(ae, sent)
		var me *MigrationError
		if !errors.As(err, &me) {
			if tc.class != "" {
				t.Errorf("%s: %v, want class %s", tc.body, err, tc.class)
			}
			continue
		}
		if tc.class == "" {
			t.Errorf("%s: class %s, want the plain *APIError", tc.body, me.Class)
			continue
		}
		if me.Class != tc.class || !cmp.Equal(me.ScanReferences, tc.refs) {
			t.Errorf("%s: %s %v, want %s %v", tc.body, me.Class, me.ScanReferences, tc.class, tc.refs)
		}
	}
}
