package threats

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseFeeds(t *testing.T) {
	now := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		file, format string
		want         []string // expressions
		badLines     []int
		skipped      int
	}{
		{"hosts.txt", FormatHosts, []string{"ads.example.net/", "tracker.example.net/"}, []int{4, 5}, 2},
		{"domains.txt", FormatDomains, []string{"evil.example/", "wild.example/", "phish.example/"}, []int{4}, 0},
		{"urls.txt", FormatURLs, []string{"phish.example/login.php?x=1", "bank-secure.example/", "evil.example/path/"}, []int{3}, 0},
		{"openphish.txt", FormatOpenPhish, []string{"op.example/login", "op2.example/%25zz"}, nil, 0},
		{"phishtank.csv", FormatPhishTankCSV, []string{"pt.example/signin", "pt2.example/a,b"}, []int{4}, 0},
		{"phishtank.json", FormatPhishTankJSON, []string{"ptj.example/x", "ptj2.example/"}, []int{2}, 0},
		{"urlhaus.csv", FormatURLhaus, []string{"198.51.100.7/bins/x.sh", "mal.example/a.exe"}, []int{6}, 0},
		{"adblock.txt", FormatAdblock, []string{"ad.example/", "doc.example/"}, []int{8}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			p, err := ParseFeed(f, tt.format, DefaultList(tt.format), "test", now)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range p.Entries {
				got = append(got, e.Expr)
				if e.Source != "test" || !e.Added.Equal(now) || e.List != DefaultList(tt.format) {
					t.Errorf("entry %+v", e)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("entries %q, want %q", got, tt.want)
			}
			var lines []int
			for _, e := range p.Errors {
				lines = append(lines, e.Line)
			}
			if !slices.Equal(lines, tt.badLines) {
				t.Errorf("bad lines %v, want %v (%v)", lines, tt.badLines, p.Errors)
			}
			if p.Skipped != tt.skipped {
				t.Errorf("skipped %d, want %d", p.Skipped, tt.skipped)
			}
		})
	}
}

func TestParseFeedRefuses(t *testing.T) {
	if _, err := ParseFeed(strings.NewReader("x"), "nope", Custom, "s", time.Now()); err == nil {
		t.Error("unknown format accepted")
	}
	if _, err := ParseFeed(strings.NewReader(`{"url":"x"}`), FormatPhishTankJSON, Phishing, "s", time.Now()); err == nil {
		t.Error("JSON object instead of an array accepted")
	}
	if _, err := ParseFeed(strings.NewReader("id,link\n1,http://a.example/\n"), FormatPhishTankCSV, Phishing, "s", time.Now()); err == nil {
		t.Error("CSV without a url column accepted")
	}
	long := strings.Repeat("a", 70<<10)
	p, err := ParseFeed(strings.NewReader("a.example\n"+long+"\n"), FormatDomains, Custom, "s", time.Now())
	if err == nil || !strings.Contains(err.Error(), "line 2") || len(p.Entries) != 1 {
		t.Errorf("over-long line: %v, %d entries", err, len(p.Entries))
	}
}

// FuzzParseFeed: no feed content makes a parser panic, and every entry
// it returns is a valid expression.
func FuzzParseFeed(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.*")
	for _, name := range files {
		b, _ := os.ReadFile(name)
		f.Add(b, uint8(slices.Index(Formats, formatOf(name))))
	}
	f.Fuzz(func(t *testing.T, data []byte, fi uint8) {
		format := Formats[int(fi)%len(Formats)]
		p, err := ParseFeed(strings.NewReader(string(data)), format, Custom, "fuzz", time.Unix(0, 0))
		if err != nil {
			return
		}
		for _, e := range p.Entries {
			if e.Expr == "" || !strings.Contains(e.Expr, "/") {
				t.Fatalf("entry %q from %s", e.Expr, format)
			}
		}
	})
}

func formatOf(name string) string {
	switch filepath.Base(name) {
	case "hosts.txt":
		return FormatHosts
	case "domains.txt":
		return FormatDomains
	case "urls.txt":
		return FormatURLs
	case "openphish.txt":
		return FormatOpenPhish
	case "phishtank.csv":
		return FormatPhishTankCSV
	case "phishtank.json":
		return FormatPhishTankJSON
	case "urlhaus.csv":
		return FormatURLhaus
	}
	return FormatAdblock
}
