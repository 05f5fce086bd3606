package web

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"waymark.dev/waymark/internal/apptest"
)

func TestProxyTokenAPI(t *testing.T) {
	srv, _, _ := newTestServer(t, apptest.Options{})
	b := newBrowser(t, srv.URL)
	call := func(method, path, body, csrf string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if csrf != "" {
			req.Header.Set("X-CSRF-Token", csrf)
		}
		resp, err := b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	if code, _ := call("GET", "/api/v1/proxy/tokens", "", ""); code != http.StatusUnauthorized {
		t.Errorf("list without a session: %d", code)
	}
	b.login()
	csrf := b.csrf("/dashboard")
	if code, _ := call("POST", "/api/v1/proxy/tokens", `{"user":"alice"}`, ""); code != http.StatusForbidden {
		t.Errorf("add without CSRF token: %d", code)
	}
	if code, m := call("POST", "/api/v1/proxy/tokens", `{"user":"no spaces"}`, csrf); code != http.StatusBadRequest || !strings.Contains(strings.ToLower(jsonString(m)), "user") {
		t.Errorf("bad user: %d %v", code, m)
	}
	code, m := call("POST", "/api/v1/proxy/tokens", `{"user":"alice","expires_days":30}`, csrf)
	if code != http.StatusCreated || !strings.HasPrefix(m["token"].(string), "wmp_") {
		t.Fatalf("add: %d %v", code, m)
	}
	id := m["id"].(string)
	code, m = call("GET", "/api/v1/proxy/tokens", "", "")
	if code != 200 || !strings.Contains(jsonString(m), `"state":"active"`) || strings.Contains(jsonString(m), "wmp_") {
		t.Errorf("list: %d %v", code, m)
	}
	// A token whose answers are always signed, stored and listed so.
	if code, m := call("POST", "/api/v1/proxy/tokens", `{"user":"bob","sign":true}`, csrf); code != http.StatusCreated || m["sign"] != true {
		t.Errorf("add a signing token: %d %v", code, m)
	}
	if _, m := call("GET", "/api/v1/proxy/tokens", "", ""); !strings.Contains(jsonString(m), `"sign":true`) || !strings.Contains(jsonString(m), `"sign":false`) {
		t.Errorf("list with a signing token: %v", m)
	}
	if code, _ := call("DELETE", "/api/v1/proxy/tokens/"+id, "", csrf); code != http.StatusNoContent {
		t.Errorf("revoke: %d", code)
	}
	if code, _ := call("DELETE", "/api/v1/proxy/tokens/nope", "", csrf); code != http.StatusNotFound {
		t.Errorf("revoke unknown: %d", code)
	}
	if _, m := call("GET", "/api/v1/proxy/tokens", "", ""); !strings.Contains(jsonString(m), `"state":"revoked"`) {
		t.Errorf("list after revoke: %v", m)
	}
	resp, body := b.get("/proxy.pac")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ns-proxy-autoconfig" || !strings.Contains(body, "HTTPS proxy.shop.example:8443") {
		t.Errorf("PAC: %d %q", resp.StatusCode, body)
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
