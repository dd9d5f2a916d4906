package jumiotest

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// handleAccount serves the Account API: create (POST) or update (PUT) an
// account with a new workflow execution. The execution starts INITIATED;
// with Config.CompleteAfter set it is completed later with a generated
// outcome and its callback is sent.
func (s *Server) handleAccount(w http.ResponseWriter, r *http.Request, _ *tenantState) {
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
	id, credID := s.gen.uuid(), s.gen.uuid()
	s.accounts = append(s.accounts, req)
	key := strconv.Itoa(req.WorkflowDefinition.Key)
	var d genDetails
	d.Workflow.ID, d.Workflow.Status, d.Workflow.DefinitionKey = id, "INITIATED", key
	d.Workflow.UserReference, d.Workflow.CustomerInternalReference = req.UserReference, req.CustomerInternalReference
	d.Account.ID = accountID
	d.CreatedAt = ts(now)
	d.Credentials = []genCredential{{ID: credID, Category: "ID"}}
	d.Decision = decision("NOT_EXECUTED", "NOT_EXECUTED")
	d.Capabilities = map[string][]genCapability{}
	raw, _ := json.Marshal(d)
	s.addExecution(Execution{AccountID: accountID, ID: id, DefinitionKey: key, Status: "INITIATED",
		UserReference: req.UserReference, Details: raw, Outcome: "INITIATED"})
	if s.cfg.CompleteAfter > 0 && !s.closed {
		target := req.CallbackURL
		if target == "" {
			target = s.cfg.CallbackURL
		}
		opts := execOpts{key: key, userReference: req.UserReference, customerInternalReference: req.CustomerInternalReference}
		s.timers = append(s.timers, time.AfterFunc(s.cfg.CompleteAfter, func() { s.complete(accountID, id, now, opts, target) }))
	}
	s.mu.Unlock()

	base := s.url + jumio.PathAccounts + "/" + accountID + "/workflow-executions/" + id
	token := newToken()
	resp := map[string]any{
		"timestamp": ts(now),
		"account":   map[string]string{"id": accountID},
		"web": map[string]string{"href": s.url + "/web/v4/app?authorizationToken=" + token + "&locale=en",
			"successUrl": webURL(req, true), "errorUrl": webURL(req, false)},
		"sdk": map[string]string{"token": token},
		"workflowExecution": map[string]any{"id": id, "credentials": []any{map[string]any{
			"id": credID, "category": "ID", "allowedChannels": []string{"WEB", "API", "SDK"},
			"api": map[string]any{"token": token, "parts": map[string]string{
				"front": base + "/credentials/" + credID + "/parts/FRONT", "back": base + "/credentials/" + credID + "/parts/BACK"},
				"workflowExecution": base},
		}}},
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

// complete replaces an initiated execution with a generated outcome and
// posts its callback to target (if any).
func (s *Server) complete(accountID, id string, created time.Time, o execOpts, target string) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	e := s.gen.execution(accountID, id, s.gen.pick(s.cfg.Scenario.Mix.weights()), created, o)
	e.CallbackSentAt = time.Now().UTC()
	s.addExecution(e)
	if target != "" {
		s.sends.Add(1)
	}
	s.mu.Unlock()
	if target == "" {
		return
	}
	defer s.sends.Done()
	_, _ = s.post(s.cfg.CallbackClient, target, "application/json", s.PlatformCallback(e, e.CallbackSentAt, e.UserReference), nil)
}
