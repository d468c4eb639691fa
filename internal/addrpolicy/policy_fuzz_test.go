package addrpolicy

import (
	"errors"
	"net/netip"
	"testing"
)

// oracle is the address policy written a second way, as plain prefix tables,
// for FuzzPolicyCheck to hold Policy.Check to: what kind of address addr is
// once IPv4 written as IPv6 (mapped, NAT64) is turned back into IPv4.
func oracle(addr netip.Addr) string {
	a := addr.WithZone("")
	if a.Is4In6() {
		a = a.Unmap()
	}
	if p := netip.MustParsePrefix("64:ff9b::/96"); p.Contains(a) {
		b := a.As16()
		a = netip.AddrFrom4([4]byte(b[12:]))
	}
	in := func(prefixes ...string) bool {
		for _, s := range prefixes {
			if netip.MustParsePrefix(s).Contains(a) {
				return true
			}
		}
		return false
	}
	switch {
	case !a.IsValid():
		return "invalid"
	case in("0.0.0.0/8", "::/128"):
		return "unspecified"
	case in("169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128"):
		return "link-local"
	case in("224.0.0.0/4", "ff00::/8"):
		return "multicast"
	case in("240.0.0.0/4"):
		return "reserved or broadcast"
	case in("127.0.0.0/8", "::1/128"):
		return "loopback"
	case in("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7", "fec0::/10"):
		return "private"
	}
	return ""
}

// FuzzPolicyCheck: for any address (4 or 16 bytes, any zone) and any
// policy, Check allows exactly what the oracle allows, refuses with a
// *RefusedError naming the oracle's reason, and never lets loopback or
// private addresses through without their flag, nor link-local, multicast,
// unspecified or reserved ones at all. The same address written as a string
// and parsed by the dialer hook gets the same decision.
func FuzzPolicyCheck(f *testing.F) {
	for _, s := range []string{
		"127.0.0.1", "::1", "::ffff:127.0.0.1", "64:ff9b::7f00:1", "169.254.169.254", "fd00:ec2::254",
		"fe80::1%eth0", "10.0.0.1", "fd12::1", "100.64.0.1", "224.0.0.1", "ff02::1", "0.0.0.0", "::",
		"255.255.255.255", "93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "::7f00:1",
	} {
		a := netip.MustParseAddr(s)
		b, _ := a.WithZone("").MarshalBinary()
		f.Add(b, a.Zone(), false, false)
		f.Add(b, a.Zone(), true, true)
	}
	f.Fuzz(func(t *testing.T, raw []byte, zone string, loopback, private bool) {
		var addr netip.Addr
		switch len(raw) {
		case 4:
			addr = netip.AddrFrom4([4]byte(raw))
		case 16:
			addr = netip.AddrFrom16([16]byte(raw))
			if zone != "" && validZone(zone) {
				addr = addr.WithZone(zone)
			}
		default:
			return
		}
		p := Policy{AllowLoopback: loopback, AllowPrivate: private}
		err := p.Check(addr)
		kind := oracle(addr)
		allowed := kind == "" || kind == "loopback" && loopback || kind == "private" && private
		if (err == nil) != allowed {
			t.Fatalf("Policy%+v.Check(%s) = %v; the oracle says %q, allowed=%v", p, addr, err, kind, allowed)
		}
		if err != nil {
			var refused *RefusedError
			if !errors.As(err, &refused) || refused.Reason != kind || refused.Addr != addr {
				t.Fatalf("Check(%s) = %#v, want a *RefusedError for %s with reason %q", addr, err, addr, kind)
			}
		}
		// The dialer hook sees "ip:port" (zones included) after resolution.
		hookErr := p.Control("tcp", netip.AddrPortFrom(addr, 443).String(), nil)
		if (hookErr == nil) != (err == nil) {
			t.Fatalf("Control(%s) = %v, Check = %v", netip.AddrPortFrom(addr, 443), hookErr, err)
		}
	})
}

// validZone is a zone netip prints and parses back unchanged.
func validZone(z string) bool {
	a, err := netip.ParseAddr("fe80::1%" + z)
	return err == nil && a.Zone() == z
}

// FuzzPolicyControl: the dialer hook never panics on any address string,
// and only lets through a well-formed ip:port whose address Check allows.
func FuzzPolicyControl(f *testing.F) {
	for _, s := range []string{
		"127.0.0.1:80", "[::1]:443", "[fe80::1%eth0]:80", "169.254.169.254:80", "[::ffff:10.0.0.1]:0",
		"10.0.0.1", "localhost:80", ":80", "[]:1", "1.2.3.4:99999", "[64:ff9b::a9fe:a9fe]:80",
	} {
		f.Add(s, false, false)
		f.Add(s, true, true)
	}
	f.Fuzz(func(t *testing.T, address string, loopback, private bool) {
		p := Policy{AllowLoopback: loopback, AllowPrivate: private}
		err := p.Control("tcp", address, nil)
		if err != nil {
			var refused *RefusedError
			if !errors.As(err, &refused) {
				t.Fatalf("Control(%q) = %T %v, want *RefusedError", address, err, err)
			}
			return
		}
		ap, perr := netip.ParseAddrPort(address)
		if perr != nil {
			t.Fatalf("Control(%q) allowed an address that does not parse: %v", address, perr)
		}
		kind := oracle(ap.Addr())
		if allowed := kind == "" || kind == "loopback" && loopback || kind == "private" && private; !allowed {
			t.Fatalf("Control(%q) allowed a %s address under %+v", address, kind, p)
		}
	})
}
