package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"waymark.dev/waymark/internal/admin"
	"waymark.dev/waymark/internal/apptest"
	"waymark.dev/waymark/internal/collect"
	"waymark.dev/waymark/internal/consent"
	"waymark.dev/waymark/internal/identity"
	"waymark.dev/waymark/internal/imported"
	"waymark.dev/waymark/internal/proxy"
	"waymark.dev/waymark/internal/proxytoken"
	"waymark.dev/waymark/internal/risk"
	"waymark.dev/waymark/internal/site"
	"waymark.dev/waymark/internal/spool"
	"waymark.dev/waymark/internal/sqlite"
	"waymark.dev/waymark/internal/stats"
)

const testPassword = "web-test-password"

// notifications collects what risk services of test servers notify.
type notifications struct {
	mu sync.Mutex
	ev []risk.Event
}

func (n *notifications) add(e risk.Event) {
	n.mu.Lock()
	n.ev = append(n.ev, e)
	n.mu.Unlock()
}

func (n *notifications) kinds(account string) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, e := range n.ev {
		if e.Account == account {
			out = append(out, e.Kind)
		}
	}
	return out
}

var notified = &notifications{}

const chromeUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

func newTestServer(t *testing.T, o apptest.Options) (*httptest.Server, *apptest.Stack, string) {
	t.Helper()
	return newTestServerReading(t, o, nil)
}

// newTestServerReading is newTestServer answering stats queries from
// reader (nil: the stack's embedded store).
func newTestServerReading(t *testing.T, o apptest.Options, reader stats.StatsReader) (*httptest.Server, *apptest.Stack, string) {
	t.Helper()
	st := apptest.NewStack(t, o)
	if reader == nil {
		reader = st.Events
	}
	st.AddSite(t, &site.Site{Domain: "shop.example", Goals: []site.Goal{{Event: "Signup"}}})
	st.AddSite(t, &site.Site{Domain: "other.example"})
	if _, err := admin.Setup(context.Background(), st.State, testPassword); err != nil {
		t.Fatal(err)
	}
	imps, _ := reader.(imported.Store)
	h := New(Deps{Log: slog.Default(), Sites: st.Sites, SiteStore: st.State, Collector: st.Collector, Stats: reader, Imports: imps,
		Now: time.Now, Registry: prometheus.NewRegistry(), Demo: true, DemoDomain: "shop.example",
		Admin: &admin.Auth{Store: st.State, Now: time.Now}, Throttle: &admin.Throttle{Now: stoppedClock(time.Now())},
		Consent:     testConsent(t, st.State, consent.DefaultPolicy()),
		Risk:        &risk.Service{Store: st.State, Policy: risk.DefaultPolicy(), Now: time.Now, Notify: notified.add},
		ProxyPAC:    proxy.PAC("proxy.shop.example:8443"),
		ProxyAuth:   proxyAuth(t, st.State),
		Threats:     testThreats(t),
		SigningKeys: testSigningKeys(t)})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, st, st.AddToken(t, "shop.example")
}

func proxyAuth(t *testing.T, st *sqlite.DB) *proxytoken.Authenticator {
	a := &proxytoken.Authenticator{Store: st, Now: time.Now}
	if err := a.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return a
}

// testConsent makes the consent endpoints' parts on a state store, with
// the receipt recorder running for the test.
func testConsent(t *testing.T, st *sqlite.DB, p consent.Policy) *ConsentDeps {
	t.Helper()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	ring, err := identity.LoadRing(context.Background(), st, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rec := consent.NewRecorder(st, 64)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rec.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return &ConsentDeps{Policy: p, Store: st, Recorder: rec,
		Visitor:  identity.NewCodec(ring, "visitor", identity.MaxAge, time.Now),
		Decision: identity.NewCodec(ring, "consent", p.Expiry, time.Now),
		Ring:     ring, Remembered: st}
}

func do(t *testing.T, method, url, body string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("User-Agent", chromeUA)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestPixel(t *testing.T) {
	srv, st, _ := newTestServer(t, apptest.Options{})
	tests := []struct {
		name, query string
		hdr         map[string]string
		status      int
		drop, err   string
	}{
		{"stored", "?u=https%3A%2F%2Fshop.example%2Fa&d=shop.example&sw=390", nil, 200, "", ""},
		{"referer as page", "", map[string]string{"Referer": "https://shop.example/from-referer"}, 200, "", ""},
		{"domain spelled differently", "?u=https%3A%2F%2Fshop.example%2Fb&d=WWW.Shop.Example", nil, 200, "", ""},
		{"bot", "?u=https%3A%2F%2Fshop.example%2Fa&d=shop.example", map[string]string{"User-Agent": "Googlebot/2.1"}, 200, "bot", ""},
		{"no page", "?d=shop.example", nil, 400, "", "u: page address missing"},
		{"unknown site", "?u=https%3A%2F%2Fnope.example%2F&d=nope.example", nil, 400, "", "no site"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, "GET", srv.URL+"/b.gif"+tt.query, "", tt.hdr)
			if resp.StatusCode != tt.status || len(body) != 43 || resp.Header.Get("Content-Type") != "image/gif" || resp.Header.Get("Cache-Control") != "no-store, max-age=0" {
				t.Errorf("status %d, %d bytes, type %q, cache %q", resp.StatusCode, len(body), resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"))
			}
			if got := resp.Header.Get("Waymark-Drop"); got != tt.drop {
				t.Errorf("Waymark-Drop = %q, want %q", got, tt.drop)
			}
			if got := resp.Header.Get("Waymark-Error"); !strings.Contains(got, tt.err) || (tt.err == "") != (got == "") {
				t.Errorf("Waymark-Error = %q, want it to contain %q", got, tt.err)
			}
		})
	}
	st.WaitStored(t, 3)
}

func TestEventAPI(t *testing.T) {
	srv, st, token := newTestServer(t, apptest.Options{})
	resp, body := do(t, "POST", srv.URL+"/api/event", `{"n":"pageview","u":"https://shop.example/p/1","d":"shop.example","r":"https://www.google.com/","sw":1920,"sh":1080}`,
		map[string]string{"Content-Type": "text/plain", "Accept-Language": "de-DE,de;q=0.9"})
	if resp.StatusCode != 202 || string(body) != "ok" {
		t.Fatalf("valid event: %d %s", resp.StatusCode, body)
	}
	// A beacon answer carries CORS and nosniff, not the document policies.
	if h := resp.Header; h.Get("Access-Control-Allow-Origin") != "*" || h.Get("X-Content-Type-Options") != "nosniff" ||
		h.Get("Content-Type") != "text/plain; charset=utf-8" || h.Get("Content-Security-Policy") != "" || h.Get("Referrer-Policy") != "" {
		t.Errorf("event answer headers: %v", h)
	}
	resp, body = do(t, "POST", srv.URL+"/api/event", `{"n":"pageview","d":"shop.example"}`, nil)
	var e struct {
		Error  struct{ Code, Field, Message string }
		Errors map[string][]string // Plausible's form
	}
	json.Unmarshal(body, &e)
	if resp.StatusCode != 400 || e.Error.Field != "url" || e.Error.Code != "invalid" || len(e.Errors["url"]) != 1 || "url: "+e.Errors["url"][0] != e.Error.Message {
		t.Errorf("invalid event: %d %s", resp.StatusCode, body)
	}
	resp, _ = do(t, "POST", srv.URL+"/api/event", strings.Repeat("x", 20<<10), nil)
	if resp.StatusCode != 413 {
		t.Errorf("oversized body: %d, want 413", resp.StatusCode)
	}
	st.WaitStored(t, 1)
	resp, body = do(t, "POST", srv.URL+"/api/v2/query", `{"site_id":"shop.example","metrics":["visitors","pageviews"],"date_range":"day","dimensions":["visit:source","visit:language","visit:screen"]}`,
		map[string]string{"Authorization": "Bearer " + token})
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"dimensions":["Google","de-DE","Desktop"],"metrics":[1,1]`)) {
		t.Errorf("query: %d %s", resp.StatusCode, body)
	}
}

func TestSpoolFull(t *testing.T) {
	st := apptest.NewStack(t, apptest.Options{})
	st.AddSite(t, &site.Site{Domain: "shop.example"})
	// A collector whose spool nobody drains: it must refuse, not drop.
	sp, err := spool.Open(t.TempDir(), 64<<10, 1<<20, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	c := &collect.Collector{Sites: st.Sites, Enricher: st.Collector.Enricher, Spool: sp}
	srv := httptest.NewServer(New(Deps{Log: slog.Default(), Sites: st.Sites, SiteStore: st.State, Collector: c, Stats: st.Events, Now: time.Now}))
	defer srv.Close()
	big := strings.Repeat("x", 1500)
	accepted := 0
	var resp *http.Response
	for range 2000 {
		resp, _ = do(t, "POST", srv.URL+"/api/event", `{"n":"pageview","u":"https://shop.example/`+big+`","d":"shop.example","p":{"a":"`+big+`"}}`, nil)
		if resp.StatusCode != 202 {
			break
		}
		accepted++
	}
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("after %d accepted hits: status %d, Retry-After %q; want 503 with Retry-After", accepted, resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Every acknowledged hit is in the spool.
	r := sp.NewReader(spool.Pos{})
	defer r.Close()
	n := 0
	for {
		_, _, ok, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		n++
	}
	if n != accepted {
		t.Errorf("spool holds %d hits, %d were acknowledged", n, accepted)
	}
	for range 1000 {
		if resp, _ = do(t, "GET", srv.URL+"/b.gif?u=https%3A%2F%2Fshop.example%2F&d=shop.example", "", nil); resp.StatusCode != 200 {
			break
		}
	}
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("pixel on a full spool: %d", resp.StatusCode)
	}
}

func TestQueryAuth(t *testing.T) {
	srv, st, token := newTestServer(t, apptest.Options{})
	allSites := st.AddToken(t, "")
	body := `{"site_id":"shop.example","metrics":["visitors"],"date_range":"day"}`
	tests := []struct {
		name, auth, body string
		status           int
		field            string
	}{
		{"no token", "", body, 401, ""},
		{"bad token", "Bearer wmk_nope", body, 401, ""},
		{"other site", "Bearer " + token, strings.Replace(body, "shop.example", "other.example", 1), 403, ""},
		{"unknown site", "Bearer " + allSites, strings.Replace(body, "shop.example", "nope.example", 1), 404, "site_id"},
		{"bad metric", "Bearer " + token, strings.Replace(body, "visitors", "vistors", 1), 400, "metrics"},
		{"ok", "Bearer " + token, body, 200, ""},
		{"ok for all-sites token", "Bearer " + allSites, body, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := do(t, "POST", srv.URL+"/api/v2/query", tt.body, map[string]string{"Authorization": tt.auth})
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, b)
			}
			if tt.field != "" && !bytes.Contains(b, []byte(`"field":"`+tt.field+`"`)) {
				t.Errorf("error does not name %q: %s", tt.field, b)
			}
		})
	}
	resp, b := do(t, "GET", srv.URL+"/api/v1/stats/realtime/visitors?site_id=shop.example", "", map[string]string{"Authorization": "Bearer " + token})
	if resp.StatusCode != 200 || strings.TrimSpace(string(b)) != "0" {
		t.Errorf("realtime: %d %s", resp.StatusCode, b)
	}
}

func TestTrackerAndHealth(t *testing.T) {
	srv, _, _ := newTestServer(t, apptest.Options{})
	// The default script (Plausible's script.js) within 1 KB gzipped; the
	// full one (w.js, the variants) within 1.6 KB.
	for path, budget := range map[string]int{"/js/script.js": 1024, "/js/plausible.js": 1024, "/w.js": 1638,
		"/js/script.hash.outbound-links.file-downloads.tagged-events.pageview-props.manual.local.revenue.exclusions.js": 1638} {
		resp, body := do(t, "GET", srv.URL+path, "", map[string]string{"Accept-Encoding": "gzip"})
		if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
			t.Fatalf("%s: %d %v", path, resp.StatusCode, resp.Header)
		}
		if len(body) > budget {
			t.Errorf("%s is %d bytes gzipped, over its %d", path, len(body), budget)
		}
	}
	// A variant's script sets the attributes its name promises first.
	resp, body := do(t, "GET", srv.URL+"/js/script.outbound-links.hash.js", "", nil)
	if resp.StatusCode != 200 || !bytes.HasPrefix(body, []byte(`(s=>s&&"hash outbound".split(" ")`)) {
		t.Errorf("variant: %d %.120s", resp.StatusCode, body)
	}
	for _, bad := range []string{"/js/script.telepathy.js", "/js/other.js", "/js/script"} {
		resp, body = do(t, "GET", srv.URL+bad, "", nil)
		if resp.StatusCode != 404 || !bytes.Contains(body, []byte(`"error"`)) {
			t.Errorf("%s: %d %s", bad, resp.StatusCode, body)
		}
	}
	resp, body = do(t, "GET", srv.URL+"/healthz", "", nil)
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"ok"`)) {
		t.Errorf("healthz: %d %s", resp.StatusCode, body)
	}
	do(t, "POST", srv.URL+"/api/event", `{"n":"pageview","u":"https://shop.example/","d":"shop.example"}`, nil)
	resp, body = do(t, "GET", srv.URL+"/metrics", "", nil)
	for _, m := range []string{"waymark_hits_accepted_total", "waymark_spool_fsyncs_total", "waymark_spool_bytes", "waymark_collect_duration_seconds"} {
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte(m)) {
			t.Errorf("/metrics (%d) lacks %s", resp.StatusCode, m)
		}
	}
	resp, _ = do(t, "GET", srv.URL+"/demo/products/lamp", "", nil)
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Errorf("demo page: %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = do(t, "DELETE", srv.URL+"/api/event", "", nil)
	if resp.StatusCode != 405 {
		t.Errorf("DELETE /api/event = %d, want 405", resp.StatusCode)
	}
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		remote, xff string
		trusted     []netip.Prefix
		want        string
	}{
		{"192.0.2.1:5000", "203.0.113.9", nil, "192.0.2.1"},
		{"10.0.0.5:5000", "203.0.113.9", trusted, "203.0.113.9"},
		{"10.0.0.5:5000", "198.51.100.1, 203.0.113.9, 10.1.1.1", trusted, "203.0.113.9"},
		{"192.0.2.1:5000", "203.0.113.9", trusted, "192.0.2.1"},
		{"10.0.0.5:5000", "garbage", trusted, "10.0.0.5"},
		{"[::ffff:192.0.2.1]:80", "", nil, "192.0.2.1"},
		// Ports and brackets, as some proxies write them.
		{"10.0.0.5:5000", "203.0.113.9:4711", trusted, "203.0.113.9"},
		{"10.0.0.5:5000", "[2001:db8::7]:4711", trusted, "2001:db8::7"},
		{"10.0.0.5:5000", "2001:db8::7", trusted, "2001:db8::7"},
		{"10.0.0.5:5000", "[2001:db8::7]", trusted, "2001:db8::7"},
		{"10.0.0.5:5000", "203.0.113.9:notaport", trusted, "10.0.0.5"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		if got := ClientIP(r, tt.trusted); got.String() != tt.want {
			t.Errorf("ClientIP(%s, %q) = %s, want %s", tt.remote, tt.xff, got, tt.want)
		}
	}
	// RFC 7239 Forwarded, used when X-Forwarded-For is absent.
	for fwd, want := range map[string]string{
		`for=203.0.113.9;proto=https`:                                   "203.0.113.9",
		`by=10.0.0.1;for="[2001:db8::7]:4711",for=10.2.2.2;proto=https`: "2001:db8::7",
		`For="203.0.113.9:80", for=198.51.100.3`:                        "198.51.100.3",
		`for=unknown`:                                                   "10.0.0.5",
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "10.0.0.5:5000"
		r.Header.Set("Forwarded", fwd)
		if got := ClientIP(r, trusted); got.String() != want {
			t.Errorf("Forwarded %q: %s, want %s", fwd, got, want)
		}
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "192.0.2.1:5000"
	r.Header.Set("Forwarded", "for=203.0.113.9")
	if got := ClientIP(r, trusted); got.String() != "192.0.2.1" {
		t.Errorf("Forwarded from an untrusted peer believed: %s", got)
	}
}

// apiErr reads an error answer in either shape: Waymark's {"error":
// {code, message}}, or the Stats API's Plausible shape {"error": message,
// "code": code}.
func apiErr(b []byte) (code, msg string) {
	var obj struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if json.Unmarshal(b, &obj) == nil && obj.Error.Code != "" {
		return obj.Error.Code, obj.Error.Message
	}
	var flat struct {
		Error, Code string
	}
	if json.Unmarshal(b, &flat) == nil {
		return flat.Code, flat.Error
	}
	return "", ""
}

func testLog() *slog.Logger { return slog.Default() }

func testNow() time.Time { return time.Now() }

// FuzzClientIP: forwarding headers are outside input; whatever they say,
// the answer is the peer or an address they named, never a panic.
func FuzzClientIP(f *testing.F) {
	f.Add("203.0.113.9, 10.1.1.1", "")
	f.Add("", `for="[2001:db8::7]:4711";proto=https, for=10.2.2.2`)
	f.Add("[::1", "for=")
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	f.Fuzz(func(t *testing.T, xff, fwd string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "10.0.0.5:5000"
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		if fwd != "" {
			r.Header.Set("Forwarded", fwd)
		}
		got := ClientIP(r, trusted)
		if !got.IsValid() {
			t.Fatalf("no address for %q / %q", xff, fwd)
		}
		if got.String() != "10.0.0.5" && xff == "" && fwd == "" {
			t.Fatalf("address %s without forwarding headers", got)
		}
	})
}

// stoppedClock is a clock that stays at t. The login throttle runs on one
// in these tests: its first backoff is a second, and under the race
// detector a password check can take longer than that, which let the
// backoff pass between two attempts of TestDashboardAuth.
func stoppedClock(t time.Time) func() time.Time {
	return func() time.Time { return t }
}
