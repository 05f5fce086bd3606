package collect

import "testing"

// uaCases is a small accuracy table of current user agents with the answer
// a person would give. Accuracy and speed are recorded in docs/PERFORMANCE.md.
var uaCases = []struct {
	ua   string
	want Agent
}{
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		Agent{Browser: "Chrome", BrowserVersion: "131.0", OS: "Windows", OSVersion: "10", Device: "Desktop"}},
	{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
		Agent{Browser: "Safari", BrowserVersion: "18.1", OS: "Mac", OSVersion: "10.15", Device: "Desktop"}},
	{"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
		Agent{Browser: "Safari", BrowserVersion: "18.1", OS: "iOS", OSVersion: "18.1", Device: "Mobile"}},
	{"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
		Agent{Browser: "Chrome", BrowserVersion: "131.0", OS: "Android", OSVersion: "14", Device: "Mobile"}},
	{"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
		Agent{Browser: "Firefox", BrowserVersion: "133.0", OS: "Linux", Device: "Desktop"}},
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
		Agent{Browser: "Edge", BrowserVersion: "131.0", OS: "Windows", OSVersion: "10", Device: "Desktop"}},
	{"Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
		Agent{Browser: "Safari", BrowserVersion: "17.5", OS: "iOS", OSVersion: "17.5", Device: "Tablet"}},
	{"Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Safari/537.36",
		Agent{Browser: "Samsung Browser", BrowserVersion: "26.0", OS: "Android", OSVersion: "13", Device: "Tablet"}},
	{"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", Agent{Bot: true}},
	{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36", Agent{Bot: true}},
	{"curl/8.5.0", Agent{Bot: true}},
	{"python-requests/2.31.0", Agent{Bot: true}},
	{"", Agent{Bot: true}},
	// From Plausible's Events API tests and the probe: a crawler
	// no list names, Plausible's OS name for macOS, in-app browsers.
	{"generic crawler", Agent{Bot: true}},
	{"Mozilla/5.0 (compatible; AcmeSiteBot/3.1; +https://acme.example/bot)", Agent{Bot: true}},
	{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_13_4) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.110 Safari/537.36",
		Agent{Browser: "Chrome", BrowserVersion: "70.0", OS: "Mac", OSVersion: "10.13", Device: "Desktop"}},
	{"Mozilla/5.0 (iPhone; CPU iPhone OS 16_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.40(0x18002831) NetType/WIFI Language/zh_CN",
		Agent{Browser: "WeChat", BrowserVersion: "8.0", OS: "iOS", OSVersion: "16.0", Device: "Mobile"}},
	{"Mozilla/5.0 (Linux; U; Android 10; en-US; RMX1911 Build/QKQ1.200209.002) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/78.0.3904.108 UCBrowser/13.4.0.1306 Mobile Safari/537.36",
		Agent{Browser: "UC Browser", BrowserVersion: "13.4", OS: "Android", OSVersion: "10", Device: "Mobile"}},
	{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/442.0.0.38.109;FBBV/555]",
		Agent{Browser: "Facebook", BrowserVersion: "442.0", OS: "iOS", OSVersion: "17.1", Device: "Mobile"}},
	// A phone maker whose name ends in "bot" is not a bot.
	{"Mozilla/5.0 (Linux; Android 9; CUBOT X20 PRO) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
		Agent{Browser: "Chrome", BrowserVersion: "120.0", OS: "Android", OSVersion: "9", Device: "Mobile"}},
}

func newTestParser(t testing.TB) *AgentParser {
	bots, err := NewBotMatcher()
	if err != nil {
		t.Fatal(err)
	}
	return NewAgentParser(bots, 100)
}

func TestAgentParser(t *testing.T) {
	t.Parallel()
	p := newTestParser(t)
	right := 0
	for _, c := range uaCases {
		got := p.Parse(c.ua)
		if got == c.want {
			right++
		} else {
			t.Errorf("Parse(%q)\n got %+v\nwant %+v", c.ua, got, c.want)
		}
		if again := p.Parse(c.ua); again != got {
			t.Errorf("cached answer differs for %q", c.ua)
		}
	}
	t.Logf("accuracy %d/%d", right, len(uaCases))
}

func TestBotMatcher(t *testing.T) {
	t.Parallel()
	m, err := NewBotMatcher("spam.example")
	if err != nil {
		t.Fatal(err)
	}
	if m.Patterns < 1000 {
		t.Errorf("only %d crawler patterns compiled (%d skipped)", m.Patterns, m.Skipped)
	}
	for host, want := range map[string]bool{"semalt.com": true, "x.semalt.com": true, "spam.example": true, "google.com": false, "": false} {
		if got := m.IsSpam(host); got != want {
			t.Errorf("IsSpam(%q) = %v, want %v", host, got, want)
		}
	}
}

func BenchmarkAgentParse(b *testing.B) {
	p := newTestParser(b)
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			p.Parse(uaCases[i%8].ua)
			i++
		}
	})
	b.Run("uncached", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			p.parse(uaCases[i%8].ua)
			i++
		}
	})
}
