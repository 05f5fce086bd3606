package web

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"waymark.dev/waymark/internal/apptest"
	"waymark.dev/waymark/internal/consent"
)

// hostile is one request an attacker controls.
type hostile struct {
	name    string
	method  string
	path    string
	body    string
	headers map[string]string
	want    int  // expected status
	json    bool // the answer is a JSON error naming the problem
}

func nested(depth int) string {
	return strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth)
}

// hostileRequests are, per endpoint, requests made to break it: oversized
// bodies and headers, invalid UTF-8, absurd numbers, 64 KB URLs, header
// injection, path traversal, forged cookies, revoked tokens and JSON bombs.
func hostileRequests(token, revoked string) []hostile {
	bearer := map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json"}
	ua := map[string]string{"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Content-Type": "text/plain"}
	long := "https://shop.example/" + strings.Repeat("a", 64<<10)
	return []hostile{
		{"event: 2 MB body", "POST", "/api/event", `{"n":"pageview","u":"https://shop.example/","d":"shop.example","p":{"x":"` + strings.Repeat("x", 2<<20) + `"}}`, ua, 413, true},
		{"event: path not UTF-8 once decoded", "POST", "/api/event", `{"n":"pageview","u":"https://shop.example/%FF%FE","d":"shop.example"}`, ua, 400, true},
		{"event: invalid UTF-8 bytes", "POST", "/api/event", "{\"n\":\"pageview\",\"u\":\"https://shop.example/\",\"d\":\"shop.example\",\"r\":\"\xff\xfe\"}", ua, 400, false},
		{"event: 64 KB URL", "POST", "/api/event", `{"n":"pageview","u":"` + long + `","d":"shop.example"}`, ua, 413, true},
		{"event: absurd screen", "POST", "/api/event", `{"n":"pageview","u":"https://shop.example/","d":"shop.example","sw":99999999,"sh":-5}`, ua, 400, true},
		{"event: negative engagement", "POST", "/api/event", `{"n":"engagement","u":"https://shop.example/","d":"shop.example","e":-5000}`, ua, 400, true},
		{"event: JSON bomb", "POST", "/api/event", nested(100000), ua, 413, true},
		{"event: deep JSON", "POST", "/api/event", nested(1000), ua, 400, true},
		{"event: unknown site", "POST", "/api/event", `{"n":"pageview","u":"https://evil.example/","d":"evil.example"}`, ua, 400, true},
		{"pixel: 64 KB URL", "GET", "/b.gif?d=shop.example&u=" + long, "", ua, 400, false},
		{"pixel: invalid UTF-8", "GET", "/b.gif?d=shop.example&u=https%3A%2F%2Fshop.example%2F%FF%FE", "", ua, 400, false},
		{"query: JSON bomb", "POST", "/api/v2/query", nested(100000), bearer, 413, true},
		{"query: deep JSON", "POST", "/api/v2/query", nested(5000), bearer, 400, true},
		{"query: 1 MB body", "POST", "/api/v2/query", `{"site_id":"shop.example","metrics":["visitors"],"date_range":"day","x":"` + strings.Repeat("x", 1<<20) + `"}`, bearer, 413, true},
		{"query: revoked token", "POST", "/api/v2/query", `{"site_id":"shop.example","metrics":["visitors"],"date_range":"day"}`, map[string]string{"Authorization": "Bearer " + revoked}, 401, true},
		{"query: invalid UTF-8 filter", "POST", "/api/v2/query", "{\"site_id\":\"shop.example\",\"metrics\":[\"visitors\"],\"date_range\":\"day\",\"filters\":[[\"is\",\"event:page\",[\"\xff\"]]]}", bearer, 400, true},
		{"consent: header injection in language", "POST", "/api/v1/consent", `{"purposes":{"analytics":true},"source":"banner","site":"shop.example","language":"en\r\nSet-Cookie: x=1"}`, map[string]string{"Content-Type": "application/json"}, 400, true},
		{"consent: JSON bomb", "POST", "/api/v1/consent", nested(100000), map[string]string{"Content-Type": "application/json"}, 413, true},
		{"consent: deep JSON", "POST", "/api/v1/consent", nested(1000), map[string]string{"Content-Type": "application/json"}, 400, true},
		{"consent: unknown purpose", "POST", "/api/v1/consent", `{"purposes":{"everything":true},"source":"banner","site":"shop.example"}`, map[string]string{"Content-Type": "application/json"}, 400, true},
		{"remembered: forged visitor cookie", "PUT", "/api/v1/remembered", `{"fields":{"email":"a@b.example"}}`, map[string]string{"Content-Type": "application/json", "Cookie": "waymark_id=AAAA.forged; waymark_consent=AAAA.forged"}, 403, true},
		{"risk: JSON bomb", "POST", "/api/v1/risk/login", nested(100000), bearer, 413, true},
		{"risk: deep JSON", "POST", "/api/v1/risk/login", nested(2000), bearer, 400, true},
		{"risk: unknown field", "POST", "/api/v1/risk/login", `{"account":"ann","outcome":"attempt","admin":true}`, bearer, 400, true},
		{"risk: 64 KB account", "POST", "/api/v1/risk/login", `{"account":"` + strings.Repeat("a", 64<<10) + `","outcome":"attempt"}`, bearer, 413, true},
		{"risk: bad outcome", "POST", "/api/v1/risk/login", `{"account":"ann","outcome":"success; DROP TABLE"}`, bearer, 400, true},
		{"threats: 64 KB URL", "POST", "/api/v1/threats/check", `{"urls":["` + long + `"]}`, bearer, 413, true},
		{"assets: traversal", "GET", "/demo/../../go.mod", "", nil, 307, false}, // cleaned to /go.mod, which is 404
		{"assets: the cleaned path", "GET", "/go.mod", "", nil, 404, false},
		{"assets: encoded traversal", "GET", "/demo/%2e%2e/%2e%2e/go.mod", "", nil, 404, false},
		{"assets: encoded slash", "GET", "/dash/..%2f..%2fgo.mod", "", nil, 404, false},
		{"gateway: CRLF in target", "GET", "/go?u=https%3A%2F%2Fshop.example%2F%0D%0ASet-Cookie%3A%20x%3D1", "", nil, 400, false},
		{"dashboard: forged session", "GET", "/dashboard/shop.example/realtime.json", "", map[string]string{"Cookie": "waymark_admin=forged"}, 401, true},
		{"demo: forged account cookie", "GET", "/demo/account", "", map[string]string{"Cookie": "waymark_demo_account=ann"}, 303, false},
	}
}

// TestHostileInput sends each hostile request and checks the clear 4xx
// answer, and that nothing was stored: no hit accepted, no receipt, no
// device, no login event.
func TestHostileInput(t *testing.T) {
	srv, st, _ := newTestServer(t, apptest.Options{})
	token := st.AddToken(t, "")
	revoked := st.AddToken(t, "shop.example")
	toks, _ := st.State.Tokens(context.Background())
	for _, tk := range toks {
		if tk.Site == "shop.example" {
			st.State.DeleteToken(context.Background(), tk.ID)
		}
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	state := func() [4]int {
		var receipts int
		st.State.EachReceipt(context.Background(), time.Time{}, func(*consent.Receipt) error { receipts++; return nil })
		devs, _ := st.State.Devices(context.Background(), "ann")
		evs, _ := st.State.Events(context.Background(), "ann", 100)
		return [4]int{int(st.Collector.Stats.Accepted.Load()), receipts, len(devs), len(evs)}
	}
	before := state()
	for _, h := range hostileRequests(token, revoked) {
		t.Run(h.name, func(t *testing.T) {
			req, err := http.NewRequest(h.method, srv.URL+h.path, strings.NewReader(h.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range h.headers {
				req.Header.Set(k, v)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != h.want {
				t.Errorf("%d, want %d: %.300s", resp.StatusCode, h.want, b)
			}
			if h.json {
				if code, msg := apiErr(b); code == "" || msg == "" {
					t.Errorf("answer is not a JSON error naming the problem: %.300s", b)
				}
			}
			if c := resp.Header.Values("Set-Cookie"); len(c) > 0 && h.want >= 400 {
				for _, v := range c {
					if strings.Contains(v, "x=1") {
						t.Errorf("injected cookie set: %q", v)
					}
				}
			}
		})
	}
	if after := state(); after != before {
		t.Errorf("hostile requests changed state (hits, receipts, devices, login events): %v -> %v", before, after)
	}
}
