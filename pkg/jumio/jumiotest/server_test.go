package jumiotest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// do sends a request with Basic API credentials and a User-Agent.
func do(t *testing.T, method, u, ua string, body io.Reader, auth func(*http.Request)) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", ua)
	if auth != nil {
		auth(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func basic(req *http.Request) {
	req.SetBasicAuth(jumiotest.DefaultAPIToken, jumiotest.DefaultAPISecret)
}

func getJSON(t *testing.T, srv *jumiotest.Server, u string) string {
	t.Helper()
	resp, body := do(t, http.MethodGet, u, "test/1.0", nil, basic)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, body)
	}
	return body
}

func TestUserAgentRequired(t *testing.T) {
	srv := jumiotest.NewServer(jumiotest.Config{Scenario: jumiotest.Scenario{Seed: 1, NetverifyScans: 1, NetverifyMix: jumiotest.NetverifyMix{Approved: 1}}})
	defer srv.Close()
	u := srv.URL() + jumio.PathNetverifyScans + "/" + srv.NetverifyScans()[0].Reference
	for _, ua := range []string{"", "Go-http-client/1.1"} {
		if resp, _ := do(t, http.MethodGet, u, ua, nil, basic); resp.StatusCode != http.StatusForbidden {
			t.Errorf("User-Agent %q: got %d, want 403", ua, resp.StatusCode)
		}
	}
	if resp, _ := do(t, http.MethodGet, u, "ExampleCorp App/1.0", nil, basic); resp.StatusCode != http.StatusOK {
		t.Errorf("with a User-Agent: got %d, want 200", resp.StatusCode)
	}
	if got := srv.Count(jumio.EndpointNetverifyScan, http.StatusForbidden); got != 2 {
		t.Errorf("counted %d 403s, want 2", got)
	}
}

func TestTokenEndpoint(t *testing.T) {
	srv := jumiotest.NewServer(jumiotest.Config{TokenLifetime: 10 * time.Minute})
	defer srv.Close()
	form := func(grant string) io.Reader { return strings.NewReader(url.Values{"grant_type": {grant}}.Encode()) }
	auth := func(id, secret string) func(*http.Request) {
		return func(r *http.Request) {
			r.SetBasicAuth(id, secret)
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	}
	resp, body := do(t, http.MethodPost, srv.URL()+jumio.PathToken, "t/1", form("client_credentials"), auth(jumiotest.DefaultClientID, jumiotest.DefaultClientSecret))
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		TokenType   string `json:"token_type"`
	}
	if err := json.Unmarshal([]byte(body), &tok); resp.StatusCode != 200 || err != nil || tok.AccessToken == "" || tok.ExpiresIn != 600 || tok.TokenType != "Bearer" {
		t.Errorf("token: %d %s", resp.StatusCode, body)
	}
	if resp, _ := do(t, http.MethodPost, srv.URL()+jumio.PathToken, "t/1", form("password"), auth(jumiotest.DefaultClientID, jumiotest.DefaultClientSecret)); resp.StatusCode != 400 {
		t.Errorf("wrong grant: got %d, want 400", resp.StatusCode)
	}
	if resp, body := do(t, http.MethodPost, srv.URL()+jumio.PathToken, "t/1", form("client_credentials"), auth(jumiotest.DefaultClientID, "nope")); resp.StatusCode != 401 || !strings.Contains(body, "invalid_client") {
		t.Errorf("wrong secret: got %d %s, want 401 invalid_client", resp.StatusCode, body)
	}
	if got := srv.Requests(jumio.EndpointToken); got != 3 {
		t.Errorf("counted %d token requests, want 3", got)
	}
}

func TestBudgetAnswersJumios429(t *testing.T) {
	srv := jumiotest.NewServer(jumiotest.Config{Budget: 0.5, BudgetBurst: 1,
		Scenario: jumiotest.Scenario{Seed: 1, NetverifyScans: 1, NetverifyMix: jumiotest.NetverifyMix{Approved: 1}}})
	defer srv.Close()
	u := srv.URL() + jumio.PathNetverifyScans + "/" + srv.NetverifyScans()[0].Reference
	getJSON(t, srv, u)
	resp, body := do(t, http.MethodGet, u, "t/1", nil, basic)
	if resp.StatusCode != http.StatusTooManyRequests || body != `{"title":"Too Many Requests","status":429,"detail":"Request limit exceeded"}` {
		t.Errorf("got %d %s, want Jumio's 429", resp.StatusCode, body)
	}
	if ra := resp.Header.Get("Retry-After"); ra != "2" {
		t.Errorf("Retry-After %q, want 2 (one request per 2 s)", ra)
	}
}

func TestFaultsApplyToTheirEndpoints(t *testing.T) {
	srv := jumiotest.NewServer(jumiotest.Config{Scenario: jumiotest.Scenario{Seed: 1, NetverifyScans: 1, NetverifyMix: jumiotest.NetverifyMix{Approved: 1}}})
	defer srv.Close()
	ref := srv.NetverifyScans()[0].Reference
	scan := srv.URL() + jumio.PathNetverifyScans + "/" + ref
	srv.Inject(jumiotest.Fault{Endpoints: []jumio.Endpoint{jumio.EndpointNetverifyData}, Status: 502, Count: 2})
	getJSON(t, srv, scan) // another endpoint: untouched
	for range 2 {
		if resp, _ := do(t, http.MethodGet, scan+"/data", "t/1", nil, basic); resp.StatusCode != 502 {
			t.Errorf("got %d, want the injected 502", resp.StatusCode)
		}
	}
	getJSON(t, srv, scan+"/data")
	srv.Inject(jumiotest.Fault{Status: 503}) // global
	if resp, _ := do(t, http.MethodGet, scan, "t/1", nil, basic); resp.StatusCode != 503 {
		t.Errorf("global fault: got %d, want 503", resp.StatusCode)
	}
	srv.NotReady(ref, 1, time.Time{})
	if resp, _ := do(t, http.MethodGet, scan, "t/1", nil, basic); resp.StatusCode != 404 {
		t.Errorf("not ready: got %d, want 404", resp.StatusCode)
	}
	getJSON(t, srv, scan)
	want := map[jumiotest.Key]int{
		{jumio.EndpointNetverifyScan, 200}: 2, {jumio.EndpointNetverifyScan, 503}: 1, {jumio.EndpointNetverifyScan, 404}: 1,
		{jumio.EndpointNetverifyData, 502}: 2, {jumio.EndpointNetverifyData, 200}: 1,
	}
	got := srv.Counts()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("count %v = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
}

func TestAccountAPI(t *testing.T) {
	srv := jumiotest.NewServer(jumiotest.Config{})
	defer srv.Close()
	cfg := srv.ClientConfig(0)
	cfg.AccountRateLimit = 100
	c, err := jumio.NewClient(cfg, jumio.WithTransport(srv.Transport()))
	if err != nil {
		t.Fatal(err)
	}
	req := wire.AccountRequest{}
	if err := json.Unmarshal(readFixture(t, "platform/account-create-request.json"), &req); err != nil {
		t.Fatal(err)
	}
	resp, err := c.CreateAccount(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	e, ok := srv.Execution(resp.WorkflowExecution.ID)
	if !ok || e.Status != "INITIATED" || e.AccountID != resp.Account.ID || e.UserReference != req.UserReference {
		t.Errorf("execution %+v, want an INITIATED execution of account %s", e, resp.Account.ID)
	}
	if resp.Web == nil || resp.Web.SuccessURL != req.Web.SuccessURL || len(resp.WorkflowExecution.Credentials) == 0 {
		t.Errorf("response %+v lacks the web settings or credentials", resp)
	}
	if _, err := c.UpdateAccount(t.Context(), "00000000-0000-4000-8000-000000000000", req); err == nil || jumio.Classify(err).Kind != jumio.Permanent {
		t.Errorf("update of an unknown account: %v, want a permanent 404", err)
	}
}

// TestScanStatusAgrees: a scan's status is served alike by /scans/{ref}
// and as its /data transaction.status, whichever of the two the test set:
// the status given, or without one the data's own.
func TestScanStatusAgrees(t *testing.T) {
	srv := jumiotest.NewServer(jumiotest.Config{})
	defer srv.Close()
	_, scans := jumiotest.Generate(jumiotest.Scenario{Seed: 7, NetverifyScans: 8})
	var sc jumiotest.NetverifyScan
	for _, s := range scans {
		if s.Kind == events.KindIDVerification && s.Data != nil {
			sc = s
			break
		}
	}
	if sc.Data == nil {
		t.Fatal("no ID-verification scan with data")
	}
	status := func() (scan, data string) {
		var st struct{ Status string }
		if err := json.Unmarshal([]byte(getJSON(t, srv, srv.URL()+jumio.PathNetverifyScans+"/"+sc.Reference)), &st); err != nil {
			t.Fatal(err)
		}
		var d struct{ Transaction struct{ Status string } }
		if err := json.Unmarshal([]byte(getJSON(t, srv, srv.URL()+jumio.PathNetverifyScans+"/"+sc.Reference+"/data")), &d); err != nil {
			t.Fatal(err)
		}
		return st.Status, d.Transaction.Status
	}
	for _, tt := range []struct{ set, data, want string }{
		{"PENDING", "DONE", "PENDING"},
		{"", "FAILED", "FAILED"},
		{"DONE", "DONE", "DONE"},
	} {
		x := sc
		var d map[string]any
		if err := json.Unmarshal(x.Data, &d); err != nil {
			t.Fatal(err)
		}
		d["transaction"].(map[string]any)["status"] = tt.data
		x.Data, _ = json.Marshal(d)
		x.Status = tt.set
		if err := srv.AddNetverifyScan(x); err != nil {
			t.Fatal(err)
		}
		if scan, data := status(); scan != tt.want || data != tt.want {
			t.Errorf("status %q, data %q: /scans says %s, /data %s, want %s at both", tt.set, tt.data, scan, data, tt.want)
		}
	}
}
