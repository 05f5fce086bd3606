package threats

import (
	"fmt"
	"strings"

	"github.com/mtibben/confusables"
	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// Protector flags hosts that imitate the domains an operator protects
// (its own and its brands'). It looks only at the registrable domain
// (public suffix plus one label) and the labels in front of it, so
// subdomains of a protected domain are never lookalikes.
type Protector struct {
	domains []protected
	// MaxEdits is the largest edit distance (insertions, deletions,
	// substitutions, adjacent swaps) at which a label counts as a
	// typo of a protected one; 0 turns the check off. Labels shorter
	// than minEditLabel are not compared this way: among short names
	// one edit apart most are unrelated, real sites.
	MaxEdits int
	allow    map[string]bool
}

type protected struct {
	domain, label, suffix, skeleton string
}

// minEditLabel is the shortest protected label the edit distance check
// applies to.
const minEditLabel = 5

// comboWords are words phishing domains glue to a brand without a hyphen
// ("brandlogin"); with a hyphen any word counts ("brand-anything").
var comboWords = []string{"login", "signin", "secure", "account", "verify", "support", "update", "auth", "wallet", "billing", "pay", "online", "service", "help", "web"}

// NewProtector protects domains (registrable domains such as
// "example.com"); allow lists registrable domains that are never flagged
// (the operator's other domains, well-known names that resemble a
// brand).
func NewProtector(domains, allow []string, maxEdits int) (*Protector, error) {
	p := &Protector{MaxEdits: maxEdits, allow: map[string]bool{}}
	for _, d := range domains {
		d = strings.ToLower(strings.Trim(strings.TrimSpace(d), "."))
		if d == "" {
			continue
		}
		a, err := idna.Lookup.ToASCII(d)
		if err != nil {
			return nil, fmt.Errorf("threats: protected domain %q: %v", d, err)
		}
		reg, err := publicsuffix.EffectiveTLDPlusOne(a)
		if err != nil || reg != a {
			return nil, fmt.Errorf("threats: protected domain %q must be a registrable domain such as example.com", d)
		}
		label, suffix, _ := strings.Cut(a, ".")
		u, _ := idna.ToUnicode(label)
		p.domains = append(p.domains, protected{domain: a, label: label, suffix: suffix, skeleton: confusables.Skeleton(u)})
		p.allow[a] = true
	}
	for _, d := range allow {
		if d = strings.ToLower(strings.Trim(strings.TrimSpace(d), ".")); d != "" {
			a, err := idna.Lookup.ToASCII(d)
			if err != nil {
				return nil, fmt.Errorf("threats: allowed domain %q: %v", d, err)
			}
			p.allow[a] = true
		}
	}
	return p, nil
}

// Imitation is why a host looks like a protected domain.
type Imitation struct {
	Protected string // the protected domain it imitates
	Kind      string // homograph, typo, combosquat, subdomain, tld_swap
}

// Check tells whether host (canonical, lowercase, punycode) imitates a
// protected domain.
func (p *Protector) Check(host string) (Imitation, bool) {
	if p == nil || len(p.domains) == 0 || host == "" {
		return Imitation{}, false
	}
	reg, err := publicsuffix.EffectiveTLDPlusOne(host)
	if err != nil {
		return Imitation{}, false
	}
	if p.allow[reg] {
		return Imitation{}, false
	}
	label, suffix, _ := strings.Cut(reg, ".")
	sub := strings.TrimSuffix(strings.TrimSuffix(host, reg), ".")
	ulabel, err := idna.ToUnicode(label)
	if err != nil {
		ulabel = label
	}
	skel := confusables.Skeleton(ulabel)
	for _, d := range p.domains {
		switch {
		case label == d.label && suffix != d.suffix:
			return Imitation{Protected: d.domain, Kind: "tld_swap"}, true
		case label != d.label && skel == d.skeleton:
			return Imitation{Protected: d.domain, Kind: "homograph"}, true
		case p.MaxEdits > 0 && len(d.label) >= minEditLabel && label != d.label && editDistance(label, d.label, p.MaxEdits) <= p.MaxEdits:
			return Imitation{Protected: d.domain, Kind: "typo"}, true
		case combo(label, d.label):
			return Imitation{Protected: d.domain, Kind: "combosquat"}, true
		case sub != "" && inSubdomain(sub, d):
			return Imitation{Protected: d.domain, Kind: "subdomain"}, true
		}
	}
	return Imitation{}, false
}

// combo: the brand with a hyphenated word before or after it, or glued
// to one of the words phishers use.
func combo(label, brand string) bool {
	if label == brand || !strings.Contains(label, brand) {
		return false
	}
	for _, part := range strings.Split(label, "-") {
		if part == brand {
			return true
		}
	}
	for _, w := range comboWords {
		if label == brand+w || label == w+brand {
			return true
		}
	}
	return false
}

// inSubdomain: the protected domain, or its label as a whole component,
// in front of someone else's registrable domain ("example.com.evil.tld",
// "login.example.evil.tld").
func inSubdomain(sub string, d protected) bool {
	if strings.Contains(sub, d.domain) {
		return true
	}
	for _, part := range strings.Split(sub, ".") {
		if part == d.label {
			return true
		}
	}
	return false
}

// editDistance is the optimal string alignment distance between a and b,
// giving up (returning limit+1) once it must exceed limit.
func editDistance(a, b string, limit int) int {
	if d := len(a) - len(b); d > limit || -d > limit {
		return limit + 1
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		best := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
			best = min(best, v)
		}
		if best > limit {
			return limit + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
