package ingest

import (
	"net/http"
	"net/netip"
	"testing"
	"time"
)

func TestClientAddr(t *testing.T) {
	trusted, err := parsePrefixes([]string{"10.0.0.0/8", "127.0.0.1", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		peer    string
		xff     []string
		trusted prefixSet
		want    string // "" for invalid
	}{
		{"no proxies configured, header ignored", "198.51.100.1:4000", []string{"52.8.136.236"}, nil, "198.51.100.1"},
		{"untrusted peer, header ignored", "198.51.100.1:4000", []string{"52.8.136.236"}, trusted, "198.51.100.1"},
		{"trusted peer without header", "10.1.1.1:4000", nil, trusted, "10.1.1.1"},
		{"trusted peer, one entry", "10.1.1.1:4000", []string{"52.8.136.236"}, trusted, "52.8.136.236"},
		{"right-most untrusted wins over spoofed left entries", "10.1.1.1:4000", []string{"6.6.6.6, 52.8.136.236"}, trusted, "52.8.136.236"},
		{"chain of trusted proxies skipped", "10.1.1.1:4000", []string{"52.8.136.236, 10.2.2.2, 10.3.3.3"}, trusted, "52.8.136.236"},
		{"several headers read in order", "10.1.1.1:4000", []string{"6.6.6.6", "52.8.136.236, 10.2.2.2"}, trusted, "52.8.136.236"},
		{"all trusted: left-most", "10.1.1.1:4000", []string{"10.9.9.9, 10.2.2.2"}, trusted, "10.9.9.9"},
		{"entry with port", "10.1.1.1:4000", []string{"52.8.136.236:443"}, trusted, "52.8.136.236"},
		{"IPv6 entry", "[2001:db8::1]:4000", []string{"2001:db9::7"}, trusted, "2001:db9::7"},
		{"IPv4-mapped peer", "[::ffff:10.1.1.1]:4000", []string{"52.8.136.236"}, trusted, "52.8.136.236"},
		{"garbage entry", "10.1.1.1:4000", []string{"52.8.136.236, garbage"}, trusted, ""},
		{"empty entries skipped", "10.1.1.1:4000", []string{"52.8.136.236, , "}, trusted, "52.8.136.236"},
		{"unparseable peer", "pipe", nil, trusted, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tc.peer, Header: http.Header{}}
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			got := clientAddr(r, tc.trusted)
			want := netip.Addr{}
			if tc.want != "" {
				want = netip.MustParseAddr(tc.want)
			}
			if got != want {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

func TestLimitersAreBounded(t *testing.T) {
	l := newLimiters(1, 1, 10, 64)
	now := time.Unix(0, 0)
	for i := range 1000 {
		a := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		if ok, _ := l.allow(a, now); !ok {
			t.Fatalf("first request of %v refused", a)
		}
		if n := l.size(); n > 10 {
			t.Fatalf("after %d addresses: %d tracked, want <= 10", i+1, n)
		}
	}
}

func TestLimitersRefuseWithDelay(t *testing.T) {
	l := newLimiters(0.5, 2, 100, 64)
	a := netip.MustParseAddr("192.0.2.1")
	now := time.Unix(1000, 0)
	for i := range 2 {
		if ok, _ := l.allow(a, now); !ok {
			t.Fatalf("request %d inside the burst refused", i)
		}
	}
	ok, wait := l.allow(a, now)
	if ok || wait != 2*time.Second {
		t.Fatalf("past the burst: got %v, wait %v; want refused, wait 2s", ok, wait)
	}
	// A refused request takes no token: after the wait one is there.
	if ok, _ := l.allow(a, now.Add(2*time.Second)); !ok {
		t.Errorf("after the wait: refused")
	}
	// Recently seen addresses survive a generation change.
	for i := range 60 {
		l.allow(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), now)
		l.allow(a, now.Add(2*time.Second))
	}
	if ok, _ := l.allow(a, now.Add(2*time.Second)); ok {
		t.Errorf("a busy address got a fresh bucket after other addresses came and went")
	}
	if newLimiters(0, 1, 1, 64) != nil {
		t.Errorf("rate 0 must turn limiting off")
	}
	var off *limiters
	if ok, _ := off.allow(a, now); !ok {
		t.Errorf("no limiter must allow")
	}
}

// TestLimitersKeyIPv6ByPrefix: the addresses of one IPv6 /64 (a single
// host's, commonly) share one bucket, whatever address each request comes
// from; another /64 and IPv4 addresses have their own. The prefix length
// is configurable, 128 limiting each address alone.
func TestLimitersKeyIPv6ByPrefix(t *testing.T) {
	now := time.Unix(1000, 0)
	for _, tc := range []struct {
		name   string
		bits   int
		first  string
		second string
		shared bool
	}{
		{"same /64", 64, "2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:fffe", true},
		{"same /64, zoned", 64, "fe80::1%eth0", "fe80::2", true},
		{"IPv4-mapped is IPv4", 64, "::ffff:192.0.2.1", "192.0.2.1", true},
		{"next /64", 64, "2001:db8:1:2::1", "2001:db8:1:3::1", false},
		{"same /56 at 56", 56, "2001:db8:1:200::1", "2001:db8:1:2ff::1", true},
		{"same /64 at 128", 128, "2001:db8:1:2::1", "2001:db8:1:2::2", false},
		{"IPv4 addresses apart", 64, "192.0.2.1", "192.0.2.2", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLimiters(1, 1, 100, tc.bits)
			if ok, _ := l.allow(netip.MustParseAddr(tc.first), now); !ok {
				t.Fatal("first request refused")
			}
			ok, _ := l.allow(netip.MustParseAddr(tc.second), now)
			if shared := !ok; shared != tc.shared {
				t.Errorf("%s then %s with /%d: bucket shared %v, want %v", tc.first, tc.second, tc.bits, shared, tc.shared)
			}
		})
	}
}
