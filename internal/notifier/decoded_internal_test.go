package notifier

import (
	"errors"
	"fmt"
	"testing"

	"github.com/kycflow/kycflow/pkg/events"
)

// countingDecodings returns decodings for routes that count their decodes.
func countingDecodings(routes int) (*decodings, *int) {
	d := newDecodings(routes)
	n := new(int)
	d.decode = func(b []byte) (events.Result, error) {
		*n++
		return decodeResult(b)
	}
	return d, n
}

func enrichedPayload(exec, status string) []byte {
	return fmt.Appendf(nil, `{"schemaVersion":1,"result":{"ids":{"workflowExecutionId":%q},"status":%q},"rawType":"platform.workflow-details","raw":{"big":"document"}}`, exec, status)
}

// TestDecodingsShareAmongRoutes: a message is decoded once for all routes,
// each route gets its result, and the entry is gone once every route took
// it.
func TestDecodingsShareAmongRoutes(t *testing.T) {
	d, n := countingDecodings(3)
	p := enrichedPayload("exec-1", "PROCESSED")
	for range 3 {
		r, err := d.result(7, p)
		if err != nil || r.IDs.WorkflowExecutionID != "exec-1" || r.Status != "PROCESSED" {
			t.Fatalf("got %+v, %v", r, err)
		}
	}
	if *n != 1 {
		t.Errorf("decoded %d times for three routes, want 1", *n)
	}
	if len(d.entries) != 0 {
		t.Errorf("%d entries left after every route took the message", len(d.entries))
	}
	// Taken by all: a redelivery to one route decodes again.
	if _, err := d.result(7, p); err != nil || *n != 2 {
		t.Errorf("redelivery: err %v, decoded %d times, want 2", err, *n)
	}
}

// TestDecodingsNeverServeAnotherMessage: a sequence that names other bytes
// (a stream deleted and created again) is decoded anew: a route never gets
// another message's result.
func TestDecodingsNeverServeAnotherMessage(t *testing.T) {
	d, _ := countingDecodings(2)
	if _, err := d.result(1, enrichedPayload("exec-a", "PROCESSED")); err != nil {
		t.Fatal(err)
	}
	r, err := d.result(1, enrichedPayload("exec-b", "PROCESSED"))
	if err != nil || r.IDs.WorkflowExecutionID != "exec-b" {
		t.Errorf("got execution %q (%v), want exec-b", r.IDs.WorkflowExecutionID, err)
	}
}

// TestDecodingsShareErrors: a malformed message is malformed for every
// route, and nothing is kept without a sequence or for one route.
func TestDecodingsShareErrors(t *testing.T) {
	d, n := countingDecodings(2)
	for range 2 {
		if _, err := d.result(3, []byte("{not json")); !errors.Is(err, ErrMalformed) {
			t.Errorf("got %v, want ErrMalformed", err)
		}
	}
	if *n != 1 {
		t.Errorf("decoded %d times, want 1", *n)
	}
	if _, err := d.result(4, []byte(`{"schemaVersion":99,"result":{"ids":{"workflowExecutionId":"x"}}}`)); !errors.Is(err, ErrMalformed) {
		t.Errorf("newer schema: got %v, want ErrMalformed", err)
	}
	if _, err := d.result(5, []byte(`{"schemaVersion":1,"result":{}}`)); !errors.Is(err, ErrMalformed) {
		t.Errorf("no execution: got %v, want ErrMalformed", err)
	}

	one, n1 := countingDecodings(1)
	p := enrichedPayload("exec-1", "PROCESSED")
	_, _ = one.result(9, p)
	_, _ = one.result(9, p)
	d2, n2 := countingDecodings(2)
	_, _ = d2.result(0, p)
	_, _ = d2.result(0, p)
	if *n1 != 2 || *n2 != 2 || len(one.entries)+len(d2.entries) != 0 {
		t.Errorf("one route: %d decodes, unknown sequence: %d, entries %d; want 2, 2, 0", *n1, *n2, len(one.entries)+len(d2.entries))
	}
}

// TestDecodingsBounded: a route that lags leaves entries behind; newer
// ones push them out, so the memory stays bounded.
func TestDecodingsBounded(t *testing.T) {
	d, _ := countingDecodings(2)
	for seq := uint64(1); seq <= 3*decodedCap; seq++ {
		if _, err := d.result(seq, enrichedPayload(fmt.Sprint("exec-", seq), "PROCESSED")); err != nil {
			t.Fatal(err)
		}
	}
	if len(d.entries) > decodedCap {
		t.Errorf("%d entries kept, want at most %d", len(d.entries), decodedCap)
	}
	if _, ok := d.entries[3*decodedCap]; !ok {
		t.Error("the newest entry was pushed out")
	}
}
