package netguard

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
)

// ErrBadHost is returned for a host that is neither a valid name nor an
// address.
var ErrBadHost = errors.New("netguard: invalid host")

// ParseIP reads a host that is an IP address in any form a browser or
// inet_aton accepts: dotted IPv4 with one to four parts in decimal, octal
// (leading 0) or hex (0x), such as "2130706433", "0177.0.0.1" or
// "0x7f.1"; and IPv6, with or without brackets. ok is false for names.
// Judging these forms as addresses keeps "http://0x7f000001/" from
// reaching loopback as if it were a name.
func ParseIP(host string) (ip netip.Addr, ok bool) {
	h := strings.TrimSuffix(host, ".")
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	if a, err := netip.ParseAddr(h); err == nil {
		return a.WithZone(""), true
	}
	return parseLegacy4(h)
}

func parseLegacy4(h string) (netip.Addr, bool) {
	if h == "" || strings.IndexFunc(h, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F' || r == 'x' || r == 'X' || r == '.')
	}) >= 0 {
		return netip.Addr{}, false
	}
	parts := strings.Split(h, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	nums := make([]uint64, len(parts))
	for i, p := range parts {
		base := 10
		switch {
		case len(p) > 1 && (p[:2] == "0x" || p[:2] == "0X"):
			base, p = 16, p[2:]
			if p == "" {
				p = "0"
			}
		case len(p) > 1 && p[0] == '0':
			base, p = 8, p[1:]
		}
		n, err := strconv.ParseUint(p, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		nums[i] = n
	}
	// The last part fills the remaining bytes; each earlier part is one byte.
	var v uint64
	for i, n := range nums[:len(nums)-1] {
		if n > 255 {
			return netip.Addr{}, false
		}
		v |= n << (8 * (3 - i))
	}
	last := nums[len(nums)-1]
	if last >= 1<<(8*(5-len(nums))) {
		return netip.Addr{}, false
	}
	v |= last
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

// ValidName checks a DNS name as a proxy destination: 1 to 253
// characters of letters, digits, hyphens, underscores and dots, labels of
// at most 63. Internationalised names arrive as punycode.
func ValidName(host string) error {
	h := strings.TrimSuffix(host, ".")
	if h == "" || len(h) > 253 {
		return ErrBadHost
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return ErrBadHost
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return ErrBadHost
			}
		}
	}
	return nil
}
