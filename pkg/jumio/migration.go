package jumio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// MigrationClass says why Jumio refused to migrate scan references: the
// documented error messages of the data migration API, by cause.
type MigrationClass string

// Migration error classes.
const (
	// MigrationWipedOut: "Scans [...] are wiped out": the scans were
	// deleted. Permanent.
	MigrationWipedOut MigrationClass = "wiped_out"
	// MigrationNotFound: "Scan references [...] not found". Permanent.
	MigrationNotFound MigrationClass = "not_found"
	// MigrationNotFinal: "Scans [...] not in final state": not processed
	// yet; migrating them later may succeed.
	MigrationNotFinal MigrationClass = "not_final"
	// MigrationAlreadyMigrated: "Scan references [...] already migrated".
	MigrationAlreadyMigrated MigrationClass = "already_migrated"
	// MigrationInProgress: "Scan references [...] are in progress or
	// already migrated": an earlier request is migrating them.
	MigrationInProgress MigrationClass = "in_progress"
	// MigrationAccountNotFound: "Account [...] not found": the account of
	// an update does not exist (any more). The scans were not migrated.
	MigrationAccountNotFound MigrationClass = "account_not_found"
)

// MigrationClasses lists every class.
var MigrationClasses = []MigrationClass{MigrationWipedOut, MigrationNotFound, MigrationNotFinal,
	MigrationAlreadyMigrated, MigrationInProgress, MigrationAccountNotFound}

// MigrationError is Jumio's refusal of a migration request for a reason
// it documents. Jumio refuses the whole request: none of its scans is
// migrated, and ScanReferences are the ones the message names (only those
// of the request; the rest may be sent again without them). It unwraps to
// the *APIError.
type MigrationError struct {
	Class MigrationClass
	// ScanReferences named by the error, each one of the request; empty
	// for MigrationAccountNotFound.
	ScanReferences []string
	Err            *APIError
}

func (e *MigrationError) Error() string {
	s := e.Err.Error() + ": migration refused, " + string(e.Class)
	if n := len(e.ScanReferences); n > 0 {
		s += " (" + strconv.Itoa(n) + " scan references)"
	}
	return s
}

func (e *MigrationError) Unwrap() error { return e.Err }

// migrationMessages are the documented error messages, most specific
// first ("are in progress or already migrated" before "already
// migrated").
var migrationMessages = []struct {
	re    *regexp.Regexp
	class MigrationClass
}{
	{regexp.MustCompile(`(?i)\bScans\s*\[([^\]]*)\]\s*(?:are\s+)?wiped out`), MigrationWipedOut},
	{regexp.MustCompile(`(?i)\bAccount\s*\[([^\]]*)\]\s*not found`), MigrationAccountNotFound},
	{regexp.MustCompile(`(?i)\bScan references\s*\[([^\]]*)\]\s*(?:are\s+)?in progress`), MigrationInProgress},
	{regexp.MustCompile(`(?i)\bScan references\s*\[([^\]]*)\]\s*(?:are\s+)?already migrated`), MigrationAlreadyMigrated},
	{regexp.MustCompile(`(?i)\bScan references\s*\[([^\]]*)\]\s*(?:are\s+)?not found`), MigrationNotFound},
	{regexp.MustCompile(`(?i)\bScans\s*\[([^\]]*)\]\s*(?:are\s+)?not in final state`), MigrationNotFinal},
}

// migrationError reads a refusal of the migration API: a *MigrationError
// when the message is one Jumio documents, else ae itself. Only scan
// references of sent are kept, so a message never adds ids of its own.
func migrationError(ae *APIError, sent []string) error {
	for _, m := range migrationMessages {
		sub := m.re.FindStringSubmatch(ae.Detail + " " + ae.Title)
		if sub == nil {
			continue
		}
		me := &MigrationError{Class: m.class, Err: ae}
		if m.class != MigrationAccountNotFound {
			for ref := range strings.FieldsFuncSeq(sub[1], func(r rune) bool { return r == ',' || r == ' ' || r == '"' || r == '\'' }) {
				if slices.Contains(sent, ref) && !slices.Contains(me.ScanReferences, ref) {
					me.ScanReferences = append(me.ScanReferences, ref)
				}
			}
			if len(me.ScanReferences) == 0 {
				return ae // names none of ours: not a refusal we can act on
			}
		}
		return me
	}
	return ae
}

// MigrateScans asks Jumio to migrate Netverify scans to the Platform
// (POST /api/v1/migrations/accounts on the account host, or PUT
// …/accounts/{accountId} with a non-empty accountID to add them to an
// existing account). It returns the account the scans go to; Jumio then
// sends one callback per migrated scan to req.CallbackURL, each with the
// scan reference as workflow execution id.
//
// It is not idempotent, so it is tried once (plus once after a 401 with a
// fresh token); after a transient error the scans may or may not be on
// their way, and asking again answers MigrationInProgress or
// MigrationAlreadyMigrated for them. A documented refusal comes back as a
// *MigrationError (errors.As), which says which scans and why; nothing of
// the request was migrated then. The request waits for the account
// limiter and, since Jumio counts it against the tenant's budget too, for
// the retrieval limiter, both in the lane of ctx (usually LaneMigrate).
func (c *Client) MigrateScans(ctx context.Context, accountID string, req wire.MigrationRequest) (*wire.MigrationResponse, error) {
	ep, method, path := EndpointMigrationCreate, http.MethodPost, PathMigrations
	if accountID != "" {
		ep, method, path = EndpointMigrationUpdate, http.MethodPut, PathMigrations+"/"+accountID
		if !wire.ValidID(accountID) {
			return nil, invalid(ep, "account id is not a UUID")
		}
	}
	if err := req.Validate(); err != nil {
		return nil, fmt.Errorf("jumio: %s: %w: %w", ep, ErrInvalidArgument, err)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, invalid(ep, "request does not encode")
	}
	cl := call{ep: ep, method: method, base: c.cfg.Hosts.Account, path: path, auth: authPlatform,
		accept: "application/json", body: body, lim: c.account, also: c.retrieval, once: true}
	var v wire.MigrationResponse
	if _, err := c.getJSON(ctx, cl, &v); err != nil {
		var ae *APIError
		if errors.As(err, &ae) {
			return nil, migrationError(ae, req.ScanReferences)
		}
		return nil, err
	}
	if !wire.ValidID(v.Account.ID) {
		return nil, fmt.Errorf("jumio: %s: account id is not a UUID: %w", ep, ErrMalformedResponse)
	}
	return &v, nil
}

// DeleteAccount deletes an account and every workflow execution of it
// (DELETE /api/v1/accounts/{accountId} on the retrieval host). Deletion
// is immediate and irreversible. A 404 (ErrNotFound) means there is no
// such account: already deleted, or never in this tenant.
func (c *Client) DeleteAccount(ctx context.Context, accountID string) error {
	const ep = EndpointAccountDelete
	if !wire.ValidID(accountID) {
		return invalid(ep, "account id is not a UUID")
	}
	return c.del(ctx, call{ep: ep, base: c.cfg.Hosts.Retrieval, path: PathAccounts + "/" + accountID, auth: authPlatform, lim: c.retrieval})
}

// DeleteWorkflowExecution deletes the personal data of one workflow
// execution (DELETE …/accounts/{accountId}/workflow-executions/{id});
// Jumio keeps its metadata and answers later retrievals with wipedOutAt
// set. A 404 (ErrNotFound) means it is gone already.
func (c *Client) DeleteWorkflowExecution(ctx context.Context, accountID, workflowExecutionID string) error {
	p, err := executionPath(EndpointExecutionDelete, accountID, workflowExecutionID)
	if err != nil {
		return err
	}
	return c.del(ctx, call{ep: EndpointExecutionDelete, base: c.cfg.Hosts.Retrieval, path: p, auth: authPlatform, lim: c.retrieval})
}

// DeleteNetverifyScan deletes a Netverify ID-verification transaction's
// images and extracted data (DELETE /api/netverify/v2/scans/{ref}), and
// with it its migrated copy on the Platform. A 404 (ErrNotFound) means it
// is gone already.
func (c *Client) DeleteNetverifyScan(ctx context.Context, scanReference string) error {
	return c.netverifyDelete(ctx, EndpointNetverifyScanDelete, PathNetverifyScans, scanReference)
}

// DeleteNetverifyAuthentication deletes a Netverify authentication
// transaction's personal data, images and facemap (DELETE
// /api/netverify/v2/authentications/{ref}), and its migrated copy. A 404
// (ErrNotFound) means it is gone already.
func (c *Client) DeleteNetverifyAuthentication(ctx context.Context, transactionReference string) error {
	return c.netverifyDelete(ctx, EndpointNetverifyAuthenticationDelete, PathNetverifyAuthentications, transactionReference)
}

func (c *Client) netverifyDelete(ctx context.Context, ep Endpoint, collection, ref string) error {
	if !wire.ValidID(ref) {
		return invalid(ep, "transaction reference is not a UUID")
	}
	return c.del(ctx, call{ep: ep, base: c.cfg.Hosts.Netverify, path: collection + "/" + ref, auth: authNetverify, lim: c.retrieval})
}

// del performs a DELETE; it is idempotent, so transient failures are
// retried within the call.
func (c *Client) del(ctx context.Context, cl call) error {
	cl.method, cl.accept = http.MethodDelete, "application/json"
	return c.run(ctx, cl, func(resp *http.Response, done func()) error {
		defer done()
		resp.Body.Close()
		return nil
	})
}
