package web

import (
	"encoding/json"
	"errors"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"waymark.dev/waymark/internal/apptest"
	"waymark.dev/waymark/internal/integrity"
	"waymark.dev/waymark/internal/threats"
)

func testThreats(t *testing.T) *threats.Checker {
	t.Helper()
	db, err := threats.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Replace("feed", []threats.Entry{{Expr: "phish.example/", List: threats.Phishing}}); err != nil {
		t.Fatal(err)
	}
	p, err := threats.NewProtector([]string{"shop.example", "login.bank.example"}, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	return &threats.Checker{DB: db, Protect: p}
}

func TestThreatCheckAPI(t *testing.T) {
	srv, _, token := newTestServer(t, apptest.Options{})
	hdr := map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json"}
	for _, c := range []struct {
		name, auth, body string
		status           int
		field            string
	}{
		{"no token", "", `{"urls":["http://a.example/"]}`, 401, ""},
		{"no urls", "yes", `{"urls":[]}`, 400, "urls"},
		{"unknown field", "yes", `{"url":"http://a.example/"}`, 400, ""},
		{"too many", "yes", `{"urls":[` + strings.Repeat(`"a",`, maxCheckURLs) + `"a"]}`, 400, "urls"},
		{"not JSON", "yes", `urls=x`, 400, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := map[string]string{"Content-Type": "application/json"}
			if c.auth != "" {
				h = hdr
			}
			resp, b := do(t, "POST", srv.URL+"/api/v1/threats/check", c.body, h)
			if resp.StatusCode != c.status || (c.field != "" && !strings.Contains(string(b), c.field)) {
				t.Errorf("%s: %d %s, want %d naming %q", c.name, resp.StatusCode, b, c.status, c.field)
			}
		})
	}
	resp, b := do(t, "POST", srv.URL+"/api/v1/threats/check",
		`{"urls":["https://login.phish.example/x","https://shop-fanclub.example/","https://example.org/","mailto:x@y","https://shop-login.example/","https://login-bank.example/"]}`, hdr)
	var out struct{ Results []threats.Verdict }
	if err := json.Unmarshal(b, &out); err != nil || resp.StatusCode != 200 || len(out.Results) != 6 {
		t.Fatalf("check: %d %s %v", resp.StatusCode, b, err)
	}
	want := []string{"block", "warn", "allow", "block", "block", "block"} // the last imitates a protected host
	for i, v := range out.Results {
		if v.Verdict != want[i] {
			t.Errorf("result %d: %+v, want %s", i, v, want[i])
		}
	}
	if out.Results[0].List != "phishing" || out.Results[1].Match != "shop.example" || out.Results[3].Error == "" ||
		out.Results[4].Score < threats.BlockScore || !strings.Contains(out.Results[4].Reason, "login") ||
		out.Results[5].Match != "login.bank.example" {
		t.Errorf("details: %+v", out.Results)
	}
}

func TestLinkGateway(t *testing.T) {
	srv, _, token := newTestServer(t, apptest.Options{})
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	sign := func(hdr map[string]string, urls ...string) (int, []string, *http.Response) {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"urls": urls, "page": "https://shop.example/cart", "domain": "shop.example"})
		resp, b := do(t, "POST", srv.URL+"/api/v1/links/sign", string(body), hdr)
		var out struct{ Links []string }
		json.Unmarshal(b, &out)
		return resp.StatusCode, out.Links, resp
	}
	get := func(path string, cookies ...*http.Cookie) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	api := map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json"}
	code, links, _ := sign(api, "https://example.org/page", "https://login.phish.example/", "https://shop-fanclub.example/x")
	if code != 200 || len(links) != 3 {
		t.Fatalf("sign: %d %v", code, links)
	}
	// A safe site: redirected.
	if resp, _ := get(links[0]); resp.StatusCode != 302 || resp.Header.Get("Location") != "https://example.org/page" {
		t.Errorf("safe link: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// A listed site: the block page.
	if resp, body := get(links[1]); resp.StatusCode != 403 || !strings.Contains(body, "phishing") || resp.Header.Get("Location") != "" {
		t.Errorf("blocked link: %d %s", resp.StatusCode, body)
	}
	// A lookalike: the warning, whose continue link goes on.
	resp, body := get(links[2])
	m := regexp.MustCompile(`id="continue" href="([^"]+)"`).FindStringSubmatch(body)
	if resp.StatusCode != 200 || m == nil || !strings.Contains(body, "shop.example") {
		t.Fatalf("warned link: %d %s", resp.StatusCode, body)
	}
	// The probe's eighth finding: decision pages could be framed, "&c=1"
	// skipped the warning without any signature over it, and the "Go
	// back" link was a javascript: URL the page's own policy blocked.
	for _, p := range []string{links[1], links[2]} {
		resp, body := get(p)
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || resp.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: CSP %q, X-Frame-Options %q; want the page never framed", p, csp, resp.Header.Get("X-Frame-Options"))
		}
		if strings.Contains(body, "javascript:") || !strings.Contains(body, `id="back" href="https://shop.example/cart"`) {
			t.Errorf("%s: the back link is not a real link to the page:\n%s", p, body)
		}
	}
	for _, forged := range []string{links[2] + "&c=1", links[2] + "&c=0." + strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10) + ".AAAA"} {
		if resp, body := get(forged); resp.StatusCode != 200 || resp.Header.Get("Location") != "" || !strings.Contains(body, `data-decision="warn"`) {
			t.Errorf("%s: %d to %q; want the warning again", forged, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	grant := regexp.MustCompile(`[?&]c=([^&"]+)`).FindStringSubmatch(html.UnescapeString(m[1]))
	if grant == nil {
		t.Fatalf("no grant in the continue link %s", m[1])
	}
	// A grant is for its own destination only.
	_, other, _ := sign(api, "https://shop-fanclub.example/other")
	if resp, _ := get(other[0] + "&c=" + grant[1]); resp.StatusCode != 200 || resp.Header.Get("Location") != "" {
		t.Errorf("a grant for another destination: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := get(html.UnescapeString(m[1])); resp.StatusCode != 302 || resp.Header.Get("Location") != "https://shop-fanclub.example/x" {
		t.Errorf("continue: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Altered or unsigned links are refused.
	altered := strings.Replace(links[0], "example.org", "evil.example", 1)
	for _, p := range []string{altered, "/go?u=https%3A%2F%2Fevil.example%2F", strings.Replace(links[0], "&s=", "&s=1", 1)} {
		if resp, body := get(p); resp.StatusCode != 400 || resp.Header.Get("Location") != "" || !strings.Contains(body, "could not be verified") {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}

	// From a registered site's page, links are bound to the browser.
	code, links, resp = sign(map[string]string{"Origin": "https://shop.example", "Content-Type": "application/json"}, "https://example.org/")
	var bind *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "wm_go" {
			bind = c
		}
	}
	if code != 200 || bind == nil || !bind.HttpOnly || resp.Header.Get("Access-Control-Allow-Origin") != "https://shop.example" {
		t.Fatalf("browser sign: %d cookie %v, headers %v", code, bind, resp.Header)
	}
	if resp, _ := get(links[0]); resp.StatusCode != 400 {
		t.Errorf("bound link without its cookie: %d", resp.StatusCode)
	}
	if resp, _ := get(links[0], &http.Cookie{Name: "wm_go", Value: strings.Repeat("0", 32)}); resp.StatusCode != 400 {
		t.Errorf("bound link with another browser's cookie: %d", resp.StatusCode)
	}
	if resp, _ := get(links[0], bind); resp.StatusCode != 302 {
		t.Errorf("bound link with its cookie: %d", resp.StatusCode)
	}
	for _, c := range []struct {
		name string
		hdr  map[string]string
		urls []string
		want int
	}{
		{"foreign origin", map[string]string{"Origin": "https://evil.example", "Content-Type": "application/json"}, []string{"https://a.example/"}, 403},
		{"no origin, no token", map[string]string{"Content-Type": "application/json"}, []string{"https://a.example/"}, 403},
		{"javascript URL", api, []string{"javascript:alert(1)"}, 400},
		{"no URLs", api, nil, 400},
	} {
		t.Run(c.name, func(t *testing.T) {
			if code, _, _ := sign(c.hdr, c.urls...); code != c.want {
				t.Errorf("%s: %d, want %d", c.name, code, c.want)
			}
		})
	}
}

func testSigningKeys(t *testing.T) *integrity.Keyring {
	t.Helper()
	k, err := integrity.OpenKeyring(t.TempDir(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestSigningKeysAndDemoNews: the published JWKS verifies the demo's
// signed article, and the demo's evil router breaks its digest.
func TestSigningKeysAndDemoNews(t *testing.T) {
	srv, _, _ := newTestServer(t, apptest.Options{})
	resp, b := do(t, "GET", srv.URL+"/.well-known/waymark/keys", "", nil)
	ks, err := integrity.ParseJWKS(b)
	if resp.StatusCode != 200 || err != nil || resp.Header.Get("Content-Type") != "application/jwk-set+json" {
		t.Fatalf("keys: %d %v %s", resp.StatusCode, err, b)
	}
	for path, want := range map[string]error{"/demo/news.txt": nil, "/demo/news.txt?router=evil": integrity.ErrDigest} {
		resp, body := do(t, "GET", srv.URL+path, "", map[string]string{"Accept-Signature": integrity.AcceptSignature})
		target, _ := url.Parse(srv.URL + path)
		_, err := integrity.VerifyResponse(resp.Trailer, resp.Header, resp.StatusCode, body, "GET", target, ks, time.Now(), time.Minute)
		if !errors.Is(err, want) && !(want == nil && err == nil) {
			t.Errorf("%s: %v, want %v", path, err, want)
		}
	}
	// Signed when asked, as the proxy signs: not asked, not signed; asked
	// in a malformed way, a 400 naming the field.
	if resp, _ := do(t, "GET", srv.URL+"/demo/news.txt", "", nil); resp.Header.Get("Signature") != "" || resp.Header.Get("Waymark-Demo") != "unsigned; reason=not_asked" {
		t.Errorf("not asked: Signature %q, Waymark-Demo %q", resp.Header.Get("Signature"), resp.Header.Get("Waymark-Demo"))
	}
	if resp, body := do(t, "GET", srv.URL+"/demo/news.txt", "", map[string]string{"Accept-Signature": "sig1=("}); resp.StatusCode != 400 || !strings.Contains(string(body), "Accept-Signature") {
		t.Errorf("malformed Accept-Signature: %d %s", resp.StatusCode, body)
	}
	// The probe's seventh finding: the article was signed for whatever
	// Host the request named, with the key that signs relayed content, so
	// anyone could get a valid signature for http://bank.example/login.
	// Only the address the server is reached at (or a loopback name on its
	// port) gets a signature now.
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	for _, host := range []string{"bank.example", "bank.example:" + strconv.Itoa(port), "127.0.0.1:1", "localhost:" + strconv.Itoa(port) + "."} {
		req, _ := http.NewRequest("GET", srv.URL+"/demo/news.txt", nil)
		req.Header.Set("Accept-Signature", integrity.AcceptSignature)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Header.Get("Signature") != "" || resp.Header.Get("Waymark-Demo") != "unsigned; reason=host_not_served_here" || string(body) != demoNewsBody {
			t.Errorf("Host %q: signature %q, Waymark-Demo %q", host, resp.Header.Get("Signature"), resp.Header.Get("Waymark-Demo"))
		}
	}
	req, _ := http.NewRequest("GET", srv.URL+"/demo/news.txt", nil)
	req.Host = "demo.waymark.localhost:" + strconv.Itoa(port)
	req.Header.Set("Accept-Signature", integrity.AcceptSignature)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.Header.Get("Signature") == "" {
		t.Errorf("a .localhost name on the server's port got no signature (%v)", err)
	}
}
