package jumiotest

import (
	"encoding/json"
	"net/http"
	"sort"
)

// AdminPrefix is where the server's own control endpoints live (no
// authentication: the simulator is for tests and demos):
//
//	GET    /_jumiotest/counts       request counters
//	GET    /_jumiotest/executions   ids, statuses and outcomes
//	POST   /_jumiotest/faults       queue a Fault (JSON)
//	DELETE /_jumiotest/faults       clear faults
//	POST   /_jumiotest/revoke       revoke every token
//	POST   /_jumiotest/generate     generate new executions (GenerateOptions)
//	POST   /_jumiotest/callbacks    post their callbacks to a URL (SendRequest)
//	POST   /_jumiotest/health       set the status endpoint's answer (UP, DEGRADED, DOWN)
//	POST   /_jumiotest/callback-drop  set the share of callbacks dropped ({"share":0.2})
//	GET    /_jumiotest/dropped      the dropped callbacks (a SentRow each, status 0)
//	POST   /_jumiotest/dropped      post the dropped callbacks now, late (a SentRow each)
const AdminPrefix = "/_jumiotest"

func (s *Server) adminRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+AdminPrefix+"/counts", func(w http.ResponseWriter, r *http.Request) {
		type row struct {
			Endpoint string `json:"endpoint"`
			Status   int    `json:"status"`
			Count    int    `json:"count"`
		}
		var rows []row
		for k, v := range s.Counts() {
			rows = append(rows, row{string(k.Endpoint), k.Status, v})
		}
		sort.Slice(rows, func(i, j int) bool {
			if rows[i].Endpoint != rows[j].Endpoint {
				return rows[i].Endpoint < rows[j].Endpoint
			}
			return rows[i].Status < rows[j].Status
		})
		b, _ := json.Marshal(rows)
		writeJSON(w, b)
	})
	mux.HandleFunc("GET "+AdminPrefix+"/executions", func(w http.ResponseWriter, r *http.Request) {
		b, _ := json.Marshal(rowsOf(s.Executions(), s.NetverifyScans()))
		writeJSON(w, b)
	})
	mux.HandleFunc("POST "+AdminPrefix+"/faults", func(w http.ResponseWriter, r *http.Request) {
		var f Fault
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&f); err != nil {
			problem(w, http.StatusBadRequest, "Body is not a fault")
			return
		}
		s.Inject(f)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE "+AdminPrefix+"/faults", func(w http.ResponseWriter, r *http.Request) {
		s.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST "+AdminPrefix+"/revoke", func(w http.ResponseWriter, r *http.Request) {
		s.RevokeTokens()
		w.WriteHeader(http.StatusNoContent)
	})
	s.moreRoutes(mux)
	mux.HandleFunc("POST "+AdminPrefix+"/callback-drop", func(w http.ResponseWriter, r *http.Request) {
		var q struct {
			Share *float64 `json:"share"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<10)).Decode(&q); err != nil || q.Share == nil || !(*q.Share >= 0 && *q.Share <= 1) {
			problem(w, http.StatusBadRequest, "Body is not {\"share\": 0…1}")
			return
		}
		s.SetCallbackDrop(*q.Share)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET "+AdminPrefix+"/dropped", func(w http.ResponseWriter, r *http.Request) {
		dropped := s.DroppedCallbacks()
		rows := make([]SentRow, len(dropped))
		for i, c := range dropped {
			rows[i] = SentRow{API: string(c.API), Reference: c.Reference, AccountID: c.AccountID, SentAt: c.SentAt}
		}
		b, _ := json.Marshal(rows)
		writeJSON(w, b)
	})
	mux.HandleFunc("POST "+AdminPrefix+"/dropped", func(w http.ResponseWriter, r *http.Request) {
		sent, _ := s.DeliverDropped(r.Context())
		rows := make([]SentRow, len(sent))
		for i, c := range sent {
			rows[i] = SentRow{API: string(c.API), Reference: c.Reference, AccountID: c.AccountID, SentAt: c.SentAt, Status: c.Status}
			if c.Err != nil {
				rows[i].Error = c.Err.Error()
			}
		}
		b, _ := json.Marshal(rows)
		writeJSON(w, b)
	})
}
