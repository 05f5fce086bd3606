// Package netguard decides which network addresses Waymark may connect to
// on someone else's behalf, and dials only addresses it has vetted: the
// secure proxy's egress policy and the guard on Waymark's own outbound
// fetches. It uses the standard library only.
package netguard

import (
	"net/netip"
)

// Reasons an address is not public. They are stable strings: they appear
// in audit lines, Waymark-Decision headers and metrics.
const (
	ReasonUnspecified   = "unspecified"
	ReasonThisNetwork   = "this_network"
	ReasonLoopback      = "loopback"
	ReasonPrivate       = "private"
	ReasonCGNAT         = "shared_address_space"
	ReasonLinkLocal     = "link_local"
	ReasonMetadata      = "cloud_metadata"
	ReasonUniqueLocal   = "unique_local"
	ReasonSiteLocal     = "site_local"
	ReasonMulticast     = "multicast"
	ReasonBroadcast     = "broadcast"
	ReasonReserved      = "reserved"
	ReasonDocumentation = "documentation"
	ReasonBenchmarking  = "benchmarking"
	ReasonDiscard       = "discard_only"
)

type special struct {
	prefix netip.Prefix
	reason string
}

// Order matters: the first matching prefix names the reason, so narrower
// prefixes come before the wider ones that contain them.
var specials4 = []special{
	{netip.MustParsePrefix("169.254.169.254/32"), ReasonMetadata},
	{netip.MustParsePrefix("255.255.255.255/32"), ReasonBroadcast},
	{netip.MustParsePrefix("0.0.0.0/8"), ReasonThisNetwork},
	{netip.MustParsePrefix("10.0.0.0/8"), ReasonPrivate},
	{netip.MustParsePrefix("100.64.0.0/10"), ReasonCGNAT},
	{netip.MustParsePrefix("127.0.0.0/8"), ReasonLoopback},
	{netip.MustParsePrefix("169.254.0.0/16"), ReasonLinkLocal},
	{netip.MustParsePrefix("172.16.0.0/12"), ReasonPrivate},
	{netip.MustParsePrefix("192.0.0.0/24"), ReasonReserved}, // IETF protocol assignments
	{netip.MustParsePrefix("192.0.2.0/24"), ReasonDocumentation},
	{netip.MustParsePrefix("192.88.99.0/24"), ReasonReserved}, // former 6to4 relay anycast
	{netip.MustParsePrefix("192.168.0.0/16"), ReasonPrivate},
	{netip.MustParsePrefix("198.18.0.0/15"), ReasonBenchmarking},
	{netip.MustParsePrefix("198.51.100.0/24"), ReasonDocumentation},
	{netip.MustParsePrefix("203.0.113.0/24"), ReasonDocumentation},
	{netip.MustParsePrefix("224.0.0.0/4"), ReasonMulticast},
	{netip.MustParsePrefix("240.0.0.0/4"), ReasonReserved},
}

var specials6 = []special{
	{netip.MustParsePrefix("::/128"), ReasonUnspecified},
	{netip.MustParsePrefix("::1/128"), ReasonLoopback},
	{netip.MustParsePrefix("fd00:ec2::254/128"), ReasonMetadata}, // AWS IMDS over IPv6
	{netip.MustParsePrefix("64:ff9b:1::/48"), ReasonReserved},    // local-use NAT64
	{netip.MustParsePrefix("100::/64"), ReasonDiscard},
	{netip.MustParsePrefix("2001:2::/48"), ReasonBenchmarking},
	{netip.MustParsePrefix("2001:db8::/32"), ReasonDocumentation},
	{netip.MustParsePrefix("3fff::/20"), ReasonDocumentation},
	{netip.MustParsePrefix("2001::/23"), ReasonReserved}, // IETF protocol assignments (Teredo handled first)
	{netip.MustParsePrefix("fc00::/7"), ReasonUniqueLocal},
	{netip.MustParsePrefix("fe80::/10"), ReasonLinkLocal},
	{netip.MustParsePrefix("fec0::/10"), ReasonSiteLocal},
	{netip.MustParsePrefix("ff00::/8"), ReasonMulticast},
}

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
	teredo    = netip.MustParsePrefix("2001::/32")
	compat    = netip.MustParsePrefix("::/96") // deprecated IPv4-compatible addresses
	global6   = netip.MustParsePrefix("2000::/3")
)

// Classify says why an address is not a public internet address, or ""
// when it is. Addresses that carry an IPv4 address inside an IPv6 one
// (IPv4-mapped, NAT64, 6to4, Teredo, IPv4-compatible) are judged by the
// address they carry, with the embedding named first
// ("nat64:loopback"). Zones are ignored.
func Classify(ip netip.Addr) string {
	if !ip.IsValid() {
		return ReasonUnspecified
	}
	ip = ip.WithZone("")
	if ip.Is4In6() {
		if r := classify4(ip.Unmap()); r != "" {
			return "ipv4_mapped:" + r
		}
		return ""
	}
	if ip.Is4() {
		return classify4(ip)
	}
	if kind, v4s := carried(ip); kind != "" && kind != "ipv4_compatible" {
		for _, v4 := range v4s {
			if r := embedded(kind, v4); r != "" {
				return r
			}
		}
		return ""
	}
	for _, s := range specials6 {
		if s.prefix.Contains(ip) {
			return s.reason
		}
	}
	if kind, v4s := carried(ip); kind == "ipv4_compatible" {
		// Deprecated since 2006; nothing legitimate uses them.
		if r := embedded(kind, v4s[0]); r != "" {
			return r
		}
		return ReasonReserved
	}
	if !global6.Contains(ip) {
		return ReasonReserved
	}
	return ""
}

// carried returns the IPv4 addresses an IPv6 address carries and the
// kind of embedding: IPv4-mapped, NAT64 (64:ff9b::/96), 6to4 (2002::/16),
// Teredo (2001::/32: the server's address and the client's, inverted) or
// IPv4-compatible (::/96, outside :: and ::1). It returns "" and nil for
// anything else. Every check of an address against a list of IPv4
// ranges must check these too, since the address reaches the IPv4 host
// through a translator.
func carried(ip netip.Addr) (string, []netip.Addr) {
	ip = ip.WithZone("")
	if !ip.Is6() {
		return "", nil
	}
	if ip.Is4In6() {
		return "ipv4_mapped", []netip.Addr{ip.Unmap()}
	}
	b := ip.As16()
	switch {
	case nat64.Contains(ip):
		return "nat64", []netip.Addr{netip.AddrFrom4([4]byte(b[12:16]))}
	case sixToFour.Contains(ip):
		return "6to4", []netip.Addr{netip.AddrFrom4([4]byte(b[2:6]))}
	case teredo.Contains(ip):
		return "teredo", []netip.Addr{netip.AddrFrom4([4]byte(b[4:8])), netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]})}
	case compat.Contains(ip) && ip != netip.IPv6Unspecified() && ip != netip.IPv6Loopback():
		return "ipv4_compatible", []netip.Addr{netip.AddrFrom4([4]byte(b[12:16]))}
	}
	return "", nil
}

// Carried returns the IPv4 addresses that ip carries inside it (see
// Classify), or nil.
func Carried(ip netip.Addr) []netip.Addr {
	_, v4s := carried(ip)
	return v4s
}

func embedded(kind string, v4 netip.Addr) string {
	if r := classify4(v4); r != "" {
		return kind + ":" + r
	}
	return ""
}

func classify4(ip netip.Addr) string {
	for _, s := range specials4 {
		if s.prefix.Contains(ip) {
			return s.reason
		}
	}
	return ""
}
