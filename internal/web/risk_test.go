package web

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"waymark.dev/waymark/internal/apptest"
)

type riskReply struct {
	Decision     string   `json:"decision"`
	Score        int      `json:"score"`
	Device       string   `json:"device"`
	Reasons      []string `json:"reasons"`
	DeviceCookie string   `json:"device_cookie"`
	SetCookie    string   `json:"set_cookie"`
	DeviceID     string   `json:"device_id"`
}

// TestRiskFlow drives the account-security API as a site's login handler
// would: a new device is challenged, trusting it lets it in silently, a
// brute-forcing client is throttled while the trusted device still logs
// in, a replayed device secret is denied and revokes the device, a revoked
// device is challenged again, and a browser refusing cookies is challenged
// with its reason.
func TestRiskFlow(t *testing.T) {
	srv, st, _ := newTestServer(t, apptest.Options{})
	token := st.AddToken(t, "") // account security needs a token for every site
	call := func(method, path, body string) (int, riskReply, string) {
		t.Helper()
		resp, b := do(t, method, srv.URL+path, body, map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json"})
		var r riskReply
		json.Unmarshal(b, &r)
		return resp.StatusCode, r, string(b)
	}
	login := func(outcome, ip, cookie string) riskReply {
		t.Helper()
		body := `{"account":"alice","outcome":"` + outcome + `","ip":"` + ip + `","user_agent":"` + chromeUA + `","device_cookie":"` + cookie + `"}`
		code, r, raw := call("POST", "/api/v1/risk/login", body)
		if code != 200 {
			t.Fatalf("login: %d %s", code, raw)
		}
		return r
	}
	home, attacker := "198.51.100.7", "203.0.113.9"

	// A first login from a new browser: challenge.
	if r := login("attempt", home, ""); r.Decision != "challenge" || r.Device != "none" || !has(r.Reasons, "new_device") {
		t.Fatalf("new device: %+v", r)
	}
	login("success", home, "")
	// After the step-up, the site trusts the browser.
	code, tr, raw := call("POST", "/api/v1/devices/trust", `{"account":"alice","name":"Laptop","ip":"`+home+`","user_agent":"`+chromeUA+`"}`)
	if code != 200 || tr.DeviceCookie == "" || !strings.Contains(tr.SetCookie, "__Host-waymark_device=") || !strings.Contains(tr.SetCookie, "HttpOnly") {
		t.Fatalf("trust: %d %s", code, raw)
	}
	cookie := tr.DeviceCookie
	// Same device: allowed silently; the secret rotates.
	r := login("success", home, cookie)
	if r.Decision != "allow" || r.Device != "known" || r.DeviceCookie == "" || r.DeviceCookie == cookie {
		t.Fatalf("known device: %+v", r)
	}
	stolen, cookie := cookie, r.DeviceCookie

	// 20 failures from an untrusted client: it is throttled; the trusted
	// device still gets in.
	for range 20 {
		login("failure", attacker, "")
	}
	if r := login("attempt", attacker, ""); r.Decision != "deny" || !has(r.Reasons, "client_failures") {
		t.Errorf("brute-forcing client: %+v", r)
	}
	r = login("success", home, cookie)
	if r.Decision != "allow" {
		t.Errorf("trusted device during the attack: %+v", r)
	}
	cookie = r.DeviceCookie

	// The secret from before the rotation, replayed (a stolen cookie):
	// deny, the device is revoked, the audit trail says so.
	r = login("attempt", attacker, stolen)
	if r.Decision != "deny" || !has(r.Reasons, "device_token_reuse") {
		t.Fatalf("replayed secret: %+v", r)
	}
	_, _, devices := call("GET", "/api/v1/accounts/alice/devices", "")
	if !strings.Contains(devices, `"revoked":true`) || !strings.Contains(devices, `"name":"Laptop"`) {
		t.Errorf("devices after the replay: %s", devices)
	}
	_, _, events := call("GET", "/api/v1/accounts/alice/events", "")
	if !strings.Contains(events, `"kind":"device_token_reuse"`) {
		t.Errorf("audit trail lacks the replay: %s", events)
	}
	// The operator was told of the new-device login and of the replay.
	if k := notified.kinds("alice"); !has(k, "new_device_login") || !has(k, "device_token_reuse") {
		t.Errorf("notifications for alice: %v", k)
	}
	// The revoked device is challenged again, even with its newest secret.
	if r := login("attempt", home, cookie); r.Decision != "challenge" || r.Device != "revoked" {
		t.Errorf("revoked device: %+v", r)
	}

	// Cookies refused: a challenge that says why.
	_, r, _ = call("POST", "/api/v1/risk/login", `{"account":"bob","outcome":"attempt","ip":"192.0.2.1","cookies_refused":true}`)
	if r.Decision != "challenge" || !has(r.Reasons, "no_device_cookie") {
		t.Errorf("cookies refused: %+v", r)
	}

	// Revoking by id; bad input names the field.
	_, tr2, _ := call("POST", "/api/v1/devices/trust", `{"account":"carol","ip":"192.0.2.2"}`)
	if code, _, _ := call("DELETE", "/api/v1/accounts/carol/devices/"+tr2.DeviceID, ""); code != http.StatusNoContent {
		t.Errorf("revoke: %d", code)
	}
	if code, _, _ := call("DELETE", "/api/v1/accounts/alice/devices/"+tr2.DeviceID, ""); code != http.StatusNotFound {
		t.Errorf("revoking another account's device: %d, want 404", code)
	}
	for body, field := range map[string]string{
		`{"account":"","outcome":"attempt"}`:           "account",
		`{"account":"a","outcome":"maybe"}`:            "outcome",
		`{"account":"a","outcome":"attempt","ip":"x"}`: "ip",
		`{"account":"a","colour":"red"}`:               "body",
	} {
		if code, _, raw := call("POST", "/api/v1/risk/login", body); code != 400 || !strings.Contains(raw, `"field":"`+field+`"`) {
			t.Errorf("%s: %d %s, want 400 naming %s", body, code, raw, field)
		}
	}
	for body, field := range map[string]string{
		`{"account":"","name":"x"}`:                                 "account",
		`{"account":"a","name":"x","ip":"nope"}`:                    "ip",
		`{"account":"a","name":"` + strings.Repeat("n", 101) + `"}`: "name",
	} {
		if code, _, raw := call("POST", "/api/v1/devices/trust", body); code != 400 || !strings.Contains(raw, `"field":"`+field+`"`) {
			t.Errorf("trust %s: %d %s, want 400 naming %s", body, code, raw, field)
		}
	}
	if resp, _ := do(t, "POST", srv.URL+"/api/v1/risk/login", `{}`, nil); resp.StatusCode != 401 {
		t.Errorf("without a token: %d", resp.StatusCode)
	}
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// FuzzRiskLoginRequest: whatever a site's backend sends, the decoder
// answers with a request or an error naming the body, never a panic, and
// the device cookie found in a Cookie header parses or is ignored.
func FuzzRiskLoginRequest(f *testing.F) {
	f.Add(`{"account":"a","outcome":"attempt","ip":"192.0.2.1","cookie_header":"waymark_device=AQ"}`)
	f.Add(`{"account":"","x":1}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, body string) {
		r := httptestRequest(body)
		var req riskLoginRequest
		if err := decodeStrict(r, nil, &req); err != nil {
			return
		}
		_ = deviceCookieOf(req.CookieHeader)
	})
}

func httptestRequest(body string) *http.Request {
	r, _ := http.NewRequest("POST", "http://x/api/v1/risk/login", strings.NewReader(body))
	return r
}
