package jumiotest

import (
	"slices"
	"time"

	"github.com/kycflow/kycflow/pkg/jumio"
)

// Fault changes the next responses of some endpoints.
type Fault struct {
	// Endpoints the fault applies to; empty means every endpoint but the
	// token endpoint (name jumio.EndpointToken to fault token requests).
	Endpoints []jumio.Endpoint `json:"endpoints,omitempty"`
	// Count is how many responses it changes; default 1, negative for
	// every response until ClearFaults.
	Count int `json:"count,omitempty"`
	// Status answers with this status (5xx, 400, 403, 401, 429…) after
	// the User-Agent, credentials and budget were checked; 429 gets Jumio's
	// body.
	Status int `json:"status,omitempty"`
	// RetryAfter sets the Retry-After header of a Status answer.
	RetryAfter time.Duration `json:"retryAfter,omitempty"`
	// Drop closes the connection without an answer.
	Drop bool `json:"drop,omitempty"`
	// Malformed answers 200 with a truncated JSON body.
	Malformed bool `json:"malformed,omitempty"`
	// Lose serves the request (it has its effect: a migration is
	// accepted, a deletion done) and then closes the connection without
	// the answer, as when a response is lost on its way back.
	Lose bool `json:"lose,omitempty"`
	// Latency delays the response (then it is served normally unless
	// another field says otherwise).
	Latency time.Duration `json:"latency,omitempty"`
}

// Inject queues a fault; faults apply in the order injected, one per
// response.
func (s *Server) Inject(f Fault) {
	if f.Count == 0 {
		f.Count = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// ClearFaults removes every queued fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// SetLatency sets the latency added to every response.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// SetBudget changes every tenant's request budget (requests per second and
// burst; rps 0 removes it).
func (s *Server) SetBudget(rps float64, burst int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tenants {
		t.budget = nil
		if rps > 0 {
			t.budget = newBudget(rps, burst)
		}
	}
}

// NotReady makes the execution (or Netverify scan) with the id answer 404
// to its next `requests` retrieval requests, and then until the time
// `until` (zero: no time condition), as Jumio does while it is still
// processing.
func (s *Server) NotReady(id string, requests int, until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ready[id] = &readiness{requests: requests, until: until}
}

func (s *Server) takeFault(ep jumio.Endpoint) Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if len(f.Endpoints) == 0 && ep == jumio.EndpointToken || len(f.Endpoints) > 0 && !slices.Contains(f.Endpoints, ep) {
			continue
		}
		out := *f
		if f.Count > 0 {
			f.Count--
			if f.Count == 0 {
				s.faults = slices.Delete(s.faults, i, i+1)
			}
		}
		return out
	}
	return Fault{}
}
