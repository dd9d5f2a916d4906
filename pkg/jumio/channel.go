package jumio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"slices"
	"strings"

	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// APIChannel is what the API channel of one workflow execution needs:
// its ids and, per credential that allows the API channel, the credential
// id, its category and its transaction token. NewAPIChannel reads it from
// the Account API's response. The tokens are secrets: an APIChannel logs
// and prints ids and categories only.
//
// The API channel is the Platform's equivalent of Netverify's
// /performNetverify: the caller, not Jumio's web client, sends the images
// (UploadImage, UploadPreparedData), then finalizes the execution
// (Finalize), which starts processing; Acquire does all of it in order.
type APIChannel struct {
	AccountID           string
	WorkflowExecutionID string
	Credentials         []APICredential
}

// APICredential is one credential of an APIChannel.
type APICredential struct {
	ID       string
	Category string
	token    string
}

// ErrNoAPIChannel: the Account API's response offers no credential on the
// API channel (no allowedChannels "API" with a token), or none of the
// category a part belongs to. Permanent (it matches ErrInvalidArgument).
var ErrNoAPIChannel = fmt.Errorf("%w: no credential on the API channel", ErrInvalidArgument)

// NewAPIChannel reads the API channel of the workflow execution that
// CreateAccount or UpdateAccount created. Credentials without the API
// channel (FACEMAP, which only Jumio's web and SDK clients capture) are
// left out; an error matching ErrNoAPIChannel comes back when none is
// left.
func NewAPIChannel(resp *wire.AccountResponse) (*APIChannel, error) {
	if resp == nil || !wire.ValidID(resp.Account.ID) || !wire.ValidID(resp.WorkflowExecution.ID) {
		return nil, fmt.Errorf("jumio: API channel: %w: account or workflow execution id is not a UUID", ErrInvalidArgument)
	}
	ch := &APIChannel{AccountID: resp.Account.ID, WorkflowExecutionID: resp.WorkflowExecution.ID}
	for _, c := range resp.WorkflowExecution.Credentials {
		if c.API == nil || c.API.Token == "" || !wire.ValidID(c.ID) {
			continue
		}
		if len(c.AllowedChannels) > 0 && !slices.ContainsFunc(c.AllowedChannels, func(s string) bool { return strings.EqualFold(s, "API") }) {
			continue
		}
		ch.Credentials = append(ch.Credentials, APICredential{ID: c.ID, Category: strings.ToUpper(c.Category), token: c.API.Token})
	}
	if len(ch.Credentials) == 0 {
		return nil, ErrNoAPIChannel
	}
	return ch, nil
}

// Credential returns the channel's credential of a category.
func (ch *APIChannel) Credential(category string) (APICredential, bool) {
	for _, c := range ch.Credentials {
		if c.Category == category {
			return c, true
		}
	}
	return APICredential{}, false
}

// LogValue logs the ids and the credentials' categories, never a token.
func (ch *APIChannel) LogValue() slog.Value {
	cats := make([]string, len(ch.Credentials))
	for i, c := range ch.Credentials {
		cats[i] = c.Category
	}
	return slog.GroupValue(
		slog.String("account_id", ch.AccountID),
		slog.String("workflow_execution_id", ch.WorkflowExecutionID),
		slog.String("credentials", strings.Join(cats, ",")),
	)
}

// String prints the ids only.
func (ch *APIChannel) String() string {
	return "API channel of account " + ch.AccountID + " workflow execution " + ch.WorkflowExecutionID
}

// GoString prints what String prints.
func (ch *APIChannel) GoString() string { return ch.String() }

// String prints the category and id, never the token.
func (c APICredential) String() string { return "credential " + c.Category + " " + c.ID }

// GoString prints what String prints.
func (c APICredential) GoString() string { return c.String() }

// LogValue logs the category and id, never the token.
func (c APICredential) LogValue() slog.Value {
	return slog.GroupValue(slog.String("credential_id", c.ID), slog.String("category", c.Category))
}

func (ch *APIChannel) executionPath(ep Endpoint) (string, error) {
	return executionPath(ep, ch.AccountID, ch.WorkflowExecutionID)
}

// credentialFor returns the credential a classifier is uploaded to.
func (ch *APIChannel) credentialFor(ep Endpoint, classifier string) (APICredential, error) {
	cat, ok := wire.CategoryOf(classifier)
	if !ok {
		return APICredential{}, invalid(ep, "classifier is not FRONT, BACK, FACE or PREPARED_DATA")
	}
	c, ok := ch.Credential(cat)
	if !ok {
		return APICredential{}, fmt.Errorf("jumio: %s: %s part: %w (category %s)", ep, classifier, ErrNoAPIChannel, cat)
	}
	return c, nil
}

func (c *Client) apiCall(ep Endpoint, method, path, token string, body []byte, contentType string) call {
	return call{ep: ep, method: method, base: c.cfg.Hosts.API, path: path, auth: authPlatform,
		accept: "application/json", body: body, contentType: contentType, lim: c.api, token: token}
}

// UploadImage uploads one image of the API channel (POST
// https://api.{region}.jumio.ai/api/v1/accounts/{accountId}/workflow-executions/{id}/credentials/{credentialId}/parts/{classifier},
// multipart field "file"): FRONT or BACK to the ID credential, FACE to the
// SELFIE credential. The image is checked first (wire.CheckImage: JPEG or
// PNG, at most 5 MB and 8000 × 8000 pixels); one that fails is not sent
// and the error matches ErrInvalidArgument and the wire.ErrImage*
// sentinel. The call is authorized with the credential's transaction
// token, so a 401 (ErrUnauthorized) means that token expired. Uploading a
// part again replaces it, so transient failures are retried within the
// call. The image is personal data; no error or log carries it.
func (c *Client) UploadImage(ctx context.Context, ch *APIChannel, classifier string, img []byte) (*wire.APIChannelResponse, error) {
	const ep = EndpointPartUpload
	if classifier == wire.ClassifierPreparedData {
		return nil, invalid(ep, "PREPARED_DATA is JSON: use UploadPreparedData")
	}
	cred, err := ch.credentialFor(ep, classifier)
	if err != nil {
		return nil, err
	}
	info, err := wire.CheckImage(img)
	if err != nil {
		return nil, fmt.Errorf("jumio: %s: %s: %w: %w", ep, classifier, ErrInvalidArgument, err)
	}
	body, contentType, err := multipartFile(strings.ToLower(classifier)+"."+extension(info.Format), info.ContentType, img)
	if err != nil {
		return nil, invalid(ep, "multipart body does not encode")
	}
	return c.upload(ctx, ch, cred, classifier, body, contentType)
}

// UploadPreparedData uploads the DATA credential's PREPARED_DATA part (a
// JSON body), after checking it (wire.PreparedData.Validate); otherwise as
// UploadImage.
func (c *Client) UploadPreparedData(ctx context.Context, ch *APIChannel, data wire.PreparedData) (*wire.APIChannelResponse, error) {
	const ep = EndpointPartUpload
	cred, err := ch.credentialFor(ep, wire.ClassifierPreparedData)
	if err != nil {
		return nil, err
	}
	if err := data.Validate(); err != nil {
		return nil, fmt.Errorf("jumio: %s: PREPARED_DATA: %w: %w", ep, ErrInvalidArgument, err)
	}
	body, err := json.Marshal(data)
	if err != nil {
		return nil, invalid(ep, "prepared data does not encode")
	}
	return c.upload(ctx, ch, cred, wire.ClassifierPreparedData, body, "application/json")
}

func (c *Client) upload(ctx context.Context, ch *APIChannel, cred APICredential, classifier string, body []byte, contentType string) (*wire.APIChannelResponse, error) {
	const ep = EndpointPartUpload
	p, err := ch.executionPath(ep)
	if err != nil {
		return nil, err
	}
	if !wire.ValidID(cred.ID) {
		return nil, invalid(ep, "credential id is not a UUID")
	}
	cl := c.apiCall(ep, http.MethodPost, p+"/credentials/"+cred.ID+"/parts/"+classifier, cred.token, body, contentType)
	var v wire.APIChannelResponse
	if _, err := c.getJSON(ctx, cl, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Finalize ends the acquisition of the API channel (PUT
// https://api.{region}.jumio.ai/api/v1/accounts/{accountId}/workflow-executions/{id}):
// Jumio starts processing what was uploaded and calls back when it is
// done. Without it the execution ends TOKEN_EXPIRED or SESSION_EXPIRED.
// A PUT is idempotent, so transient failures are retried within the call.
func (c *Client) Finalize(ctx context.Context, ch *APIChannel) (*wire.APIChannelResponse, error) {
	const ep = EndpointFinalize
	p, err := ch.executionPath(ep)
	if err != nil {
		return nil, err
	}
	if len(ch.Credentials) == 0 {
		return nil, ErrNoAPIChannel
	}
	cl := c.apiCall(ep, http.MethodPut, p, ch.Credentials[0].token, []byte("{}"), "application/json")
	var v wire.APIChannelResponse
	if _, err := c.getJSON(ctx, cl, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Acquisition is what Acquire sends: images for the ID credential (Front,
// and Back for two-sided documents), the SELFIE credential (Face), and
// data for a DATA credential.
type Acquisition struct {
	Front, Back, Face []byte
	PreparedData      *wire.PreparedData
}

// ErrMissingPart: the workflow execution has a credential on the API
// channel that Acquire was given nothing for (an ID credential needs a
// front image, a SELFIE credential a face image, a DATA credential
// prepared data). Permanent (it matches ErrInvalidArgument).
var ErrMissingPart = fmt.Errorf("%w: a credential of the workflow has nothing to upload", ErrInvalidArgument)

// Acquire runs the API channel of one workflow execution in the order
// Jumio documents: every part checked first (nothing is sent when one
// fails), then FRONT, BACK, FACE and PREPARED_DATA uploaded, then the
// execution finalized. It stops at the first error, which names the part
// (never its content); an execution left unfinalized expires at Jumio on
// its own.
func (c *Client) Acquire(ctx context.Context, ch *APIChannel, a Acquisition) (*wire.APIChannelResponse, error) {
	type step struct {
		classifier string
		img        []byte
	}
	var steps []step
	for _, s := range []step{{wire.ClassifierFront, a.Front}, {wire.ClassifierBack, a.Back}, {wire.ClassifierFace, a.Face}} {
		if s.img != nil {
			steps = append(steps, s)
		}
	}
	// Check everything before the first request.
	var errs []error
	for _, s := range steps {
		if _, err := ch.credentialFor(EndpointPartUpload, s.classifier); err != nil {
			errs = append(errs, err)
		} else if _, err := wire.CheckImage(s.img); err != nil {
			errs = append(errs, fmt.Errorf("jumio: %s: %s: %w: %w", EndpointPartUpload, s.classifier, ErrInvalidArgument, err))
		}
	}
	if a.PreparedData != nil {
		if _, err := ch.credentialFor(EndpointPartUpload, wire.ClassifierPreparedData); err != nil {
			errs = append(errs, err)
		} else if err := a.PreparedData.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("jumio: %s: PREPARED_DATA: %w: %w", EndpointPartUpload, ErrInvalidArgument, err))
		}
	}
	for _, cred := range ch.Credentials {
		switch {
		case cred.Category == wire.CategoryID && a.Front == nil,
			cred.Category == wire.CategorySelfie && a.Face == nil,
			cred.Category == wire.CategoryData && a.PreparedData == nil:
			errs = append(errs, fmt.Errorf("jumio: %s: %w: %s", EndpointPartUpload, ErrMissingPart, cred.Category))
		}
	}
	if a.Back != nil && a.Front == nil {
		errs = append(errs, invalid(EndpointPartUpload, "a BACK image needs a FRONT image"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, s := range steps {
		if _, err := c.UploadImage(ctx, ch, s.classifier, s.img); err != nil {
			return nil, err
		}
	}
	if a.PreparedData != nil {
		if _, err := c.UploadPreparedData(ctx, ch, *a.PreparedData); err != nil {
			return nil, err
		}
	}
	return c.Finalize(ctx, ch)
}

// multipartFile is a multipart/form-data body with one file field "file".
func multipartFile(filename, contentType string, data []byte) ([]byte, string, error) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="file"; filename="`+filename+`"`)
	h.Set("Content-Type", contentType)
	part, err := w.CreatePart(h)
	if err != nil {
		return nil, "", err
	}
	if _, err := part.Write(data); err != nil {
		return nil, "", err
	}
	if err := w.Close(); err != nil {
		return nil, "", err
	}
	return b.Bytes(), w.FormDataContentType(), nil
}

func extension(format string) string {
	if format == "jpeg" {
		return "jpg"
	}
	return format
}
