package threats

import (
	"testing"

	"golang.org/x/net/idna"
)

func TestLookalikes(t *testing.T) {
	p, err := NewProtector([]string{"waymark.dev", "paypal.com", "bank.co.uk"}, []string{"waymart.com"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host, kind string // kind "" means not a lookalike
	}{
		{"w\u0430ymark.dev", "homograph"},   // Cyrillic а
		{"paypa1.com", "homograph"},         // digit one for l
		{"paypai.com", "typo"},              // one substitution
		{"paypla.com", "typo"},              // adjacent swap
		{"waymarks.dev", "typo"},            // one insertion
		{"waymark-login.net", "combosquat"}, // hyphenated word
		{"paypalsecure.com", "combosquat"},  // glued phishing word
		{"waymark.dev.evil.example", "subdomain"},
		{"login.paypal.evil.example", "subdomain"},
		{"waymark.io", "tld_swap"},
		{"bank.com", "tld_swap"},
		// Must pass.
		{"waymark.dev", ""},
		{"docs.waymark.dev", ""},
		{"www.paypal.com", ""},
		{"waymart.com", ""},    // allowlisted
		{"paypalooza.com", ""}, // contains the brand, no hyphen, not a phishing word
		{"banks.co.uk", ""},    // "bank" is shorter than the edit-distance minimum
		{"tank.co.uk", ""},
		{"example.com", ""},
		{"dev.example", ""}, // "dev" is the protected suffix, not the label
		{"evil.example", ""},
		{"waymarket.dev", ""}, // two edits away
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
		if tt.kind != "" && (!ok || l.Kind != tt.kind) {
			t.Errorf("Check(%q) = %+v %v, want %s", tt.host, l, ok, tt.kind)
		}
	}
	if _, err := NewProtector([]string{"www.waymark.dev"}, nil, 1); err == nil {
		t.Error("a subdomain accepted as a protected domain")
	}
	off, _ := NewProtector([]string{"paypal.com"}, nil, 0)
	if _, ok := off.Check("paypai.com"); ok {
		t.Error("MaxEdits 0 still flags typos")
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
