package jumiotest

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// Migration and deletion, as Jumio documents them:
//
//   - POST /api/v1/migrations/accounts (PUT …/{accountId}) migrates
//     Netverify scans to the Platform. The whole request is refused, with
//     Jumio's documented message, when a scan is unknown, deleted, not
//     final, being migrated or migrated already, or the account of an
//     update does not exist. Accepted scans become workflow executions
//     whose id is the scan reference, made from the Netverify data (the
//     outcome, the document and the references), and one callback per scan
//     is posted to the request's callbackUrl (else Config.CallbackURL)
//     after Config.MigrationDelay.
//   - DELETE /api/v1/accounts/{accountId} removes the account and its
//     executions: later retrievals answer 404.
//   - DELETE …/workflow-executions/{id} wipes the execution: its details
//     keep the metadata and the decision, lose the extracted data and the
//     images, and carry wipedOutAt.
//   - DELETE /api/netverify/v2/scans/{ref} and …/authentications/{ref}
//     remove the Netverify transaction (its retrieval answers 404) and
//     wipe its migrated copy.

// MigrationCall is one migration request the server answered.
type MigrationCall struct {
	// AccountID is the account of an update, or the one a create made.
	AccountID      string
	Update         bool
	ScanReferences []string
	CallbackURL    string
	// Status is the HTTP status answered; Message the error message.
	Status  int
	Message string
}

// migration is the state of one scan being or having been migrated.
type migration struct {
	accountID string
	done      bool
}

func (s *Server) migrationRoutes(mux *http.ServeMux) {
	h := func(pattern string, ep jumio.Endpoint, auth authKind, f func(http.ResponseWriter, *http.Request, *tenantState)) {
		mux.Handle(pattern, s.endpoint(ep, auth, f))
	}
	h("POST "+jumio.PathMigrations, jumio.EndpointMigrationCreate, authPlatform, s.handleMigration)
	h("PUT "+jumio.PathMigrations+"/{accountId}", jumio.EndpointMigrationUpdate, authPlatform, s.handleMigration)
	h("DELETE "+jumio.PathAccounts+"/{accountId}", jumio.EndpointAccountDelete, authPlatform, s.handleDeleteAccount)
	h("DELETE "+jumio.PathAccounts+"/{accountId}/workflow-executions/{id}", jumio.EndpointExecutionDelete, authPlatform, s.handleDeleteExecution)
	h("DELETE "+jumio.PathNetverifyScans+"/{ref}", jumio.EndpointNetverifyScanDelete, authNetverify, s.handleDeleteNetverify(false))
	h("DELETE "+jumio.PathNetverifyAuthentications+"/{ref}", jumio.EndpointNetverifyAuthenticationDelete, authNetverify, s.handleDeleteNetverify(true))
}

// handleMigration serves the data migration API.
func (s *Server) handleMigration(w http.ResponseWriter, r *http.Request, _ *tenantState) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	var req wire.MigrationRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.ScanReferences) == 0 {
		problem(w, http.StatusBadRequest, "Request body is not a migration request")
		return
	}
	call := MigrationCall{AccountID: r.PathValue("accountId"), Update: r.PathValue("accountId") != "",
		ScanReferences: slices.Clone(req.ScanReferences), CallbackURL: req.CallbackURL}
	refuse := func(status int, msg string) {
		call.Status, call.Message = status, msg
		s.migrationLog = append(s.migrationLog, call)
		s.mu.Unlock()
		problem(w, status, msg)
	}
	s.mu.Lock()
	if call.Update && !s.accountExists(call.AccountID) {
		refuse(http.StatusNotFound, "Account ["+call.AccountID+"] not found")
		return
	}
	var wiped, unknown, pending, inProgress, migrated []string
	for _, ref := range req.ScanReferences {
		sc, known := s.scans[ref]
		m, migrating := s.migrations[ref]
		switch {
		case s.wipedScans[ref]:
			wiped = append(wiped, ref)
		case !known:
			unknown = append(unknown, ref)
		case strings.EqualFold(sc.Status, "PENDING"):
			pending = append(pending, ref)
		case migrating && !m.done:
			inProgress = append(inProgress, ref)
		case migrating:
			migrated = append(migrated, ref)
		}
	}
	list := func(refs []string) string { return "[" + strings.Join(refs, ", ") + "]" }
	switch {
	case len(wiped) > 0:
		refuse(http.StatusBadRequest, "Scans "+list(wiped)+" are wiped out")
		return
	case len(unknown) > 0:
		refuse(http.StatusBadRequest, "Scan references "+list(unknown)+" not found")
		return
	case len(pending) > 0:
		refuse(http.StatusBadRequest, "Scans "+list(pending)+" not in final state")
		return
	case len(inProgress) > 0:
		refuse(http.StatusBadRequest, "Scan references "+list(inProgress)+" are in progress or already migrated")
		return
	case len(migrated) > 0:
		refuse(http.StatusBadRequest, "Scan references "+list(migrated)+" already migrated")
		return
	}
	if !call.Update {
		call.AccountID = s.gen.uuid()
		s.migrationAccounts[call.AccountID] = true
	}
	call.Status = http.StatusOK
	s.migrationLog = append(s.migrationLog, call)
	target := cmp.Or(req.CallbackURL, s.cfg.CallbackURL)
	for _, ref := range req.ScanReferences {
		s.migrations[ref] = &migration{accountID: call.AccountID}
		if s.closed {
			continue
		}
		if s.holding {
			s.held = append(s.held, heldMigration{ref, target})
			continue
		}
		s.startMigration(ref, target)
	}
	s.mu.Unlock()
	b, _ := json.Marshal(wire.MigrationResponse{Account: wire.Link{ID: call.AccountID}})
	writeJSON(w, b)
}

// startMigration schedules a scan's copy and callback; s.mu is held.
func (s *Server) startMigration(ref, target string) {
	if target != "" {
		s.sends.Add(1)
	}
	s.timers = append(s.timers, time.AfterFunc(s.cfg.MigrationDelay, func() { s.migrate(ref, target) }))
}

// heldMigration is an accepted scan whose copy waits for
// ReleaseMigrations.
type heldMigration struct{ ref, target string }

// HoldMigrations keeps the scans of migration requests accepted from now
// on in progress: no copy, no callback, until ReleaseMigrations.
func (s *Server) HoldMigrations() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holding = true
}

// ReleaseMigrations migrates the scans held and stops holding.
func (s *Server) ReleaseMigrations() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holding = false
	for _, h := range s.held {
		if !s.closed {
			s.startMigration(h.ref, h.target)
		}
	}
	s.held = nil
}

// accountExists reports whether an execution or a migration holds the
// account; s.mu is held.
func (s *Server) accountExists(id string) bool {
	return !s.deletedAccounts[id] && (s.migrationAccounts[id] || s.knownAccount(id))
}

// migrate makes the Platform copy of a scan and posts its callback to
// target (if any).
func (s *Server) migrate(ref, target string) {
	s.mu.Lock()
	m := s.migrations[ref]
	sc, ok := s.scans[ref]
	if s.closed || m == nil || !ok {
		if m != nil {
			m.done = true
		}
		s.mu.Unlock()
		if target != "" {
			s.sends.Done()
		}
		return
	}
	e := s.migratedExecution(*sc, m.accountID)
	e.CallbackSentAt = time.Now().UTC()
	s.addExecution(e)
	m.done = true
	s.mu.Unlock()
	if target == "" {
		return
	}
	defer s.sends.Done()
	_, _, _ = s.post(s.cfg.CallbackClient, target, "application/json", s.PlatformCallback(e, e.CallbackSentAt, e.UserReference), nil)
}

// MigratedDefinitionKeys are the workflow definition keys of migrated
// scans, by Netverify kind: ID verification and document verification
// become ID and Identity Verification (10011), authentication becomes
// workflow 9 (authentication).
var MigratedDefinitionKeys = map[events.CallbackKind]string{
	events.KindIDVerification:       "10011",
	events.KindDocumentVerification: "10011",
	events.KindAuthentication:       "9",
}

// migratedOutcome is the Platform outcome of a Netverify one.
func migratedOutcome(sc NetverifyScan) string {
	switch sc.Outcome {
	case OutcomeApprovedVerified, OutcomeAuthPassed, OutcomeDocumentExtracted:
		return OutcomePassed
	case OutcomeNoIDUploaded:
		return OutcomeSessionExpired
	}
	switch sc.Result {
	case OutcomeApprovedVerified, "PASSED", "EXTRACTED":
		return OutcomePassed
	case OutcomeNoIDUploaded, "EXPIRED":
		return OutcomeSessionExpired
	}
	return OutcomeRejected
}

// migratedExecution is the Platform execution of a migrated scan: the
// generator's execution of the matching outcome, with the scan reference
// as its id, the scan's references, and for ID verification the
// document the Netverify data holds; s.mu is held.
func (s *Server) migratedExecution(sc NetverifyScan, accountID string) Execution {
	created := sc.CallbackDate.Add(-4 * time.Minute)
	if sc.CallbackDate.IsZero() {
		created = time.Now().UTC().Add(-time.Hour)
	}
	o := execOpts{
		key:                       cmp.Or(MigratedDefinitionKeys[sc.Kind], "10011"),
		userReference:             cmp.Or(sc.Callback.Get("customerId"), sc.Callback.Get("userReference")),
		customerInternalReference: sc.Callback.Get("merchantIdScanReference"),
	}
	e := s.gen.execution(accountID, sc.Reference, migratedOutcome(sc), created, o)
	if sc.Data == nil {
		return e
	}
	var nv struct {
		Document map[string]any `json:"document"`
	}
	var d map[string]any
	if json.Unmarshal(sc.Data, &nv) != nil || json.Unmarshal(e.Details, &d) != nil {
		return e
	}
	caps, _ := d["capabilities"].(map[string]any)
	ext, _ := caps["extraction"].([]any)
	if len(ext) == 0 {
		return e
	}
	entry, _ := ext[0].(map[string]any)
	data, _ := entry["data"].(map[string]any)
	if len(data) == 0 {
		return e
	}
	for from, to := range map[string]string{"type": "type", "idSubtype": "subType", "issuingCountry": "issuingCountry",
		"firstName": "firstName", "lastName": "lastName", "dob": "dateOfBirth", "expiry": "expiryDate", "number": "documentNumber"} {
		if v, ok := nv.Document[from]; ok {
			data[to] = v
		}
	}
	if raw, err := json.Marshal(d); err == nil {
		e.Details = raw
	}
	return e
}

// MigrationCalls returns the migration requests answered, in order.
func (s *Server) MigrationCalls() []MigrationCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.migrationLog)
}

// Migrated reports whether the scan was migrated (its copy exists), and
// into which account.
func (s *Server) Migrated(ref string) (accountID string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.migrations[ref]
	if m == nil || !m.done {
		return "", false
	}
	return m.accountID, true
}

// handleDeleteAccount deletes an account and its executions.
func (s *Server) handleDeleteAccount(w http.ResponseWriter, r *http.Request, _ *tenantState) {
	id := r.PathValue("accountId")
	s.mu.Lock()
	if !s.accountExists(id) {
		s.mu.Unlock()
		problem(w, http.StatusNotFound, "Account not found")
		return
	}
	s.deletedAccounts[id] = true
	s.execOrder = slices.DeleteFunc(s.execOrder, func(eid string) bool {
		if s.executions[eid].AccountID == id {
			delete(s.executions, eid)
			return true
		}
		return false
	})
	s.changes++
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// handleDeleteExecution wipes one execution.
func (s *Server) handleDeleteExecution(w http.ResponseWriter, r *http.Request, _ *tenantState) {
	s.mu.Lock()
	e, ok := s.executions[r.PathValue("id")]
	if !ok || e.AccountID != r.PathValue("accountId") {
		s.mu.Unlock()
		problem(w, http.StatusNotFound, "Workflow execution not found")
		return
	}
	s.wipe(e, time.Now().UTC())
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// handleDeleteNetverify deletes a Netverify transaction (an
// authentication with auth) and wipes its migrated copy.
func (s *Server) handleDeleteNetverify(auth bool) func(http.ResponseWriter, *http.Request, *tenantState) {
	return func(w http.ResponseWriter, r *http.Request, _ *tenantState) {
		ref := r.PathValue("ref")
		s.mu.Lock()
		sc, ok := s.scans[ref]
		if !ok || (sc.Kind == events.KindAuthentication) != auth {
			s.mu.Unlock()
			problem(w, http.StatusNotFound, "Transaction not found")
			return
		}
		delete(s.scans, ref)
		s.scanOrder = slices.DeleteFunc(s.scanOrder, func(x string) bool { return x == ref })
		s.wipedScans[ref] = true
		if e, ok := s.executions[ref]; ok {
			s.wipe(e, time.Now().UTC())
		}
		s.changes++
		s.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}
}

// wipe removes an execution's personal data, as Jumio does on deletion:
// the details keep ids and references, status, times, the decision and
// the capabilities' decisions, lose extracted data and credential parts,
// and carry
// wipedOutAt; the parts are no longer served. s.mu is held.
func (s *Server) wipe(e *Execution, at time.Time) {
	var d map[string]any
	if json.Unmarshal(e.Details, &d) != nil {
		d = map[string]any{}
	}
	if _, done := d["wipedOutAt"]; !done {
		d["wipedOutAt"] = ts(at)
	}
	if creds, ok := d["credentials"].([]any); ok {
		for _, c := range creds {
			if m, ok := c.(map[string]any); ok {
				delete(m, "parts")
			}
		}
	}
	if caps, ok := d["capabilities"].(map[string]any); ok {
		for _, list := range caps {
			entries, _ := list.([]any)
			for _, c := range entries {
				if m, ok := c.(map[string]any); ok {
					delete(m, "data")
					delete(m, "validFaceMapForAuthentication")
				}
			}
		}
	}
	raw, _ := json.Marshal(d)
	e.Details, e.Parts = raw, nil
	s.changes++
}

// Wiped reports whether the execution's personal data was deleted.
func (s *Server) Wiped(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.executions[id]
	if !ok {
		return false
	}
	var d struct {
		WipedOutAt string `json:"wipedOutAt"`
	}
	return json.Unmarshal(e.Details, &d) == nil && d.WipedOutAt != ""
}
