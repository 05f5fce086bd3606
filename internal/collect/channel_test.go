package collect

import (
	"regexp"
	"strings"
	"testing"
)

// The hand-written matchers say what Plausible's patterns say.
var (
	paidMediumRE       = regexp.MustCompile(`^(.*cp.*|ppc|retargeting|paid.*)$`)
	shoppingCampaignRE = regexp.MustCompile(`^(.*(([^a-df-z]|^)shop|shopping).*)$`)
)

func TestChannelPatterns(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "cpc", "cpm", "ppc", "retargeting", "paid_social", "paid", "email", "social", "unpaid",
		"shop", "shopping", "eshop", "workshop", "spring-shop", "1shop", "bshop", "shopify", "e-shopping", "webshop"} {
		if got, want := paidMedium(s), paidMediumRE.MatchString(s); got != want {
			t.Errorf("paidMedium(%q) = %v, the pattern says %v", s, got, want)
		}
		if got, want := shoppingCampaign(s), shoppingCampaignRE.MatchString(s); got != want {
			t.Errorf("shoppingCampaign(%q) = %v, the pattern says %v", s, got, want)
		}
	}
}

func FuzzChannelPatterns(f *testing.F) {
	f.Add("cpc")
	f.Add("workshop")
	f.Fuzz(func(t *testing.T, s string) {
		if strings.ContainsRune(s, '\n') {
			return // where a line break sits, the patterns' "." and "$" disagree with Plausible's engine too
		}
		if got, want := paidMedium(s), paidMediumRE.MatchString(s); got != want {
			t.Fatalf("paidMedium(%q) = %v, the pattern says %v", s, got, want)
		}
		// Channel lower-cases campaigns before matching.
		if !isLower(s) {
			return
		}
		if got, want := shoppingCampaign(s), shoppingCampaignRE.MatchString(s); got != want {
			t.Fatalf("shoppingCampaign(%q) = %v, the pattern says %v", s, got, want)
		}
	})
}

func isLower(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' || s[i] == '\n' || s[i] >= 0x80 {
			return false
		}
	}
	return true
}
