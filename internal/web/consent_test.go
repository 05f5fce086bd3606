package web

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"waymark.dev/waymark/internal/apptest"
	"waymark.dev/waymark/internal/consent"
)

type consentAnswer struct {
	VisitorID     string          `json:"visitor_id"`
	PolicyVersion string          `json:"policy_version"`
	Purposes      map[string]bool `json:"purposes"`
	ReceiptID     string          `json:"receipt_id"`
	Source        string          `json:"source"`
	Prompt        bool            `json:"prompt"`
	GPC           bool            `json:"gpc"`
	Language      string          `json:"language"`
	VisitorToken  string          `json:"visitor_token"`
	Policy        *struct {
		Banner struct{ Title string } `json:"banner"`
	} `json:"policy"`
}

func (b *browser) consent(method, body string, hdr map[string]string) (*http.Response, consentAnswer) {
	b.t.Helper()
	req, _ := http.NewRequest(method, b.origin+"/api/v1/consent", strings.NewReader(body))
	req.Header.Set("Origin", b.origin)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	var a consentAnswer
	json.NewDecoder(resp.Body).Decode(&a)
	return resp, a
}

func cookie(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func TestConsentAPI(t *testing.T) {
	srv, st, _ := newTestServer(t, apptest.Options{})
	b := newBrowser(t, srv.URL)

	// First visit: the banner is due and nothing is set.
	resp, a := b.consent("GET", "", map[string]string{"Accept-Language": "zh-CN,zh;q=0.9"})
	if !a.Prompt || a.VisitorID != "" || a.Purposes["analytics"] || !a.Purposes["necessary"] || len(resp.Cookies()) != 0 {
		t.Fatalf("first visit: %+v, cookies %v", a, resp.Cookies())
	}
	if a.Language != "zh-CN" || a.Policy == nil || a.Policy.Banner.Title != "您的隐私" {
		t.Errorf("language %q, banner %+v", a.Language, a.Policy)
	}

	// Accept all: a receipt, the consent cookie, the visitor cookie.
	resp, a = b.consent("POST", `{"purposes":{"preferences":true,"analytics":true},"source":"banner"}`, nil)
	if resp.StatusCode != 200 || a.Prompt || !a.Purposes["analytics"] || a.VisitorID == "" || a.ReceiptID == "" || a.VisitorToken == "" {
		t.Fatalf("accept all: %d %+v", resp.StatusCode, a)
	}
	id := cookie(resp, "waymark_id")
	if id == nil || !id.HttpOnly || id.SameSite != http.SameSiteLaxMode || id.Path != "/" || id.MaxAge != 400*24*3600 {
		t.Errorf("visitor cookie %+v: want HttpOnly, SameSite=Lax, Path=/, Max-Age 400 days", id)
	}
	if c := cookie(resp, "waymark_consent"); c == nil || !c.HttpOnly {
		t.Errorf("consent cookie %+v", c)
	}
	rec, err := st.State.ReceiptByID(t.Context(), a.ReceiptID)
	if err != nil || rec.VisitorID != a.VisitorID || rec.Source != consent.SourceBanner || rec.Site != "shop.example" || rec.IPPrefix != "127.0.0.0/24" {
		t.Errorf("receipt %+v, %v", rec, err)
	}
	visitor := a.VisitorID

	// The next page view knows the decision and the visitor.
	_, a = b.consent("GET", "", nil)
	if a.Prompt || a.VisitorID != visitor || !a.Purposes["preferences"] {
		t.Errorf("after accepting: %+v", a)
	}

	// Withdrawing analytics keeps the id (preferences) but records it.
	_, a = b.consent("POST", `{"purposes":{"preferences":true},"source":"preferences","explicit":true}`, nil)
	if a.Purposes["analytics"] || a.VisitorID != visitor {
		t.Errorf("withdraw analytics: %+v", a)
	}
	// Reject all: no identifier any more; the receipt has none.
	resp, a = b.consent("POST", `{"purposes":{},"source":"banner"}`, nil)
	if a.VisitorID != "" || cookie(resp, "waymark_id") == nil || cookie(resp, "waymark_id").MaxAge >= 0 {
		t.Errorf("reject all: %+v, visitor cookie %+v (want deleted)", a, cookie(resp, "waymark_id"))
	}
	if rec, _ := st.State.ReceiptByID(t.Context(), a.ReceiptID); rec == nil || rec.VisitorID != "" {
		t.Errorf("reject-all receipt %+v has a visitor id", rec)
	}
	// Without a visitor id, "what is stored about me" still shows the
	// browser's current receipt (the consent cookie names it).
	if _, body := b.get("/api/v1/consent/me"); !strings.Contains(body, a.ReceiptID) {
		t.Errorf("me after rejecting all lacks the receipt %s: %s", a.ReceiptID, body)
	}

	// GPC: a bulk accept keeps analytics off; naming it turns it on.
	g := newBrowser(t, srv.URL)
	gpc := map[string]string{"Sec-GPC": "1"}
	if _, a := g.consent("GET", "", gpc); !a.GPC {
		t.Error("GPC not reported")
	}
	if _, a := g.consent("POST", `{"purposes":{"preferences":true,"analytics":true},"source":"banner"}`, gpc); a.Purposes["analytics"] || !a.Purposes["preferences"] {
		t.Errorf("accept all under GPC: %+v", a.Purposes)
	}
	if _, a := g.consent("POST", `{"purposes":{"analytics":true},"source":"preferences","explicit":true}`, gpc); !a.Purposes["analytics"] {
		t.Errorf("analytics chosen by name under GPC: %+v", a.Purposes)
	}

	// Bad input names the problem; a cross-site request is refused.
	for body, field := range map[string]string{
		`{"purposes":{"marketing":true}}`:         "purposes",
		`{"purposes":{},"source":"gpc"}`:          "source",
		`{"purposes":{},"site":"nosuch.example"}`: "site",
		`not json`: "body",
	} {
		resp, _ := b.consent("POST", body, nil)
		if resp.StatusCode != 400 {
			t.Errorf("%s: %d, want 400 naming %s", body, resp.StatusCode, field)
		}
	}
	if resp, _ := b.consent("POST", `{"purposes":{}}`, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site consent: %d, want 403", resp.StatusCode)
	}

	// Local storage instead of cookies: the SDK sends the signed id.
	l := newBrowser(t, srv.URL)
	_, a = l.consent("POST", `{"purposes":{"preferences":true},"source":"banner"}`, nil)
	token := a.VisitorToken
	fresh := newBrowser(t, srv.URL) // a browser whose cookies were refused
	if _, a := fresh.consent("GET", "", map[string]string{"Waymark-Id": token}); a.VisitorID == "" {
		t.Error("the local-storage id is not recognised")
	}
	if _, a := fresh.consent("GET", "", map[string]string{"Waymark-Id": token[:len(token)-2] + "AA"}); a.VisitorID != "" {
		t.Error("a tampered local-storage id is recognised")
	}
	// A tampered consent cookie is a question again, not an error.
	req, _ := http.NewRequest("GET", srv.URL+"/api/v1/consent", nil)
	req.AddCookie(&http.Cookie{Name: "waymark_consent", Value: strings.Repeat("A", 55)})
	req.AddCookie(&http.Cookie{Name: "waymark_id", Value: "garbage"})
	if r2, err := http.DefaultClient.Do(req); err != nil || r2.StatusCode != 200 {
		t.Errorf("tampered cookies: %v %v", r2.StatusCode, err)
	}

	// What is stored about me, and forgetting it.
	_, a = l.consent("GET", "", nil)
	rme, body := l.get("/api/v1/consent/me")
	if rme.StatusCode != 200 || !strings.Contains(body, a.VisitorID) || !strings.Contains(body, `"receipt_id"`) {
		t.Errorf("me: %d %s", rme.StatusCode, body)
	}
	// A page with checked outbound links gave this browser the wm_go
	// cookie: it is listed with its purpose, and forgetting deletes it
	// (the newcomer's ninth finding: it was neither).
	req, _ = http.NewRequest("POST", srv.URL+"/api/v1/links/sign", strings.NewReader(`{"urls":["https://example.org/"]}`))
	req.Header.Set("Origin", srv.URL)
	req.Header.Set("Content-Type", "application/json")
	if resp, err := l.c.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("link signing: %v %v", resp.StatusCode, err)
	}
	if _, body := l.get("/api/v1/consent/me"); !strings.Contains(body, `{"name":"wm_go","purpose":"necessary"`) || !strings.Contains(body, `{"name":"waymark_consent"`) {
		t.Errorf("me does not list the cookies this browser holds: %s", body)
	}
	rf, body := l.post("/api/v1/consent/forget", nil, nil)
	if rf.StatusCode != 200 || !strings.Contains(body, `"forgotten_receipts":1`) {
		t.Errorf("forget: %d %s", rf.StatusCode, body)
	}
	for _, name := range []string{"wm_go", "waymark_consent", "waymark_id"} {
		if c := cookie(rf, name); c == nil || c.MaxAge >= 0 {
			t.Errorf("forget left the %s cookie: %+v", name, c)
		}
	}
	if _, body := l.get("/api/v1/consent/me"); !strings.Contains(body, `"cookies":[]`) {
		t.Errorf("after forgetting, me still lists cookies: %s", body)
	}
	if _, a := l.consent("GET", "", nil); !a.Prompt || a.VisitorID != "" {
		t.Errorf("after forgetting: %+v", a)
	}
}

// TestConsentPolicyVersion: a new policy version asks again.
func TestConsentPolicyVersion(t *testing.T) {
	srv, st, _ := newTestServer(t, apptest.Options{})
	b := newBrowser(t, srv.URL)
	b.consent("POST", `{"purposes":{"analytics":true}}`, nil)
	p := consent.DefaultPolicy()
	p.Version = "2"
	h := New(Deps{Log: testLog(), Sites: st.Sites, SiteStore: st.State, Collector: st.Collector, Stats: st.Events,
		Now: testNow, Consent: testConsent(t, st.State, p), Admin: nil})
	srv2 := httptest.NewServer(h)
	defer srv2.Close()
	b.origin = srv2.URL // same cookie jar (cookies are per host, not port)
	if _, a := b.consent("GET", "", nil); !a.Prompt || a.PolicyVersion != "2" {
		t.Errorf("after a policy change: %+v, want a prompt for version 2", a)
	}
}

// TestConsentedAnalytics: with analytics granted, the collector counts the
// visitor by the first-party id (the same visitor across a change of
// browser version); without, by the cookieless hash.
func TestConsentedAnalytics(t *testing.T) {
	srv, st, _ := newTestServer(t, apptest.Options{})
	hit := func(b *browser, ua string) {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+"/api/event", strings.NewReader(`{"n":"pageview","u":"https://shop.example/","d":"shop.example"}`))
		req.Header.Set("Content-Type", "text/plain")
		req.Header.Set("User-Agent", ua)
		resp, err := b.c.Do(req)
		if err != nil || resp.StatusCode != http.StatusAccepted {
			t.Fatalf("event: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	ua1 := "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
	ua2 := "Mozilla/5.0 (X11; Linux x86_64; rv:134.0) Gecko/20100101 Firefox/134.0"
	yes, no := newBrowser(t, srv.URL), newBrowser(t, srv.URL)
	yes.consent("POST", `{"purposes":{"analytics":true}}`, nil)
	no.consent("POST", `{"purposes":{"preferences":true}}`, nil)
	hit(yes, ua1)
	hit(yes, ua2)
	hit(no, ua1)
	hit(no, ua2)
	st.WaitStored(t, 4)
	var consented, hashed int
	if err := st.Events.DB().QueryRow(`SELECT count(DISTINCT visitor_id) FROM events WHERE browser_version LIKE '13%' AND visitor_id IN (SELECT visitor_id FROM events GROUP BY visitor_id HAVING count(*) = 2)`).Scan(&consented); err != nil {
		t.Fatal(err)
	}
	if err := st.Events.DB().QueryRow(`SELECT count(DISTINCT visitor_id) FROM events`).Scan(&hashed); err != nil {
		t.Fatal(err)
	}
	// Four hits: the consented browser's two share one visitor; the other
	// browser's two (different user agents) are two visitors.
	if consented != 1 || hashed != 3 {
		t.Errorf("visitors: %d with both hits, %d in all; want 1 and 3", consented, hashed)
	}
}

func TestReceiptsAPI(t *testing.T) {
	srv, st, siteToken := newTestServer(t, apptest.Options{})
	b := newBrowser(t, srv.URL)
	_, a := b.consent("POST", `{"purposes":{"analytics":true},"source":"banner"}`, nil)
	all := st.AddToken(t, "")
	get := func(token, query string) (int, string) {
		resp, body := do(t, "GET", srv.URL+"/api/v1/consent/receipts?"+query, "", map[string]string{"Authorization": "Bearer " + token})
		return resp.StatusCode, string(body)
	}
	if code, body := get(all, "receipt="+a.ReceiptID); code != 200 || !strings.Contains(body, a.VisitorID) {
		t.Errorf("by receipt: %d %s", code, body)
	}
	if code, body := get(all, "visitor="+a.VisitorID); code != 200 || !strings.Contains(body, a.ReceiptID) {
		t.Errorf("by visitor: %d %s", code, body)
	}
	if code, body := get(all, "format=csv"); code != 200 || !strings.HasPrefix(body, "receipt_id,") || !strings.Contains(body, a.ReceiptID) {
		t.Errorf("export: %d %s", code, body)
	}
	if code, _ := get(all, "receipt=nope"); code != 404 {
		t.Errorf("unknown receipt: %d", code)
	}
	if code, body := get(all, "since=yesterday"); code != 400 || !strings.Contains(body, `"field":"since"`) {
		t.Errorf("bad since: %d %s", code, body)
	}
	if code, _ := get(siteToken, "visitor="+a.VisitorID); code != 403 {
		t.Errorf("a one-site token: %d, want 403", code)
	}
	if code, _ := get("wmk_nope", "visitor=x"); code != 401 {
		t.Errorf("bad token: %d, want 401", code)
	}
}

func TestRememberedAPI(t *testing.T) {
	srv, _, _ := newTestServer(t, apptest.Options{})
	b := newBrowser(t, srv.URL)
	req := func(method, body string) (int, string) {
		t.Helper()
		r, _ := http.NewRequest(method, srv.URL+"/api/v1/remembered", strings.NewReader(body))
		r.Header.Set("Origin", srv.URL)
		r.Header.Set("Content-Type", "application/json")
		resp, err := b.c.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw)
	}
	// Without the preferences consent nothing is stored, and the answer
	// says why.
	if code, body := req("PUT", `{"fields":{"name":"Alice"}}`); code != 403 || !strings.Contains(body, "preferences consent") {
		t.Errorf("without consent: %d %s", code, body)
	}
	b.consent("POST", `{"purposes":{"preferences":true},"source":"banner"}`, nil)
	if code, body := req("PUT", `{"fields":{"name":"Alice","email":"alice@example.com"}}`); code != 204 {
		t.Fatalf("remember: %d %s", code, body)
	}
	if code, body := req("GET", ""); code != 200 || !strings.Contains(body, `"email":"alice@example.com"`) {
		t.Errorf("read back: %d %s", code, body)
	}
	if code, body := req("PUT", `{"fields":{"password":"hunter2"}}`); code != 400 || !strings.Contains(body, "never remembered") {
		t.Errorf("a password: %d %s", code, body)
	}
	if code, _ := req("DELETE", ""); code != 204 {
		t.Errorf("forget: %d", code)
	}
	if code, body := req("GET", ""); code != 200 || strings.Contains(body, "alice") {
		t.Errorf("after forgetting: %d %s", code, body)
	}
	// Withdrawing preferences: the details are no longer served.
	req("PUT", `{"fields":{"name":"Alice"}}`)
	b.consent("POST", `{"purposes":{"analytics":true},"source":"preferences","explicit":true}`, nil)
	if code, _ := req("GET", ""); code != 403 {
		t.Errorf("after withdrawing preferences: %d, want 403", code)
	}
}
