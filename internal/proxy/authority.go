package proxy

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"waymark.dev/waymark/internal/netguard"
)

// Destination is where a client asked the proxy to go.
type Destination struct {
	Host string // lower case; an address in its canonical text form
	Port uint16
}

// String gives host:port, with brackets around IPv6 addresses.
func (d Destination) String() string {
	if strings.Contains(d.Host, ":") {
		return "[" + d.Host + "]:" + strconv.Itoa(int(d.Port))
	}
	return d.Host + ":" + strconv.Itoa(int(d.Port))
}

// ErrBadAuthority is returned for a request target the proxy cannot read.
var ErrBadAuthority = errors.New("proxy: invalid destination")

// ParseAuthority reads a destination "host:port" or "host" (with
// defaultPort; 0 means the port is required). It refuses user
// information, empty hosts and ports outside 1-65535, and writes an
// address given in any legacy form ("0x7f.1") as the address it means,
// so that policy and audit see the real destination.
func ParseAuthority(s string, defaultPort uint16) (Destination, error) {
	if s == "" || len(s) > 261 {
		return Destination{}, fmt.Errorf("%w: empty or longer than 261 characters", ErrBadAuthority)
	}
	if strings.ContainsAny(s, "@/\\?# \t\r\n%") && !strings.HasPrefix(s, "[") {
		return Destination{}, fmt.Errorf("%w: %q has characters a host cannot have", ErrBadAuthority, s)
	}
	host, portStr := s, ""
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return Destination{}, fmt.Errorf("%w: %q has no closing bracket", ErrBadAuthority, s)
		}
		host = s[1:end]
		rest := s[end+1:]
		if rest != "" {
			if rest[0] != ':' {
				return Destination{}, fmt.Errorf("%w: %q", ErrBadAuthority, s)
			}
			portStr = rest[1:]
		}
		if _, ok := netip6(host); !ok {
			return Destination{}, fmt.Errorf("%w: %q is not an IPv6 address", ErrBadAuthority, host)
		}
	case strings.Count(s, ":") == 1:
		i := strings.IndexByte(s, ':')
		host, portStr = s[:i], s[i+1:]
	case strings.Count(s, ":") > 1:
		return Destination{}, fmt.Errorf("%w: IPv6 addresses need brackets", ErrBadAuthority)
	}
	var port uint16
	switch {
	case portStr != "":
		n, err := strconv.ParseUint(portStr, 10, 16)
		if err != nil || n == 0 || portStr[0] == '+' {
			return Destination{}, fmt.Errorf("%w: port %q is not a number from 1 to 65535", ErrBadAuthority, portStr)
		}
		port = uint16(n)
	case defaultPort != 0:
		port = defaultPort
	default:
		return Destination{}, fmt.Errorf("%w: %q has no port", ErrBadAuthority, s)
	}
	if ip, ok := netguard.ParseIP(host); ok {
		return Destination{Host: ip.String(), Port: port}, nil
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if strings.HasSuffix(host, ".") || strings.Contains(host, "..") {
		return Destination{}, fmt.Errorf("%w: %q has an empty label", ErrBadAuthority, host)
	}
	// Without its root dot, a name may be an address ("0." is 0.0.0.0).
	if ip, ok := netguard.ParseIP(host); ok {
		return Destination{Host: ip.String(), Port: port}, nil
	}
	if err := netguard.ValidName(host); err != nil {
		return Destination{}, fmt.Errorf("%w: %q is not a valid host name", ErrBadAuthority, host)
	}
	return Destination{Host: host, Port: port}, nil
}

func netip6(h string) (string, bool) {
	ip, ok := netguard.ParseIP(h)
	return ip.String(), ok && ip.Is6()
}
