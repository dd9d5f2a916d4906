package jumiotest

import (
	"encoding/json"
	"maps"
	"net/http"
	"strings"

	"github.com/kycflow/kycflow/pkg/jumio"
	"github.com/kycflow/kycflow/pkg/jumio/wire"
)

// healthComponents are the components Jumio's status endpoint reports.
var healthComponents = []string{"api", "callback", "mobile", "processing", "retrieval", "web"}

// Health builds a status answer: overall status and every component at
// status, then the components named in overrides ("retrieval": "DOWN").
func Health(status string, overrides map[string]string) wire.Health {
	h := wire.Health{Status: wire.String(strings.ToUpper(status)), Details: map[string]wire.String{}}
	for _, c := range healthComponents {
		h.Details[c] = h.Status
	}
	for c, v := range overrides {
		h.Details[c] = wire.String(strings.ToUpper(v))
	}
	return h
}

// SetHealth sets what the status endpoint (GET / on the server's URL, as
// https://status.{region}.jumio.ai) answers. While its retrieval component
// is DOWN, the Retrieval APIs (Platform and Netverify) answer 503.
func (s *Server) SetHealth(h wire.Health) {
	h.Details = maps.Clone(h.Details)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.health = h
}

// CurrentHealth returns what the status endpoint answers.
func (s *Server) CurrentHealth() wire.Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.health
	h.Details = maps.Clone(h.Details)
	return h
}

// retrievalDown reports whether ep is a retrieval endpoint and the status
// says retrieval is DOWN.
func (s *Server) retrievalDown(ep jumio.Endpoint) bool {
	if !strings.HasPrefix(string(ep), "platform.") && !strings.HasPrefix(string(ep), "netverify.") {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.health.Component("retrieval") == wire.HealthDown
}

func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	b, _ := json.Marshal(s.CurrentHealth())
	writeJSON(w, b)
}

// healthRoutes serves the status endpoint and its control:
//
//	GET  /                    the status (no credentials, as Jumio's)
//	POST /_jumiotest/health   set it: {"status":"DOWN"} or {"status":"DEGRADED","details":{"retrieval":"DOWN"}}
func (s *Server) healthRoutes(mux *http.ServeMux) {
	mux.Handle("GET /{$}", s.statusEndpoint(http.HandlerFunc(s.handleHealth)))
	mux.HandleFunc("POST "+AdminPrefix+"/health", func(w http.ResponseWriter, r *http.Request) {
		var q struct {
			Status  string            `json:"status"`
			Details map[string]string `json:"details"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<10)).Decode(&q); err != nil || !validHealth(q.Status) {
			problem(w, http.StatusBadRequest, "Body is not a health status (UP, DEGRADED or DOWN)")
			return
		}
		for _, v := range q.Details {
			if !validHealth(v) {
				problem(w, http.StatusBadRequest, "Component status is not UP, DEGRADED or DOWN")
				return
			}
		}
		s.SetHealth(Health(q.Status, q.Details))
		w.WriteHeader(http.StatusNoContent)
	})
}

func validHealth(v string) bool {
	switch strings.ToUpper(v) {
	case wire.HealthUp, wire.HealthDegraded, wire.HealthDown:
		return true
	}
	return false
}

// statusEndpoint counts the status endpoint's answers; it takes no
// credentials and spends no budget.
func (s *Server) statusEndpoint(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fault := s.takeFault(jumio.EndpointHealth)
		if fault.Status != 0 {
			s.count(jumio.EndpointHealth, fault.Status)
			problem(w, fault.Status, "Injected fault")
			return
		}
		h.ServeHTTP(&statusRecorder{ResponseWriter: w, counted: func(code int) { s.count(jumio.EndpointHealth, code) }}, r)
	})
}
