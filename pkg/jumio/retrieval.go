package jumio

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"

	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

var classifierRE = regexp.MustCompile(`^[A-Za-z0-9_]{1,32}$`)

func executionPath(ep Endpoint, accountID, workflowExecutionID string) (string, error) {
	if !wire.ValidID(accountID) {
		return "", invalid(ep, "account id is not a UUID")
	}
	if !wire.ValidID(workflowExecutionID) {
		return "", invalid(ep, "workflow execution id is not a UUID")
	}
	return PathAccounts + "/" + accountID + "/workflow-executions/" + workflowExecutionID, nil
}

func (c *Client) retrievalCall(ep Endpoint, path string) call {
	return call{ep: ep, method: http.MethodGet, base: c.cfg.Hosts.Retrieval, path: path,
		auth: authPlatform, accept: "application/json", lim: c.retrieval}
}

// WorkflowStatus returns the status of a workflow execution
// (GET /api/v1/accounts/{accountId}/workflow-executions/{id}/status).
// Status is INITIATED, ACQUIRED, PROCESSED, SESSION_EXPIRED, TOKEN_EXPIRED or
// a value Jumio adds later.
func (c *Client) WorkflowStatus(ctx context.Context, accountID, workflowExecutionID string) (*wire.WorkflowStatus, error) {
	p, err := executionPath(EndpointWorkflowStatus, accountID, workflowExecutionID)
	if err != nil {
		return nil, err
	}
	var v wire.WorkflowStatus
	if _, err := c.getJSON(ctx, c.retrievalCall(EndpointWorkflowStatus, p+"/status"), &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// WorkflowDetails returns the details of a workflow execution
// (GET /api/v1/accounts/{accountId}/workflow-executions/{id}), decoded and
// as the JSON document Jumio sent (which holds personal data: store it,
// never log it). A 404 soon after the callback usually means "not ready
// yet": see NotReadyIfRecent.
func (c *Client) WorkflowDetails(ctx context.Context, accountID, workflowExecutionID string) (*wire.WorkflowDetails, []byte, error) {
	p, err := executionPath(EndpointWorkflowDetails, accountID, workflowExecutionID)
	if err != nil {
		return nil, nil, err
	}
	var v wire.WorkflowDetails
	raw, err := c.getJSON(ctx, c.retrievalCall(EndpointWorkflowDetails, p), &v)
	if err != nil {
		return nil, nil, err
	}
	return &v, raw, nil
}

// Steps returns the steps of a workflow execution
// (GET …/workflow-executions/{id}/steps); Jumio answers 404 for workflows
// that have no steps.
func (c *Client) Steps(ctx context.Context, accountID, workflowExecutionID string) (*wire.Steps, error) {
	p, err := executionPath(EndpointSteps, accountID, workflowExecutionID)
	if err != nil {
		return nil, err
	}
	var v wire.Steps
	if _, err := c.getJSON(ctx, c.retrievalCall(EndpointSteps, p+"/steps"), &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Download is a streamed binary response (an image, or a credential's
// PREPARED_DATA). Body must be closed. Reading past the client's
// MaxImageBytes fails with an error matching ErrTooLarge; the Config's
// Timeout covers the whole download.
type Download struct {
	Body        io.ReadCloser
	ContentType string
	// Size is the Content-Length, or -1 when unknown.
	Size int64
}

// CredentialPart streams one part of a credential
// (GET /api/v1/accounts/{accountId}/credentials/{credentialId}/parts/{classifier});
// classifier is FRONT, BACK, FACE, FRONT_WITH_FLASH, LIVENESS_n,
// PREPARED_DATA, …. The content is personal data.
func (c *Client) CredentialPart(ctx context.Context, accountID, credentialID, classifier string) (*Download, error) {
	const ep = EndpointCredentialPart
	switch {
	case !wire.ValidID(accountID):
		return nil, invalid(ep, "account id is not a UUID")
	case !wire.ValidID(credentialID):
		return nil, invalid(ep, "credential id is not a UUID")
	case !classifierRE.MatchString(classifier):
		return nil, invalid(ep, "classifier is not a word")
	}
	cl := c.retrievalCall(ep, PathAccounts+"/"+accountID+"/credentials/"+credentialID+"/parts/"+classifier)
	cl.accept = "image/jpeg, image/png, application/octet-stream, application/json;q=0.5"
	return c.download(ctx, cl)
}

func (c *Client) download(ctx context.Context, cl call) (*Download, error) {
	var d *Download
	err := c.run(ctx, cl, func(resp *http.Response, done func()) error {
		if resp.ContentLength > c.cfg.MaxImageBytes {
			resp.Body.Close()
			done()
			return fmt.Errorf("jumio: %s: %s bytes: %w", cl.ep, strconv.FormatInt(resp.ContentLength, 10), ErrTooLarge)
		}
		d = &Download{
			Body:        &cappedBody{ep: cl.ep, body: resp.Body, left: c.cfg.MaxImageBytes, done: done},
			ContentType: resp.Header.Get("Content-Type"),
			Size:        resp.ContentLength,
		}
		return nil
	})
	return d, err
}

// cappedBody fails with ErrTooLarge once more than left bytes are read,
// and ends the request's context when closed.
type cappedBody struct {
	ep   Endpoint
	body io.ReadCloser
	left int64
	done func()
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, fmt.Errorf("jumio: %s: %w", b.ep, ErrTooLarge)
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.body.Read(p)
	if int64(n) > b.left {
		n = int(b.left)
		b.left = -1
		return n, fmt.Errorf("jumio: %s: %w", b.ep, ErrTooLarge)
	}
	b.left -= int64(n)
	return n, err
}

func (b *cappedBody) Close() error {
	err := b.body.Close()
	b.done()
	return err
}
