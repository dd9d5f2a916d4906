package jumiotest

import (
	"bytes"
	"cmp"
	"crypto/subtle"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

type authKind int

const (
	authToken authKind = iota
	authPlatform
	authNetverify
	// authTransaction: the API channel's transaction token of the
	// execution in the path (its handler checks it against the execution).
	authTransaction
)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	h := func(pattern string, ep jumio.Endpoint, auth authKind, f func(http.ResponseWriter, *http.Request, *tenantState)) {
		mux.Handle(pattern, s.endpoint(ep, auth, f))
	}
	h("POST "+jumio.PathToken, jumio.EndpointToken, authToken, s.handleToken)
	h("POST "+jumio.PathAccounts, jumio.EndpointAccountCreate, authPlatform, s.handleAccount)
	h("PUT "+jumio.PathAccounts+"/{accountId}", jumio.EndpointAccountUpdate, authPlatform, s.handleAccount)
	exec := jumio.PathAccounts + "/{accountId}/workflow-executions/{id}"
	h("GET "+exec, jumio.EndpointWorkflowDetails, authPlatform, s.handleDetails)
	h("GET "+exec+"/status", jumio.EndpointWorkflowStatus, authPlatform, s.handleStatus)
	h("GET "+exec+"/steps", jumio.EndpointSteps, authPlatform, s.handleSteps)
	h("GET "+jumio.PathAccounts+"/{accountId}/credentials/{credentialId}/parts/{classifier}", jumio.EndpointCredentialPart, authPlatform, s.handlePart)
	h("POST "+exec+"/credentials/{credentialId}/parts/{classifier}", jumio.EndpointPartUpload, authTransaction, s.handleUpload)
	h("PUT "+exec, jumio.EndpointFinalize, authTransaction, s.handleFinalize)
	scan := jumio.PathNetverifyScans + "/{ref}"
	h("GET "+scan, jumio.EndpointNetverifyScan, authNetverify, s.handleScan)
	h("GET "+scan+"/data", jumio.EndpointNetverifyData, authNetverify, s.handleScanData(""))
	h("GET "+scan+"/data/document", jumio.EndpointNetverifyDocument, authNetverify, s.handleScanData("document"))
	h("GET "+scan+"/data/transaction", jumio.EndpointNetverifyTransaction, authNetverify, s.handleScanData("transaction"))
	h("GET "+scan+"/data/verification", jumio.EndpointNetverifyVerification, authNetverify, s.handleScanData("verification"))
	h("GET "+scan+"/images", jumio.EndpointNetverifyImages, authNetverify, s.handleImages)
	h("GET "+scan+"/images/{classifier}", jumio.EndpointNetverifyImage, authNetverify, s.handleImage)
	s.migrationRoutes(mux)
	s.adminRoutes(mux)
	s.healthRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.count("", http.StatusNotFound)
		problem(w, http.StatusNotFound, "No such endpoint")
	})
	return mux
}

// statusRecorder counts the answer when its status is written, before
// the client can see it, so counters are exact once a call returns.
type statusRecorder struct {
	http.ResponseWriter
	status  int
	counted func(int)
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
		r.counted(code)
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	return r.ResponseWriter.Write(b)
}

// StatusClientGone counts a request whose client went away (a timeout)
// before it was answered.
const StatusClientGone = 499

// endpoint wraps a handler with what every Jumio endpoint does, in this
// order: latency, injected faults that drop the connection, 503 for a
// retrieval endpoint while the status says retrieval is DOWN (SetHealth),
// the User-Agent check (403), authentication (401), the tenant's budget
// (429), injected error statuses and malformed bodies; then the handler.
// Every answer is counted.
func (s *Server) endpoint(ep jumio.Endpoint, auth authKind, f func(http.ResponseWriter, *http.Request, *tenantState)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fault := s.takeFault(ep)
		s.mu.Lock()
		latency := s.latency
		s.mu.Unlock()
		sleepCtx(r.Context(), latency+fault.Latency)
		if r.Context().Err() != nil {
			s.count(ep, StatusClientGone)
			return
		}
		if fault.Drop {
			s.count(ep, 0)
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
				return
			}
			panic(http.ErrAbortHandler)
		}
		w = &statusRecorder{ResponseWriter: w, counted: func(code int) { s.count(ep, code) }}
		w.Header().Set("X-Request-Id", newRequestID())
		if s.retrievalDown(ep) {
			problem(w, http.StatusServiceUnavailable, "Retrieval is down")
			return
		}

		if ua := r.UserAgent(); !s.cfg.AllowMissingUserAgent && (ua == "" || strings.HasPrefix(ua, "Go-http-client")) {
			problem(w, http.StatusForbidden, "A User-Agent naming your company and application is required")
			return
		}
		var t *tenantState
		if auth != authToken {
			if t = s.authenticate(r, auth); t == nil {
				w.Header().Set("WWW-Authenticate", map[authKind]string{authPlatform: `Bearer`, authTransaction: `Bearer`, authNetverify: `Basic realm="Netverify"`}[auth])
				problem(w, http.StatusUnauthorized, "Missing, invalid or expired credentials")
				return
			}
			s.mu.Lock()
			budget := t.budget // SetBudget may replace it
			s.mu.Unlock()
			if d, ok := s.spend(budget); !ok {
				tooManyRequests(w, d)
				return
			}
		}
		switch {
		case fault.Status == http.StatusTooManyRequests:
			tooManyRequests(w, fault.RetryAfter)
			return
		case fault.Status != 0:
			if fault.RetryAfter > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(int(fault.RetryAfter.Seconds())))
			}
			problem(w, fault.Status, "Injected fault")
			return
		case fault.Malformed:
			writeJSON(w, []byte(`{"workflow":{"id":`))
			return
		case fault.Lose:
			f(httptest.NewRecorder(), r, t)
			s.count(ep, 0)
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
				return
			}
			panic(http.ErrAbortHandler)
		}
		f(w, r, t)
	})
}

var requestSeq struct {
	mu sync.Mutex
	n  uint64
}

func newRequestID() string {
	requestSeq.mu.Lock()
	requestSeq.n++
	n := requestSeq.n
	requestSeq.mu.Unlock()
	return "jt-" + strconv.FormatUint(n, 10)
}

// spend takes one request from a budget; when it is spent it returns the
// time until the next request would fit.
func (s *Server) spend(l *rate.Limiter) (time.Duration, bool) {
	if l == nil {
		return 0, true
	}
	now := time.Now()
	r := l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return max(d, time.Second), false
	}
	return 0, true
}

func (s *Server) authenticate(r *http.Request, auth authKind) *tenantState {
	s.mu.Lock()
	defer s.mu.Unlock()
	if auth == authTransaction {
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if a := s.acquisitions[r.PathValue("id")]; a != nil && tok != "" && equal(tok, a.token) {
			return a.tenant
		}
		return nil
	}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && auth == authPlatform {
		is, ok := s.tokens[tok]
		if !ok || !time.Now().Before(is.expires) {
			return nil
		}
		return is.tenant
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return nil
	}
	for _, t := range s.tenants {
		if t.APIToken != "" && equal(user, t.APIToken) && equal(pass, t.APISecret) {
			return t
		}
	}
	return nil
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// handleToken is the OAuth2 client-credentials token endpoint: client
// authenticated with HTTP Basic, form grant_type=client_credentials.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request, _ *tenantState) {
	oauthError := func(status int, code string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
	}
	id, secret, ok := r.BasicAuth()
	var t *tenantState
	s.mu.Lock()
	for _, ts := range s.tenants {
		if ok && equal(id, ts.ClientID) && equal(secret, ts.ClientSecret) {
			t = ts
		}
	}
	s.mu.Unlock()
	if t == nil {
		w.Header().Set("WWW-Authenticate", `Basic realm="oauth2"`)
		oauthError(http.StatusUnauthorized, "invalid_client")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
		oauthError(http.StatusBadRequest, "unsupported_grant_type")
		return
	}
	if d, ok := s.spend(t.tokenBudget); !ok {
		tooManyRequests(w, d)
		return
	}
	tok := newToken()
	s.mu.Lock()
	life := s.cfg.TokenLifetime
	s.tokens[tok] = issued{tenant: t, expires: time.Now().Add(life)}
	s.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	b, _ := json.Marshal(map[string]any{"access_token": tok, "expires_in": int(life / time.Second), "token_type": "Bearer"})
	writeJSON(w, b)
}

// notReady reports whether the id is still "not ready" (404), counting
// the request.
func (s *Server) notReady(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	rd, ok := s.ready[id]
	if !ok {
		return false
	}
	if rd.requests > 0 {
		rd.requests--
		return true
	}
	if time.Now().Before(rd.until) {
		return true
	}
	delete(s.ready, id)
	return false
}

// find returns a copy of m[id], unless id is still not ready; s.mu guards m.
func find[T any](s *Server, m map[string]*T, id string) (T, bool) {
	var zero T
	if s.notReady(id) {
		return zero, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := m[id]
	if !ok {
		return zero, false
	}
	return *v, true
}

func (s *Server) execution(w http.ResponseWriter, r *http.Request) (*Execution, bool) {
	e, ok := find(s, s.executions, r.PathValue("id"))
	if !ok || e.AccountID != r.PathValue("accountId") {
		problem(w, http.StatusNotFound, "Workflow execution not found")
		return nil, false
	}
	return &e, true
}

func (s *Server) handleDetails(w http.ResponseWriter, r *http.Request, _ *tenantState) {
	if e, ok := s.execution(w, r); ok {
		writeJSON(w, s.rewrite(e.Details))
	}
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request, _ *tenantState) {
	e, ok := s.execution(w, r)
	if !ok {
		return
	}
	base := s.url + jumio.PathAccounts + "/" + e.AccountID
	b, _ := json.Marshal(map[string]any{
		"account": map[string]string{"id": e.AccountID, "href": base},
		"workflowExecution": map[string]string{"id": e.ID, "href": base + "/workflow-executions/" + e.ID,
			"definitionKey": e.DefinitionKey, "status": e.Status},
	})
	writeJSON(w, b)
}

func (s *Server) handleSteps(w http.ResponseWriter, r *http.Request, _ *tenantState) {
	e, ok := s.execution(w, r)
	if !ok {
		return
	}
	if len(e.Steps) > 0 {
		writeJSON(w, e.Steps)
		return
	}
	// One ID_IV step over every capability, with the overall decision.
	var d wire.WorkflowDetails
	_ = json.Unmarshal(e.Details, &d)
	var ids []string
	for _, name := range slices.Sorted(maps.Keys(d.Capabilities)) {
		for _, c := range d.Capabilities[name] {
			ids = append(ids, c.ID)
		}
	}
	b, _ := json.Marshal(map[string]any{"steps": []any{map[string]any{
		"id": e.ID[:8] + "-0000-4000-8000-000000000001", "name": "ID_IV", "capabilityIds": ids, "decision": d.Decision,
	}}})
	writeJSON(w, b)
}

func (s *Server) handlePart(w http.ResponseWriter, r *http.Request, _ *tenantState) {
	p := Part{AccountID: r.PathValue("accountId"), CredentialID: r.PathValue("credentialId"), Classifier: r.PathValue("classifier")}
	s.mu.Lock()
	c, ok := s.partData[p.AccountID+"/"+p.CredentialID+"/"+p.Classifier]
	if !ok {
		for _, id := range s.execOrder {
			if slices.Contains(s.executions[id].Parts, p) {
				c, ok = content{"image/png", samplePNG}, true
				break
			}
		}
	}
	s.mu.Unlock()
	if !ok {
		problem(w, http.StatusNotFound, "Credential part not found")
		return
	}
	w.Header().Set("Content-Type", c.contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(c.data)))
	_, _ = w.Write(c.data)
}

// ---- Netverify -------------------------------------------------------------

func (s *Server) scan(w http.ResponseWriter, r *http.Request) (*NetverifyScan, bool) {
	sc, ok := find(s, s.scans, r.PathValue("ref"))
	if !ok || sc.Data == nil {
		problem(w, http.StatusNotFound, "Scan not found")
		return nil, false
	}
	return &sc, true
}

// withTransactionStatus is the /data document data with its
// transaction.status set to status, the scan status /scans/{ref} serves:
// Jumio reports one status at both. data is returned as it is when status
// is empty or already there, or when data has no transaction object.
func withTransactionStatus(data json.RawMessage, status string) json.RawMessage {
	if status == "" {
		return data
	}
	var d map[string]json.RawMessage
	var tx map[string]any
	if json.Unmarshal(data, &d) != nil || json.Unmarshal(d["transaction"], &tx) != nil || tx == nil || tx["status"] == status {
		return data
	}
	tx["status"] = status
	d["transaction"], _ = json.Marshal(tx)
	b, err := json.Marshal(d)
	if err != nil {
		return data
	}
	return b
}

func (s *Server) handleScan(w http.ResponseWriter, r *http.Request, _ *tenantState) {
	sc, ok := s.scan(w, r)
	if !ok {
		return
	}
	var d struct {
		Timestamp   string `json:"timestamp"`
		Transaction struct {
			Status string `json:"status"`
		} `json:"transaction"`
	}
	_ = json.Unmarshal(sc.Data, &d)
	b, _ := json.Marshal(map[string]string{"timestamp": d.Timestamp, "scanReference": sc.Reference, "status": cmp.Or(sc.Status, d.Transaction.Status, "DONE")})
	writeJSON(w, b)
}

func (s *Server) handleScanData(part string) func(http.ResponseWriter, *http.Request, *tenantState) {
	return func(w http.ResponseWriter, r *http.Request, _ *tenantState) {
		sc, ok := s.scan(w, r)
		if !ok {
			return
		}
		if part == "" {
			writeJSON(w, s.rewrite(sc.Data))
			return
		}
		var d map[string]json.RawMessage
		_ = json.Unmarshal(sc.Data, &d)
		sub := d[part]
		if len(sub) == 0 {
			sub = json.RawMessage("{}")
		}
		if part == "verification" {
			// Retrieved on its own, the verification carries its scan.
			var v map[string]json.RawMessage
			_ = json.Unmarshal(sub, &v)
			if v == nil {
				v = map[string]json.RawMessage{}
			}
			v["scanReference"], _ = json.Marshal(sc.Reference)
			v["timestamp"] = d["timestamp"]
			sub, _ = json.Marshal(v)
		}
		writeJSON(w, s.rewrite(sub))
	}
}

func (s *Server) handleImages(w http.ResponseWriter, r *http.Request, _ *tenantState) {
	sc, ok := s.scan(w, r)
	if !ok {
		return
	}
	var d struct {
		Timestamp string `json:"timestamp"`
	}
	_ = json.Unmarshal(sc.Data, &d)
	images := []map[string]string{}
	for _, cls := range sc.Images {
		images = append(images, map[string]string{"classifier": cls,
			"href": s.url + jumio.PathNetverifyScans + "/" + sc.Reference + "/images/" + cls})
	}
	b, _ := json.Marshal(map[string]any{"timestamp": d.Timestamp, "scanReference": sc.Reference, "images": images})
	writeJSON(w, b)
}

func (s *Server) handleImage(w http.ResponseWriter, r *http.Request, _ *tenantState) {
	sc, ok := s.scan(w, r)
	if !ok {
		return
	}
	if !slices.Contains(sc.Images, r.PathValue("classifier")) {
		problem(w, http.StatusNotFound, "Image not found")
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(len(samplePNG)))
	_, _ = w.Write(samplePNG)
}

// samplePNG is the image every part and Netverify image serves: 16×16
// grey, a few hundred bytes.
var samplePNG = func() []byte {
	img := image.NewGray(image.Rect(0, 0, 16, 16))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	img.Set(0, 0, color.Gray{Y: 255})
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return b.Bytes()
}()
