package collect

import (
	"regexp"
	"strings"
	"sync"

	useragent "github.com/medama-io/go-useragent"
)

// Agent is what the enricher learns from a user-agent string.
type Agent struct {
	Browser, BrowserVersion string
	OS, OSVersion           string
	Device                  string
	Bot                     bool
}

// AgentParser turns user-agent strings into Agents. Browser, device and bot
// come from maintained data (medama-io/go-useragent and the
// crawler-user-agents list); the OS version, which that parser does not
// report, from a few well-known tokens. Results are cached: real traffic
// repeats a small set of strings.
type AgentParser struct {
	ua   *useragent.Parser
	bots *BotMatcher

	mu    sync.RWMutex
	cache map[string]Agent
	max   int
}

// NewAgentParser builds a parser with a cache of up to max strings.
func NewAgentParser(bots *BotMatcher, max int) *AgentParser {
	return &AgentParser{ua: useragent.NewParser(), bots: bots, cache: make(map[string]Agent, max), max: max}
}

// Parse returns the Agent for s.
func (p *AgentParser) Parse(s string) Agent {
	p.mu.RLock()
	a, ok := p.cache[s]
	p.mu.RUnlock()
	if ok {
		return a
	}
	a = p.parse(s)
	if len(s) <= 512 {
		p.mu.Lock()
		if len(p.cache) >= p.max {
			clear(p.cache) // crude but bounded; refills with the strings that matter
		}
		p.cache[s] = a
		p.mu.Unlock()
	}
	return a
}

func (p *AgentParser) parse(s string) Agent {
	var a Agent
	if p.bots.IsBot(s) {
		a.Bot = true
		return a
	}
	u := p.ua.Parse(s)
	if u.IsBot() {
		a.Bot = true
		return a
	}
	a.Browser = string(u.Browser())
	a.BrowserVersion = majorMinor(u.BrowserVersion())
	if name, version, ok := inAppBrowser(s); ok {
		a.Browser, a.BrowserVersion = name, version
	}
	a.OS = string(u.OS())
	a.Device = string(u.Device())
	a.OSVersion = osVersion(a.OS, s)
	if a.OS == "Android" && a.Device == "Mobile" && !strings.Contains(s, "Mobile") {
		// Android tablets leave "Mobile" out of their user agent.
		a.Device = "Tablet"
	}
	if a.Browser == "" {
		a.Browser = "Other"
	}
	if a.OS == "" {
		a.OS = "Other"
	}
	if a.OS == "MacOS" {
		a.OS = "Mac" // the name Plausible (Matomo's device detector) reports
	}
	if a.Device == "" {
		a.Device = "Desktop"
	}
	return a
}

// majorMinor keeps "118.0" of "118.0.5993.70": patch levels only fragment
// the breakdown.
func majorMinor(v string) string {
	first := strings.IndexByte(v, '.')
	if first < 0 {
		return v
	}
	second := strings.IndexByte(v[first+1:], '.')
	if second < 0 {
		return v
	}
	return v[:first+1+second]
}

// inAppBrowsers are apps whose built-in browser names itself in the user
// agent after the engine's tokens (which would read as Safari or Chrome),
// with the names Matomo's device detector, and so Plausible, gives them.
var inAppBrowsers = []struct{ token, name string }{
	{"MicroMessenger/", "WeChat"}, {"UCBrowser/", "UC Browser"}, {"FBAV/", "Facebook"}, {"Instagram ", "Instagram App"},
	{" Line/", "Line"}, {"Snapchat/", "Snapchat"}, {"musical_ly_", "TikTok"}, {"BytedanceWebview/", "TikTok"},
}

// inAppBrowser finds an in-app browser's name and major.minor version.
func inAppBrowser(s string) (name, version string, ok bool) {
	for _, b := range inAppBrowsers {
		i := strings.Index(s, b.token)
		if i < 0 {
			continue
		}
		v := s[i+len(b.token):]
		end := strings.IndexFunc(v, func(r rune) bool { return (r < '0' || r > '9') && r != '.' && r != '_' })
		if end >= 0 {
			v = v[:end]
		}
		return b.name, majorMinor(strings.ReplaceAll(v, "_", ".")), true
	}
	return "", "", false
}

var (
	reWindows = regexp.MustCompile(`Windows NT (\d+\.\d+)`)
	reMac     = regexp.MustCompile(`Mac OS X (\d+)[_.](\d+)`)
	reIOS     = regexp.MustCompile(`(?:iPhone|CPU) OS (\d+)_(\d+)`)
	reAndroid = regexp.MustCompile(`Android (\d+(?:\.\d+)?)`)
	reCrOS    = regexp.MustCompile(`CrOS \S+ (\d+)`)
)

var windowsNames = map[string]string{"10.0": "10", "6.3": "8.1", "6.2": "8", "6.1": "7", "6.0": "Vista", "5.1": "XP"}

func osVersion(os, s string) string {
	switch os {
	case "Windows":
		if m := reWindows.FindStringSubmatch(s); m != nil {
			if n, ok := windowsNames[m[1]]; ok {
				return n
			}
			return m[1]
		}
	case "MacOS", "Mac":
		if m := reMac.FindStringSubmatch(s); m != nil {
			return m[1] + "." + m[2]
		}
	case "iOS":
		if m := reIOS.FindStringSubmatch(s); m != nil {
			return m[1] + "." + m[2]
		}
	case "Android":
		if m := reAndroid.FindStringSubmatch(s); m != nil {
			return m[1]
		}
	case "ChromeOS":
		if m := reCrOS.FindStringSubmatch(s); m != nil {
			return m[1]
		}
	}
	return ""
}
