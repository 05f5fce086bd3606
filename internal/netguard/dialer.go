package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Resolver looks up a name's addresses; *net.Resolver is one, and tests
// inject their own.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// DeniedError is a destination the policy refused.
type DeniedError struct {
	Host   string
	IP     netip.Addr // the address refused; invalid when none was resolved
	Port   uint16
	Reason string
}

func (e *DeniedError) Error() string {
	if e.IP.IsValid() && e.IP.String() != e.Host {
		return fmt.Sprintf("netguard: %s (%s) port %d denied: %s", e.Host, e.IP, e.Port, e.Reason)
	}
	return fmt.Sprintf("netguard: %s port %d denied: %s", e.Host, e.Port, e.Reason)
}

// ResolveError is a name that could not be resolved.
type ResolveError struct {
	Host string
	Err  error
}

func (e *ResolveError) Error() string { return fmt.Sprintf("netguard: resolve %s: %v", e.Host, e.Err) }
func (e *ResolveError) Unwrap() error { return e.Err }

// Dialer resolves a destination once, checks every address against the
// policy and connects only to an address it checked, so a name that
// resolves differently a moment later (DNS rebinding) cannot slip through.
type Dialer struct {
	Policy   *Policy
	Resolver Resolver // nil: net.DefaultResolver
	Timeout  time.Duration
	// ReportOnly logs what would be denied (through Report) and dials
	// anyway.
	ReportOnly bool
	Report     func(*DeniedError)
	// Dial connects to a vetted address (tests may replace it).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// CacheTTL keeps successful lookups this long (0: no cache). The
	// addresses are checked on every use, so a cached answer can never
	// let a denied address through.
	CacheTTL time.Duration

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	ips     []netip.Addr
	expires time.Time
}

// maxCached bounds the lookup cache; when full it starts again.
const maxCached = 10000

func (d *Dialer) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	if d.CacheTTL > 0 {
		d.mu.Lock()
		c, ok := d.cache[host]
		d.mu.Unlock()
		if ok && time.Now().Before(c.expires) {
			return c.ips, nil
		}
	}
	r := d.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	ips, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 || d.CacheTTL <= 0 {
		return ips, err
	}
	d.mu.Lock()
	if d.cache == nil || len(d.cache) >= maxCached {
		d.cache = map[string]cached{}
	}
	d.cache[host] = cached{ips: ips, expires: time.Now().Add(d.CacheTTL)}
	d.mu.Unlock()
	return ips, nil
}

// Target is a vetted destination: the address that was checked and will
// be dialled.
type Target struct {
	Host string
	Addr netip.AddrPort
}

// Resolve finds the first address of host the policy allows. When every
// address is denied it returns a *DeniedError naming the first.
func (d *Dialer) Resolve(ctx context.Context, host string, port uint16) (Target, error) {
	var ips []netip.Addr
	if ip, ok := ParseIP(host); ok {
		ips = []netip.Addr{ip}
	} else {
		if err := ValidName(host); err != nil {
			return Target{}, &ResolveError{Host: host, Err: err}
		}
		var err error
		if ips, err = d.lookup(ctx, strings.TrimSuffix(host, ".")); err != nil {
			return Target{}, &ResolveError{Host: host, Err: err}
		}
		if len(ips) == 0 {
			return Target{}, &ResolveError{Host: host, Err: errors.New("no addresses")}
		}
	}
	var first *DeniedError
	for _, ip := range ips {
		v := d.Policy.Check(ip, port)
		if v.Allowed {
			return Target{Host: host, Addr: netip.AddrPortFrom(ip.WithZone(""), port)}, nil
		}
		if first == nil {
			first = &DeniedError{Host: host, IP: ip, Port: port, Reason: v.Reason}
		}
	}
	if d.ReportOnly {
		if d.Report != nil {
			d.Report(first)
		}
		return Target{Host: host, Addr: netip.AddrPortFrom(ips[0].WithZone(""), port)}, nil
	}
	return Target{}, first
}

// DialTarget connects to a vetted target.
func (d *Dialer) DialTarget(ctx context.Context, t Target) (net.Conn, error) {
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	dial := d.Dial
	if dial == nil {
		dial = (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext
	}
	return dial(ctx, "tcp", t.Addr.String())
}

// DialContext resolves, checks and connects; it has the signature of
// net/http's Transport.DialContext.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, &ResolveError{Host: addr, Err: err}
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, &ResolveError{Host: addr, Err: fmt.Errorf("bad port %q", portStr)}
	}
	t, err := d.Resolve(ctx, host, uint16(port))
	if err != nil {
		return nil, err
	}
	return d.DialTarget(ctx, t)
}
