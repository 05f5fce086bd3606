package threats

import (
	"slices"
	"testing"
)

func TestCanonicalize(t *testing.T) {
	tests := []struct{ in, want string }{
		// The examples published with the Safe Browsing specification.
		{"http://host/%25%32%35", "http://host/%25"},
		{"http://host/%25%32%35%25%32%35", "http://host/%25%25"},
		{"http://host/%2525252525252525", "http://host/%25"},
		{"http://host/asdf%25%32%35asd", "http://host/asdf%25asd"},
		{"http://host/%%%25%32%35asd%%", "http://host/%25%25%25asd%25%25"},
		{"http://www.google.com/", "http://www.google.com/"},
		{"http://%31%36%38%2e%31%38%38%2e%39%39%2e%32%36/%2E%73%65%63%75%72%65/%77%77%77%2E%65%62%61%79%2E%63%6F%6D/", "http://168.188.99.26/.secure/www.ebay.com/"},
		{"http://195.127.0.11/uploads/%20%20%20%20/.verify/.eBaysecure=updateuserdataxplimnbqmn-xplmvalidateinfoswqpcmlx=hgplmcx/", "http://195.127.0.11/uploads/%20%20%20%20/.verify/.eBaysecure=updateuserdataxplimnbqmn-xplmvalidateinfoswqpcmlx=hgplmcx/"},
		{"http://host%23.com/%257Ea%2521b%2540c%2523d%2524e%25f%255E00%252611%252A22%252833%252944_55%252B", "http://host%23.com/~a!b@c%23d$e%25f^00&11*22(33)44_55+"},
		{"http://3279880203/blah", "http://195.127.0.11/blah"},
		{"http://www.google.com/blah/..", "http://www.google.com/"},
		{"www.google.com/", "http://www.google.com/"},
		{"www.google.com", "http://www.google.com/"},
		{"http://www.evil.com/blah#frag", "http://www.evil.com/blah"},
		{"http://www.GOOgle.com/", "http://www.google.com/"},
		{"http://www.google.com.../", "http://www.google.com/"},
		{"http://www.google.com/foo\tbar\rbaz\n2", "http://www.google.com/foobarbaz2"},
		{"http://www.google.com/q?", "http://www.google.com/q?"},
		{"http://www.google.com/q?r?", "http://www.google.com/q?r?"},
		{"http://www.google.com/q?r?s", "http://www.google.com/q?r?s"},
		{"http://evil.com/foo#bar#baz", "http://evil.com/foo"},
		{"http://evil.com/foo;", "http://evil.com/foo;"},
		{"http://evil.com/foo?bar;", "http://evil.com/foo?bar;"},
		{"http://\x01\x80.com/", "http://%01%80.com/"},
		{"http://notrailingslash.com", "http://notrailingslash.com/"},
		{"http://www.gotaport.com:1234/", "http://www.gotaport.com/"},
		{"  http://www.google.com/  ", "http://www.google.com/"},
		{"http:// leadingspace.com/", "http://%20leadingspace.com/"},
		{"http://%20leadingspace.com/", "http://%20leadingspace.com/"},
		{"%20leadingspace.com/", "http://%20leadingspace.com/"},
		{"https://www.securesite.com/", "https://www.securesite.com/"},
		{"http://host.com/ab%23cd", "http://host.com/ab%23cd"},
		{"http://host.com//twoslashes?more//slashes", "http://host.com/twoslashes?more//slashes"},
		// Our own edge cases.
		{"HTTP://Example.COM:80/a/./b/../c", "http://example.com/a/c"},
		{"http://example.com./", "http://example.com/"},
		{"http://user:pw@example.com/x", "http://example.com/x"},
		{"http://0x7f.1/", "http://127.0.0.1/"},
		{"http://0177.0.0.1/", "http://127.0.0.1/"},
		{"http://2130706433/", "http://127.0.0.1/"},
		{"http://[2001:0db8:0000::1]/", "http://[2001:db8::1]/"},
		{"http://[::ffff:1.2.3.4]/", "http://1.2.3.4/"},
		{"http://[64:ff9b::1.2.3.4]/", "http://1.2.3.4/"},
		{"http://www.\xC3\xBCmlat.com/", "http://www.xn--mlat-zra.com/"},
		{"http%3A%2F%2Fwackyurl.com:80/", "http://wackyurl.com/"},
		{"http://W!eird<>Ho$^.com/", "http://w!eird<>ho$^.com/"},
		{"https://example.com/a b?c d", "https://example.com/a%20b?c%20d"},
		{"http://example.com/%", "http://example.com/%25"},
		{"http://example.com/..%2f..%2fetc", "http://example.com/etc"},
		{"www.google.com:80", "http://www.google.com/"},
	}
	for _, tt := range tests {
		u, err := Canonicalize(tt.in)
		if err != nil {
			t.Errorf("Canonicalize(%q): %v", tt.in, err)
			continue
		}
		if got := u.String(); got != tt.want {
			t.Errorf("Canonicalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCanonicalizeRefuses(t *testing.T) {
	for _, in := range []string{"", ":", "/blah", "#ref", "/blah#ref", "?query#ref", "http://#ref", "http:///blah#ref",
		"http://?query#ref", "http:///blah;param", "mailto:someone@example.com", "http:www.google.com:8080/foo.html",
		"www.google.com:xxyy/foo.html:80", "http://[::1/", "http://...", "http://example.com:8o/"} {
		if u, err := Canonicalize(in); err == nil {
			t.Errorf("Canonicalize(%q) = %q, want an error", in, u)
		}
	}
}

func TestExpressions(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"http://a.b.c/1/2.html?param=1", []string{"a.b.c/1/2.html?param=1", "a.b.c/1/2.html", "a.b.c/", "a.b.c/1/",
			"b.c/1/2.html?param=1", "b.c/1/2.html", "b.c/", "b.c/1/"}},
		{"http://a.b.c.d.e.f.g/1.html", []string{"a.b.c.d.e.f.g/1.html", "a.b.c.d.e.f.g/", "c.d.e.f.g/1.html", "c.d.e.f.g/",
			"d.e.f.g/1.html", "d.e.f.g/", "e.f.g/1.html", "e.f.g/", "f.g/1.html", "f.g/"}},
		{"http://1.2.3.4/1/", []string{"1.2.3.4/1/", "1.2.3.4/"}},
		{"http://a.b/", []string{"a.b/"}},
		{"http://b/", []string{"b/"}},
		{"http://a.b.c/1/2/3/4/5/", []string{"a.b.c/1/2/3/4/5/", "a.b.c/", "a.b.c/1/", "a.b.c/1/2/", "a.b.c/1/2/3/",
			"b.c/1/2/3/4/5/", "b.c/", "b.c/1/", "b.c/1/2/", "b.c/1/2/3/"}},
		{"http://a.b/?", []string{"a.b/?", "a.b/"}},
		{"http://[2001:db8::1]/a/b", []string{"[2001:db8::1]/a/b", "[2001:db8::1]/", "[2001:db8::1]/a/"}},
	}
	for _, tt := range tests {
		u, err := Canonicalize(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		got := Expressions(u)
		if !slices.Equal(got, tt.want) {
			t.Errorf("Expressions(%q):\n got %q\nwant %q", tt.in, got, tt.want)
		}
		if len(got) > 30 {
			t.Errorf("Expressions(%q): %d expressions, at most 30", tt.in, len(got))
		}
	}
}

// FuzzCanonicalize: canonicalising never panics and a canonical URL
// canonicalises to itself.
func FuzzCanonicalize(f *testing.F) {
	for _, s := range []string{"http://host/%25%32%35", "http://3279880203/blah", "www.google.com", "http://[::ffff:1.2.3.4]/",
		"http://\x01\x80.com/", "http://a.b.c/1/2.html?param=1#x", "https://xn--mlat-zra.com/..%2f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := Canonicalize(s)
		if err != nil {
			return
		}
		c := u.String()
		v, err := Canonicalize(c)
		if err != nil {
			t.Fatalf("Canonicalize(%q) = %q, which does not canonicalise: %v", s, c, err)
		}
		if v.String() != c {
			t.Fatalf("Canonicalize(%q) = %q, then %q", s, c, v.String())
		}
		if n := len(Expressions(u)); n < 1 || n > 30 {
			t.Fatalf("%d expressions for %q", n, c)
		}
	})
}
