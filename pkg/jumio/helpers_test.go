package jumio_test

import (
	"testing"
	"time"

	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
)

// fastRetries keeps in-call back-off short and the request budget out of
// the way, for tests that are not about them.
func fastRetries(c *jumio.Config) {
	c.RetryInitialInterval = time.Millisecond
	c.RetryMaxInterval = 5 * time.Millisecond
	c.RateLimit = 10000
	c.RateBurst = 1000
	c.TokenRateLimit = 10000
	c.AccountRateLimit = 10000
	c.APIRateLimit = 10000
}

// newClient returns a client for srv's default tenant, modified by mods.
func newClient(t testing.TB, srv *jumiotest.Server, mods ...func(*jumio.Config)) *jumio.Client {
	t.Helper()
	cfg := srv.ClientConfig(0)
	for _, m := range mods {
		m(&cfg)
	}
	c, err := jumio.NewClient(cfg, jumio.WithTransport(srv.Transport()))
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// startSim starts a simulator on 127.0.0.1.
func startSim(t testing.TB, cfg jumiotest.Config) *jumiotest.Server {
	t.Helper()
	srv := jumiotest.NewServer(cfg)
	t.Cleanup(srv.Close)
	return srv
}

// memSim starts an in-memory simulator; call it inside a synctest bubble.
func memSim(t testing.TB, cfg jumiotest.Config) *jumiotest.Server {
	t.Helper()
	srv, err := jumiotest.NewUnstartedServer(cfg)
	if err != nil {
		t.Fatalf("NewUnstartedServer: %v", err)
	}
	srv.StartInMemory()
	t.Cleanup(srv.Close)
	return srv
}

// scenario is a small generated tenant.
func scenario(n int) jumiotest.Scenario {
	return jumiotest.Scenario{Seed: 7, Executions: n, NetverifyScans: n}
}
