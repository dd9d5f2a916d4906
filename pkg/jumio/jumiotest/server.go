package jumiotest

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// Default credentials of the default tenant.
const (
	DefaultClientID     = "jumiotest-client"
	DefaultClientSecret = "jumiotest-secret"
	DefaultAPIToken     = "jumiotest-api-token"
	DefaultAPISecret    = "jumiotest-api-secret"
)

// Tenant is one Jumio customer: its credentials and request budget.
type Tenant struct {
	// Name labels the tenant in counters; default "default".
	Name string
	// ClientID and ClientSecret are its OAuth2 client credentials.
	ClientID, ClientSecret string
	// APIToken and APISecret are its Basic credentials, accepted by the
	// Netverify API and (deprecated) by the Platform APIs.
	APIToken, APISecret string
}

// Config configures a Server. The zero Config is a server with one tenant
// holding the default credentials, no request budget, one-hour tokens and
// no executions.
type Config struct {
	// Tenants; default one tenant with the Default* credentials.
	Tenants []Tenant
	// TokenLifetime is the lifetime of issued tokens (expires_in); default
	// 1h, Jumio's.
	TokenLifetime time.Duration
	// Budget is each tenant's request budget in requests per second for
	// every API but the token endpoint (Jumio: 15 for retrieval); 0 means
	// unlimited. Requests over it get Jumio's 429 with Retry-After.
	Budget float64
	// BudgetBurst is how many requests the budget lets through at once;
	// default Budget rounded up.
	BudgetBurst int
	// TokenBudget is each tenant's token request budget (Jumio: 10/s);
	// 0 means unlimited.
	TokenBudget float64
	// Latency is added to every response.
	Latency time.Duration
	// AllowMissingUserAgent serves requests without a User-Agent; by
	// default they get 403, as from Jumio.
	AllowMissingUserAgent bool
	// Scenario, when it has executions or scans, is generated at start.
	Scenario Scenario
	// CompleteAfter is how long after an Account API request its new
	// workflow execution is completed with a generated outcome (the
	// Scenario's mix and seed) and its callback sent; 0 leaves it
	// INITIATED.
	CompleteAfter time.Duration
	// CompleteAPIAfter is how long after its finalization an execution
	// acquired through the API channel completes; default CompleteAfter.
	// Tests set CompleteAfter long (no simulated web user finishing
	// first) and this short.
	CompleteAPIAfter time.Duration
	// CallbackURL receives callbacks of completed executions when the
	// account request named no callbackUrl.
	CallbackURL string
	// CallbackClient sends those callbacks; default a client with a 10s
	// timeout.
	CallbackClient *http.Client
	// AcquiredCallbacks makes finalization of an API-channel execution
	// post an ACQUIRED callback too (Jumio documents callbacks for final
	// statuses only; some tenants see ACQUIRED ones).
	AcquiredCallbacks bool
	// CallbackDrop is the share (0 to 1) of the callbacks the server posts
	// on its own (completions, expiries, ACQUIRED) that it drops instead,
	// as when Jumio gives up on a receiver; they are kept for
	// DeliverDropped. SetCallbackDrop changes it.
	CallbackDrop float64
	// PublicURL is the base URL put into hrefs and printed (for a server
	// behind a proxy or in a container); default the listener's address.
	PublicURL string
	// MigrationDelay is how long after an accepted migration request each
	// scan's Platform copy is made and its callback posted; 0: at once.
	MigrationDelay time.Duration
}

// Key counts requests by endpoint and answered status (0 for a dropped
// connection).
type Key struct {
	Endpoint jumio.Endpoint
	Status   int
}

// Server is a fake Jumio: token, Account, Platform Retrieval and Netverify
// Retrieval endpoints on one base URL. All methods are safe for concurrent
// use.
type Server struct {
	cfg     Config
	handler http.Handler
	srv     *http.Server
	ln      net.Listener
	pipe    *pipeListener
	url     string

	mu         sync.Mutex
	tenants    []*tenantState
	tokens     map[string]issued
	executions map[string]*Execution
	execOrder  []string
	scans      map[string]*NetverifyScan
	scanOrder  []string
	partData   map[string]content
	ready      map[string]*readiness
	faults     []*Fault
	latency    time.Duration
	counts     map[Key]int
	accounts   []wire.AccountRequest
	gen        *generator
	timers     []*time.Timer
	closed     bool

	// acquisitions are the executions created through the Account API, by
	// id.
	acquisitions map[string]*acquisition
	drops        dropper
	health       wire.Health

	migrations        map[string]*migration
	migrationAccounts map[string]bool
	migrationLog      []MigrationCall
	holding           bool
	held              []heldMigration
	deletedAccounts   map[string]bool
	wipedScans        map[string]bool
	sends             sync.WaitGroup
	changes           uint64
}

type tenantState struct {
	Tenant
	budget      *rate.Limiter
	tokenBudget *rate.Limiter
}

type issued struct {
	tenant  *tenantState
	expires time.Time
}

type content struct {
	contentType string
	data        []byte
}

type readiness struct {
	requests int
	until    time.Time
}

// NewUnstartedServer returns a server that does not listen yet; call Start
// or StartInMemory.
func NewUnstartedServer(cfg Config) (*Server, error) {
	if cfg.TokenLifetime == 0 {
		cfg.TokenLifetime = time.Hour
	}
	if len(cfg.Tenants) == 0 {
		cfg.Tenants = []Tenant{{}}
	}
	if cfg.BudgetBurst == 0 {
		cfg.BudgetBurst = max(1, int(math.Ceil(cfg.Budget)))
	}
	if cfg.CallbackClient == nil {
		cfg.CallbackClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.CompleteAPIAfter == 0 {
		cfg.CompleteAPIAfter = cfg.CompleteAfter
	}
	if cfg.TokenLifetime < 0 || cfg.Budget < 0 || cfg.TokenBudget < 0 || cfg.Latency < 0 || cfg.CompleteAfter < 0 || cfg.CompleteAPIAfter < 0 || cfg.MigrationDelay < 0 {
		return nil, errors.New("jumiotest: negative durations or budgets")
	}
	if !(cfg.CallbackDrop >= 0 && cfg.CallbackDrop <= 1) {
		return nil, errors.New("jumiotest: callback drop share outside 0…1")
	}
	s := &Server{
		cfg:        cfg,
		tokens:     map[string]issued{},
		executions: map[string]*Execution{},
		scans:      map[string]*NetverifyScan{},
		partData:   map[string]content{},
		ready:      map[string]*readiness{},
		counts:     map[Key]int{},
		latency:    cfg.Latency,
		gen:        newGenerator(cfg.Scenario),

		acquisitions:      map[string]*acquisition{},
		drops:             newDropper(cfg.Scenario.Seed, cfg.CallbackDrop),
		health:            Health(wire.HealthUp, nil),
		migrations:        map[string]*migration{},
		migrationAccounts: map[string]bool{},
		deletedAccounts:   map[string]bool{},
		wipedScans:        map[string]bool{},
	}
	for i, t := range cfg.Tenants {
		if i == 0 {
			t.Name = cmp.Or(t.Name, "default")
			t.ClientID, t.ClientSecret = cmp.Or(t.ClientID, DefaultClientID), cmp.Or(t.ClientSecret, DefaultClientSecret)
			t.APIToken, t.APISecret = cmp.Or(t.APIToken, DefaultAPIToken), cmp.Or(t.APISecret, DefaultAPISecret)
		}
		if t.Name == "" || t.ClientID == "" || t.ClientSecret == "" {
			return nil, fmt.Errorf("jumiotest: tenant %d needs a name and client credentials", i)
		}
		ts := &tenantState{Tenant: t}
		if cfg.Budget > 0 {
			ts.budget = newBudget(cfg.Budget, cfg.BudgetBurst)
		}
		if cfg.TokenBudget > 0 {
			ts.tokenBudget = newBudget(cfg.TokenBudget, 0)
		}
		s.tenants = append(s.tenants, ts)
	}
	execs, scans := Generate(cfg.Scenario)
	for _, e := range execs {
		s.addExecution(e)
	}
	for _, sc := range scans {
		s.addScan(sc)
	}
	s.handler = s.routes()
	return s, nil
}

// NewServer starts a server on 127.0.0.1 with a random port, like
// httptest.NewServer; it panics if it cannot. Close it when done.
func NewServer(cfg Config) *Server {
	s, err := NewUnstartedServer(cfg)
	if err != nil {
		panic(err)
	}
	if err := s.Start(""); err != nil {
		panic(err)
	}
	return s
}

// Start listens on addr (default 127.0.0.1:0) and serves in the background.
func (s *Server) Start(addr string) error {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("jumiotest: listen: %w", err)
	}
	s.serve(ln, cmp.Or(strings.TrimRight(s.cfg.PublicURL, "/"), "http://"+ln.Addr().String()))
	return nil
}

// StartInMemory serves over in-memory connections instead of the network:
// only clients using Transport reach it. Inside a testing/synctest bubble
// this keeps every goroutine durably blocked while idle, so fake time
// advances; start the server inside the bubble.
func (s *Server) StartInMemory() {
	s.pipe = newPipeListener()
	s.serve(s.pipe, "http://jumiotest.internal")
}

func (s *Server) serve(ln net.Listener, base string) {
	s.ln = ln
	s.url = base
	// WriteTimeout leaves room for injected latency.
	s.srv = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 10 * time.Minute, IdleTimeout: 2 * time.Minute}
	go s.srv.Serve(ln) //nolint:errcheck // ends with ErrServerClosed
}

// Close stops the server, its pending completions, and waits for
// callbacks being sent by completions.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for _, t := range s.timers {
		t.Stop()
	}
	s.mu.Unlock()
	if s.srv != nil {
		s.srv.Close()
	}
	s.sends.Wait()
}

// URL is the base URL of every API the server speaks.
func (s *Server) URL() string { return s.url }

// Hosts returns the base URLs to put into jumio.Config.Hosts.
func (s *Server) Hosts() wire.Hosts {
	return wire.Hosts{Auth: s.url, Account: s.url, API: s.url, Retrieval: s.url, Netverify: s.url, Status: s.url}
}

// Transport returns an http.RoundTripper that reaches the server: over
// in-memory connections after StartInMemory, else a fresh
// http.Transport.
func (s *Server) Transport() http.RoundTripper {
	if s.pipe != nil {
		return &http.Transport{DialContext: s.pipe.dial, MaxIdleConnsPerHost: 64}
	}
	return &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}
}

// ClientConfig returns a jumio.Config for tenant i (0 is the default)
// pointing at the server, with all credentials set.
func (s *Server) ClientConfig(i int) jumio.Config {
	t := s.tenants[i].Tenant
	return jumio.Config{
		Hosts: s.Hosts(),
		// In memory the server is "http://jumiotest.internal", which
		// only Transport reaches.
		AllowHTTP:          s.pipe != nil,
		ClientID:           t.ClientID,
		ClientSecret:       t.ClientSecret,
		NetverifyAPIToken:  t.APIToken,
		NetverifyAPISecret: t.APISecret,
		UserAgent:          "kycflow-test jumiotest/1.0",
	}
}

// Handler returns the server's HTTP handler, to mount it elsewhere.
func (s *Server) Handler() http.Handler { return s.handler }

// ---- executions ------------------------------------------------------------

// Part names one credential part an execution serves.
type Part struct {
	AccountID, CredentialID, Classifier string
}

// Execution is a Platform workflow execution the server serves.
type Execution struct {
	AccountID     string
	ID            string
	DefinitionKey string
	// Status is the workflow status (PROCESSED, SESSION_EXPIRED, …).
	Status        string
	UserReference string
	// CallbackSentAt is the callbackSentAt of the callback the sender
	// posts for it.
	CallbackSentAt time.Time
	// Details is the workflow details JSON. Hrefs on Jumio's retrieval
	// hosts or on the generator's placeholder host are served as the
	// server's own URL.
	Details json.RawMessage
	// Steps is the steps JSON; when empty one step is derived from the
	// details.
	Steps json.RawMessage
	// Parts are the credential parts served (a small PNG each, unless
	// SetPart gave other content); AddDetails fills them from Details.
	Parts []Part
	// Outcome is the generated outcome, or the decision type.
	Outcome string
	// Country is the issuing country, when generated.
	Country string
}

// AddExecution adds (or replaces) an execution.
func (s *Server) AddExecution(e Execution) error {
	if !wire.ValidID(e.AccountID) || !wire.ValidID(e.ID) {
		return errors.New("jumiotest: execution needs UUID account and execution ids")
	}
	if !json.Valid(e.Details) {
		return errors.New("jumiotest: execution details are not JSON")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addExecution(e)
	return nil
}

func (s *Server) addExecution(e Execution) {
	if _, ok := s.executions[e.ID]; !ok {
		s.execOrder = append(s.execOrder, e.ID)
	}
	s.changes++
	s.executions[e.ID] = &e
}

// AddDetails adds an execution from a workflow details document (a
// fixture, or a wire.WorkflowDetails marshalled), with the parts its
// credentials list.
func (s *Server) AddDetails(details []byte) (Execution, error) {
	var d wire.WorkflowDetails
	if err := json.Unmarshal(details, &d); err != nil {
		return Execution{}, fmt.Errorf("jumiotest: details: %w", err)
	}
	e := Execution{
		AccountID:      d.Account.ID,
		ID:             d.Workflow.ID,
		DefinitionKey:  string(d.Workflow.DefinitionKey),
		Status:         d.Workflow.Status,
		UserReference:  string(d.Workflow.UserReference),
		CallbackSentAt: cmpTime(d.CompletedAt.Time, d.CreatedAt.Time).Add(10 * time.Second),
		Details:        details,
		Outcome:        d.Decision.Type,
	}
	for _, c := range d.Credentials {
		for _, p := range c.Parts {
			if p.Href != "" {
				e.Parts = append(e.Parts, Part{AccountID: d.Account.ID, CredentialID: c.ID, Classifier: p.Classifier})
			}
		}
	}
	return e, s.AddExecution(e)
}

func cmpTime(a, b time.Time) time.Time {
	if !a.IsZero() {
		return a
	}
	return b
}

// Execution returns the execution with the id.
func (s *Server) Execution(id string) (Execution, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.executions[id]
	if !ok {
		return Execution{}, false
	}
	return *e, true
}

// Executions returns every execution, in the order added.
func (s *Server) Executions() []Execution {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Execution, 0, len(s.execOrder))
	for _, id := range s.execOrder {
		out = append(out, *s.executions[id])
	}
	return out
}

// SetPart sets the content served for a credential part.
func (s *Server) SetPart(p Part, contentType string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partData[p.AccountID+"/"+p.CredentialID+"/"+p.Classifier] = content{contentType, slices.Clone(data)}
}

// NetverifyScan is a Netverify transaction the server serves.
type NetverifyScan struct {
	// Kind is id_verification, authentication or document_verification.
	Kind events.CallbackKind
	// Reference is the scan (or transaction) reference.
	Reference string
	// Status is the scan status served by /scans/{ref} and as the /data
	// transaction.status: PENDING, DONE or FAILED (ID verification only).
	// Empty, /scans/{ref} serves the data's own transaction.status, DONE
	// without one.
	Status string
	// Result is the verificationStatus, transactionResult or document
	// status.
	Result string
	// Data is the /data document (ID verification only); /data/document,
	// /data/transaction and /data/verification serve its parts.
	Data json.RawMessage
	// Images are the classifiers (front, face, back) served.
	Images []string
	// Callback is the form the callback sender posts.
	Callback url.Values
	// CallbackDate is the callback's callbackDate (timestamp for document
	// verification).
	CallbackDate time.Time
	// Outcome is the generated outcome.
	Outcome string
}

// AddNetverifyScan adds (or replaces) a Netverify transaction.
func (s *Server) AddNetverifyScan(sc NetverifyScan) error {
	if !wire.ValidID(sc.Reference) {
		return errors.New("jumiotest: scan reference is not a UUID")
	}
	if sc.Data != nil && !json.Valid(sc.Data) {
		return errors.New("jumiotest: scan data is not JSON")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addScan(sc)
	return nil
}

func (s *Server) addScan(sc NetverifyScan) {
	if _, ok := s.scans[sc.Reference]; !ok {
		s.scanOrder = append(s.scanOrder, sc.Reference)
	}
	s.changes++
	sc.Callback = cloneValues(sc.Callback)
	sc.Data = withTransactionStatus(sc.Data, sc.Status)
	s.scans[sc.Reference] = &sc
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// NetverifyScans returns every Netverify transaction, in the order added.
func (s *Server) NetverifyScans() []NetverifyScan {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]NetverifyScan, 0, len(s.scanOrder))
	for _, ref := range s.scanOrder {
		sc := *s.scans[ref]
		sc.Callback = cloneValues(sc.Callback)
		out = append(out, sc)
	}
	return out
}

// Accounts returns the Account API requests received, in order.
func (s *Server) Accounts() []wire.AccountRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.accounts)
}

// ---- counters --------------------------------------------------------------

func (s *Server) count(ep jumio.Endpoint, status int) {
	s.mu.Lock()
	s.counts[Key{ep, status}]++
	s.mu.Unlock()
}

// Count returns how many requests to ep were answered with status (0:
// dropped connections).
func (s *Server) Count(ep jumio.Endpoint, status int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[Key{ep, status}]
}

// Requests returns how many requests ep received, whatever the answer.
func (s *Server) Requests(ep jumio.Endpoint) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, v := range s.counts {
		if k.Endpoint == ep {
			n += v
		}
	}
	return n
}

// Counts returns a copy of every counter.
func (s *Server) Counts() map[Key]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[Key]int, len(s.counts))
	for k, v := range s.counts {
		out[k] = v
	}
	return out
}

// ResetCounts zeroes every counter.
func (s *Server) ResetCounts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.counts)
}

// ---- tokens ----------------------------------------------------------------

func newToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "jt." + hex.EncodeToString(b[:])
}

// RevokeTokens invalidates every issued token: requests that carry one get
// 401 until the client fetches a new one.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// SetTokenLifetime changes the lifetime of tokens issued from now on.
func (s *Server) SetTokenLifetime(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.TokenLifetime = d
}

// ---- helpers ---------------------------------------------------------------

// newBudget is a token bucket of rps with burst (at least rps rounded up
// when burst is 0).
func newBudget(rps float64, burst int) *rate.Limiter {
	if burst <= 0 {
		burst = max(1, int(math.Ceil(rps)))
	}
	return rate.NewLimiter(rate.Limit(rps), burst)
}

// baseReplacer rewrites hrefs on Jumio's retrieval hosts and on the
// generator's placeholder host to the server's URL.
func (s *Server) rewrite(b []byte) []byte {
	olds := []string{placeholderBase}
	for _, r := range wire.Regions {
		olds = append(olds, wire.RegionHosts(r).Retrieval)
	}
	for _, o := range olds {
		b = bytes.ReplaceAll(b, []byte(o), []byte(s.url))
	}
	return b
}

// problem writes a JSON error body in Jumio's shape.
func problem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"title": http.StatusText(status), "status": status, "detail": detail})
}

// tooManyRequests writes Jumio's documented 429.
func tooManyRequests(w http.ResponseWriter, retryAfter time.Duration) {
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(retryAfter.Seconds()))))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusTooManyRequests)
	_, _ = w.Write([]byte(`{"title":"Too Many Requests","status":429,"detail":"Request limit exceeded"}`))
}

func writeJSON(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
