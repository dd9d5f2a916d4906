package ingest

import (
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// prefixSet is a small list of prefixes (Jumio publishes under ten
// addresses per region; a linear scan beats anything clever).
type prefixSet []netip.Prefix

func (s prefixSet) contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range s {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr returns the address a request comes from: the TCP peer, or,
// when the peer is a trusted proxy, the right-most X-Forwarded-For entry
// that is not a trusted proxy (entries left of it could have been written
// by anyone). If every entry is a trusted proxy the left-most one is the
// client. An entry that is not an address makes the result invalid, which
// no allowlist contains.
func clientAddr(r *http.Request, trusted prefixSet) netip.Addr {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	addr := peer.Addr().Unmap()
	if len(trusted) == 0 || !trusted.contains(addr) {
		return addr
	}
	xff := r.Header.Values("X-Forwarded-For")
	for i := len(xff) - 1; i >= 0; i-- {
		entries := strings.Split(xff[i], ",")
		for j := len(entries) - 1; j >= 0; j-- {
			e := strings.TrimSpace(entries[j])
			if e == "" {
				continue
			}
			a, ok := parseForwarded(e)
			if !ok {
				return netip.Addr{}
			}
			addr = a
			if !trusted.contains(a) {
				return a
			}
		}
	}
	return addr
}

// parseForwarded reads one X-Forwarded-For entry: an address, with or
// without a port ("203.0.113.7", "203.0.113.7:4711", "[2001:db8::1]:443").
func parseForwarded(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

// limiters holds one token bucket per client: an IPv4 address, or the
// /ipv6Bits prefix of an IPv6 address (64 by default: a single IPv6 host
// is commonly given a whole /64 and may send each request from another
// address in it). It keeps at most max clients in two generations: when
// the current generation is full it becomes the previous one and the old
// previous one is dropped, so the clients seen least recently are
// forgotten first, in O(1) per request. A forgotten client starts again
// with a full burst.
type limiters struct {
	limit    rate.Limit
	burst    int
	max      int
	ipv6Bits int

	mu        sync.Mutex
	cur, prev map[netip.Addr]*rate.Limiter
}

func newLimiters(perSecond float64, burst, max, ipv6Bits int) *limiters {
	if perSecond <= 0 {
		return nil
	}
	return &limiters{
		limit:    rate.Limit(perSecond),
		burst:    burst,
		max:      max,
		ipv6Bits: ipv6Bits,
		cur:      make(map[netip.Addr]*rate.Limiter),
	}
}

// client is the key of a's bucket: a itself for IPv4, its /ipv6Bits
// prefix for IPv6.
func (l *limiters) client(a netip.Addr) netip.Addr {
	a = a.Unmap().WithZone("")
	if a.Is6() && l.ipv6Bits > 0 && l.ipv6Bits < 128 {
		if p, err := a.Prefix(l.ipv6Bits); err == nil {
			return p.Addr()
		}
	}
	return a
}

// allow takes a token for a's client; when none is left it returns false
// and how long until one is.
func (l *limiters) allow(a netip.Addr, now time.Time) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	lim := l.get(l.client(a))
	res := lim.ReserveN(now, 1)
	if !res.OK() {
		return false, time.Second
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

func (l *limiters) get(a netip.Addr) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lim, ok := l.cur[a]; ok {
		return lim
	}
	lim, ok := l.prev[a]
	if ok {
		delete(l.prev, a)
	} else {
		lim = rate.NewLimiter(l.limit, l.burst)
	}
	if len(l.cur) >= max(1, l.max/2) {
		l.prev, l.cur = l.cur, make(map[netip.Addr]*rate.Limiter, len(l.cur))
	}
	l.cur[a] = lim
	return lim
}

// size is the number of addresses tracked.
func (l *limiters) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.cur) + len(l.prev)
}
