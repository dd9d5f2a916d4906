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

// specialRange is one entry of the IANA special-purpose address
// registries, or another range that is no public unicast destination.
type specialRange struct {
	prefix netip.Prefix
	name   string
	source string // the RFC that reserves it
}

func special(prefix, name, source string) specialRange {
	return specialRange{netip.MustParsePrefix(prefix), name, source}
}

// specialRanges are never public webhook targets: every block of the IANA
// IPv4 and IPv6 Special-Purpose Address Registries
// (https://www.iana.org/assignments/iana-ipv4-special-registry,
// https://www.iana.org/assignments/iana-ipv6-special-registry), those the
// registries mark globally reachable included (anycast services, AS112:
// no webhook receiver lives there), plus multicast, the deprecated
// site-local and IPv4-compatible IPv6 ranges. Two blocks embed an IPv4
// address and are judged by it instead (embedsIPv4): the NAT64
// well-known prefix 64:ff9b::/96 and 6to4 2002::/16. IPv4-mapped IPv6
// addresses (::ffff:0:0/96) are unmapped first.
var specialRanges = []specialRange{
	// IPv4 special-purpose registry.
	special("0.0.0.0/8", `"this network"`, "RFC 791"),
	special("10.0.0.0/8", "private use", "RFC 1918"),
	special("100.64.0.0/10", "shared address space (carrier-grade NAT)", "RFC 6598"),
	special("127.0.0.0/8", "loopback", "RFC 1122"),
	special("169.254.0.0/16", "link local (cloud metadata services)", "RFC 3927"),
	special("172.16.0.0/12", "private use", "RFC 1918"),
	special("192.0.0.0/24", "IETF protocol assignments (service continuity, dummy, PCP and TURN anycast, NAT64 discovery)", "RFC 6890"),
	special("192.0.2.0/24", "documentation (TEST-NET-1)", "RFC 5737"),
	special("192.31.196.0/24", "AS112-v4", "RFC 7535"),
	special("192.52.193.0/24", "AMT", "RFC 7450"),
	special("192.88.99.0/24", "deprecated 6to4 relay anycast", "RFC 7526"),
	special("192.168.0.0/16", "private use", "RFC 1918"),
	special("192.175.48.0/24", "direct delegation AS112 service", "RFC 7534"),
	special("198.18.0.0/15", "benchmarking", "RFC 2544"),
	special("198.51.100.0/24", "documentation (TEST-NET-2)", "RFC 5737"),
	special("203.0.113.0/24", "documentation (TEST-NET-3)", "RFC 5737"),
	special("240.0.0.0/4", "reserved", "RFC 1112"),
	special("255.255.255.255/32", "limited broadcast", "RFC 919"),
	// IPv4 multicast (its own registry).
	special("224.0.0.0/4", "multicast", "RFC 5771"),

	// IPv6 special-purpose registry.
	special("::/128", "unspecified", "RFC 4291"),
	special("::1/128", "loopback", "RFC 4291"),
	special("64:ff9b:1::/48", "IPv4-IPv6 translation, local use", "RFC 8215"),
	special("100::/64", "discard only", "RFC 6666"),
	special("100:0:0:1::/64", "dummy IPv6 prefix", "RFC 9780"),
	special("2001::/23", "IETF protocol assignments", "RFC 2928"),
	special("2001::/32", "Teredo", "RFC 4380"),
	special("2001:1::1/128", "PCP anycast", "RFC 7723"),
	special("2001:1::2/128", "TURN anycast", "RFC 8155"),
	special("2001:1::3/128", "DNS-SD service registration protocol anycast", "RFC 9665"),
	special("2001:2::/48", "benchmarking", "RFC 5180"),
	special("2001:3::/32", "AMT", "RFC 7450"),
	special("2001:4:112::/48", "AS112-v6", "RFC 7535"),
	special("2001:10::/28", "deprecated ORCHID", "RFC 4843"),
	special("2001:20::/28", "ORCHIDv2", "RFC 7343"),
	special("2001:30::/28", "drone remote ID protocol entity tags", "RFC 9374"),
	special("2001:db8::/32", "documentation", "RFC 3849"),
	special("2620:4f:8000::/48", "direct delegation AS112 service", "RFC 7534"),
	special("3fff::/20", "documentation", "RFC 9637"),
	special("5f00::/16", "segment routing (SRv6) SIDs", "RFC 9602"),
	special("fc00::/7", "unique local", "RFC 4193"),
	special("fe80::/10", "link-local unicast", "RFC 4291"),
	// Outside the special-purpose registry, not public unicast either.
	special("::/96", "deprecated IPv4-compatible IPv6", "RFC 4291"),
	special("fec0::/10", "deprecated site-local", "RFC 3879"),
	special("ff00::/8", "multicast", "RFC 4291"),
}

// Prefixes whose addresses embed an IPv4 address: NAT64 (its well-known
// prefix, which the registry marks globally reachable) and 6to4.
var (
	nat64 = netip.MustParsePrefix("64:ff9b::/96")
	sixTo = netip.MustParsePrefix("2002::/16")
)

// publicAddr reports whether a is a public unicast address: in none of
// specialRanges (loopback, private, link-local, documentation, reserved,
// multicast, …), also when written as an IPv4-mapped, NAT64 or 6to4 IPv6
// address.
func publicAddr(a netip.Addr) bool {
	a = a.Unmap().WithZone("") // a prefix never contains a zoned address
	if !a.IsValid() {
		return false
	}
	for _, r := range specialRanges {
		if r.prefix.Contains(a) {
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
