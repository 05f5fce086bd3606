package app

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"waymark.dev/waymark/internal/postgres/postgrestest"
)

// TestPostgresOutage stops the shared state store under a node that
// collects, serves identity and runs the proxy: login decisions fail
// closed with a clear 503, hits are still accepted, and the proxy keeps
// authenticating with its cached tokens and blocking from its last threat
// snapshot. When the database is back, decisions work again.
func TestPostgresOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster; skipped with -short")
	}
	pg := postgrestest.Start(t)
	state := pg.URL()
	bin := buildBinary(t)
	dir := t.TempDir()
	runBin(t, bin, "site", "add", "--state", state, "--domain", "outage.example")
	token := tokenLine(t, runBin(t, bin, "token", "add", "--state", state, "--name", "o")) // account security needs every site
	proxyToken := tokenLine(t, runBin(t, bin, "proxy", "token", "add", "--state", state, "--user", "ops"))
	feed := filepath.Join(dir, "feed.txt")
	os.WriteFile(feed, []byte("http://blocked-outage.test/\n"), 0o644)
	runBin(t, bin, "threats", "import", "--state", state, "--feed", feed, "--list", "phishing", "--source", "ops")

	n := startNode(t, bin, []string{"Waymark is running:", "Secure proxy:"}, "--state", state, "--data", filepath.Join(dir, "n"),
		"--addr", "127.0.0.1:0", "--parts", "collector,identity,proxy", "--proxy-plain", "--proxy-addr", "127.0.0.1:0", "--sync-interval", "500ms")
	base := strings.TrimSuffix(n.lines["Waymark is running:"], "/")
	pu, _ := url.Parse(n.lines["Secure proxy:"])
	pu.User = url.UserPassword("ops", proxyToken)
	proxied := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu)}, Timeout: 10 * time.Second}

	login := func() (int, string) {
		req, _ := http.NewRequest("POST", base+"/api/v1/risk/login", strings.NewReader(`{"account":"ann","outcome":"attempt","ip":"192.0.2.1"}`))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	hit := func() int {
		req, _ := http.NewRequest("POST", base+"/api/event", strings.NewReader(`{"n":"pageview","u":"https://outage.example/","d":"outage.example"}`))
		req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	through := func(target string) (int, string) {
		resp, err := proxied.Get(target)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Waymark-Decision")
	}
	check := func(when string) {
		t.Helper()
		if code, _ := through("http://127.0.0.2/"); code != http.StatusForbidden {
			t.Errorf("%s: a private address through the proxy answered %d, want 403 (token accepted, egress denied)", when, code)
		}
		if code, dec := through("http://blocked-outage.test/x"); code != http.StatusForbidden || !strings.Contains(dec, "phishing") {
			t.Errorf("%s: a listed site answered %d %q, want the phishing block", when, code, dec)
		}
		if code := hit(); code != http.StatusAccepted {
			t.Errorf("%s: a hit answered %d, want 202", when, code)
		}
	}
	if code, body := login(); code != http.StatusOK {
		t.Fatalf("login before the outage: %d %s", code, body)
	}
	check("before the outage")

	pg.Stop()
	start := time.Now()
	code, body := login()
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	json.Unmarshal([]byte(body), &e)
	if code != http.StatusServiceUnavailable || e.Error.Code != "unavailable" {
		t.Errorf("login with the database down: %d %s, want 503 unavailable", code, body)
	}
	t.Logf("login answered %d in %s with the database down", code, time.Since(start).Round(time.Millisecond))
	check("during the outage")

	if err := pg.Resume(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := login()
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("login after the database came back: %d %s", code, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	check("after the outage")
}
