package jumio

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// CreateAccount creates an account and a workflow execution for it
// (POST /api/v1/accounts), which initiates a transaction: the response holds
// the web link or SDK token for the end user. It is not idempotent, so it
// is tried once (plus once more after a 401 with a fresh token); on a
// transient error the transaction may or may not exist.
func (c *Client) CreateAccount(ctx context.Context, req wire.AccountRequest) (*wire.AccountResponse, error) {
	return c.account1(ctx, EndpointAccountCreate, http.MethodPost, PathAccounts, req)
}

// UpdateAccount starts a new workflow execution on an existing account
// (PUT /api/v1/accounts/{accountId}); like CreateAccount it is tried once.
func (c *Client) UpdateAccount(ctx context.Context, accountID string, req wire.AccountRequest) (*wire.AccountResponse, error) {
	if !wire.ValidID(accountID) {
		return nil, invalid(EndpointAccountUpdate, "account id is not a UUID")
	}
	return c.account1(ctx, EndpointAccountUpdate, http.MethodPut, PathAccounts+"/"+accountID, req)
}

func (c *Client) account1(ctx context.Context, ep Endpoint, method, path string, req wire.AccountRequest) (*wire.AccountResponse, error) {
	if err := req.Validate(); err != nil {
		return nil, fmt.Errorf("jumio: %s: %w: %w", ep, ErrInvalidArgument, err)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, invalid(ep, "request does not encode")
	}
	cl := call{ep: ep, method: method, base: c.cfg.Hosts.Account, path: path, auth: authPlatform,
		accept: "application/json", body: body, lim: c.account, once: true}
	var v wire.AccountResponse
	if _, err := c.getJSON(ctx, cl, &v); err != nil {
		return nil, err
	}
	return &v, nil
}
