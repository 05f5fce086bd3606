package threats

import (
	_ "embed"
	"slices"
	"strings"
	"sync"

	"golang.org/x/net/publicsuffix"
)

// popularText is the corpus of legitimate domains scripts/popular builds
// from maintained npm packages (the top sites, the third-party domains
// seen across the web, common e-mail providers, colleges and
// universities).
//
//go:embed popular.txt
var popularText string

// PopularDomains returns the registrable domains of the corpus of
// legitimate domains shipped with Waymark, sorted and without repeats.
func PopularDomains() []string {
	return popularList()
}

var popularList = sync.OnceValue(func() []string {
	seen := map[string]bool{}
	var out []string
	for _, line := range strings.Split(popularText, "\n") {
		if line = strings.TrimSpace(line); line == "" || line[0] == '#' {
			continue
		}
		reg, err := publicsuffix.EffectiveTLDPlusOne(line)
		if err != nil || seen[reg] {
			continue
		}
		seen[reg] = true
		out = append(out, reg)
	}
	slices.Sort(out)
	return out
})

// popularDomains is the corpus as a set, built once.
var popularDomains = sync.OnceValue(func() map[string]bool {
	m := make(map[string]bool, len(popularList()))
	for _, d := range popularList() {
		m[d] = true
	}
	return m
})
