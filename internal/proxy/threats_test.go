package proxy

import (
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"waymark.dev/waymark/internal/threats"
)

func threatEnv(t *testing.T) *env {
	db, err := threats.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Replace("test-feed", []threats.Entry{{Expr: "phish.test/", List: threats.Phishing}}); err != nil {
		t.Fatal(err)
	}
	p, err := threats.NewProtector([]string{"waymark.dev"}, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	lo := []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	return newEnv(t, func(s *Server) {
		s.Threats = &threats.Checker{DB: db, Protect: p}
		s.Dialer.Resolver = fakeResolver{"phish.test": lo, "waymark-fanclub.dev": lo, "waymark-login.dev": lo, "origin.test": lo}
	})
}

func TestThreatBlocks(t *testing.T) {
	t.Parallel()
	e := threatEnv(t)
	auth := "Proxy-Authorization: " + basic(e.secret) + "\r\n"
	op := e.originPort()
	resp := e.raw(fmt.Sprintf("GET http://www.phish.test:%d/login HTTP/1.1\r\nHost: x\r\n%s\r\n", op, auth))
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 403 || resp.Header.Get("Waymark-Decision") != "deny; reason=threat_phishing" ||
		!strings.Contains(string(body), "phishing") {
		t.Errorf("blocked HTTP: %d %q %s", resp.StatusCode, resp.Header.Get("Waymark-Decision"), body)
	}
	resp = e.raw(fmt.Sprintf("CONNECT phish.test:%d HTTP/1.1\r\nHost: phish.test\r\n%s\r\n", op, auth))
	if resp.StatusCode != 403 || resp.Header.Get("Waymark-Decision") != "deny; reason=threat_phishing" {
		t.Errorf("blocked CONNECT: %d %q", resp.StatusCode, resp.Header.Get("Waymark-Decision"))
	}
	// A strong lookalike (the name with a phishing word) is blocked, with
	// no way to continue.
	resp = e.raw(fmt.Sprintf("GET http://waymark-login.dev:%d/ HTTP/1.1\r\nHost: x\r\n%s\r\n", op, auth))
	body, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != 403 || resp.Header.Get("Waymark-Decision") != "deny; reason=threat_lookalike" || strings.Contains(string(body), "continue") {
		t.Errorf("strong lookalike: %d %q %s", resp.StatusCode, resp.Header.Get("Waymark-Decision"), body)
	}
	resp = e.raw(fmt.Sprintf("GET http://origin.test:%d/fine HTTP/1.1\r\nHost: x\r\n%s\r\n", op, auth))
	if resp.StatusCode != 200 {
		t.Errorf("a clean site: %d", resp.StatusCode)
	}
}

func TestThreatWarningContinue(t *testing.T) {
	t.Parallel()
	e := threatEnv(t)
	op := e.originPort()
	c := e.client(e.secret)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	target := fmt.Sprintf("http://waymark-fanclub.dev:%d/account?x=1", op)

	// A CONNECT before any choice is refused with the reason.
	resp := e.raw(fmt.Sprintf("CONNECT waymark-fanclub.dev:%d HTTP/1.1\r\nHost: x\r\nProxy-Authorization: %s\r\n\r\n", op, basic(e.secret)))
	if resp.StatusCode != 403 || resp.Header.Get("Waymark-Decision") != "warn; reason=threat_lookalike" {
		t.Fatalf("CONNECT to a lookalike: %d %q", resp.StatusCode, resp.Header.Get("Waymark-Decision"))
	}

	resp, err := c.Get(target)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(body), "imitating") || !strings.Contains(string(body), "waymark.dev") {
		t.Fatalf("interstitial: %d %s", resp.StatusCode, body)
	}
	// Neither the warning nor the block page may be framed (its
	// "continue" could be clicked for the user).
	blocked := e.raw(fmt.Sprintf("GET http://phish.test:%d/ HTTP/1.1\r\nHost: x\r\nProxy-Authorization: %s\r\n\r\n", op, basic(e.secret)))
	for _, r := range []*http.Response{resp, blocked} {
		if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || r.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%d page: CSP %q, X-Frame-Options %q", r.StatusCode, csp, r.Header.Get("X-Frame-Options"))
		}
	}
	m := regexp.MustCompile(`href="([^"]+)"`).FindStringSubmatch(string(body))
	if m == nil {
		t.Fatalf("no continue link in %s", body)
	}
	link := strings.ReplaceAll(m[1], "&amp;", "&")

	// A forged or altered link does not let the user through.
	u, _ := url.Parse(link)
	q := u.Query()
	q.Set(continueParam, q.Get(continueParam)+"x")
	u.RawQuery = q.Encode()
	if resp, err := c.Get(u.String()); err != nil || resp.StatusCode != 403 {
		t.Fatalf("altered continue link: %v %v", resp.StatusCode, err)
	}

	// The real link redirects to the page without the parameter ...
	resp, err = c.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != target {
		t.Fatalf("continue: %d to %q, want 302 to %q", resp.StatusCode, resp.Header.Get("Location"), target)
	}
	// ... which now loads, as does a tunnel to the same host.
	resp, err = c.Get(target)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "hello from origin") {
		t.Fatalf("after continuing: %d %s", resp.StatusCode, body)
	}
	resp = e.raw(fmt.Sprintf("CONNECT waymark-fanclub.dev:%d HTTP/1.1\r\nHost: x\r\nProxy-Authorization: %s\r\n\r\n", op, basic(e.secret)))
	if resp.StatusCode != 200 {
		t.Fatalf("CONNECT after continuing: %d", resp.StatusCode)
	}
}
