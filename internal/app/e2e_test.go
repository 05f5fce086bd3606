package app

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"waymark.dev/waymark/internal/apptest"
	"waymark.dev/waymark/internal/config"
)

// startServer boots the real program in-process on a free port.
func startServer(t *testing.T, data string) (addr string, stop func()) {
	t.Helper()
	c := config.Defaults()
	c.Addr, c.Data, c.Demo, c.FlushInterval, c.LogLevel = "127.0.0.1:0", data, true, 50*time.Millisecond, "warn"
	return boot(t, c)
}

// boot runs Serve with c in-process until stop is called.
func boot(t *testing.T, c config.Serve) (addr string, stop func()) {
	t.Helper()
	if c.Proxy.Addr == config.Defaults().Proxy.Addr {
		c.Proxy.Addr = "127.0.0.1:0" // tests run side by side
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() { done <- Serve(ctx, c, &out, io.Discard, func(a string) { ready <- a }) }()
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("server not ready after 60 s")
	}
	var once bool
	return addr, func() {
		if once {
			return
		}
		once = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v", err)
		}
	}
}

// TestBrowserPageview loads the demo shop in headless Chromium and finds
// the pageviews with the browser's real screen size, its family and an
// engagement time.
func TestBrowserPageview(t *testing.T) {
	data := t.TempDir()
	start := time.Now().UTC().Add(-time.Second)
	addr, stop := startServer(t, data)
	defer stop()
	ctx := apptest.Browser(t)
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	// The consent banner comes first; refusing keeps analytics cookieless.
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+addr+"/demo/"), chromedp.WaitVisible("h1"),
		chromedp.WaitVisible(".wm-consent"), chromedp.Click(`.wm-consent [data-wm="reject"]`), chromedp.WaitNotPresent(".wm-consent")); err != nil {
		t.Fatal(err)
	}
	screenW := evalInt(t, ctx, `screen.width`)
	screenH := evalInt(t, ctx, `screen.height`)
	if wd, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`navigator.webdriver === true`)); err != nil || wd {
		t.Fatalf("navigator.webdriver = %v (%v): the tracker would ignore this browser", wd, err)
	}
	if err := chromedp.Do(ctx, chromedp.Click("h1")); err != nil { // a person's first click gives the page focus
		t.Fatal(err)
	}
	err := chromedp.Do(ctx,
		chromedp.Sleep(1200*time.Millisecond), // engaged time on the first page
		chromedp.Click(`a[href="/demo/products/lamp"]`),
		chromedp.WaitVisible("h1"),
		chromedp.Sleep(300*time.Millisecond),
		chromedp.Navigate("about:blank"), // pagehide sends the second page's engagement
		chromedp.Sleep(500*time.Millisecond),
	)
	if err != nil {
		t.Fatal(err)
	}
	// Realtime through the API while the server runs.
	token := addToken(t, data)
	// Beacons travel asynchronously and the ingester writes in batches:
	// poll, as a realtime view does, for up to five seconds.
	var body string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		body = postQuery(t, addr, token, `{"site_id":"`+DemoDomain+`","metrics":["visitors","pageviews"],"date_range":"realtime"}`)
		if strings.Contains(body, `"metrics":[1,2]`) || time.Now().After(deadline) {
			break
		}
	}
	if !strings.Contains(body, `"metrics":[1,2]`) {
		t.Errorf("realtime query = %s, want 1 visitor and 2 pageviews within 5 s", body)
	}
	stop() // graceful: the spool drains into DuckDB

	db, err := sql.Open("duckdb", filepath.Join(data, "events.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The demo's synthetic history ends before the test started.
	rows, err := db.Query(`SELECT name, pathname, screen_w, screen_h, browser, device, engaged_ms FROM events WHERE ts >= ? ORDER BY ts, name DESC`, start.Truncate(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	var engaged int64
	for rows.Next() {
		var name, path, browser, device string
		var w, h, ms int64
		if err := rows.Scan(&name, &path, &w, &h, &browser, &device, &ms); err != nil {
			t.Fatal(err)
		}
		if name == "pageview" {
			if w != screenW || h != screenH || browser != "Chrome" || device != "Desktop" {
				t.Errorf("pageview %s stored screen %dx%d browser %s device %s; the browser has %dx%d Chrome Desktop", path, w, h, browser, device, screenW, screenH)
			}
		}
		if name == "engagement" && path == "/demo/" {
			engaged += ms // pagehide and visibilitychange may each report a part
		}
		got = append(got, name+" "+path)
	}
	if strings.Count(strings.Join(got, ","), "pageview") != 2 {
		t.Errorf("stored events %v, want pageviews of /demo/ and /demo/products/lamp", got)
	}
	if engaged < 1000 {
		t.Errorf("engaged time on /demo/ = %d ms, want at least the 1.2 s the test stayed", engaged)
	}
}

func addToken(t *testing.T, data string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := Run(context.Background(), []string{"token", "add", "--data", data, "--name", "test"}, func(string) string { return "" }, &out, &errb); code != 0 {
		t.Fatalf("token add: %d %s", code, errb.String())
	}
	return strings.TrimSpace(out.String())
}

func postQuery(t *testing.T, addr, token, body string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+addr+"/api/v2/query", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("query %s: %d %s", body, resp.StatusCode, b)
	}
	var v any
	if json.Unmarshal(b, &v) != nil {
		t.Fatalf("query answer is not JSON: %s", b)
	}
	return string(b)
}

func evalInt(t *testing.T, ctx context.Context, expr string) int64 {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[int64](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}
