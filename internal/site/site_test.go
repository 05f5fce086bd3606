package site

import (
	"errors"
	"net/netip"
	"testing"
)

func TestNormalizeDomain(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"Example.COM", "example.com"},
		{"www.example.com.", "example.com"},
		{" shop.example ", "shop.example"},
		{"bücher.example", "xn--bcher-kva.example"},
	}
	for _, tt := range tests {
		if got, err := NormalizeDomain(tt.in); err != nil || got != tt.want {
			t.Errorf("NormalizeDomain(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "https://example.com", "example.com/path", "a b.com", "user@example.com", "example.com:8080"} {
		if _, err := NormalizeDomain(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("NormalizeDomain(%q) accepted", bad)
		}
	}
}

func TestDomainFromInput(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://www.example.com/":          "example.com",
		"http://Shop.Example:8080/cart?x=1": "shop.example",
		" example.com ":                     "example.com",
		"example.com/blog":                  "example.com",
		"example.com:443":                   "example.com",
		"bücher.example/":                   "xn--bcher-kva.example",
	} {
		if got, err := NormalizeDomain(DomainFromInput(in)); err != nil || got != want {
			t.Errorf("%q: %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "https://", "user@example.com", "a b.com"} {
		if _, err := NormalizeDomain(DomainFromInput(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestIgnored(t *testing.T) {
	t.Parallel()
	s := &Site{IgnoreIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}, IgnorePaths: []string{"/admin", "/preview*"}}
	tests := []struct {
		ip, path string
		want     bool
	}{
		{"10.1.2.3", "/", true},
		{"::ffff:10.1.2.3", "/", true},
		{"2001:db8::1", "/", true},
		{"192.0.2.1", "/admin/users", true},
		{"192.0.2.1", "/preview/x", true},
		{"192.0.2.1", "/shop", false},
	}
	for _, tt := range tests {
		if got := s.Ignored(netip.MustParseAddr(tt.ip), tt.path); got != tt.want {
			t.Errorf("Ignored(%s, %s) = %v, want %v", tt.ip, tt.path, got, tt.want)
		}
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	a, ha := NewTokenSecret()
	b, _ := NewTokenSecret()
	if a == b || len(a) < 30 || a[:4] != "wmk_" || HashToken(a) != ha {
		t.Errorf("tokens %q %q", a, b)
	}
	tok := &Token{Site: "a.com"}
	if !tok.Allows("a.com") || tok.Allows("b.com") || !(&Token{}).Allows("b.com") {
		t.Error("Allows")
	}
}
