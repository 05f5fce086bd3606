package netguard

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	cases := []struct {
		ip, want string
	}{
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"2606:4700::1111", ""},
		{"0.0.0.0", ReasonThisNetwork},
		{"0.1.2.3", ReasonThisNetwork},
		{"127.0.0.1", ReasonLoopback},
		{"127.0.0.2", ReasonLoopback},
		{"10.1.2.3", ReasonPrivate},
		{"172.16.0.1", ReasonPrivate},
		{"172.31.255.255", ReasonPrivate},
		{"172.32.0.1", ""},
		{"192.168.1.1", ReasonPrivate},
		{"100.64.0.1", ReasonCGNAT},
		{"100.127.255.255", ReasonCGNAT},
		{"100.128.0.1", ""},
		{"169.254.1.1", ReasonLinkLocal},
		{"169.254.169.254", ReasonMetadata},
		{"192.0.0.8", ReasonReserved},
		{"192.0.2.1", ReasonDocumentation},
		{"198.51.100.7", ReasonDocumentation},
		{"203.0.113.9", ReasonDocumentation},
		{"198.18.0.1", ReasonBenchmarking},
		{"198.19.255.1", ReasonBenchmarking},
		{"192.88.99.1", ReasonReserved},
		{"224.0.0.1", ReasonMulticast},
		{"239.255.255.250", ReasonMulticast},
		{"240.0.0.1", ReasonReserved},
		{"255.255.255.255", ReasonBroadcast},
		{"::", ReasonUnspecified},
		{"::1", ReasonLoopback},
		{"fe80::1", ReasonLinkLocal},
		{"fe80::1%eth0", ReasonLinkLocal},
		{"fc00::1", ReasonUniqueLocal},
		{"fd12:3456::1", ReasonUniqueLocal},
		{"fd00:ec2::254", ReasonMetadata},
		{"fec0::1", ReasonSiteLocal},
		{"ff02::1", ReasonMulticast},
		{"2001:db8::1", ReasonDocumentation},
		{"3fff::1", ReasonDocumentation},
		{"100::1", ReasonDiscard},
		{"2001:2::1", ReasonBenchmarking},
		{"2001:10::1", ReasonReserved},
		{"4000::1", ReasonReserved},
		{"::ffff:127.0.0.1", "ipv4_mapped:" + ReasonLoopback},
		{"::ffff:10.0.0.1", "ipv4_mapped:" + ReasonPrivate},
		{"::ffff:169.254.169.254", "ipv4_mapped:" + ReasonMetadata},
		{"::ffff:8.8.8.8", ""},
		{"64:ff9b::7f00:1", "nat64:" + ReasonLoopback},
		{"64:ff9b::a9fe:a9fe", "nat64:" + ReasonMetadata},
		{"64:ff9b::808:808", ""},
		{"64:ff9b:1::1", ReasonReserved},
		{"2002:7f00:1::1", "6to4:" + ReasonLoopback},
		{"2002:c0a8:101::1", "6to4:" + ReasonPrivate},
		{"2002:808:808::1", ""},
		// Teredo: server 65.54.227.120, client 10.0.0.1 stored inverted (f5ff:fffe).
		{"2001:0:4136:e378:8000:63bf:f5ff:fffe", "teredo:" + ReasonPrivate},
		// Teredo server in a private range.
		{"2001:0:a00:1:8000:63bf:3fff:fdd2", "teredo:" + ReasonPrivate},
		// Teredo client 192.0.2.45 (stored inverted as 3fff:fdd2).
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", "teredo:" + ReasonDocumentation},
		// Teredo with public server and client 8.8.8.8 (f7f7:f7f7).
		{"2001:0:4136:e378:8000:63bf:f7f7:f7f7", ""},
		{"::127.0.0.1", "ipv4_compatible:" + ReasonLoopback},
		{"::8.8.8.8", ReasonReserved},
	}
	for _, c := range cases {
		t.Run(c.ip, func(t *testing.T) {
			want := c.want
			if got := Classify(netip.MustParseAddr(c.ip)); got != want {
				t.Errorf("Classify(%s) = %q, want %q", c.ip, got, want)
			}
		})
	}
}

func TestParseIP(t *testing.T) {
	t.Parallel()
	cases := []struct {
		host string
		want string // "" for a name
	}{
		{"127.0.0.1", "127.0.0.1"},
		{"2130706433", "127.0.0.1"},
		{"0177.0.0.1", "127.0.0.1"},
		{"0x7f.0.0.1", "127.0.0.1"},
		{"0x7f000001", "127.0.0.1"},
		{"0x7f.1", "127.0.0.1"},
		{"127.1", "127.0.0.1"},
		{"127.0.1", "127.0.0.1"},
		{"0", "0.0.0.0"},
		{"0xa9.0xfe.0xa9.0xfe", "169.254.169.254"},
		{"0251.0376.0251.0376", "169.254.169.254"},
		{"127.0.0.1.", "127.0.0.1"},
		{"[::1]", "::1"},
		{"::1", "::1"},
		{"[::ffff:7f00:1]", "::ffff:127.0.0.1"},
		{"[fe80::1%25eth0]", "fe80::1"},
		{"example.com", ""},
		{"1e100", ""},
		{"0x", "0.0.0.0"},
		{"256.0.0.1", ""},
		{"1.2.3.4.5", ""},
		{"4294967296", ""},
		{"09.0.0.1", ""},
		{"", ""},
	}
	for _, c := range cases {
		t.Run(c.host, func(t *testing.T) {
			got, ok := ParseIP(c.host)
			if c.want == "" {
				if ok {
					t.Errorf("ParseIP(%q) = %s, want a name", c.host, got)
				}
				return
			}
			if !ok || got.String() != c.want {
				t.Errorf("ParseIP(%q) = %s %v, want %s", c.host, got, ok, c.want)
			}
		})
	}
}

func TestPolicy(t *testing.T) {
	t.Parallel()
	allow, _ := ParsePrefixes([]string{"127.0.0.1", "10.9.0.0/16"})
	deny, _ := ParsePrefixes([]string{"8.8.4.0/24", "10.9.9.0/24"})
	p := &Policy{Allow: allow, Deny: deny, Ports: []uint16{80, 443, 8080},
		Self:       []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:8443"), netip.MustParseAddrPort("0.0.0.0:9443")},
		LocalAddrs: []netip.Addr{netip.MustParseAddr("203.0.113.5")}}
	cases := []struct {
		ip     string
		port   uint16
		reason string
	}{
		{"8.8.8.8", 443, ""},
		{"8.8.8.8", 22, ReasonPort},
		{"8.8.8.8", 8080, ""},
		{"8.8.4.4", 443, ReasonDeniedCIDR},
		{"127.0.0.1", 80, ""},
		{"::ffff:127.0.0.1", 80, ""},
		{"127.0.0.2", 80, ReasonLoopback},
		{"10.9.1.1", 443, ""},
		{"10.9.9.9", 443, ReasonDeniedCIDR},
		{"10.8.1.1", 443, ReasonPrivate},
		{"127.0.0.1", 8443, ReasonPort},
		{"203.0.113.5", 443, ReasonDocumentation},
	}
	for _, c := range cases {
		if v := p.Check(netip.MustParseAddr(c.ip), c.port); v.Reason != c.reason || v.Allowed != (c.reason == "") {
			t.Errorf("Check(%s, %d) = %+v, want reason %q", c.ip, c.port, v, c.reason)
		}
	}
	self := &Policy{Ports: []uint16{8443, 9443}, Allow: allow,
		Self:       []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:8443"), netip.MustParseAddrPort("[::]:9443")},
		LocalAddrs: []netip.Addr{netip.MustParseAddr("8.8.8.8")}}
	for _, c := range []struct {
		ip   string
		port uint16
	}{{"127.0.0.1", 8443}, {"8.8.8.8", 9443}, {"127.0.0.1", 9443}} {
		if v := self.Check(netip.MustParseAddr(c.ip), c.port); v.Reason != ReasonSelf {
			t.Errorf("self Check(%s, %d) = %+v, want %s", c.ip, c.port, v, ReasonSelf)
		}
	}
	if _, err := ParsePrefixes([]string{"10.0.0.0/33"}); err == nil {
		t.Error("ParsePrefixes accepted a bad CIDR")
	}
}

// TestPolicyCarriedForms is the probe's sixth finding: a denied IPv4
// range was reachable through the IPv6 forms that carry its addresses
// (the built-in ranges were already judged through them; the operator's
// list and the proxy's own addresses were not).
func TestPolicyCarriedForms(t *testing.T) {
	t.Parallel()
	deny, _ := ParsePrefixes([]string{"93.184.216.0/24"})
	p := &Policy{Deny: deny, Ports: []uint16{80, 443, 8443},
		Self:       []netip.AddrPort{netip.MustParseAddrPort("8.8.8.8:8443"), netip.MustParseAddrPort("0.0.0.0:443")},
		LocalAddrs: []netip.Addr{netip.MustParseAddr("9.9.9.9")}}
	for _, c := range []struct {
		ip     string
		port   uint16
		reason string
	}{
		{"93.184.216.34", 80, ReasonDeniedCIDR},
		{"::ffff:93.184.216.34", 80, ReasonDeniedCIDR},
		{"64:ff9b::5db8:d822", 80, ReasonDeniedCIDR},        // NAT64
		{"2002:5db8:d822::1", 80, ReasonDeniedCIDR},         // 6to4
		{"2001:0:5db8:d822::1", 80, ReasonDeniedCIDR},       // Teredo server
		{"2001:0:808:808::a247:27dd", 80, ReasonDeniedCIDR}, // Teredo client, inverted
		{"::5db8:d822", 80, ReasonDeniedCIDR},               // IPv4-compatible
		{"64:ff9b::808:808", 80, ""},                        // NAT64 of a public, allowed address
		{"2002:808:808::1", 80, ""},
		{"64:ff9b::808:808", 8443, ReasonSelf}, // the proxy's own address, carried
		{"2002:808:808::1", 8443, ReasonSelf},
		{"64:ff9b::909:909", 443, ReasonSelf}, // a local address behind an unspecified listener
	} {
		t.Run(c.ip, func(t *testing.T) {
			t.Run(c.ip, func(t *testing.T) {
				if v := p.Check(netip.MustParseAddr(c.ip), c.port); v.Reason != c.reason || v.Allowed != (c.reason == "") {
					t.Errorf("Check(%s, %d) = %+v, want reason %q", c.ip, c.port, v, c.reason)
				}
			})
		})
	}
}

type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func TestDialerResolve(t *testing.T) {
	t.Parallel()
	r := fakeResolver{
		"public.test":   {netip.MustParseAddr("8.8.8.8")},
		"private.test":  {netip.MustParseAddr("10.0.0.5")},
		"mixed.test":    {netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("8.8.8.8")},
		"metadata.test": {netip.MustParseAddr("169.254.169.254")},
		"mapped.test":   {netip.MustParseAddr("::ffff:192.168.0.1")},
	}
	d := &Dialer{Policy: &Policy{}, Resolver: r}
	cases := []struct {
		host string
		want string // vetted address, or the denial reason after "deny:"
	}{
		{"public.test", "8.8.8.8:443"},
		{"mixed.test", "8.8.8.8:443"},
		{"private.test", "deny:" + ReasonPrivate},
		{"metadata.test", "deny:" + ReasonMetadata},
		{"mapped.test", "deny:ipv4_mapped:" + ReasonPrivate},
		{"2130706433", "deny:" + ReasonLoopback},
		{"0x7f.0.0.1", "deny:" + ReasonLoopback},
		{"[::1]", "deny:" + ReasonLoopback},
		{"nowhere.test", "resolve"},
		{"bad host", "resolve"},
	}
	for _, c := range cases {
		t.Run(c.host, func(t *testing.T) {
			tg, err := d.Resolve(context.Background(), c.host, 443)
			var de *DeniedError
			var re *ResolveError
			switch {
			case strings.HasPrefix(c.want, "deny:"):
				if !errors.As(err, &de) || de.Reason != strings.TrimPrefix(c.want, "deny:") {
					t.Errorf("Resolve(%s) = %v, %v; want %s", c.host, tg, err, c.want)
				}
			case c.want == "resolve":
				if !errors.As(err, &re) {
					t.Errorf("Resolve(%s) = %v, %v; want a resolve error", c.host, tg, err)
				}
			default:
				if err != nil || tg.Addr.String() != c.want {
					t.Errorf("Resolve(%s) = %v, %v; want %s", c.host, tg, err, c.want)
				}
			}
		})
	}
	var reported []*DeniedError
	ro := &Dialer{Policy: &Policy{}, Resolver: r, ReportOnly: true, Report: func(e *DeniedError) { reported = append(reported, e) }}
	if tg, err := ro.Resolve(context.Background(), "private.test", 443); err != nil || tg.Addr.Addr().String() != "10.0.0.5" || len(reported) != 1 {
		t.Errorf("report-only: %v %v %v", tg, err, reported)
	}
}

// TestDialerNoSecondLookup: the address dialled is the one checked, even
// when the name resolves elsewhere on a second lookup.
func TestDialerNoSecondLookup(t *testing.T) {
	t.Parallel()
	calls := 0
	var dialled string
	d := &Dialer{Policy: &Policy{}, Resolver: rebinder{&calls},
		Dial: func(_ context.Context, _, addr string) (net.Conn, error) {
			dialled = addr
			return nil, errors.New("not really dialling")
		}}
	d.DialContext(context.Background(), "tcp", "rebind.test:443")
	if calls != 1 || dialled != "8.8.8.8:443" {
		t.Errorf("lookups %d, dialled %q; want 1 lookup and 8.8.8.8:443", calls, dialled)
	}
}

type rebinder struct{ n *int }

func (r rebinder) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	*r.n++
	if *r.n == 1 {
		return []netip.Addr{netip.MustParseAddr("8.8.8.8")}, nil
	}
	return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
}

func FuzzParseIP(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "0x7f.1", "0177.0.0.1", "2130706433", "[::1]", "example.com", "1.2.3.4.5", "0x", "::ffff:1.2.3.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		ip, ok := ParseIP(host)
		if !ok {
			return
		}
		if !ip.IsValid() {
			t.Fatalf("ParseIP(%q) ok with an invalid address", host)
		}
		// The address's own text form parses to the same address.
		again, ok := ParseIP(ip.String())
		if !ok || again != ip {
			t.Fatalf("ParseIP(%q) = %s, but its text parses to %s %v", host, ip, again, ok)
		}
		Classify(ip)
	})
}

func BenchmarkPolicyCheck(b *testing.B) {
	p := &Policy{}
	ips := []netip.Addr{netip.MustParseAddr("8.8.8.8"), netip.MustParseAddr("2606:4700::1111"), netip.MustParseAddr("10.0.0.1")}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p.Check(ips[i%len(ips)], 443)
		i++
	}
}

func TestDialerCache(t *testing.T) {
	t.Parallel()
	calls := 0
	d := &Dialer{Policy: &Policy{}, Resolver: rebinder{&calls}, CacheTTL: time.Minute}
	for range 3 {
		tg, err := d.Resolve(context.Background(), "rebind.test", 443)
		if err != nil || tg.Addr.Addr().String() != "8.8.8.8" {
			t.Fatalf("Resolve: %v %v", tg, err)
		}
	}
	if calls != 1 {
		t.Errorf("%d lookups for 3 resolutions; want 1", calls)
	}
	// A cached answer is still checked against the policy.
	d.Policy = &Policy{Deny: []netip.Prefix{netip.MustParsePrefix("8.8.8.0/24")}}
	if _, err := d.Resolve(context.Background(), "rebind.test", 443); err == nil {
		t.Error("a cached address escaped a new deny rule")
	}
}
