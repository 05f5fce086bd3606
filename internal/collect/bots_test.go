package collect

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestBotMatcherAgreesWithList checks the fast matcher against the list's
// own regular expressions on every example user agent the list ships.
func TestBotMatcherAgreesWithList(t *testing.T) {
	t.Parallel()
	var entries []struct {
		Pattern   string   `json:"pattern"`
		Instances []string `json:"instances"`
	}
	if err := json.Unmarshal(crawlerList, &entries); err != nil {
		t.Fatal(err)
	}
	m, err := NewBotMatcher()
	if err != nil {
		t.Fatal(err)
	}
	missed := 0
	for _, e := range entries {
		re, err := regexp.Compile(e.Pattern)
		if err != nil {
			continue
		}
		for _, ua := range e.Instances {
			if re.MatchString(ua) && !m.IsBot(ua) {
				missed++
				t.Errorf("pattern %q matches %q but IsBot is false", e.Pattern, ua)
			}
		}
	}
	for _, c := range uaCases {
		if got := m.IsBot(c.ua); got != c.want.Bot {
			t.Errorf("IsBot(%q) = %v, want %v", c.ua, got, c.want.Bot)
		}
	}
}

func TestExpandPattern(t *testing.T) {
	t.Parallel()
	tests := map[string][]alt{
		"[wW]get":        {{text: "Wget"}, {text: "wget"}},
		"^curl":          {{text: "curl", start: true}},
		"(^| )sentry\\/": {{text: "sentry/", start: true}, {text: " sentry/"}},
		"SSL Labs$":      {{text: "SSL Labs", end: true}},
	}
	for p, want := range tests {
		got, ok := expandPattern(p)
		if !ok || len(got) != len(want) {
			t.Errorf("expandPattern(%q) = %v, %v; want %v", p, got, ok, want)
			continue
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("expandPattern(%q)[%d] = %+v, want %+v", p, i, got[i], want[i])
			}
		}
	}
	if _, ok := expandPattern(`Current[\s\S]*RSS Reader`); ok {
		t.Error("a pattern with a repeat was expanded")
	}
}

func FuzzIsBot(f *testing.F) {
	f.Add("Mozilla/5.0 (compatible; Googlebot/2.1)")
	m, err := NewBotMatcher()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, ua string) { m.IsBot(ua) })
}

func BenchmarkIsBot(b *testing.B) {
	m, err := NewBotMatcher()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		m.IsBot(uaCases[0].ua)
	}
}

func TestReadSpamFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "spammers.txt")
	os.WriteFile(good, []byte("# the community list\n\nsemalt.com\n Darodar.com \n"), 0o644)
	got, err := ReadSpamFile(good)
	if err != nil || strings.Join(got, ",") != "semalt.com,darodar.com" {
		t.Errorf("ReadSpamFile = %v, %v", got, err)
	}
	bad := filepath.Join(dir, "bad.txt")
	os.WriteFile(bad, []byte("ok.com\nhttps://x.com/\n"), 0o644)
	if _, err := ReadSpamFile(bad); err == nil || !strings.Contains(err.Error(), "bad.txt:2") {
		t.Errorf("a URL in the list: %v, want an error naming line 2", err)
	}
	if _, err := ReadSpamFile(filepath.Join(dir, "missing.txt")); err == nil {
		t.Error("a missing file read without error")
	}
	m, err := NewBotMatcher(got...)
	if err != nil {
		t.Fatal(err)
	}
	if !m.IsSpam("www.darodar.com") || m.IsSpam("example.com") {
		t.Error("the file's domains are not what the matcher counts as spam")
	}
}
