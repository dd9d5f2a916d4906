package notifier

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kycflow/kycflow/internal/broker/brokertest"
	"github.com/kycflow/kycflow/internal/config"
	"github.com/kycflow/kycflow/pkg/events"
)

func TestRecordCheck(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	rec := record{Delivered: []delivered{
		{Hash: "passed", Sent: t0},
		{Hash: "rejected", Sent: t0.Add(time.Hour)},
		{Hash: "rejected", Replay: "r1", Sent: t0.Add(time.Hour)},
		{Hash: "rejected", Replay: "r3", Sent: t0.Add(time.Hour), DeadLettered: true},
	}}
	for _, tc := range []struct {
		name string
		w    want
		want verdict
	}{
		{"repeat of the last", want{hash: "rejected", sent: t0.Add(2 * time.Hour)}, suppress},
		{"stale repeat of a superseded one", want{hash: "passed", sent: t0.Add(time.Minute)}, stale},
		{"changed back after the newest", want{hash: "passed", sent: t0.Add(3 * time.Hour)}, deliver},
		{"older, different result", want{hash: "warning", sent: t0}, stale},
		{"different result sent with the newest", want{hash: "warning", sent: t0.Add(time.Hour)}, deliver},
		{"new result without a time", want{hash: "warning"}, deliver},
		{"repeat of a superseded one without a time", want{hash: "passed"}, suppress},
		{"redeliver, replay already delivered", want{hash: "rejected", replay: "r1", redeliver: true}, suppress},
		{"redeliver, new replay", want{hash: "rejected", replay: "r2", redeliver: true}, deliver},
		{"redeliver, replay that dead-lettered it", want{hash: "rejected", replay: "r3", redeliver: true}, deliver},
		{"redeliver of an older result", want{hash: "passed", replay: "r2", redeliver: true, sent: t0}, deliver},
	} {
		if got := rec.check(tc.w); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := (record{}).check(want{hash: "x"}); got != deliver {
		t.Errorf("empty record: got %v, want deliver", got)
	}
	// A dead letter counts as the newest too.
	dl := record{Delivered: []delivered{{Hash: "passed", Sent: t0.Add(time.Hour), DeadLettered: true}}}
	if got := dl.check(want{hash: "rejected", sent: t0}); got != stale {
		t.Errorf("older than a dead letter: got %v, want stale", got)
	}
	// A redrive of a dead letter is delivered unless the route delivered
	// the result, or a newer one of its key, after the dead letter.
	t1 := t0.Add(time.Hour)
	dead := delivered{Hash: "rejected", Sent: t1, DeadLettered: true}
	redrive := want{hash: "rejected", replay: "rd", redeliver: true, redrive: true, sent: t1}
	for _, tc := range []struct {
		name  string
		since []delivered
		want  verdict
	}{
		{"nothing since", nil, deliver},
		{"delivered since by a replay", []delivered{{Hash: "rejected", Replay: "r5", Sent: t1}}, suppress},
		{"the same callback mapped again since", []delivered{{Hash: "passed", Replay: "fix", Sent: t1}}, stale},
		{"a newer result since", []delivered{{Hash: "passed", Sent: t1.Add(time.Hour)}}, stale},
		{"a result without a time since", []delivered{{Hash: "passed"}}, stale},
		{"an older result replayed since", []delivered{{Hash: "approved", Replay: "r6", Sent: t0}}, deliver},
		{"another dead letter since", []delivered{{Hash: "passed", Sent: t1.Add(time.Hour), DeadLettered: true}}, deliver},
	} {
		rec := record{Delivered: append([]delivered{{Hash: "approved", Sent: t0}, dead}, tc.since...)}
		if got := rec.check(redrive); got != tc.want {
			t.Errorf("redrive, %s: got %v, want %v", tc.name, got, tc.want)
		}
		// A replay asking for redelivery delivers whatever came since.
		replay := redrive
		replay.redrive = false
		if got := rec.check(replay); got != deliver && tc.want != suppress {
			t.Errorf("replay with redeliver, %s: got %v, want deliver", tc.name, got)
		}
	}
	// Before the dead letter, only a newer result counts (a replay of an
	// older one can fail after it went out); the same result or one sent
	// with it does not.
	for _, tc := range []struct {
		name   string
		before delivered
		want   verdict
	}{
		{"a newer result", delivered{Hash: "passed", Sent: t1.Add(time.Hour)}, stale},
		{"the same result", delivered{Hash: "rejected", Sent: t1}, deliver},
		{"one sent with it", delivered{Hash: "passed", Sent: t1}, deliver},
	} {
		rec := record{Delivered: []delivered{tc.before, dead}}
		if got := rec.check(redrive); got != tc.want {
			t.Errorf("redrive, %s delivered before the dead letter: got %v, want %v", tc.name, got, tc.want)
		}
	}
	// An identical result suppressed with a newer time than every
	// delivery catches the record up: a result sent between them is
	// stale from then on.
	up := record{Delivered: []delivered{{Hash: "passed", Sent: t0}}}
	again := want{hash: "passed", sent: t0.Add(2 * time.Hour)}
	if up.check(again) != suppress || !up.catchUp(again) || !up.Delivered[0].Sent.Equal(again.sent) {
		t.Errorf("catch-up of an identical newer result: %+v", up.Delivered)
	}
	if got := up.check(want{hash: "rejected", sent: t0.Add(time.Hour)}); got != stale {
		t.Errorf("a result sent between them after the catch-up: got %v, want stale", got)
	}
	for name, w := range map[string]want{
		"not newer":      {hash: "passed", sent: t0.Add(2 * time.Hour)},
		"without a time": {hash: "passed"},
		"a redelivery":   {hash: "passed", sent: t0.Add(3 * time.Hour), redeliver: true, replay: "r"},
		"not the last":   {hash: "other", sent: t0.Add(3 * time.Hour)},
	} {
		if up.catchUp(w) {
			t.Errorf("catch-up of %s", name)
		}
	}
	long := record{}
	for i := range maxDelivered + 5 {
		long.Delivered = with(long.Delivered, delivered{Hash: string(rune('a' + i))})
	}
	if n := len(long.Delivered); n != maxDelivered {
		t.Errorf("history: got %d entries, want %d", n, maxDelivered)
	}
	var f record
	for i := range maxFailures + 3 {
		f.setFailed(attempt{id: string(rune('a' + i))}, 1)
	}
	f.setFailed(attempt{id: "b"}, 0)
	if n := len(f.Failures); n != maxFailures || f.failed("b") != 0 || f.failed(string(rune('a'+maxFailures+2))) != 1 {
		t.Errorf("failure counts: %+v", f.Failures)
	}
}

// testLedger is a ledger on a bucket of its own whose clock reads *now.
func testLedger(t *testing.T, now *time.Time) (*ledger, jetstream.KeyValue) {
	t.Helper()
	_, js := brokertest.Start(t).JetStream(t)
	kv, err := js.CreateKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: DeliveriesBucket, Storage: jetstream.MemoryStorage})
	if err != nil {
		t.Fatal(err)
	}
	return &ledger{kv: kv, now: func() time.Time { return *now }}, kv
}

// TestLedgerClaims: a delivery that finishes after its claim ran out and
// another attempt of the same delivery took the key clears that claim too,
// so that a different result for the key does not wait for it; failed
// sink calls are counted per delivery and forgotten once it is done.
func TestLedgerClaims(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	l, _ := testLedger(t, &now)
	ctx := t.Context()
	w1 := want{id: "d1", hash: "h1", eventID: "e1", sent: now, hold: time.Minute}

	v, a1, _, err := l.begin(ctx, "k", w1)
	if err != nil || v != deliver {
		t.Fatalf("begin: %v, %v", v, err)
	}
	if err := l.release(ctx, a1, true); err != nil {
		t.Fatal(err)
	}
	_, a1, _, _ = l.begin(ctx, "k", w1)
	if got := a1.failed(); got != 1 {
		t.Errorf("failures after one failed call: got %d, want 1", got)
	}
	// The claim runs out while the sink call hangs; a redelivered copy of
	// the message takes the key with the same delivery id.
	now = now.Add(2 * time.Minute)
	v, a2, _, err := l.begin(ctx, "k", w1)
	if err != nil || v != deliver {
		t.Fatalf("second begin: %v, %v", v, err)
	}
	// Both finish.
	if err := l.done(ctx, a1, delivered{Hash: "h1", ID: "d1", Sent: w1.sent, At: now}); err != nil {
		t.Fatal(err)
	}
	if err := l.done(ctx, a2, delivered{Hash: "h1", ID: "d1", Sent: w1.sent, At: now}); err != nil {
		t.Fatal(err)
	}
	rec, _, err := l.get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Claim != nil || len(rec.Failures) != 0 {
		t.Errorf("record after both finished: claim %+v, failures %+v; want neither", rec.Claim, rec.Failures)
	}
	w2 := want{id: "d2", hash: "h2", eventID: "e2", sent: now.Add(time.Second), hold: time.Minute}
	if v, _, _, err := l.begin(ctx, "k", w2); err != nil || v != deliver {
		t.Errorf("a newer result after that: got %v (%v), want deliver", v, err)
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

// TestPublicAddrSpecialPurpose refuses the first and the last address of
// every block of the IANA IPv4 and IPv6 special-purpose address
// registries (as of 2025), and of the other non-public ranges, each
// listed here with its source independently of the code's own table.
func TestPublicAddrSpecialPurpose(t *testing.T) {
	for _, tc := range []struct{ prefix, source string }{
		// https://www.iana.org/assignments/iana-ipv4-special-registry
		{"0.0.0.0/8", "RFC 791, this network"},
		{"0.0.0.0/32", "RFC 1122, this host on this network"},
		{"10.0.0.0/8", "RFC 1918, private use"},
		{"100.64.0.0/10", "RFC 6598, shared address space"},
		{"127.0.0.0/8", "RFC 1122, loopback"},
		{"169.254.0.0/16", "RFC 3927, link local"},
		{"172.16.0.0/12", "RFC 1918, private use"},
		{"192.0.0.0/24", "RFC 6890, IETF protocol assignments"},
		{"192.0.0.0/29", "RFC 7335, IPv4 service continuity prefix"},
		{"192.0.0.8/32", "RFC 7600, IPv4 dummy address"},
		{"192.0.0.9/32", "RFC 7723, PCP anycast"},
		{"192.0.0.10/32", "RFC 8155, TURN anycast"},
		{"192.0.0.170/32", "RFC 8880, NAT64/DNS64 discovery"},
		{"192.0.0.171/32", "RFC 8880, NAT64/DNS64 discovery"},
		{"192.0.2.0/24", "RFC 5737, documentation (TEST-NET-1)"},
		{"192.31.196.0/24", "RFC 7535, AS112-v4"},
		{"192.52.193.0/24", "RFC 7450, AMT"},
		{"192.88.99.0/24", "RFC 7526, deprecated 6to4 relay anycast"},
		{"192.168.0.0/16", "RFC 1918, private use"},
		{"192.175.48.0/24", "RFC 7534, direct delegation AS112 service"},
		{"198.18.0.0/15", "RFC 2544, benchmarking"},
		{"198.51.100.0/24", "RFC 5737, documentation (TEST-NET-2)"},
		{"203.0.113.0/24", "RFC 5737, documentation (TEST-NET-3)"},
		{"240.0.0.0/4", "RFC 1112, reserved"},
		{"255.255.255.255/32", "RFC 8190, limited broadcast"},
		// https://www.iana.org/assignments/multicast-addresses
		{"224.0.0.0/4", "RFC 5771, multicast"},
		// https://www.iana.org/assignments/iana-ipv6-special-registry
		{"::1/128", "RFC 4291, loopback"},
		{"::/128", "RFC 4291, unspecified"},
		{"::ffff:0:0/96", "RFC 4291, IPv4-mapped (of a private address here)"},
		{"64:ff9b:1::/48", "RFC 8215, IPv4-IPv6 translation, local use"},
		{"100::/64", "RFC 6666, discard only"},
		{"100:0:0:1::/64", "RFC 9780, dummy IPv6 prefix"},
		{"2001::/23", "RFC 2928, IETF protocol assignments"},
		{"2001::/32", "RFC 4380, Teredo"},
		{"2001:1::1/128", "RFC 7723, PCP anycast"},
		{"2001:1::2/128", "RFC 8155, TURN anycast"},
		{"2001:1::3/128", "RFC 9665, DNS-SD SRP anycast"},
		{"2001:2::/48", "RFC 5180, benchmarking"},
		{"2001:3::/32", "RFC 7450, AMT"},
		{"2001:4:112::/48", "RFC 7535, AS112-v6"},
		{"2001:10::/28", "RFC 4843, deprecated ORCHID"},
		{"2001:20::/28", "RFC 7343, ORCHIDv2"},
		{"2001:30::/28", "RFC 9374, drone remote ID DETs"},
		{"2001:db8::/32", "RFC 3849, documentation"},
		{"2620:4f:8000::/48", "RFC 7534, direct delegation AS112 service"},
		{"3fff::/20", "RFC 9637, documentation"},
		{"5f00::/16", "RFC 9602, SRv6 SIDs"},
		{"fc00::/7", "RFC 4193, unique local"},
		{"fe80::/10", "RFC 4291, link-local unicast"},
		// Not in the special-purpose registry, not public unicast either.
		{"::/96", "RFC 4291 2.5.5.1, deprecated IPv4-compatible"},
		{"fec0::/10", "RFC 3879, deprecated site-local"},
		{"ff00::/8", "RFC 4291, multicast"},
	} {
		p := netip.MustParsePrefix(tc.prefix)
		addrs := []netip.Addr{p.Addr(), lastAddr(p)}
		if p.Addr().Is4() {
			// Also when written as IPv4-mapped IPv6.
			addrs = append(addrs, netip.AddrFrom16(p.Addr().As16()))
		}
		if tc.prefix == "::ffff:0:0/96" {
			addrs = []netip.Addr{netip.MustParseAddr("::ffff:10.0.0.1"), netip.MustParseAddr("::ffff:127.0.0.1")}
		}
		for _, a := range addrs {
			if publicAddr(a) {
				t.Errorf("publicAddr(%s) = true, want false: %s (%s)", a, tc.prefix, tc.source)
			}
		}
	}
	// Addresses that embed an IPv4 address are judged by it; a zone does
	// not hide a link-local address.
	for _, tc := range []struct {
		addr   string
		public bool
	}{
		{"8.8.8.8", true}, {"2606:4700::1111", true}, {"1.1.1.1", true},
		{"64:ff9b::808:808", true}, {"64:ff9b::a00:1", false}, {"64:ff9b::7f00:1", false},
		{"2002:808:808::1", true}, {"2002:a00:1::", false}, {"2002:c0a8:101::1", false},
		{"fe80::1%eth0", false},
	} {
		if got := publicAddr(netip.MustParseAddr(tc.addr)); got != tc.public {
			t.Errorf("publicAddr(%s): got %v, want %v", tc.addr, got, tc.public)
		}
	}
}

// lastAddr is the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// TestLedgerFirstClaim: begin writes the claim of a key without a record
// outright, create-only; a key with a record, or one erased (a deletion
// marker), is read and decided on, and its record is not overwritten.
func TestLedgerFirstClaim(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	l, kv := testLedger(t, &now)
	ctx := t.Context()
	w1 := want{id: "d1", hash: "h1", eventID: "e1", sent: now, hold: time.Minute}
	w2 := want{id: "d2", hash: "h2", eventID: "e2", sent: now.Add(time.Second), hold: time.Minute}

	// The first result of a key claims it.
	v, a1, _, err := l.begin(ctx, "first", w1)
	if err != nil || v != deliver {
		t.Fatalf("begin on no record: %v, %v; want deliver", v, err)
	}
	// A different result while the claim holds waits; the claim stays.
	if v, _, _, err := l.begin(ctx, "first", w2); err != nil || v != busy {
		t.Errorf("begin while claimed: %v, %v; want busy", v, err)
	}
	if err := l.done(ctx, a1, delivered{Hash: "h1", ID: "d1", Sent: w1.sent, At: now}); err != nil {
		t.Fatal(err)
	}
	// The same result again is suppressed, and the record kept.
	if v, _, _, err := l.begin(ctx, "first", w1); err != nil || v != suppress {
		t.Errorf("begin after delivery: %v, %v; want suppress", v, err)
	}
	rec, _, err := l.get(ctx, "first")
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Delivered) != 1 || rec.Delivered[0].ID != "d1" || rec.Claim != nil {
		t.Errorf("record after the suppressed repeat: %+v; want d1 delivered, no claim", rec)
	}

	// An erased key (deletion marker) is claimed again.
	if err := kv.Delete(ctx, "first"); err != nil {
		t.Fatal(err)
	}
	if v, _, _, err := l.begin(ctx, "first", w1); err != nil || v != deliver {
		t.Errorf("begin on an erased key: %v, %v; want deliver", v, err)
	}
}

// TestDeliveriesTTLCoversTheEnrichedRetention: delivery records kept
// shorter than JUMIO_ENRICHED keeps results are refused, naming both
// variables: a replay of an older result would deliver it again, as if
// it were news (docs/operations.md said the service checks it; it did
// not).
func TestDeliveriesTTLCoversTheEnrichedRetention(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string // "" valid
	}{
		{nil, ""},
		{map[string]string{"KYCFLOW_NOTIFIER_DELIVERIES_TTL": "90d", "KYCFLOW_STREAM_ENRICHED_MAX_AGE": "90d"}, ""},
		{map[string]string{"KYCFLOW_NOTIFIER_DELIVERIES_TTL": "1h"}, "deliveries TTL 1h0m0s (KYCFLOW_NOTIFIER_DELIVERIES_TTL) is shorter than the retention of JUMIO_ENRICHED, 30d (KYCFLOW_STREAM_ENRICHED_MAX_AGE)"},
		{map[string]string{"KYCFLOW_STREAM_ENRICHED_MAX_AGE": "45d"}, "deliveries TTL 30d (KYCFLOW_NOTIFIER_DELIVERIES_TTL) is shorter than the retention of JUMIO_ENRICHED, 45d"},
	} {
		e := config.FromMap(tc.env)
		cfg := LoadConfig(e)
		if err := e.Err(); err != nil {
			t.Fatal(err)
		}
		cfg.setDefaults() // as Run does
		err := cfg.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.env, err)
		case tc.want != "" && (!errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: got %v, want %q", tc.env, err, tc.want)
		}
	}
}
