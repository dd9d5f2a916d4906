package notifier

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// ErrForbiddenAddress is returned (inside a *DeliveryError) when a webhook
// target resolves to an address its route may not reach: a loopback,
// private, link-local or otherwise non-public address without
// allowPrivate, or a public address over plain http.
var ErrForbiddenAddress = errors.New("webhook target address not allowed")

// nonPublic are ranges that are not public unicast internet addresses
// beyond what netip's predicates cover.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // shared address space (carrier-grade NAT)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, broadcast
	netip.MustParsePrefix("100::/64"),        // discard
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
}

// Prefixes whose addresses embed an IPv4 address: NAT64 and 6to4.
var (
	nat64 = netip.MustParsePrefix("64:ff9b::/96")
	sixTo = netip.MustParsePrefix("2002::/16")
)

// publicAddr reports whether a is a public unicast address: not loopback,
// private (RFC 1918, unique local), link-local (cloud metadata services
// live there), multicast, unspecified or reserved, also when written as an
// IPv4-mapped, NAT64 or 6to4 IPv6 address.
func publicAddr(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() ||
		a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	if a.Is6() {
		b := a.As16()
		switch {
		case nat64.Contains(a):
			return publicAddr(netip.AddrFrom4([4]byte(b[12:16])))
		case sixTo.Contains(a):
			return publicAddr(netip.AddrFrom4([4]byte(b[2:6])))
		}
	}
	return true
}

// dialControl checks each address a webhook connection is about to use,
// after name resolution, so that a name that resolves (or is re-bound) to
// an internal address is refused just the same. allowPrivate admits
// non-public addresses; plainHTTP admits only them, since a result must
// not cross the internet unencrypted.
func dialControl(allowPrivate, plainHTTP bool) func(network, address string, _ syscall.RawConn) error {
	return func(_, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return fmt.Errorf("%w: %s", ErrForbiddenAddress, address)
		}
		a, err := netip.ParseAddr(host)
		if err != nil {
			return fmt.Errorf("%w: %s", ErrForbiddenAddress, address)
		}
		public := publicAddr(a)
		switch {
		case !public && !allowPrivate:
			return fmt.Errorf("%w: %s is not a public address and the route does not set allowPrivate", ErrForbiddenAddress, a)
		case public && plainHTTP:
			return fmt.Errorf("%w: plain http to the public address %s", ErrForbiddenAddress, a)
		}
		return nil
	}
}
