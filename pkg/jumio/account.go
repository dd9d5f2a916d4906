package jumio

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

// tokenLifetimeRE is Jumio's pattern for tokenLifetime.
var tokenLifetimeRE = regexp.MustCompile(`^[+-]?\d+[smhd]$`)

// CreateAccount creates an account and a workflow execution for it
// (POST /api/v1/accounts), which initiates a transaction: the response holds
// the web link or SDK token for the end user. It is not idempotent, so it
// is tried once (plus once more after a 401 with a fresh token); on a
// transient error the transaction may or may not exist.
func (c *Client) CreateAccount(ctx context.Context, req AccountRequest) (*AccountResponse, error) {
	return c.account1(ctx, EndpointAccountCreate, http.MethodPost, PathAccounts, req)
}

// UpdateAccount starts a new workflow execution on an existing account
// (PUT /api/v1/accounts/{accountId}); like CreateAccount it is tried once.
func (c *Client) UpdateAccount(ctx context.Context, accountID string, req AccountRequest) (*AccountResponse, error) {
	if !ValidID(accountID) {
		return nil, invalid(EndpointAccountUpdate, "account id is not a UUID")
	}
	return c.account1(ctx, EndpointAccountUpdate, http.MethodPut, PathAccounts+"/"+accountID, req)
}

func (c *Client) account1(ctx context.Context, ep Endpoint, method, path string, req AccountRequest) (*AccountResponse, error) {
	if err := req.Validate(); err != nil {
		return nil, fmt.Errorf("jumio: %s: %w: %w", ep, ErrInvalidArgument, err)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, invalid(ep, "request does not encode")
	}
	cl := call{ep: ep, method: method, base: c.cfg.Hosts.Account, path: path, auth: authPlatform,
		accept: "application/json", body: body, lim: c.account, once: true}
	var v AccountResponse
	if _, err := c.getJSON(ctx, cl, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Validate checks the limits Jumio documents for an account request; its
// errors name the field, never its value.
func (r AccountRequest) Validate() error {
	var bad []string
	n := len(r.CustomerInternalReference)
	switch {
	case n == 0:
		bad = append(bad, "customerInternalReference is required")
	case n > 100:
		bad = append(bad, "customerInternalReference is longer than 100")
	case strings.ContainsAny(r.CustomerInternalReference, "<>\"/;`%{}|"):
		bad = append(bad, "customerInternalReference holds one of <>\"/;`%{}|")
	}
	if r.WorkflowDefinition.Key <= 0 {
		bad = append(bad, "workflowDefinition.key is required")
	}
	if len(r.UserReference) > 100 {
		bad = append(bad, "userReference is longer than 100")
	}
	if len(r.ReportingCriteria) > 255 {
		bad = append(bad, "reportingCriteria is longer than 255")
	}
	if len(r.CallbackURL) > 255 {
		bad = append(bad, "callbackUrl is longer than 255")
	}
	if r.TokenLifetime != "" && !tokenLifetimeRE.MatchString(r.TokenLifetime) {
		bad = append(bad, "tokenLifetime is not like 30m, 2h or 7d")
	}
	if len(bad) > 0 {
		return &RequestError{Problems: bad}
	}
	return nil
}

// RequestError lists what is wrong with a request, by field name.
type RequestError struct{ Problems []string }

func (e *RequestError) Error() string { return strings.Join(e.Problems, "; ") }
