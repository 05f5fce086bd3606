package web

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"waymark.dev/waymark/internal/assets"
)

// TestDashboardContrast checks the default theme's colour pairs (light and
// dark) against WCAG 2's 4.5:1 for text and 3:1 for large text and
// non-text marks.
func TestDashboardContrast(t *testing.T) {
	css, err := assets.Static.ReadFile("static/dash/dash.css")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile(`:root \{([^}]*)\}`).FindAllStringSubmatch(string(css), -1)
	if len(blocks) != 2 {
		t.Fatalf("found %d :root blocks, want light and dark", len(blocks))
	}
	themes := map[string]map[string]string{"light": vars(blocks[0][1]), "dark": vars(blocks[1][1])}
	pairs := []struct {
		fg, bg string
		min    float64
		what   string
	}{
		{"text", "bg", 4.5, "body text"},
		{"text", "card", 4.5, "text in cards"},
		{"muted", "card", 4.5, "labels and hints in cards"},
		{"muted", "bg", 4.5, "hints on the page"},
		{"accent", "card", 4.5, "links in cards"},
		{"accent", "bg", 4.5, "links on the page"},
		{"card", "accent", 4.5, "button and selected-range text"},
		{"text", "accent-soft", 4.5, "panel labels over their bars, chips"},
		{"accent", "accent-soft", 4.5, "chip remove links"},
		{"up", "card", 4.5, "rising change"},
		{"down", "card", 4.5, "falling change"},
		{"card", "down", 4.5, "danger button text"},
		{"accent", "card", 3, "chart line"},
		{"prev", "card", 3, "previous-period line"},
	}
	for name, v := range themes {
		for _, p := range pairs {
			fg, bg := v[p.fg], v[p.bg]
			if fg == "" || bg == "" {
				t.Errorf("%s theme lacks --%s or --%s", name, p.fg, p.bg)
				continue
			}
			if r := contrast(fg, bg); r < p.min {
				t.Errorf("%s theme: %s (--%s %s on --%s %s) has contrast %.2f, want at least %.1f", name, p.what, p.fg, fg, p.bg, bg, r, p.min)
			}
		}
	}
}

func vars(block string) map[string]string {
	out := map[string]string{}
	for _, m := range regexp.MustCompile(`--([a-z-]+):\s*(#[0-9a-fA-F]{6})`).FindAllStringSubmatch(block, -1) {
		out[m[1]] = m[2]
	}
	return out
}

func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

func luminance(hex string) float64 {
	hex = strings.TrimPrefix(hex, "#")
	var c [3]float64
	for i := range 3 {
		v, _ := strconv.ParseUint(hex[2*i:2*i+2], 16, 8)
		s := float64(v) / 255
		if s <= 0.04045 {
			c[i] = s / 12.92
		} else {
			c[i] = math.Pow((s+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*c[0] + 0.7152*c[1] + 0.0722*c[2]
}
