// Package addrpolicy decides which addresses a connection to a
// user-supplied target may reach: the checks' and the alert webhook's. It is
// its own package so that functions that run no checks can obey it without
// linking the check engine.
package addrpolicy

import (
	"fmt"
	"net/netip"
	"syscall"
)

// Policy says which addresses a location's checks may reach. Targets come
// from users, so by default only public unicast addresses are allowed.
// Loopback (where the Lambda runtime API listens) needs AllowLoopback;
// private ranges need AllowPrivate (a VPC probe for an intranet). Link-local
// (cloud metadata), multicast, unspecified, broadcast and reserved addresses
// are refused whatever the policy.
type Policy struct {
	AllowLoopback bool
	AllowPrivate  bool
}

// RefusedError is the error a check gets when the policy refuses the address
// it resolved to; Result.Error is then record.ErrRefused.
type RefusedError struct {
	Addr   netip.Addr
	Reason string // which kind of address: "loopback", "link-local", ...
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("address %s refused: %s", e.Addr, e.Reason)
}

var (
	nat64        = netip.MustParsePrefix("64:ff9b::/96")
	thisNetwork  = netip.MustParsePrefix("0.0.0.0/8")
	reserved4    = netip.MustParsePrefix("240.0.0.0/4") // includes 255.255.255.255
	metadata6    = netip.MustParseAddr("fd00:ec2::254")
	privateBlock = []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("172.16.0.0/12"),
		netip.MustParsePrefix("192.168.0.0/16"),
		netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
		netip.MustParsePrefix("fc00::/7"),      // unique local
		netip.MustParsePrefix("fec0::/10"),     // deprecated site-local
	}
)

// Check returns nil when the policy allows connecting to addr, else a
// *RefusedError saying why. IPv4 addresses written as IPv6 (::ffff:a.b.c.d,
// and the NAT64 prefix 64:ff9b::/96) are judged as the IPv4 address they
// reach.
func (p Policy) Check(addr netip.Addr) error {
	ip := addr.Unmap().WithZone("")
	if ip.Is6() && nat64.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte(b[12:]))
	}
	refuse := func(reason string) error { return &RefusedError{Addr: addr, Reason: reason} }
	switch {
	case !ip.IsValid():
		return refuse("invalid")
	case ip.IsUnspecified() || thisNetwork.Contains(ip):
		return refuse("unspecified")
	case ip.IsLinkLocalUnicast() || ip == metadata6:
		return refuse("link-local") // cloud metadata lives here
	case ip.IsMulticast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast():
		return refuse("multicast")
	case reserved4.Contains(ip):
		return refuse("reserved or broadcast")
	case ip.IsLoopback():
		if p.AllowLoopback {
			return nil
		}
		return refuse("loopback")
	}
	for _, b := range privateBlock {
		if b.Contains(ip) {
			if p.AllowPrivate {
				return nil
			}
			return refuse("private")
		}
	}
	return nil
}

// Control is the policy as a net.Dialer Control hook: it runs after DNS
// resolution and before the connect system call, for every connection of
// every redirect hop, so neither a redirect nor DNS rebinding can slip past
// the policy.
func (p Policy) Control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &RefusedError{Reason: fmt.Sprintf("unparsable address %q", address)}
	}
	return p.Check(ap.Addr())
}
