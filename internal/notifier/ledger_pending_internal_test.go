package notifier

import (
	"testing"
	"time"
)

// TestPendingIDNotOfASupersededDelivery: a delivery of h1 fails (the
// receiver processed it, answered late), then h2 (sent later) is
// delivered and h1's retry is stale and acked. The decision changes back
// to h1 in a new callback: it goes out under a new webhook-id, not the id
// of the finished h1 delivery the receiver de-duplicates by.
func TestPendingIDNotOfASupersededDelivery(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	l, _ := testLedger(t, &now)
	ctx := t.Context()
	t0 := now
	w1 := want{id: "d1", hash: "h1", eventID: "e1", sent: t0, hold: time.Minute}
	v, a1, _, err := l.begin(ctx, "k", w1)
	if err != nil || v != deliver {
		t.Fatalf("begin h1: %v %v", v, err)
	}
	if err := l.release(ctx, a1, true); err != nil { // timed out; receiver processed d1
		t.Fatal(err)
	}
	w2 := want{id: "d2", hash: "h2", eventID: "e2", sent: t0.Add(time.Minute), hold: time.Minute}
	v, a2, _, err := l.begin(ctx, "k", w2)
	if err != nil || v != deliver {
		t.Fatalf("begin h2: %v %v", v, err)
	}
	if err := l.done(ctx, a2, delivered{Hash: "h2", ID: a2.id, EventID: "e2", Sent: w2.sent, At: now}); err != nil {
		t.Fatal(err)
	}
	// h1's retry: stale, acked; its delivery is finished.
	if v, _, _, err := l.begin(ctx, "k", w1); err != nil || v != stale {
		t.Fatalf("retry of h1: %v %v, want stale", v, err)
	}
	// The decision changes back: h1 in a callback sent after h2.
	w3 := want{id: "d3", hash: "h1", eventID: "e3", sent: t0.Add(2 * time.Minute), hold: time.Minute}
	v, a3, _, err := l.begin(ctx, "k", w3)
	if err != nil || v != deliver {
		t.Fatalf("begin h1 again: %v %v", v, err)
	}
	if a3.id == "d1" {
		t.Errorf("a new result goes out under webhook-id %s of the superseded delivery the receiver processed (and de-duplicates); failures inherited: %d", a3.id, a3.failed())
	}
}

// TestRetryWaitsForARepeatUnderItsID: the first delivery of h failed and
// waits for its retry; a repeat of h (Jumio's callback again, its own
// event id) takes the pending id and is being delivered. The retry of the
// first comes meanwhile: it is in flight (the repeat carries it), not
// sent beside the repeat under the same id.
func TestRetryWaitsForARepeatUnderItsID(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	l, _ := testLedger(t, &now)
	ctx := t.Context()
	wA := want{id: "dA", hash: "h", eventID: "eA", sent: now, hold: time.Minute}
	v, a, _, err := l.begin(ctx, "k", wA)
	if err != nil || v != deliver {
		t.Fatalf("begin A: %v %v", v, err)
	}
	if err := l.release(ctx, a, true); err != nil {
		t.Fatal(err)
	}
	wB := want{id: "dB", hash: "h", eventID: "eB", sent: now.Add(time.Second), hold: time.Minute}
	v, b, _, err := l.begin(ctx, "k", wB)
	if err != nil || v != deliver || b.id != "dA" {
		t.Fatalf("begin B: %v %v id %s", v, err, b.id)
	}
	// B is being delivered (its claim held); A's retry comes.
	now = now.Add(2 * time.Second)
	v, a2, _, err := l.begin(ctx, "k", wA)
	if err != nil {
		t.Fatal(err)
	}
	if v != inFlight {
		t.Fatalf("A's retry while the repeat B holds the key under A's id: %v (id %s), want in flight: two sends at once", v, a2.id)
	}
	if err := l.done(ctx, b, delivered{Hash: "h", ID: b.id, EventID: "eB", Sent: wB.sent, At: now}); err != nil {
		t.Fatal(err)
	}
	rec, _, err := l.get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Claim != nil || len(rec.Failures) != 0 || len(rec.Delivered) != 1 || rec.Delivered[0].ID != "dA" {
		t.Errorf("after B's delivery: %+v, want one delivery under dA, no claim, no failure left", rec)
	}
}

// TestClaimOfAnotherMessageUnderTheSameIDKept: A's claim ran out while
// its sink call hung, and the repeat B took the key under A's id (A's
// delivery had failed before). A's late settle must not clear B's claim:
// the id is the same, the message is not.
func TestClaimOfAnotherMessageUnderTheSameIDKept(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	l, _ := testLedger(t, &now)
	ctx := t.Context()
	wA := want{id: "dA", hash: "h", eventID: "eA", sent: now, hold: time.Minute}
	_, a, _, err := l.begin(ctx, "k", wA)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.release(ctx, a, true); err != nil {
		t.Fatal(err)
	}
	_, a2, _, err := l.begin(ctx, "k", wA) // A's retry, which hangs
	if err != nil || a2.id != "dA" {
		t.Fatalf("A's retry: id %s, %v", a2.id, err)
	}
	now = now.Add(2 * time.Minute) // its claim ran out
	wB := want{id: "dB", hash: "h", eventID: "eB", sent: now, hold: time.Minute}
	v, b, _, err := l.begin(ctx, "k", wB)
	if err != nil || v != deliver || b.id != "dA" {
		t.Fatalf("B: %v id %s, %v; want delivered under dA", v, b.id, err)
	}
	if err := l.release(ctx, a2, true); err != nil { // A's hung call fails at last
		t.Fatal(err)
	}
	rec, _, err := l.get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Claim == nil || rec.Claim.owner() != "dB" {
		t.Errorf("A's late release cleared the claim B holds under the same id: %+v", rec.Claim)
	}
}

// TestPendingIDOfAFailureWithoutATime: a record written before failures
// carried their callback time (an upgrade), holding an earlier delivery
// and a failed one of h1. A repeat of h1 still goes out under the failed
// delivery's id, which the receiver de-duplicates by if it processed the
// failed call: a failure without a time is pending, as it was.
func TestPendingIDOfAFailureWithoutATime(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	l, kv := testLedger(t, &now)
	ctx := t.Context()
	old := `{"delivered":[{"hash":"h0","id":"d0","eventId":"e0","sent":"2025-01-01T00:00:00Z","at":"2025-01-01T00:00:01Z"}],` +
		`"failures":[{"id":"d1","n":1,"hash":"h1"}]}`
	if _, err := kv.Put(ctx, "k", []byte(old)); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	v, a, _, err := l.begin(ctx, "k", want{id: "d2", hash: "h1", eventID: "e2", sent: now, hold: time.Minute})
	if err != nil || v != deliver {
		t.Fatalf("begin: %v %v", v, err)
	}
	if a.id != "d1" {
		t.Errorf("a repeat of the failed delivery d1 goes out under %s: a receiver that processed d1 gets the result twice", a.id)
	}
}
