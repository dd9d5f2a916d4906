package ingest_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/kycflow/kycflow/internal/ingest"
	"github.com/kycflow/kycflow/pkg/jumio/jumiotest"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// TestSimulatorCallbacks: the Jumio simulator posts its generated Platform
// and Netverify callbacks, each twice more unchanged (Jumio's retries) and
// once out of order, with signed userReferences; every post is answered
// 200 and each distinct callback is stored once.
func TestSimulatorCallbacks(t *testing.T) {
	const refSecret = "simulator-secret"
	pathSecret := secret("simulator-path-secret-0123")
	sim := jumiotest.NewServer(jumiotest.Config{Scenario: jumiotest.Scenario{Seed: 7, Executions: 12, NetverifyScans: 8}})
	defer sim.Close()
	h := startIngest(t, nil, func(c *ingest.Config) {
		c.PathSecret = pathSecret
		c.UserReferenceSecrets = secret(refSecret)
	})
	// Our own client, so that its spare connections can be closed: a
	// connection that never sent a request holds up a graceful shutdown
	// for five seconds.
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	sent, err := sim.SendCallbacks(t.Context(), jumiotest.CallbackOptions{
		Client:       client,
		URL:          h.url + "/callbacks/platform/" + pathSecret.Value(),
		NetverifyURL: h.url + "/callbacks/netverify/" + pathSecret.Value(),
		Concurrency:  4,
		Duplicates:   2,
		OutOfOrder:   true,
		UserReference: func(jumiotest.Execution) string {
			tok, err := wire.SignUserReference([]byte(refSecret), "usr_sim", time.Now())
			if err != nil {
				t.Error(err)
			}
			return tok
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	distinct := map[string]bool{}
	for _, s := range sent {
		if s.Err != nil || s.Status != http.StatusOK {
			t.Errorf("%s %s: got %d %v, want 200", s.API, s.Reference, s.Status, s.Err)
		}
		if !s.Duplicate {
			distinct[string(s.API)+s.Reference+s.SentAt.String()] = true
		}
	}
	if got, want := len(h.stored(t)), len(distinct); got != want || want < 20 {
		t.Errorf("stored: got %d, want %d (distinct callbacks of %d posts)", got, want, len(sent))
	}
}
