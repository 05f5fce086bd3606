package web

import (
	"encoding/json"
	"strings"
	"testing"

	"waymark.dev/waymark/internal/apptest"
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
	p, err := threats.NewProtector([]string{"shop.example"}, nil, 1)
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
		h := map[string]string{"Content-Type": "application/json"}
		if c.auth != "" {
			h = hdr
		}
		resp, b := do(t, "POST", srv.URL+"/api/v1/threats/check", c.body, h)
		if resp.StatusCode != c.status || (c.field != "" && !strings.Contains(string(b), c.field)) {
			t.Errorf("%s: %d %s, want %d naming %q", c.name, resp.StatusCode, b, c.status, c.field)
		}
	}
	resp, b := do(t, "POST", srv.URL+"/api/v1/threats/check",
		`{"urls":["https://login.phish.example/x","https://shop-login.example/","https://example.org/","mailto:x@y"]}`, hdr)
	var out struct{ Results []threats.Verdict }
	if err := json.Unmarshal(b, &out); err != nil || resp.StatusCode != 200 || len(out.Results) != 4 {
		t.Fatalf("check: %d %s %v", resp.StatusCode, b, err)
	}
	want := []string{"block", "warn", "allow", "block"}
	for i, v := range out.Results {
		if v.Verdict != want[i] {
			t.Errorf("result %d: %+v, want %s", i, v, want[i])
		}
	}
	if out.Results[0].List != "phishing" || out.Results[1].Match != "shop.example" || out.Results[3].Error == "" {
		t.Errorf("details: %+v", out.Results)
	}
}
