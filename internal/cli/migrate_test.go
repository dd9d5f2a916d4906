package cli

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// TestMigrateRedirectAndResponse: migrate-request ports a success URL
// (detected because it is not JSON) and an /initiate response (detected by
// its fields), and names what the Platform adds.
func TestMigrateRedirectAndResponse(t *testing.T) {
	var out, errOut bytes.Buffer
	in := "https://shop.example/kyc/done?transactionStatus=SUCCESS&transactionReference=5b6c7d8e-1111-4222-8333-944455556666\n"
	if code := Main(t.Context(), []string{"migrate-request"}, noEnv, strings.NewReader(in), &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	u, err := url.Parse(strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatalf("stdout is not a URL: %v\n%s", err, out.String())
	}
	q := u.Query()
	if q.Get("acquisitionStatus") != "SUCCESS" || q.Get("workflowExecutionId") != "5b6c7d8e-1111-4222-8333-944455556666" || q.Has("transactionReference") {
		t.Errorf("redirect %s: want acquisitionStatus and workflowExecutionId", u)
	}
	if !strings.Contains(errOut.String(), "warning: accountId (missing)") {
		t.Errorf("no warning for accountId:\n%s", errOut.String())
	}

	out.Reset()
	errOut.Reset()
	resp := `{"timestamp":"2021-05-10T08:00:00.123Z","redirectUrl":"https://lon.netverify.com/v2?authorizationToken=x","transactionReference":"5b6c7d8e-1111-4222-8333-944455556666"}`
	if code := Main(t.Context(), []string{"migrate-request", "--json"}, noEnv, strings.NewReader(resp), &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var doc struct {
		Kind     string
		Response wire.AccountResponse
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Kind != "response" || doc.Response.WorkflowExecution.ID != "5b6c7d8e-1111-4222-8333-944455556666" || doc.Response.Web == nil ||
		doc.Response.Web.Href != "https://lon.netverify.com/v2?authorizationToken=x" {
		t.Errorf("response: %s", out.String())
	}
	if code := Main(t.Context(), []string{"migrate-request", "--kind", "redirect"}, noEnv, strings.NewReader("%zz"), &out, &errOut); code != 1 {
		t.Errorf("not a URL: exit %d, want 1", code)
	}
}
