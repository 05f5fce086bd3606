package threats

import (
	"strings"
	"testing"

	"golang.org/x/net/idna"
)

func TestLookalikes(t *testing.T) {
	p, err := NewProtector([]string{"waymark.dev", "paypal.com", "bank.co.uk", "myetherwallet.com", "launchpad.ethereum.org", "microsoft.com"}, []string{"waymart.com"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host, kind string // kind "" means not a lookalike
		block      bool
	}{
		{"w\u0430ymark.dev", "homoglyph", true},                    // Cyrillic а among Latin letters
		{"\u0440\u0430\u0443\u0440\u0430l.com", "homoglyph", true}, // Cyrillic р а у р а
		{"p\u00e1yp\u00e1l.com", "homoglyph", true},                // accents
		{"paypa1.com", "homoglyph", true},                          // digit one for l
		{"rnicrosoft.com", "homoglyph", true},                      // rn for m
		{"paypai.com", "homoglyph", true},                          // i for l
		{"paypak.com", "typo", true},                               // one substitution
		{"paypla.com", "typo", true},                               // adjacent swap
		{"waymarks.dev", "typo", true},                             // one insertion
		{"myetherwalet.com", "typo", true},
		{"myethe.rwallet.com", "label_split", true}, // the examples
		{"myetherw.allet.com", "label_split", true},
		{"my.ether.wallet.net", "label_split", true},
		{"pay-pal.com", "hyphenation", true},
		{"waymark-login.net", "combosquat", true}, // hyphenated phishing word
		{"secure-paypal-verify.com", "combosquat", true},
		{"paypalsecure.com", "combosquat", true}, // glued phishing word
		{"loginpaypal.com", "combosquat", true},
		{"paypalcom.com", "combosquat", true}, // dnstwist's "various"
		{"paypal-fanclub.com", "combosquat", false},
		{"waymark.dev.evil.example", "subdomain", true},
		{"paypal.com.secure-login.net", "subdomain", true},
		{"login.paypal.evil.example", "subdomain", true},
		{"waymark.io", "tld_swap", false},
		{"bank.com", "tld_swap", false},
		{"launchpad-ethereum.org", "label_split", true}, // a protected host's labels run together
		{"launchpadethereum.com", "label_split", true},
		{"launchpad.ethereum.org.evil.example", "subdomain", true},
		{"etherium.org", "typo", true},
		// Must pass.
		{"waymark.dev", "", false},
		{"docs.waymark.dev", "", false},
		{"www.paypal.com", "", false},
		{"launchpad.ethereum.org", "", false},
		{"blog.ethereum.org", "", false},
		{"waymart.com", "", false},    // allowlisted
		{"paypalooza.com", "", false}, // contains the brand glued to an unknown word
		{"banks.co.uk", "", false},    // "bank" is shorter than the edit-distance minimum
		{"tank.co.uk", "", false},
		{"example.com", "", false},
		{"dev.example", "", false}, // "dev" is the protected suffix, not the label
		{"evil.example", "", false},
		{"waymarket.dev", "", false},      // two edits away
		{"ethereum.github.io", "", false}, // someone's own name on shared hosting
		{"metamask.github.io", "", false},
		{"paypal.github.io", "", false},
		{"google.com", "", false},
		{"paypalobjects.com", "", false}, // glued to an unknown word (and popular)
	}
	for _, tt := range tests {
		host, err := idna.Lookup.ToASCII(tt.host)
		if err != nil {
			t.Fatal(err)
		}
		l, ok := p.Check(host)
		if tt.kind == "" && ok {
			t.Errorf("Check(%q) = %+v, want no lookalike", tt.host, l)
		}
		if tt.kind != "" && (!ok || l.Kind != tt.kind || l.Block() != tt.block || l.Detail == "") {
			t.Errorf("Check(%q) = %+v %v, want %s (block %v)", tt.host, l, ok, tt.kind, tt.block)
		}
	}
	if _, err := NewProtector([]string{"co.uk"}, nil, 1); err == nil {
		t.Error("a public suffix accepted as a protected entry")
	}
	if _, err := NewProtector([]string{"www.waymark.dev"}, nil, 1); err != nil {
		t.Errorf("a host name refused: %v", err)
	}
	off, _ := NewProtector([]string{"paypal.com"}, nil, 0)
	if _, ok := off.Check("paypak.com"); ok {
		t.Error("MaxEdits 0 still flags typos")
	}
}

// TestPopularCorpus: the shipped corpus loads, is large, and keeps its
// popular domains unflagged.
func TestPopularCorpus(t *testing.T) {
	d := PopularDomains()
	if len(d) < 10000 {
		t.Fatalf("%d popular domains, want at least 10,000", len(d))
	}
	p, _ := NewProtector([]string{"google.com"}, nil, 1)
	for _, h := range []string{"googleapis.com", "googleadservices.com", "google-analytics.com"} {
		if l, ok := p.Check(h); ok {
			t.Errorf("%s flagged: %+v", h, l)
		}
	}
	p.SetPopular(nil)
	if _, ok := p.Check("google-analytics.com"); !ok {
		t.Error("google-analytics.com not flagged without the corpus: the corpus test proves nothing")
	}
}

func TestFold(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"paypal", "paypal"}, {"paypa1", "paypal"}, {"rnicrosoft", "rnicrosoft"}, {"microsoft", "rnicrosoft"}, {"g00gle", "google"},
	} {
		if got, _, _ := foldLabel(tt.in); got != tt.want {
			t.Errorf("fold(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	a, _ := idna.Lookup.ToASCII("p\u00e1yp\u0430l")
	if got, idn, mixed := foldLabel(a); got != "paypal" || !idn || !mixed {
		t.Errorf("fold(%q) = %q idn %v mixed %v", a, got, idn, mixed)
	}
}

func TestEditDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		d    int
	}{{"paypal", "paypal", 0}, {"paypal", "paypai", 1}, {"paypal", "paypla", 1}, {"paypal", "paypa", 1}, {"paypal", "xpaypal", 1},
		{"paypal", "pyapla", 2}, {"abc", "xyzabc", 2}} {
		if got := editDistance(tt.a, tt.b, 1); min(got, 2) != min(tt.d, 2) {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.d)
		}
	}
}

// FuzzProtectorCheck: any host, however odd, gets an answer without a
// panic, and an answer names a protected entry and a reason.
func FuzzProtectorCheck(f *testing.F) {
	for _, s := range []string{"paypa1.com", "myethe.rwallet.com", "xn--pypal-4ve.com", "a.b.c.d.e.f.github.io", "-.-", "xn--.com", strings.Repeat("a.", 120) + "com"} {
		f.Add(s)
	}
	p, err := NewProtector([]string{"paypal.com", "myetherwallet.com", "login.example.org"}, nil, 2)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, host string) {
		l, ok := p.Check(strings.ToLower(host))
		if ok && (l.Protected == "" || l.Kind == "" || l.Detail == "" || l.Score <= 0 || l.Score > 100) {
			t.Fatalf("Check(%q) = %+v", host, l)
		}
	})
}
