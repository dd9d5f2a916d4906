package notifier

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/kycflow/kycflow/pkg/events"
)

// enrichedResult is what a route reads of an enriched event: the raw Jumio
// document (events.EnrichedEvent.Raw), often most of the message and
// never delivered, is skipped instead of copied.
type enrichedResult struct {
	SchemaVersion int           `json:"schemaVersion"`
	Result        events.Result `json:"result"`
}

// decodeResult reads the result of an enriched event's payload.
func decodeResult(payload []byte) (events.Result, error) {
	var ev enrichedResult
	if err := json.Unmarshal(payload, &ev); err != nil {
		return events.Result{}, fmt.Errorf("%w: not JSON of an enriched event", ErrMalformed)
	}
	if v := max(ev.SchemaVersion, ev.Result.SchemaVersion); v > events.ResultSchemaVersion {
		return events.Result{}, fmt.Errorf("%w: schema version %d, this notifier reads %d", ErrMalformed, v, events.ResultSchemaVersion)
	}
	if ev.Result.IDs.WorkflowExecutionID == "" {
		return events.Result{}, fmt.Errorf("%w: no workflow execution id", ErrMalformed)
	}
	return ev.Result, nil
}

// decodedCap bounds the results decodings keeps.
const decodedCap = 512

// decodings shares the decoding of one enriched message among the routes.
// Each route reads JUMIO_ENRICHED through a consumer of its own, so every
// message reaches the notifier once per route, moments apart; decoding the
// result is the largest part of what a route spends on a message (about a
// quarter of the notifier's CPU under "kycflow bench e2e", per route).
//
// A result is kept by its stream sequence with the payload it was decoded
// from, and served only for the same bytes: a sequence that names another
// message (a stream deleted and created again) is decoded anew. It is
// dropped once every route took it, or when decodedCap newer ones push it
// out (a route that lags behind decodes on its own). Routes share it
// read-only: they project it with events.Project, which copies.
type decodings struct {
	routes int
	decode func([]byte) (events.Result, error) // decodeResult; tests count calls

	mu      sync.Mutex
	entries map[uint64]*decoded
	order   [decodedCap]uint64 // sequences in insertion order, a ring
	next    int
}

type decoded struct {
	payload []byte
	result  events.Result
	err     error
	left    int // routes yet to take it
}

func newDecodings(routes int) *decodings {
	return &decodings{routes: routes, decode: decodeResult, entries: make(map[uint64]*decoded, decodedCap)}
}

// result returns the result of the message stored at seq with payload,
// decoding it when no route did before. seq 0 (unknown) is never kept.
func (d *decodings) result(seq uint64, payload []byte) (events.Result, error) {
	if d == nil {
		return decodeResult(payload)
	}
	if d.routes < 2 || seq == 0 {
		return d.decode(payload)
	}
	d.mu.Lock()
	if e, ok := d.entries[seq]; ok && bytes.Equal(e.payload, payload) {
		e.left--
		if e.left <= 0 {
			delete(d.entries, seq)
		}
		d.mu.Unlock()
		return e.result, e.err
	}
	d.mu.Unlock()
	// Decoded outside the lock: two routes that come at once both decode,
	// and the second one's entry replaces the first one's.
	r, err := d.decode(payload)
	d.mu.Lock()
	defer d.mu.Unlock()
	if old := d.order[d.next]; old != 0 {
		delete(d.entries, old)
	}
	d.order[d.next] = seq
	d.next = (d.next + 1) % decodedCap
	d.entries[seq] = &decoded{payload: payload, result: r, err: err, left: d.routes - 1}
	return r, err
}
