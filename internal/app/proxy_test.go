package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"
	"waymark.dev/waymark/internal/apptest"
	"waymark.dev/waymark/internal/config"
	"waymark.dev/waymark/internal/integrity"
)

// proxyStack is a running Waymark with its proxy allowed to reach
// 127.0.0.1 (the test origins) and nothing else on loopback.
type proxyStack struct {
	web, proxy, data, caFile, user, token string
	stop                                  func()
}

func startProxyStack(t *testing.T, ports ...int) *proxyStack {
	t.Helper()
	c := config.Defaults()
	data := t.TempDir()
	c.Addr, c.Data, c.LogLevel = "127.0.0.1:0", data, "warn"
	c.Proxy.Addr = "127.0.0.1:0"
	c.Proxy.AllowCIDRs = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	c.Proxy.Ports = append([]int{80, 443}, ports...)
	web, stop := boot(t, c)
	t.Cleanup(stop)
	resp, err := http.Get("http://" + web + "/proxy.pac")
	if err != nil {
		t.Fatal(err)
	}
	pac, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`"HTTPS ([0-9.:]+)"`).FindSubmatch(pac)
	if m == nil {
		t.Fatalf("PAC file without a proxy: %q", pac)
	}
	s := &proxyStack{web: web, proxy: string(m[1]), data: data, caFile: filepath.Join(data, "proxy-ca", "ca.pem"), user: "alice", stop: stop}
	var out, errb bytes.Buffer
	if code := Run(context.Background(), []string{"proxy", "token", "add", "--data", data, "--user", "alice"}, func(string) string { return "" }, &out, &errb); code != 0 {
		t.Fatalf("proxy token add: %d %s", code, errb.String())
	}
	s.token = strings.Fields(strings.Split(out.String(), "\n")[1])[0]
	// The server picks the new token up within a second.
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := s.curl(t, "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.2/")
		if out == "403" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("token not accepted after 10 s (last answer %s)", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s
}

// curl runs curl through the proxy over TLS and returns its stdout.
func (s *proxyStack) curl(t *testing.T, args ...string) string {
	t.Helper()
	base := []string{"-s", "--max-time", "20", "--proxy", "https://" + s.proxy, "--proxy-cacert", s.caFile}
	if s.token != "" {
		base = append(base, "--proxy-user", s.user+":"+s.token)
	}
	out, _ := exec.Command(curlPath(t), append(base, args...)...).Output()
	return string(out)
}

func curlPath(t *testing.T) string {
	p, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl not found: install Debian's curl package (scripts/test does)")
	}
	return p
}

func portOf(t *testing.T, u string) int {
	_, p, err := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://"))
	if err != nil {
		t.Fatal(err)
	}
	var n int
	fmt.Sscan(p, &n)
	return n
}

// TestProxyCurl drives the HTTPS proxy with curl, a real proxy client:
// plain HTTP forwarded with keep-alive, HTTPS through CONNECT with the
// tunnel reused, and denials with their reasons.
func TestProxyCurl(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "plain %s via=%s", r.URL.Path, r.Header.Get("Via"))
	}))
	defer origin.Close()
	tlsOrigin := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "secure %s", r.URL.Path)
	}))
	defer tlsOrigin.Close()
	originCA := filepath.Join(t.TempDir(), "origin.pem")
	os.WriteFile(originCA, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsOrigin.Certificate().Raw}), 0o644)
	op, tp := portOf(t, origin.URL), portOf(t, tlsOrigin.URL)
	s := startProxyStack(t, op, tp)

	out := s.curl(t, "-w", " %{http_code} %{num_connects}\n", origin.URL+"/a", origin.URL+"/b")
	if out != "plain /a via=1.1 waymark 200 1\nplain /b via=1.1 waymark 200 0\n" {
		t.Errorf("plain HTTP through the proxy:\n%s", out)
	}
	out = s.curl(t, "--cacert", originCA, "-w", " %{http_code} %{num_connects}\n", tlsOrigin.URL+"/x", tlsOrigin.URL+"/y")
	if out != "secure /x 200 1\nsecure /y 200 0\n" {
		t.Errorf("HTTPS through a CONNECT tunnel:\n%s", out)
	}
	out = s.curl(t, "-w", "\n%{http_code}", fmt.Sprintf("http://127.0.0.2:%d/", op))
	if !strings.HasSuffix(out, "403") || !strings.Contains(out, "This page was not opened") || !strings.Contains(out, "loopback") {
		t.Errorf("denied destination:\n%s", out)
	}
	out = s.curl(t, "-D", "-", "-o", "/dev/null", "-H", "Accept: application/json", "http://169.254.169.254/latest/meta-data/")
	if !strings.Contains(out, "Waymark-Decision: deny; reason=cloud_metadata") {
		t.Errorf("metadata address:\n%s", out)
	}
	// CONNECT denials: curl reports the proxy's status.
	cmd := exec.Command(curlPath(t), "-s", "-S", "--proxy", "https://"+s.proxy, "--proxy-cacert", s.caFile, "--proxy-user", "alice:"+s.token,
		fmt.Sprintf("https://127.0.0.2:%d/", tp))
	msg, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(msg), "403") {
		t.Errorf("CONNECT to 127.0.0.2: %v %s", err, msg)
	}
	s.token = ""
	if out := s.curl(t, "-o", "/dev/null", "-w", "%{http_code}", origin.URL); out != "407" {
		t.Errorf("without credentials: %s", out)
	}
	waitAudit(t, s.data, regexp.MustCompile(`"reason":"cloud_metadata"`), regexp.MustCompile(`"method":"CONNECT"`))
}

// TestProxyChromium loads a page in Chromium configured with the HTTPS
// proxy, as a person would with --proxy-server or the PAC file: the
// browser talks HTTP/2 to the proxy and answers its 407 with credentials.
func TestProxyChromium(t *testing.T) {
	seen := make(chan string, 10)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case seen <- r.Header.Get("Via"):
		default:
		}
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<!doctype html><title>through the channel</title><h1 id="h">hello through the proxy</h1>`)
	}))
	defer origin.Close()
	s := startProxyStack(t, portOf(t, origin.URL))
	certPEM, err := os.ReadFile(filepath.Join(s.data, "proxy-ca", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	spki := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	ctx := apptest.BrowserWith(t, apptest.BrowserOptions{Proxy: "https://" + s.proxy, ProxySPKI: base64.StdEncoding.EncodeToString(spki[:])})
	// Answer the proxy's 407 with the token, as a person would in the
	// browser's sign-in prompt; with auth handling on, every request
	// pauses and is let through. The handlers run in goroutines, as
	// Listen requires.
	events := make(chan any, 64)
	if err := chromedp.Listen(ctx, func(ev any) {
		switch ev.(type) {
		case *fetch.EventAuthRequired, *fetch.EventRequestPaused:
			events <- ev
		}
	}); err != nil {
		t.Fatal(err)
	}
	go func() {
		for ev := range events {
			switch e := ev.(type) {
			case *fetch.EventAuthRequired:
				chromedp.Call(ctx, fetch.ContinueWithAuth, fetch.ContinueWithAuthParams{RequestID: e.RequestID,
					AuthChallengeResponse: &fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseProvideCredentials, Username: s.user, Password: s.token}})
			case *fetch.EventRequestPaused:
				chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: e.RequestID})
			}
		}
	}()
	defer close(events)
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Call(tctx, fetch.Enable, fetch.EnableParams{HandleAuthRequests: new(true)}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(tctx, chromedp.Navigate(origin.URL+"/page"), chromedp.WaitVisible("#h")); err != nil {
		t.Fatal(err)
	}
	if h1, _ := chromedp.Run(tctx, chromedp.Text("#h")); h1 != "hello through the proxy" {
		t.Errorf("page text %q", h1)
	}
	select {
	case via := <-seen:
		if via != "1.1 waymark" {
			t.Errorf("origin saw Via %q: the request did not come through the proxy", via)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("origin saw no request")
	}
	waitAudit(t, s.data, regexp.MustCompile(`"user":"alice"[^\n]*"proto":"HTTP/2.0"[^\n]*"decision":"allow"`))
}

// waitAudit waits for the audit log (written out at least every 200 ms)
// to match every pattern.
func waitAudit(t *testing.T, data string, patterns ...*regexp.Regexp) {
	t.Helper()
	var audit []byte
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		audit, _ = os.ReadFile(filepath.Join(data, "proxy-audit.log"))
		ok := true
		for _, p := range patterns {
			ok = ok && p.Match(audit)
		}
		if ok {
			return
		}
	}
	t.Errorf("audit log does not match %v:\n%s", patterns, audit)
}

// TestProxyOnlyPart runs --parts proxy: no web surfaces, only the proxy
// and its operations server (health, metrics, PAC file).
func TestProxyOnlyPart(t *testing.T) {
	c := config.Defaults()
	c.Addr, c.Data, c.LogLevel, c.Parts = "127.0.0.1:0", t.TempDir(), "warn", []string{"proxy"}
	c.Proxy.Addr = "127.0.0.1:0"
	ops, stop := boot(t, c)
	defer stop()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + ops + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/proxy.pac"); code != 200 || !strings.Contains(body, "HTTPS 127.0.0.1:") {
		t.Errorf("PAC: %d %q", code, body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("healthz: %d", code)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "waymark_proxy_tunnels_open") {
		t.Errorf("metrics: %d", code)
	}
	for _, p := range []string{"/dashboard", "/b.gif", "/api/v1/consent", "/demo/"} {
		if code, _ := get(p); code != 404 {
			t.Errorf("%s on a proxy-only node: %d, want 404", p, code)
		}
	}
}

func TestParseDays(t *testing.T) {
	for in, want := range map[string]time.Duration{"90d": 90 * 24 * time.Hour, "12h": 12 * time.Hour, "1d": 24 * time.Hour} {
		if got, err := parseDays(in); err != nil || got != want {
			t.Errorf("parseDays(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := parseDays("xd"); err == nil {
		t.Error("parseDays accepted xd")
	}
}

func TestProxyTokenCommand(t *testing.T) {
	data := t.TempDir()
	run := func(args ...string) (string, int) {
		var out, errb bytes.Buffer
		code := Run(context.Background(), append([]string{"proxy", "token"}, append(args, "--data", data)...), func(string) string { return "" }, &out, &errb)
		return out.String() + errb.String(), code
	}
	if out, code := run("add"); code != 2 || !strings.Contains(out, "--user") {
		t.Errorf("add without user: %d %q", code, out)
	}
	out, code := run("add", "--user", "carol", "--expires", "30d")
	if code != 0 || !strings.Contains(out, "wmp_") {
		t.Fatalf("add: %d %q", code, out)
	}
	id := strings.Fields(out)[1]
	if out, _ := run("list"); !strings.Contains(out, id) || !strings.Contains(out, "active") {
		t.Errorf("list: %q", out)
	}
	if out, code := run("revoke", "--id", id); code != 0 {
		t.Errorf("revoke: %d %q", code, out)
	}
	if out, _ := run("list"); !strings.Contains(out, "revoked") {
		t.Errorf("list after revoke: %q", out)
	}
	if out, code := run("revoke", "--id", "nope"); code != 2 || !strings.Contains(out, "no such proxy token") {
		t.Errorf("revoke unknown: %d %q", code, out)
	}
}

// TestProxyThreatsCurl: a feed imported with the CLI while the server
// runs blocks its sites through the proxy, for plain HTTP (the block
// page) and CONNECT (403 with the reason).
func TestProxyThreatsCurl(t *testing.T) {
	s := startProxyStack(t)
	feed := filepath.Join(t.TempDir(), "feed.txt")
	os.WriteFile(feed, []byte("phish.test\n"), 0o600)
	var out, errb bytes.Buffer
	if code := Run(context.Background(), []string{"threats", "import", "--data", s.data, "--feed", feed + ":domains", "--list", "phishing"},
		func(string) string { return "" }, &out, &errb); code != 0 {
		t.Fatalf("threats import: %d %s", code, errb.String())
	}
	// The server reloads the database within 5 s.
	deadline := time.Now().Add(15 * time.Second)
	for {
		head := s.curl(t, "-D", "-", "-o", "/dev/null", "http://www.phish.test/login")
		if strings.Contains(head, "Waymark-Decision: deny; reason=threat_phishing") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the imported feed does not block after 15 s:\n%s", head)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if body := s.curl(t, "http://phish.test/"); !strings.Contains(body, "This page was not opened") || !strings.Contains(body, "phishing") {
		t.Errorf("block page:\n%s", body)
	}
	cmd := exec.Command(curlPath(t), "-s", "-S", "--proxy", "https://"+s.proxy, "--proxy-cacert", s.caFile, "--proxy-user", "alice:"+s.token,
		"https://phish.test/")
	msg, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(msg), "403") {
		t.Errorf("CONNECT to a listed site: %v %s", err, msg)
	}
	waitAudit(t, s.data, regexp.MustCompile(`"reason":"threat_phishing".*"threat_source":"`))
}

// TestVerifyThroughProxy: waymark verify fetches a page through the
// running proxy and checks it against the published keys; a saved copy
// with one byte changed fails with the digest named.
func TestVerifyThroughProxy(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html><body>signed news</body></html>")
	}))
	defer origin.Close()
	s := startProxyStack(t, portOf(t, origin.URL))
	keys := "http://" + s.web + "/.well-known/waymark/keys"
	var out, errb bytes.Buffer
	code := Run(context.Background(), []string{"verify", "--keys", keys, "--proxy", "https://" + s.proxy, "--proxy-cacert", s.caFile,
		"--proxy-user", "alice:" + s.token, origin.URL + "/news"}, func(string) string { return "" }, &out, &errb)
	if code != 0 || !strings.Contains(out.String(), "verified") || !strings.Contains(out.String(), `"@target-uri";req`) {
		t.Fatalf("verify through the proxy: %d\n%s%s", code, out.String(), errb.String())
	}
	// A saved response, then changed.
	raw := s.curl(t, "-i", "-H", "Accept-Signature: "+integrity.AcceptSignature, origin.URL+"/news")
	// Not asked for, an answer is relayed without a signature, which
	// verify reports.
	unsigned := filepath.Join(t.TempDir(), "unsigned.http")
	os.WriteFile(unsigned, []byte(s.curl(t, "-i", origin.URL+"/news")), 0o600)
	out.Reset()
	if code := Run(context.Background(), []string{"verify", "--keys", keys, "--response", unsigned, "--url", origin.URL + "/news"},
		func(string) string { return "" }, &out, &errb); code == 0 || !strings.Contains(out.String(), "carries no signature") {
		t.Errorf("unsigned response: %d %s", code, out.String())
	}
	saved := filepath.Join(t.TempDir(), "resp.http")
	os.WriteFile(saved, []byte(raw), 0o600)
	out.Reset()
	if code := Run(context.Background(), []string{"verify", "--keys", keys, "--response", saved, "--url", origin.URL + "/news"},
		func(string) string { return "" }, &out, &errb); code != 0 {
		t.Errorf("saved response: %d %s", code, out.String())
	}
	os.WriteFile(saved, []byte(strings.Replace(raw, "signed news", "signed NEWS", 1)), 0o600)
	out.Reset()
	if code := Run(context.Background(), []string{"verify", "--keys", keys, "--response", saved, "--url", origin.URL + "/news"},
		func(string) string { return "" }, &out, &errb); code == 0 || !strings.Contains(out.String(), "content-digest does not match") {
		t.Errorf("tampered response: %d %s", code, out.String())
	}
	// Asked about another URL, the same response fails.
	os.WriteFile(saved, []byte(raw), 0o600)
	out.Reset()
	if code := Run(context.Background(), []string{"verify", "--keys", keys, "--response", saved, "--url", origin.URL + "/other"},
		func(string) string { return "" }, &out, &errb); code == 0 || !strings.Contains(out.String(), "does not match what it covers") {
		t.Errorf("another URL: %d %s", code, out.String())
	}
	// Signing keys rotate from the CLI; the old one stays listed.
	out.Reset()
	if code := Run(context.Background(), []string{"keys", "rotate", "--signing", "--data", s.data}, func(string) string { return "" }, &out, &errb); code != 0 {
		t.Fatalf("rotate: %s", errb.String())
	}
	out.Reset()
	Run(context.Background(), []string{"keys", "list", "--data", s.data}, func(string) string { return "" }, &out, &errb)
	if strings.Count(out.String(), "content (Ed25519") != 2 || !strings.Contains(out.String(), "signs content") {
		t.Errorf("keys list:\n%s", out.String())
	}
}
