package netguard

import (
	"fmt"
	"net/netip"
	"slices"
)

// Reasons of a policy decision besides an address class.
const (
	ReasonDeniedCIDR = "denied_cidr"
	ReasonPort       = "port_not_allowed"
	ReasonSelf       = "proxy_itself"
)

// Policy decides which addresses and ports may be dialled. The zero
// Policy denies every special range and allows ports 80 and 443.
type Policy struct {
	// Allow lists prefixes dialled even though they are special (for
	// example an internal service the proxy should reach). Deny wins
	// over Allow.
	Allow []netip.Prefix
	// Deny lists prefixes never dialled, public or not.
	Deny []netip.Prefix
	// Ports allowed; empty means 80 and 443.
	Ports []uint16
	// Self lists the proxy's own listening addresses; an unspecified
	// address there stands for every local address on that port.
	Self []netip.AddrPort
	// LocalAddrs are the machine's own addresses, for Self entries on an
	// unspecified address.
	LocalAddrs []netip.Addr
}

// Verdict is a policy decision about one address and port.
type Verdict struct {
	Allowed bool
	Reason  string // why not; "" when allowed
}

// Check decides about dialling ip:port.
func (p *Policy) Check(ip netip.Addr, port uint16) Verdict {
	ip = ip.WithZone("")
	if !p.portAllowed(port) {
		return Verdict{Reason: ReasonPort}
	}
	// The operator's deny list and the proxy's own addresses are matched
	// by the address and by every IPv4 address it carries (NAT64, 6to4,
	// Teredo, IPv4-compatible), as Classify does for the built-in ranges.
	carriedV4 := Carried(ip)
	if p.isSelf(ip, port) || slices.ContainsFunc(carriedV4, func(v4 netip.Addr) bool { return p.isSelf(v4, port) }) {
		return Verdict{Reason: ReasonSelf}
	}
	if contains(p.Deny, ip) || slices.ContainsFunc(carriedV4, func(v4 netip.Addr) bool { return contains(p.Deny, v4) }) {
		return Verdict{Reason: ReasonDeniedCIDR}
	}
	if contains(p.Allow, ip) {
		return Verdict{Allowed: true}
	}
	if r := Classify(ip); r != "" {
		return Verdict{Reason: r}
	}
	return Verdict{Allowed: true}
}

func (p *Policy) portAllowed(port uint16) bool {
	if len(p.Ports) == 0 {
		return port == 80 || port == 443
	}
	return slices.Contains(p.Ports, port)
}

func (p *Policy) isSelf(ip netip.Addr, port uint16) bool {
	u := ip.Unmap()
	for _, s := range p.Self {
		if s.Port() != port {
			continue
		}
		if s.Addr().Unmap() == u {
			return true
		}
		if s.Addr().IsUnspecified() && (u.IsLoopback() || slices.Contains(p.LocalAddrs, u)) {
			return true
		}
	}
	return false
}

func contains(ps []netip.Prefix, ip netip.Addr) bool {
	u := ip.Unmap()
	for _, p := range ps {
		if p.Contains(ip) || p.Contains(u) {
			return true
		}
	}
	return false
}

// ParsePrefixes reads CIDRs ("10.1.0.0/16") or single addresses.
func ParsePrefixes(ss []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range ss {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("netguard: %q is not a CIDR or an address", s)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
