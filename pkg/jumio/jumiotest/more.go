package jumiotest

import (
	"cmp"
	"encoding/json"
	"net/http"
	"time"
)

// GenerateOptions says what AddGenerated generates.
type GenerateOptions struct {
	// Executions is the number of Platform workflow executions.
	Executions int `json:"executions"`
	// NetverifyScans is the number of Netverify transactions.
	NetverifyScans int `json:"netverifyScans"`
	// Mix weighs the Platform outcomes ("passed=70,warning=10,…", see
	// ParseMix); empty is the server's Scenario mix.
	Mix string `json:"mix,omitempty"`
	// Now is when the transactions completed (default the current time):
	// each was created a quarter of an hour before and calls back within
	// half a minute after.
	Now time.Time `json:"-"`
}

// AddGenerated generates executions and Netverify transactions from the
// server's own seeded generator, so that their ids are new, adds them and
// returns them. Unlike the Scenario's, they are recent: their callbacks
// look as if Jumio sent them now.
func (s *Server) AddGenerated(o GenerateOptions) ([]Execution, []NetverifyScan, error) {
	mix := s.cfg.Scenario.Mix
	if o.Mix != "" {
		m, err := ParseMix(o.Mix)
		if err != nil {
			return nil, nil, err
		}
		mix = m
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	created := now.UTC().Add(-15 * time.Minute).Truncate(time.Millisecond)
	s.mu.Lock()
	defer s.mu.Unlock()
	var execs []Execution
	for range max(o.Executions, 0) {
		e := s.gen.execution(s.gen.uuid(), s.gen.uuid(), s.gen.pick(mix.weights()), created, execOpts{})
		e.CallbackSentAt = now.UTC().Add(-time.Duration(s.gen.rng.IntN(30000)) * time.Millisecond)
		s.addExecution(e)
		execs = append(execs, e)
	}
	var scans []NetverifyScan
	for range max(o.NetverifyScans, 0) {
		sc := s.gen.netverify(s.gen.pick(s.cfg.Scenario.NetverifyMix.weights()), created)
		sc.CallbackDate = now.UTC().Add(-time.Duration(s.gen.rng.IntN(30000)) * time.Millisecond)
		s.addScan(sc)
		scans = append(scans, sc)
	}
	return execs, scans, nil
}

// Changes counts the executions and Netverify transactions added or
// replaced so far; a caller that keeps them elsewhere (kycflow run saves
// them across restarts) compares it with the count it saw last.
func (s *Server) Changes() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changes
}

// executionRow is one line of the executions the control endpoints list.
type executionRow struct {
	API, AccountID, ID, Status, Outcome string
}

func rowsOf(execs []Execution, scans []NetverifyScan) []executionRow {
	rows := make([]executionRow, 0, len(execs)+len(scans))
	for _, e := range execs {
		rows = append(rows, executionRow{"platform", e.AccountID, e.ID, e.Status, e.Outcome})
	}
	for _, sc := range scans {
		rows = append(rows, executionRow{"netverify", "", sc.Reference, sc.Result, sc.Outcome})
	}
	return rows
}

// SendRequest is the body of POST /_jumiotest/callbacks: the
// CallbackOptions that a JSON body can carry.
type SendRequest struct {
	URL          string   `json:"url"`
	NetverifyURL string   `json:"netverifyUrl,omitempty"`
	IDs          []string `json:"ids,omitempty"`
	Rate         float64  `json:"rate,omitempty"`
	Concurrency  int      `json:"concurrency,omitempty"`
	Duplicates   int      `json:"duplicates,omitempty"`
	OutOfOrder   bool     `json:"outOfOrder,omitempty"`
	Retries      int      `json:"retries,omitempty"`
	// UserReferences replaces the userReference of Platform callbacks by
	// execution id (a signed token, for example).
	UserReferences map[string]string `json:"userReferences,omitempty"`
}

// SentRow is one callback that POST /_jumiotest/callbacks posted: ids and
// the answer, never the body.
type SentRow struct {
	API       string    `json:"api"`
	Reference string    `json:"reference"`
	AccountID string    `json:"accountId,omitempty"`
	SentAt    time.Time `json:"sentAt"`
	Duplicate bool      `json:"duplicate,omitempty"`
	Stale     bool      `json:"stale,omitempty"`
	Status    int       `json:"status"`
	Error     string    `json:"error,omitempty"`
	// Attempts is how many times it was posted (SendRequest.Retries).
	Attempts int `json:"attempts,omitempty"`
}

// moreRoutes adds the control endpoints that generate transactions and
// send their callbacks:
//
//	POST /_jumiotest/generate   GenerateOptions → the new executions
//	POST /_jumiotest/callbacks  SendRequest → a SentRow per callback, once all are sent; with
//	                            "Accept: application/x-ndjson", one SentRow per line as each
//	                            is answered (a client that goes away stops the sending)
func (s *Server) moreRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST "+AdminPrefix+"/generate", func(w http.ResponseWriter, r *http.Request) {
		var o GenerateOptions
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&o); err != nil || o.Executions < 0 || o.NetverifyScans < 0 || o.Executions+o.NetverifyScans > 100000 {
			problem(w, http.StatusBadRequest, "Body is not a generate request")
			return
		}
		execs, scans, err := s.AddGenerated(o)
		if err != nil {
			problem(w, http.StatusBadRequest, "Invalid mix")
			return
		}
		b, _ := json.Marshal(rowsOf(execs, scans))
		writeJSON(w, b)
	})
	mux.HandleFunc("POST "+AdminPrefix+"/callbacks", func(w http.ResponseWriter, r *http.Request) {
		var q SendRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<20)).Decode(&q); err != nil {
			problem(w, http.StatusBadRequest, "Body is not a send request")
			return
		}
		o := CallbackOptions{URL: q.URL, NetverifyURL: q.NetverifyURL, IDs: q.IDs, Rate: q.Rate,
			Concurrency: q.Concurrency, Duplicates: q.Duplicates, OutOfOrder: q.OutOfOrder, Retries: q.Retries}
		if len(q.UserReferences) > 0 {
			o.UserReference = func(e Execution) string { return cmp.Or(q.UserReferences[e.ID], e.UserReference) }
		}
		if r.Header.Get("Accept") == ContentTypeNDJSON {
			s.streamCallbacks(w, r, o)
			return
		}
		sent, err := s.SendCallbacks(r.Context(), o)
		if err != nil && len(sent) == 0 {
			problem(w, http.StatusBadRequest, "Callbacks not sent: "+err.Error())
			return
		}
		rows := make([]SentRow, len(sent))
		for i, c := range sent {
			rows[i] = sentRow(c)
		}
		b, _ := json.Marshal(rows)
		writeJSON(w, b)
	})
}

// ContentTypeNDJSON asks POST /_jumiotest/callbacks for one SentRow per
// line, as each callback is answered.
const ContentTypeNDJSON = "application/x-ndjson"

// streamCallbacks sends the callbacks of o and writes each SentRow as soon
// as it is answered. The status is 200 once the first line is written; a
// request that could not send any callback ends with a last line holding
// only an error.
func (s *Server) streamCallbacks(w http.ResponseWriter, r *http.Request, o CallbackOptions) {
	w.Header().Set("Content-Type", ContentTypeNDJSON)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	n := 0
	o.Answered = func(c SentCallback) {
		n++
		_ = enc.Encode(sentRow(c))
		_ = rc.Flush()
	}
	_, err := s.SendCallbacks(r.Context(), o)
	if err != nil && n == 0 {
		_ = enc.Encode(SentRow{Error: "callbacks not sent: " + err.Error()})
	}
}

func sentRow(c SentCallback) SentRow {
	row := SentRow{API: string(c.API), Reference: c.Reference, AccountID: c.AccountID, SentAt: c.SentAt,
		Duplicate: c.Duplicate, Stale: c.Stale, Status: c.Status, Attempts: c.Attempts}
	if c.Err != nil {
		row.Error = c.Err.Error()
	}
	return row
}
