package jumio_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// TestHealth reads the status endpoint without credentials; while the
// simulator reports retrieval DOWN its retrieval answers 503.
func TestHealth(t *testing.T) {
	srv := startSim(t, jumiotest.Config{Scenario: scenario(1)})
	c := newClient(t, srv, fastRetries, func(c *jumio.Config) { c.MaxAttempts = 1 })
	h, err := c.Health(t.Context())
	if err != nil || h.Component("retrieval") != wire.HealthUp || string(h.Status) != wire.HealthUp {
		t.Fatalf("Health = %+v, %v; want UP", h, err)
	}
	srv.SetHealth(jumiotest.Health(wire.HealthDegraded, map[string]string{"retrieval": wire.HealthDown}))
	h, err = c.Health(t.Context())
	if err != nil || h.Component("retrieval") != wire.HealthDown || h.Component("processing") != wire.HealthDegraded {
		t.Fatalf("Health = %+v, %v; want retrieval DOWN, processing DEGRADED", h, err)
	}
	x := srv.Executions()[0]
	if _, _, err := c.WorkflowDetails(t.Context(), x.AccountID, x.ID); !errors.Is(err, jumio.ErrServer) {
		t.Errorf("details while retrieval is DOWN: %v, want a 5xx", err)
	}
	if n := srv.Count(jumio.EndpointHealth, http.StatusOK); n != 2 {
		t.Errorf("%d status reads counted, want 2", n)
	}
}
