package jumiotest

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// handleAccount serves the Account API: create (POST) or update (PUT) an
// account with a new workflow execution and its credentials (ID, plus
// SELFIE and FACEMAP for workflows with a liveness check, plus other
// categories the request names), each on the web, SDK and (but FACEMAP)
// API channels.
// The execution starts INITIATED. With Config.CompleteAfter set it is
// completed that much later with a generated outcome, as if the end user
// finished in the web client, unless the API channel is used (see
// handleFinalize); an execution that neither completes nor is finalized
// expires after its tokenLifetime (Expire). Each end posts a callback.
func (s *Server) handleAccount(w http.ResponseWriter, r *http.Request, t *tenantState) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	var req wire.AccountRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		problem(w, http.StatusBadRequest, "Request body is not an account request")
		return
	}
	if err := req.Validate(); err != nil {
		var re *wire.RequestError
		detail := "Invalid account request"
		if errors.As(err, &re) && len(re.Problems) > 0 {
			detail = re.Problems[0]
		}
		problem(w, http.StatusBadRequest, detail)
		return
	}
	now := time.Now().UTC()
	s.mu.Lock()
	accountID := r.PathValue("accountId")
	if accountID != "" && !s.knownAccount(accountID) {
		s.mu.Unlock()
		problem(w, http.StatusNotFound, "Account not found")
		return
	}
	if accountID == "" {
		accountID = s.gen.uuid()
	}
	id := s.gen.uuid()
	s.accounts = append(s.accounts, req)
	key := strconv.Itoa(req.WorkflowDefinition.Key)
	target := req.CallbackURL
	if target == "" {
		target = s.cfg.CallbackURL
	}
	a := &acquisition{tenant: t, token: newToken(), created: now, lifetime: tokenLifetime(req.TokenLifetime), target: target,
		opts: execOpts{key: key, userReference: req.UserReference, customerInternalReference: req.CustomerInternalReference}}
	var d genDetails
	d.Workflow.ID, d.Workflow.Status, d.Workflow.DefinitionKey = id, "INITIATED", key
	d.Workflow.UserReference, d.Workflow.CustomerInternalReference = req.UserReference, req.CustomerInternalReference
	d.Account.ID = accountID
	d.CreatedAt = ts(now)
	for _, cat := range credentialCategories(req, key) {
		c := &acqCredential{id: s.gen.uuid(), category: cat, parts: map[string]acqPart{}}
		a.credentials = append(a.credentials, c)
		d.Credentials = append(d.Credentials, genCredential{ID: c.id, Category: cat})
	}
	d.Decision = decision("NOT_EXECUTED", "NOT_EXECUTED")
	d.Capabilities = map[string][]genCapability{}
	raw, _ := json.Marshal(d)
	s.addExecution(Execution{AccountID: accountID, ID: id, DefinitionKey: key, Status: "INITIATED",
		UserReference: req.UserReference, Details: raw, Outcome: "INITIATED"})
	s.acquisitions[id] = a
	if !s.closed {
		if s.cfg.CompleteAfter > 0 {
			s.timers = append(s.timers, time.AfterFunc(s.cfg.CompleteAfter, func() { s.complete(id) }))
		}
		s.timers = append(s.timers, time.AfterFunc(a.lifetime, func() { s.Expire(id) }))
	}
	creds := s.credentialsJSON(accountID, id, a)
	s.mu.Unlock()

	resp := map[string]any{
		"timestamp": ts(now),
		"account":   map[string]string{"id": accountID},
		"web": map[string]string{"href": s.url + "/web/v4/app?authorizationToken=" + a.token + "&locale=en",
			"successUrl": webURL(req, true), "errorUrl": webURL(req, false)},
		"sdk":               map[string]string{"token": a.token},
		"workflowExecution": map[string]any{"id": id, "credentials": creds},
	}
	b, _ := json.Marshal(resp)
	writeJSON(w, b)
}

func webURL(req wire.AccountRequest, success bool) string {
	if req.Web == nil {
		return ""
	}
	if success {
		return req.Web.SuccessURL
	}
	return req.Web.ErrorURL
}

// knownAccount reports whether an execution belongs to the account; s.mu
// is held.
func (s *Server) knownAccount(id string) bool {
	for _, e := range s.executions {
		if e.AccountID == id {
			return true
		}
	}
	return false
}

// complete stands for the end user finishing in Jumio's web client: it
// replaces an initiated execution with a generated outcome (the Scenario's
// mix) and posts its callback, unless the API channel was used meanwhile
// (finalization then completes it from the uploads) or it ended.
func (s *Server) complete(id string) {
	s.end(id, func(a *acquisition, accountID string) (Execution, bool) {
		if a.touched {
			return Execution{}, false
		}
		return s.gen.execution(accountID, id, s.gen.pick(s.cfg.Scenario.Mix.weights()), a.created, a.opts), true
	})
}

// end ends the acquisition of execution id: it replaces the execution
// with the one outcome makes of the acquisition and posts its callback,
// then reports true. It does nothing and reports false when the server
// is closed, id is not an execution created through the Account API or
// has ended, or outcome declines (ok false). outcome runs with s.mu held;
// the callback is posted without it. Completions (web client or API
// channel) and expiries all end an execution here.
func (s *Server) end(id string, outcome func(a *acquisition, accountID string) (done Execution, ok bool)) bool {
	s.mu.Lock()
	a := s.acquisitions[id]
	e := s.executions[id]
	if s.closed || a == nil || e == nil || a.ended {
		s.mu.Unlock()
		return false
	}
	done, ok := outcome(a, e.AccountID)
	if !ok {
		s.mu.Unlock()
		return false
	}
	a.ended = true
	done.CallbackSentAt = time.Now().UTC()
	s.addExecution(done)
	if a.target != "" {
		s.sends.Add(1)
	}
	s.mu.Unlock()
	if a.target != "" {
		defer s.sends.Done()
		s.callback(a.target, done)
	}
	return true
}
