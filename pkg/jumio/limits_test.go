package jumio_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

func TestDeprecatedPlatformBasicAuth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := memSim(t, jumiotest.Config{Scenario: scenario(1)})
		c := newClient(t, srv, fastRetries, func(c *jumio.Config) {
			c.PlatformAPIToken, c.PlatformAPISecret = c.NetverifyAPIToken, c.NetverifyAPISecret
			c.ClientID, c.ClientSecret = "", ""
		})
		e := srv.Executions()[0]
		if _, _, err := c.WorkflowDetails(t.Context(), e.AccountID, e.ID); err != nil {
			t.Fatalf("WorkflowDetails with Basic auth: %v", err)
		}
		if got := srv.Requests(jumio.EndpointToken); got != 0 {
			t.Errorf("got %d token requests, want none with Basic auth", got)
		}
	})
}

func TestNetverifyOnlyClientRefusesPlatformCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := memSim(t, jumiotest.Config{Scenario: scenario(1)})
		c := newClient(t, srv, fastRetries, func(c *jumio.Config) { c.ClientID, c.ClientSecret = "", "" })
		e := srv.Executions()[0]
		_, _, err := c.WorkflowDetails(t.Context(), e.AccountID, e.ID)
		if !errors.Is(err, jumio.ErrNotConfigured) || jumio.Classify(err).Kind != jumio.Permanent {
			t.Errorf("got %v, want a permanent ErrNotConfigured", err)
		}
		if got := srv.Requests(jumio.EndpointWorkflowDetails); got != 0 {
			t.Errorf("got %d requests, want none", got)
		}
	})
}

func TestSizeCaps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := memSim(t, jumiotest.Config{Scenario: scenario(1)})
		c := newClient(t, srv, fastRetries, func(c *jumio.Config) { c.MaxImageBytes, c.MaxResponseBytes = 1000, 500 })
		e := srv.Executions()[0]
		part := e.Parts[0]
		srv.SetPart(part, "image/jpeg", make([]byte, 1001))
		_, err := c.CredentialPart(t.Context(), part.AccountID, part.CredentialID, part.Classifier)
		if !errors.Is(err, jumio.ErrTooLarge) || jumio.Classify(err).Kind != jumio.Permanent {
			t.Errorf("1001-byte part: got %v, want a permanent ErrTooLarge", err)
		}
		srv.SetPart(part, "image/jpeg", make([]byte, 1000))
		dl, err := c.CredentialPart(t.Context(), part.AccountID, part.CredentialID, part.Classifier)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, dl.Body); n != 1000 || err != nil || dl.ContentType != "image/jpeg" || dl.Size != 1000 {
			t.Errorf("1000-byte part: read %d, %v, %q, size %d", n, err, dl.ContentType, dl.Size)
		}
		dl.Body.Close()

		_, _, err = c.WorkflowDetails(t.Context(), e.AccountID, e.ID)
		if !errors.Is(err, jumio.ErrTooLarge) {
			t.Errorf("details over 500 bytes: got %v, want ErrTooLarge", err)
		}
		if got := srv.Requests(jumio.EndpointWorkflowDetails); got != 1 {
			t.Errorf("got %d details requests, want 1 (too large is permanent)", got)
		}
	})
}

func TestTransportErrorsHoldNoURL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := memSim(t, jumiotest.Config{Scenario: scenario(1)})
		c := newClient(t, srv, fastRetries)
		e := srv.Executions()[0]
		srv.Inject(jumiotest.Fault{Endpoints: []jumio.Endpoint{jumio.EndpointWorkflowDetails}, Drop: true, Count: -1})
		_, _, err := c.WorkflowDetails(t.Context(), e.AccountID, e.ID)
		if err == nil || strings.Contains(err.Error(), "http://") || strings.Contains(err.Error(), e.ID) {
			t.Errorf("error %q: want one without the URL", err)
		}
	})
}
