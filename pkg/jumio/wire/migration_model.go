package wire

import (
	"fmt"
	"slices"
)

// MigrationRequest is the body of Jumio's data migration API, which moves
// Netverify transactions to the Platform: POST
// /api/v1/migrations/accounts makes a new account of them, PUT
// /api/v1/migrations/accounts/{accountId} adds them to an existing one.
// Each scan reference becomes the workflow execution id of its migrated
// copy, and Jumio sends one callback per migrated scan reference.
// https://github.com/Jumio/implementation-guides (api-guide/data-migration.md)
type MigrationRequest struct {
	// ScanReferences are the Netverify scan references to migrate; Jumio
	// advises putting only one end user's transactions into one account.
	ScanReferences []string `json:"scanReferences"`
	// CallbackURL receives the callbacks of the migrated scans; it
	// overrides the Portal setting. At most 255 characters.
	CallbackURL string `json:"callbackUrl,omitempty"`
}

// MaxMigrationScanReferences bounds the scan references of one
// MigrationRequest. Jumio documents no limit; this keeps one request, and
// the callbacks it causes at once, small.
const MaxMigrationScanReferences = 100

// MigrationResponse is the data migration API's answer: the account the
// scans were migrated into.
type MigrationResponse struct {
	Account Link `json:"account"`
}

// Validate checks a migration request before it is sent: one to
// MaxMigrationScanReferences scan references, each a UUID and given once,
// and a callback URL of at most 255 characters. Problems name the field,
// never a value.
func (r MigrationRequest) Validate() error {
	var bad []string
	switch n := len(r.ScanReferences); {
	case n == 0:
		bad = append(bad, "scanReferences is empty")
	case n > MaxMigrationScanReferences:
		bad = append(bad, fmt.Sprintf("scanReferences holds more than %d", MaxMigrationScanReferences))
	}
	for i, ref := range r.ScanReferences {
		if !ValidID(ref) {
			bad = append(bad, fmt.Sprintf("scanReferences[%d] is not a UUID", i))
		} else if slices.Index(r.ScanReferences, ref) < i {
			bad = append(bad, fmt.Sprintf("scanReferences[%d] repeats an earlier one", i))
		}
	}
	if len(r.CallbackURL) > 255 {
		bad = append(bad, "callbackUrl is longer than 255")
	}
	if len(bad) > 0 {
		return &RequestError{Problems: bad}
	}
	return nil
}
