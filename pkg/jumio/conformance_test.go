package jumio_test

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// tenant describes what the conformance suite may read from a Jumio
// tenant (the simulator, or a real sandbox).
type tenant struct {
	// Executions are Platform workflow executions that exist.
	Executions []execution
	// Scans are Netverify ID-verification scan references that exist.
	Scans []string
	// CreateWorkflowKey, when set, lets the suite initiate transactions
	// with this workflow definition key.
	CreateWorkflowKey int
}

type execution struct{ AccountID, ID string }

// testConformance checks the client's contract against a tenant: the
// same assertions hold for jumiotest and for Jumio itself.
func testConformance(t *testing.T, c *jumio.Client, tn tenant) {
	t.Run("Health", func(t *testing.T) {
		h, err := c.Health(t.Context())
		if err != nil {
			t.Fatalf("Health: %v", err)
		}
		if s := h.Component("retrieval"); s != wire.HealthUp && s != wire.HealthDegraded && s != wire.HealthDown {
			t.Errorf("retrieval status %q, want UP, DEGRADED or DOWN", s)
		}
	})
	t.Run("WorkflowStatus", func(t *testing.T) {
		for _, e := range tn.Executions {
			st, err := c.WorkflowStatus(t.Context(), e.AccountID, e.ID)
			if err != nil {
				t.Fatalf("WorkflowStatus: %v", err)
			}
			if st.WorkflowExecution.ID != e.ID || st.Account.ID != e.AccountID || st.WorkflowExecution.Status == "" {
				t.Errorf("got ids %s/%s status %q, want %s/%s and a status", st.Account.ID, st.WorkflowExecution.ID, st.WorkflowExecution.Status, e.AccountID, e.ID)
			}
		}
	})
	t.Run("WorkflowDetails", func(t *testing.T) {
		for _, e := range tn.Executions {
			d, raw, err := c.WorkflowDetails(t.Context(), e.AccountID, e.ID)
			if err != nil {
				t.Fatalf("WorkflowDetails: %v", err)
			}
			if d.Workflow.ID != e.ID || d.Account.ID != e.AccountID {
				t.Errorf("got ids %s/%s, want %s/%s", d.Account.ID, d.Workflow.ID, e.AccountID, e.ID)
			}
			var again wire.WorkflowDetails
			if err := json.Unmarshal(raw, &again); err != nil {
				t.Fatalf("raw details do not decode: %v", err)
			}
			if diff := cmp.Diff(*d, again); diff != "" {
				t.Errorf("raw and typed details differ (-typed +raw):\n%s", diff)
			}
		}
	})
	t.Run("Steps", func(t *testing.T) {
		for _, e := range tn.Executions {
			// Workflows without steps answer 404.
			if _, err := c.Steps(t.Context(), e.AccountID, e.ID); err != nil && !errors.Is(err, jumio.ErrNotFound) {
				t.Errorf("Steps: %v", err)
			}
		}
	})
	t.Run("CredentialPart", func(t *testing.T) {
		for _, e := range tn.Executions {
			d, _, err := c.WorkflowDetails(t.Context(), e.AccountID, e.ID)
			if err != nil {
				t.Fatalf("WorkflowDetails: %v", err)
			}
			for _, cred := range d.Credentials {
				for _, p := range cred.Parts {
					if p.Href == "" || p.Classifier == "FACEMAP" {
						continue
					}
					dl, err := c.CredentialPart(t.Context(), e.AccountID, cred.ID, p.Classifier)
					if err != nil {
						t.Fatalf("CredentialPart: %v", err)
					}
					n, err := io.Copy(io.Discard, dl.Body)
					dl.Body.Close()
					if err != nil || n == 0 || n > c.Config().MaxImageBytes {
						t.Errorf("read %d bytes, err %v; want 1…%d bytes", n, err, c.Config().MaxImageBytes)
					}
					if !strings.HasPrefix(dl.ContentType, "image/") && dl.ContentType != "application/octet-stream" {
						t.Errorf("content type %q, want an image", dl.ContentType)
					}
					return
				}
			}
		}
		t.Skip("no execution with a credential part")
	})
	t.Run("UnknownExecution", func(t *testing.T) {
		if len(tn.Executions) == 0 {
			t.Skip("no account to look in")
		}
		_, _, err := c.WorkflowDetails(t.Context(), tn.Executions[0].AccountID, randomUUID())
		if !errors.Is(err, jumio.ErrNotFound) {
			t.Fatalf("got %v, want ErrNotFound", err)
		}
		if got := jumio.Classify(err); got.Kind != jumio.Permanent {
			t.Errorf("Classify = %v, want permanent", got)
		}
	})
	t.Run("InvalidArguments", func(t *testing.T) {
		for name, call := range map[string]func() error{
			"details": func() error { _, _, err := c.WorkflowDetails(t.Context(), "../x", randomUUID()); return err },
			"part": func() error {
				_, err := c.CredentialPart(t.Context(), randomUUID(), randomUUID(), "FRONT/../x")
				return err
			},
			"scan":    func() error { _, err := c.NetverifyScan(t.Context(), "not-a-uuid"); return err },
			"account": func() error { _, err := c.CreateAccount(t.Context(), wire.AccountRequest{}); return err },
		} {
			if err := call(); !errors.Is(err, jumio.ErrInvalidArgument) || jumio.Classify(err).Kind != jumio.Permanent {
				t.Errorf("%s: got %v, want a permanent ErrInvalidArgument", name, err)
			}
		}
	})
	t.Run("Netverify", func(t *testing.T) {
		if len(tn.Scans) == 0 {
			t.Skip("no Netverify scans in this tenant")
		}
		for _, ref := range tn.Scans {
			st, err := c.NetverifyScan(t.Context(), ref)
			if err != nil {
				t.Fatalf("NetverifyScan: %v", err)
			}
			if st.ScanReference != ref || !slices.Contains([]string{"PENDING", "DONE", "FAILED"}, st.Status) {
				t.Errorf("scan %s status %q, want %s and PENDING/DONE/FAILED", st.ScanReference, st.Status, ref)
			}
			data, raw, err := c.NetverifyData(t.Context(), ref)
			if err != nil {
				t.Fatalf("NetverifyData: %v", err)
			}
			if data.ScanReference != ref || !json.Valid(raw) {
				t.Errorf("data for %s, raw valid %v; want %s", data.ScanReference, json.Valid(raw), ref)
			}
			doc, err := c.NetverifyDocument(t.Context(), ref)
			if err != nil || doc.Status != data.Document.Status {
				t.Errorf("NetverifyDocument: status %v, err %v; want %q", doc, err, data.Document.Status)
			}
			if _, err := c.NetverifyTransaction(t.Context(), ref); err != nil {
				t.Errorf("NetverifyTransaction: %v", err)
			}
			if _, err := c.NetverifyVerification(t.Context(), ref); err != nil {
				t.Errorf("NetverifyVerification: %v", err)
			}
			imgs, err := c.NetverifyImages(t.Context(), ref)
			if err != nil {
				t.Fatalf("NetverifyImages: %v", err)
			}
			for _, img := range imgs.Images {
				dl, err := c.NetverifyImage(t.Context(), ref, img.Classifier)
				if err != nil {
					t.Fatalf("NetverifyImage %s: %v", img.Classifier, err)
				}
				n, _ := io.Copy(io.Discard, dl.Body)
				dl.Body.Close()
				if n == 0 {
					t.Errorf("image %s is empty", img.Classifier)
				}
				break
			}
		}
	})
	t.Run("Accounts", func(t *testing.T) {
		if tn.CreateWorkflowKey == 0 {
			t.Skip("initiating transactions is not enabled for this tenant")
		}
		req := wire.AccountRequest{
			CustomerInternalReference: "kycflow-conformance",
			UserReference:             "kycflow-conformance",
			WorkflowDefinition:        wire.WorkflowDefinition{Key: tn.CreateWorkflowKey},
		}
		created, err := c.CreateAccount(t.Context(), req)
		if err != nil {
			t.Fatalf("CreateAccount: %v", err)
		}
		if !wire.ValidID(created.Account.ID) || !wire.ValidID(created.WorkflowExecution.ID) {
			t.Fatalf("CreateAccount ids %q/%q are not UUIDs", created.Account.ID, created.WorkflowExecution.ID)
		}
		updated, err := c.UpdateAccount(t.Context(), created.Account.ID, req)
		if err != nil {
			t.Fatalf("UpdateAccount: %v", err)
		}
		if updated.Account.ID != created.Account.ID || updated.WorkflowExecution.ID == created.WorkflowExecution.ID {
			t.Errorf("update gave account %s execution %s; want the same account and a new execution", updated.Account.ID, updated.WorkflowExecution.ID)
		}
	})
}

func randomUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func TestConformanceSimulator(t *testing.T) {
	srv := startSim(t, jumiotest.Config{Scenario: scenario(6)})
	var tn tenant
	for _, e := range srv.Executions() {
		tn.Executions = append(tn.Executions, execution{e.AccountID, e.ID})
	}
	for _, sc := range srv.NetverifyScans() {
		if sc.Kind == events.KindIDVerification {
			tn.Scans = append(tn.Scans, sc.Reference)
		}
	}
	tn.CreateWorkflowKey = 10011
	testConformance(t, newClient(t, srv, fastRetries), tn)
}

// TestConformanceJumio runs the suite against a real Jumio tenant when its
// credentials and the ids of existing transactions are in the environment.
func TestConformanceJumio(t *testing.T) {
	c, tn, ok := tenantFromEnv(t, os.Getenv)
	if !ok {
		t.Skip("no Jumio tenant: to run this suite against one, set KYCFLOW_JUMIO_REGION, KYCFLOW_JUMIO_CLIENT_ID, " +
			"KYCFLOW_JUMIO_CLIENT_SECRET, KYCFLOW_JUMIO_USER_AGENT, KYCFLOW_JUMIO_TEST_ACCOUNT_ID and " +
			"KYCFLOW_JUMIO_TEST_WORKFLOW_EXECUTION_ID (an existing transaction), optionally KYCFLOW_JUMIO_NETVERIFY_API_TOKEN, " +
			"KYCFLOW_JUMIO_NETVERIFY_API_SECRET and KYCFLOW_JUMIO_TEST_SCAN_REFERENCE, KYCFLOW_JUMIO_TEST_WORKFLOW_KEY " +
			"to allow initiating transactions, and KYCFLOW_JUMIO_{AUTH,ACCOUNT,API,RETRIEVAL,NETVERIFY}_URL to override " +
			"the region's hosts; then run go test ./pkg/jumio -run TestConformanceJumio")
	}
	testConformance(t, c, tn)
}

// TestConformanceJumioEnv runs TestConformanceJumio's set-up against the
// simulator, reached only through the KYCFLOW_JUMIO_*_URL overrides.
func TestConformanceJumioEnv(t *testing.T) {
	srv := startSim(t, jumiotest.Config{Scenario: scenario(2), Tenants: []jumiotest.Tenant{{
		ClientID: "conformance-client", ClientSecret: "conformance-secret", APIToken: "conformance-token", APISecret: "conformance-api-secret",
	}}})
	e := srv.Executions()[0]
	var scan string
	for _, sc := range srv.NetverifyScans() {
		if sc.Kind == events.KindIDVerification {
			scan = sc.Reference
		}
	}
	if scan == "" {
		t.Fatal("the scenario has no Netverify ID verification")
	}
	env := map[string]string{
		"KYCFLOW_JUMIO_REGION":                     "emea-1",
		"KYCFLOW_JUMIO_AUTH_URL":                   srv.URL(),
		"KYCFLOW_JUMIO_ACCOUNT_URL":                srv.URL(),
		"KYCFLOW_JUMIO_API_URL":                    srv.URL(),
		"KYCFLOW_JUMIO_RETRIEVAL_URL":              srv.URL(),
		"KYCFLOW_JUMIO_NETVERIFY_URL":              srv.URL(),
		"KYCFLOW_JUMIO_STATUS_URL":                 srv.URL(),
		"KYCFLOW_JUMIO_CLIENT_ID":                  "conformance-client",
		"KYCFLOW_JUMIO_CLIENT_SECRET":              "conformance-secret",
		"KYCFLOW_JUMIO_NETVERIFY_API_TOKEN":        "conformance-token",
		"KYCFLOW_JUMIO_NETVERIFY_API_SECRET":       "conformance-api-secret",
		"KYCFLOW_JUMIO_USER_AGENT":                 "kycflow-conformance/1.0",
		"KYCFLOW_JUMIO_TEST_ACCOUNT_ID":            e.AccountID,
		"KYCFLOW_JUMIO_TEST_WORKFLOW_EXECUTION_ID": e.ID,
		"KYCFLOW_JUMIO_TEST_SCAN_REFERENCE":        scan,
		"KYCFLOW_JUMIO_TEST_WORKFLOW_KEY":          "10011",
	}
	c, tn, ok := tenantFromEnv(t, func(k string) string { return env[k] })
	if !ok {
		t.Fatal("the environment names no tenant")
	}
	if got := c.Config().Hosts; got != srv.Hosts() {
		t.Fatalf("client hosts %+v, want the simulator's %+v", got, srv.Hosts())
	}
	testConformance(t, c, tn)
	if srv.Requests(jumio.EndpointToken) == 0 || srv.Requests(jumio.EndpointAccountCreate) == 0 || srv.Requests(jumio.EndpointNetverifyData) == 0 {
		t.Errorf("the simulator saw no token, account or Netverify requests: %v", srv.Counts())
	}
}

// tenantFromEnv reads a Jumio tenant and a client for it from getenv; ok
// is false when the environment names none.
func tenantFromEnv(t *testing.T, getenv func(string) string) (c *jumio.Client, tn tenant, ok bool) {
	t.Helper()
	cfg := jumio.Config{
		Hosts: wire.Hosts{
			Auth:      getenv("KYCFLOW_JUMIO_AUTH_URL"),
			Account:   getenv("KYCFLOW_JUMIO_ACCOUNT_URL"),
			API:       getenv("KYCFLOW_JUMIO_API_URL"),
			Retrieval: getenv("KYCFLOW_JUMIO_RETRIEVAL_URL"),
			Netverify: getenv("KYCFLOW_JUMIO_NETVERIFY_URL"),
			Status:    getenv("KYCFLOW_JUMIO_STATUS_URL"),
		},
		ClientID:           getenv("KYCFLOW_JUMIO_CLIENT_ID"),
		ClientSecret:       getenv("KYCFLOW_JUMIO_CLIENT_SECRET"),
		NetverifyAPIToken:  getenv("KYCFLOW_JUMIO_NETVERIFY_API_TOKEN"),
		NetverifyAPISecret: getenv("KYCFLOW_JUMIO_NETVERIFY_API_SECRET"),
		UserAgent:          getenv("KYCFLOW_JUMIO_USER_AGENT"),
	}
	acct, exec, scan := getenv("KYCFLOW_JUMIO_TEST_ACCOUNT_ID"), getenv("KYCFLOW_JUMIO_TEST_WORKFLOW_EXECUTION_ID"), getenv("KYCFLOW_JUMIO_TEST_SCAN_REFERENCE")
	if (cfg.ClientID == "" || exec == "") && (cfg.NetverifyAPIToken == "" || scan == "") {
		return nil, tn, false
	}
	if r := getenv("KYCFLOW_JUMIO_REGION"); r != "" {
		region, err := wire.ParseRegion(r)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Region = region
	}
	if cfg.ClientID != "" && exec != "" {
		tn.Executions = []execution{{acct, exec}}
	}
	if scan != "" {
		tn.Scans = []string{scan}
	}
	tn.CreateWorkflowKey, _ = strconv.Atoi(getenv("KYCFLOW_JUMIO_TEST_WORKFLOW_KEY"))
	c, err := jumio.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c, tn, true
}
