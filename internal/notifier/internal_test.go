package notifier

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/kycflow/kycflow/pkg/events"
)

func TestRecordSeen(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	rec := record{Delivered: []delivered{
		{Hash: "passed", Sent: t0},
		{Hash: "rejected", Sent: t0.Add(time.Hour)},
		{Hash: "rejected", Replay: "r1", Sent: t0.Add(time.Hour)},
	}}
	for _, tc := range []struct {
		name string
		w    want
		want bool
	}{
		{"repeat of the last", want{hash: "rejected", sent: t0.Add(2 * time.Hour)}, true},
		{"stale repeat of a superseded one", want{hash: "passed", sent: t0.Add(time.Minute)}, true},
		{"changed back after the newest", want{hash: "passed", sent: t0.Add(3 * time.Hour)}, false},
		{"new fact", want{hash: "warning", sent: t0}, false},
		{"stale repeat without a time", want{hash: "passed"}, true},
		{"redeliver, replay already delivered", want{hash: "rejected", replay: "r1", redeliver: true}, true},
		{"redeliver, new replay", want{hash: "rejected", replay: "r2", redeliver: true}, false},
		{"empty record", want{hash: "x"}, false},
	} {
		r := rec
		if tc.name == "empty record" {
			r = record{}
		}
		if got := r.seen(tc.w); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
	long := record{}
	for i := range maxDelivered + 5 {
		long.Delivered = with(long.Delivered, delivered{Hash: string(rune('a' + i))})
	}
	if n := len(long.Delivered); n != maxDelivered {
		t.Errorf("history: got %d entries, want %d", n, maxDelivered)
	}
}

func TestLedgerKey(t *testing.T) {
	r := events.Result{IDs: events.IDs{AccountID: "3f2a-1", WorkflowExecutionID: "a.b c"}, Status: events.StatusProcessed}
	if got, want := LedgerKey("crm", r), "crm.3f2a-1.=YS5iIGM.PROCESSED"; got != want {
		t.Errorf("LedgerKey: got %s, want %s", got, want)
	}
	r.IDs.AccountID = ""
	if got := LedgerKey("crm", r); !strings.HasPrefix(got, "crm.legacy.") {
		t.Errorf("LedgerKey without account: got %s", got)
	}
	if kvToken("=x") == "=x" || kvToken("") == "" {
		t.Error("kvToken passes through a value it must encode")
	}
}

func TestContentHashIgnoresVolatileFields(t *testing.T) {
	t0 := time.Now()
	t1 := t0.Add(time.Minute)
	a := events.Result{IDs: events.IDs{EventID: "e1", WorkflowExecutionID: "x"}, Timestamps: events.Timestamps{CallbackSent: &t0, Received: &t0, Enriched: &t0, Completed: &t0}}
	b := a
	b.IDs.EventID = "e2"
	b.Timestamps = events.Timestamps{CallbackSent: &t1, Received: &t1, Enriched: &t1, Completed: &t0}
	if ContentHash(a) != ContentHash(b) {
		t.Error("hash differs on volatile fields")
	}
	b.Timestamps.Completed = &t1
	if ContentHash(a) == ContentHash(b) {
		t.Error("hash ignores the completion time")
	}
	if a.IDs.EventID != "e1" || a.Timestamps.Received == nil {
		t.Error("ContentHash changed its argument")
	}
}

func TestPublicAddr(t *testing.T) {
	for _, tc := range []struct {
		addr   string
		public bool
	}{
		{"8.8.8.8", true}, {"2606:4700::1111", true},
		{"127.0.0.1", false}, {"10.1.2.3", false}, {"172.16.0.1", false}, {"192.168.1.1", false},
		{"169.254.169.254", false}, {"100.64.0.1", false}, {"0.0.0.0", false}, {"255.255.255.255", false},
		{"::1", false}, {"fe80::1", false}, {"fd00::1", false}, {"::ffff:10.0.0.1", false},
		{"64:ff9b::a00:1", false}, {"64:ff9b::808:808", true}, {"2002:a00:1::", false}, {"ff02::1", false},
	} {
		if got := publicAddr(netip.MustParseAddr(tc.addr)); got != tc.public {
			t.Errorf("publicAddr(%s): got %v, want %v", tc.addr, got, tc.public)
		}
	}
	control := dialControl(true, true)
	if err := control("tcp", "8.8.8.8:80", nil); err == nil {
		t.Error("plain http to a public address allowed")
	}
	if err := control("tcp", "10.0.0.1:80", nil); err != nil {
		t.Errorf("plain http to a private address refused: %v", err)
	}
	if err := dialControl(false, false)("tcp", "[::1]:443", nil); err == nil {
		t.Error("loopback allowed without allowPrivate")
	}
}

func TestRetryDelay(t *testing.T) {
	r := Retry{MaxAttempts: 10, InitialInterval: time.Second, MaxInterval: time.Minute}
	for attempt := 1; attempt <= 12; attempt++ {
		d := r.delay(attempt, 0)
		base := min(time.Second<<(attempt-1), time.Minute)
		if d < base/2 || d > base*3/2 {
			t.Errorf("attempt %d: delay %s outside %s ± 50%%", attempt, d, base)
		}
	}
	if d := r.delay(1, 10*time.Minute); d != 10*time.Minute {
		t.Errorf("Retry-After 10m: got %s", d)
	}
	if d := r.delay(1, 48*time.Hour); d != maxRetryAfter {
		t.Errorf("Retry-After 48h: got %s, want %s", d, maxRetryAfter)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"": 0, "30": 30 * time.Second, "-1": 0, "soon": 0,
		now.Add(time.Minute).Format(http.TimeFormat):  time.Minute,
		now.Add(-time.Minute).Format(http.TimeFormat): 0,
	} {
		if got := retryAfter(v, now); got != want {
			t.Errorf("retryAfter(%q): got %s, want %s", v, got, want)
		}
	}
}
