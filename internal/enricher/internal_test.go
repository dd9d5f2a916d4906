package enricher

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/pkg/events"
	"github.com/kycflow/kycflow/pkg/jumio"
)

func testPolicy() retryPolicy {
	c := Config{RetryMaxAttempts: 5, RetryMaxAge: time.Hour, RetryInitialInterval: time.Second, RetryMaxInterval: time.Minute}
	c.setDefaults()
	return newRetryPolicy(c)
}

func apiErr(status int, retryAfter time.Duration) error {
	return fmt.Errorf("enricher: %w", &jumio.APIError{Endpoint: jumio.EndpointWorkflowDetails, Status: status, RetryAfter: retryAfter})
}

// TestDecide: every class of failure gets its verdict, in one place.
func TestDecide(t *testing.T) {
	p := testPolicy()
	notReady := func(since time.Duration) error {
		now := time.Now()
		return jumio.NotReadyIfRecent(apiErr(http.StatusNotFound, 0), now.Add(-since), now, p.notReadyWindow())
	}
	first := delivery{attempt: 1, age: time.Second, sinceCallback: 5 * time.Second}
	tests := []struct {
		name       string
		err        error
		d          delivery
		kind       verdictKind
		reason     string
		class      string
		minD, maxD time.Duration
	}{
		{"invalid payload", invalid("x"), first, verdictDeadLetter, "", ClassPermanent, 0, 0},
		{"400", apiErr(400, 0), first, verdictDeadLetter, "", ClassPermanent, 0, 0},
		{"403", apiErr(403, 0), first, verdictDeadLetter, "", ClassPermanent, 0, 0},
		{"404 long after the callback", apiErr(404, 0), delivery{attempt: 1, sinceCallback: 2 * time.Hour}, verdictDeadLetter, "", ClassPermanent, 0, 0},
		{"not ready: the first step of Jumio's schedule", notReady(5 * time.Second), first, verdictRedeliver, reasonNotReady, "", 35 * time.Second, 39 * time.Second},
		{"not ready: a later step", notReady(150 * time.Second), delivery{attempt: 3, sinceCallback: 150 * time.Second}, verdictRedeliver, reasonNotReady, "", 50 * time.Second, 55 * time.Second},
		{"not ready ignores the attempt budget", notReady(time.Second), delivery{attempt: 50, sinceCallback: time.Second}, verdictRedeliver, reasonNotReady, "", 39 * time.Second, 43 * time.Second},
		{"not final past the schedule", fmt.Errorf("%w: x", ErrNotFinal), delivery{attempt: 12, sinceCallback: 2 * time.Hour}, verdictDeadLetter, "", ClassPermanent, 0, 0},
		{"429 honours Retry-After", apiErr(429, 20*time.Second), first, verdictRedeliver, reasonRateLimited, "", 20 * time.Second, 20 * time.Second},
		{"429 without Retry-After", apiErr(429, 0), first, verdictRedeliver, reasonRateLimited, "", time.Second, 1500 * time.Millisecond},
		{"5xx: back-off for the first attempt", apiErr(503, 0), first, verdictRedeliver, reasonJumio, "", 500 * time.Millisecond, 1500 * time.Millisecond},
		{"5xx: back-off grows", apiErr(503, 0), delivery{attempt: 4}, verdictRedeliver, reasonJumio, "", 4 * time.Second, 12 * time.Second},
		{"401 after a refresh is retried", fmt.Errorf("x: %w", jumio.ErrUnauthorized), first, verdictRedeliver, reasonAuth, "", 500 * time.Millisecond, 1500 * time.Millisecond},
		{"broker hiccup", fmt.Errorf("%w: state get: %w", ErrBroker, jetstream.ErrNoHeartbeat), first, verdictRedeliver, reasonBroker, "", 500 * time.Millisecond, 1500 * time.Millisecond},
		{"past the attempts", apiErr(503, 0), delivery{attempt: 5}, verdictDeadLetter, "", ClassRetryBudget, 0, 0},
		{"past the age", apiErr(503, 0), delivery{attempt: 2, age: 2 * time.Hour}, verdictDeadLetter, "", ClassRetryBudget, 0, 0},
		{"stopping: redeliver at once whatever it is", invalid("x"), delivery{attempt: 99, stopping: true}, verdictRedeliver, reasonShutdown, "", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := p.decide(tt.err, tt.d)
			if v.kind != tt.kind || v.reason != tt.reason || v.class != tt.class {
				t.Fatalf("got kind %d reason %q class %q, want %d %q %q", v.kind, v.reason, v.class, tt.kind, tt.reason, tt.class)
			}
			if v.kind == verdictRedeliver && (v.delay < tt.minD || v.delay > tt.maxD) {
				t.Errorf("delay %s, want %s to %s", v.delay, tt.minD, tt.maxD)
			}
			if !errors.Is(v.err, tt.err) {
				t.Errorf("verdict error %v does not wrap %v", v.err, tt.err)
			}
			if v.class == ClassRetryBudget && !errors.Is(v.err, ErrRetryBudget) {
				t.Errorf("retry budget error %v does not match ErrRetryBudget", v.err)
			}
		})
	}
}

// TestBackoffCapped: the back-off never exceeds RetryMaxInterval by more
// than its jitter, however many attempts.
func TestBackoffCapped(t *testing.T) {
	p := testPolicy()
	for _, n := range []int{10, 30, 1000} {
		if d := p.backoff(n); d > p.maxInterval*3/2 || d < p.maxInterval/2 {
			t.Errorf("backoff(%d) = %s, want about %s", n, d, p.maxInterval)
		}
	}
}

func TestStateKey(t *testing.T) {
	tests := []struct{ account, execution, want string }{
		{"9f0b7b3e-95b6-4b8b-8a3d-3d2b8d2b8d2b", "4f0b7b3e-95b6-4b8b-8a3d-3d2b8d2b8d2b", "9f0b7b3e-95b6-4b8b-8a3d-3d2b8d2b8d2b.4f0b7b3e-95b6-4b8b-8a3d-3d2b8d2b8d2b"},
		{"", "4f0b7b3e-95b6-4b8b-8a3d-3d2b8d2b8d2b", "legacy.4f0b7b3e-95b6-4b8b-8a3d-3d2b8d2b8d2b"},
		{"a.b", "c d", "a_b.c_d"},
	}
	for _, tt := range tests {
		if got := StateKey(tt.account, tt.execution); got != tt.want {
			t.Errorf("StateKey(%q, %q) = %q, want %q", tt.account, tt.execution, got, tt.want)
		}
	}
	if got := StateKey("acct", "x:y@z"); !strings.HasPrefix(got, "h.") || len(got) != 66 {
		t.Errorf("stateKey of ids that cannot be key tokens = %q, want a hash", got)
	}
}

// TestStateRecordBounded: the recent event ids are bounded, oldest out,
// and Newest never moves back.
func TestStateRecordBounded(t *testing.T) {
	var s execState
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range recentEvents + 5 {
		s.record(mark{eventID: "e" + strconv.Itoa(i), sentAt: t0.Add(time.Duration(i) * time.Second)})
	}
	s.record(mark{eventID: "old", sentAt: t0})
	if len(s.Enriched) != recentEvents || s.Enriched[0] != "e6" || s.Enriched[recentEvents-1] != "old" {
		t.Errorf("enriched %v", s.Enriched)
	}
	if want := t0.Add(time.Duration(recentEvents+4) * time.Second); !s.Newest.Equal(want) {
		t.Errorf("newest %v, want %v", s.Newest, want)
	}
}

// TestClaimRace: a newer callback that claims the execution while an
// older one is being fetched makes the older one stale at its second look;
// the same event enriched by another worker meanwhile is a duplicate.
func TestClaimRace(t *testing.T) {
	srv := brokertest.Start(t)
	_, js := srv.JetStream(t)
	ctx := context.Background()
	st, err := ensureState(ctx, js, Config{StateTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	key := StateKey("acct", "exec")
	if err := st.claim(ctx, key, mark{eventID: "old", sentAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := st.claim(ctx, key, mark{eventID: "new", sentAt: t0.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.check(ctx, key, mark{eventID: "old", sentAt: t0}); !errors.Is(err, errStale) {
		t.Errorf("older callback after a newer claim: %v, want errStale", err)
	}
	seenNew, err := st.check(ctx, key, mark{eventID: "new", sentAt: t0.Add(time.Second)})
	if err != nil {
		t.Errorf("newer callback: %v", err)
	}
	if err := st.record(ctx, key, mark{eventID: "new", sentAt: t0.Add(time.Second)}, &seenNew); err != nil {
		t.Fatal(err)
	}
	if _, err := st.check(ctx, key, mark{eventID: "new", sentAt: t0.Add(time.Second)}); !errors.Is(err, errDuplicate) {
		t.Errorf("event recorded meanwhile: %v, want errDuplicate", err)
	}
	if err := st.claim(ctx, key, mark{eventID: "new", sentAt: t0.Add(time.Second)}); !errors.Is(err, errDuplicate) {
		t.Errorf("claim of an enriched event: %v, want errDuplicate", err)
	}

	// Concurrent claims of one execution all land (compare-and-set).
	errc := make(chan error, 8)
	for i := range 8 {
		go func() {
			errc <- st.claim(ctx, key, mark{eventID: "c" + strconv.Itoa(i), sentAt: t0.Add(time.Duration(10+i) * time.Second)})
		}()
	}
	for range 8 {
		if err := <-errc; err != nil && !errors.Is(err, errStale) {
			t.Errorf("concurrent claim: %v", err)
		}
	}
	s, _, err := st.get(ctx, key)
	if err != nil || !s.Newest.Equal(t0.Add(17*time.Second)) {
		t.Errorf("newest after concurrent claims %v (%v), want the latest", s.Newest, err)
	}
}

// TestRecordAfterChange: record writes with compare-and-set on what check
// read; when a newer callback claimed the execution in between, the
// record is applied to the state as it is now, keeping the newer claim.
func TestRecordAfterChange(t *testing.T) {
	srv := brokertest.Start(t)
	_, js := srv.JetStream(t)
	ctx := context.Background()
	st, err := ensureState(ctx, js, Config{StateTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	key := StateKey("acct", "exec")
	if err := st.claim(ctx, key, mark{eventID: "first", sentAt: t0}); err != nil {
		t.Fatal(err)
	}
	seenFirst, err := st.check(ctx, key, mark{eventID: "first", sentAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	// A newer callback claims while the first is being published.
	if err := st.claim(ctx, key, mark{eventID: "second", sentAt: t0.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	if err := st.record(ctx, key, mark{eventID: "first", sentAt: t0}, &seenFirst); err != nil {
		t.Fatal(err)
	}
	got, _, err := st.get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Newest.Equal(t0.Add(time.Second)) || !got.enriched("first") {
		t.Errorf("state after the record: newest %v, enriched %v; want the second claim kept and first enriched", got.Newest, got.Enriched)
	}
	if err := st.claim(ctx, key, mark{eventID: "first", sentAt: t0}); !errors.Is(err, errDuplicate) {
		t.Errorf("claim of the recorded event: %v, want errDuplicate", err)
	}
}

// TestDecodeCallback: what is not a callback event is ErrInvalidCallback,
// permanent, and its error quotes nothing of the payload.
func TestDecodeCallback(t *testing.T) {
	const secret = "JANE-DOE-1970"
	const id = "5204628b338629e50c27edcb398dd405e2f09df2e4b9039726878358aa352917"
	good := `{"schemaVersion":1,"eventId":"` + id + `","api":"platform","accountId":"9f0b7b3e-95b6-4b8b-8a3d-3d2b8d2b8d2b","workflowExecutionId":"4f0b7b3e-95b6-4b8b-8a3d-3d2b8d2b8d2b","status":"PROCESSED","receivedAt":"2024-01-01T00:00:00Z"}`
	bad := []string{
		``,
		`[` + secret + `]`,
		`{"schemaVersion":2,"eventId":"e1"}`,
		`{"schemaVersion":1,"eventId":"` + secret + ` x"}`,
		`{"schemaVersion":1,"eventId":"e1","api":"` + secret + `","workflowExecutionId":"x"}`,
		`{"schemaVersion":1,"eventId":"e1","api":"platform","accountId":"` + secret + `","workflowExecutionId":"4f0b7b3e-95b6-4b8b-8a3d-3d2b8d2b8d2b"}`,
		`{"schemaVersion":1,"eventId":"e1","api":"netverify","workflowExecutionId":"x"}`,
		`{"schemaVersion":1,"eventId":"e1","api":"platform","receivedAt":"` + secret + `"}`,
		// An id the result schema would refuse (events.EventIDPattern).
		strings.Replace(good, id, "e1", 1),
		strings.Replace(good, id, strings.ToUpper(id), 1),
	}
	for _, b := range bad {
		_, err := decodeCallback(message.NewMessage("m", []byte(b)), time.Now())
		var pe *permanentError
		if !errors.Is(err, ErrInvalidCallback) || !errors.As(err, &pe) {
			t.Errorf("decode %q: %v, want a permanent ErrInvalidCallback", b, err)
		} else if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q quotes the payload", err)
		}
	}
	msg := message.NewMessage("m", []byte(good))
	msg.Metadata.Set(events.HeaderReplay, "not a marker")
	if _, err := decodeCallback(msg, time.Now()); !errors.Is(err, ErrInvalidCallback) {
		t.Errorf("malformed replay header: %v, want ErrInvalidCallback", err)
	}
	stored := time.Date(2024, 2, 2, 0, 0, 0, 0, time.UTC)
	c, err := decodeCallback(message.NewMessage("m", []byte(good)), stored)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC); !c.sentAt.Equal(want) {
		t.Errorf("sentAt %v: without callbackSentAt, want the receive time %v", c.sentAt, want)
	}
}

func TestFinal(t *testing.T) {
	tests := []struct {
		callback, details string
		notFinal          bool
	}{
		{"PROCESSED", "PROCESSED", false},
		{"PROCESSED", "ACQUIRED", true},
		{"SESSION_EXPIRED", "INITIATED", true},
		{"ACQUIRED", "ACQUIRED", false},
		{"PROCESSED", "SOMETHING_NEW", false},
		{"PROCESSED", "", false},
	}
	for _, tt := range tests {
		if err := final(tt.callback, tt.details); errors.Is(err, ErrNotFinal) != tt.notFinal {
			t.Errorf("final(%s, %s) = %v, want not final: %v", tt.callback, tt.details, err, tt.notFinal)
		}
	}
}
