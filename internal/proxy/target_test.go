package proxy

import (
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// curlH2 sends one request straight to the proxy's TLS listener over
// HTTP/2 with curl, with the request target and Host (which curl sends as
// :path and :authority) set by hand, and returns the status, the
// Waymark-Decision field and the body.
func (e *env) curlH2(t *testing.T, target, host string) (status, decision, body string) {
	t.Helper()
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl not found: install Debian's curl package (scripts/test does)")
	}
	ca := filepath.Join(t.TempDir(), "proxy.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.http.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	hdr := filepath.Join(t.TempDir(), "headers")
	out, err := exec.Command(curl, "-s", "--max-time", "10", "--http2", "--cacert", ca, "-D", hdr,
		"--request-target", target, "-H", "Host: "+host, "-H", "Proxy-Authorization: "+basic(e.secret),
		"-w", "\n%{http_version} %{http_code}", e.http.URL+"/").Output()
	if err != nil {
		t.Fatalf("curl: %v %s", err, out)
	}
	s := string(out)
	i := strings.LastIndexByte(s, '\n')
	proto, code, _ := strings.Cut(s[i+1:], " ")
	if proto != "2" {
		t.Fatalf("curl spoke HTTP/%s to the proxy, want 2", proto)
	}
	h, _ := os.ReadFile(hdr)
	for _, line := range strings.Split(string(h), "\r\n") {
		if k, v, ok := strings.Cut(line, ": "); ok && strings.EqualFold(k, "waymark-decision") {
			decision = v
		}
	}
	return code, decision, s[:i]
}

// TestHTTP2AbsolutePath is the probe's first finding: over HTTP/2, a
// :path in absolute form naming one host while :authority names another
// got the threat check and the signature for the first and the dial to
// the second. Such requests are refused; a :path in absolute form that
// agrees with :authority is forwarded as usual.
func TestHTTP2AbsolutePath(t *testing.T) {
	t.Parallel()
	e := threatEnv(t)
	op := e.originPort()
	for _, c := range []struct{ name, target, host, status, decision, body string }{
		{"listed host dialled, clean host checked", fmt.Sprintf("http://origin.test:%d/login", op), fmt.Sprintf("phish.test:%d", op),
			"400", "deny; reason=target_mismatch", "two destinations"},
		{"clean host dialled, listed host checked", fmt.Sprintf("http://phish.test:%d/login", op), fmt.Sprintf("origin.test:%d", op),
			"400", "deny; reason=target_mismatch", "two destinations"},
		{"same host in both", fmt.Sprintf("http://origin.test:%d/same", op), fmt.Sprintf("ORIGIN.test:%d", op),
			"200", "", "hello from origin: GET /same"},
		{"listed host in both", fmt.Sprintf("http://phish.test:%d/x", op), fmt.Sprintf("phish.test:%d", op),
			"403", "deny; reason=threat_phishing", "phishing"},
		{"https in :path", fmt.Sprintf("https://origin.test:%d/", op), fmt.Sprintf("origin.test:%d", op),
			"400", "deny; reason=scheme", "http://"},
		{"user information", fmt.Sprintf("http://u@origin.test:%d/", op), fmt.Sprintf("origin.test:%d", op),
			"400", "deny; reason=bad_destination", "user information"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, decision, body := e.curlH2(t, c.target, c.host)
			if status != c.status || decision != c.decision || !strings.Contains(body, c.body) {
				t.Errorf("%s: %s %q %.200s; want %s %q with %q", c.name, status, decision, body, c.status, c.decision, c.body)
			}
		})
	}
}
