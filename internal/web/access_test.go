package web

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"waymark.dev/waymark/internal/apptest"
)

// routePatterns reads every pattern registered in routes.go, whatever
// part it belongs to.
func routePatterns(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "routes.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || (sel.Sel.Name != "HandleFunc" && sel.Sel.Name != "Handle") {
			return true
		}
		lit, ok := call.Args[0].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			t.Errorf("a route registered with a computed pattern at %v: the access walk cannot see it", call.Pos())
			return true
		}
		p, _ := strconv.Unquote(lit.Value)
		out = append(out, p)
		return true
	})
	return out
}

// concrete fills a pattern's wildcards with values that exist in the
// test server (site shop.example) or are harmless.
func concrete(pattern string) (method, path string) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok { // a pattern for every method
		method, path = "GET", pattern
	}
	r := strings.NewReplacer("{site}", "shop.example", "{secret}", "not-a-secret", "{account}", "ann", "{id}", "00112233445566778899aabbccddeeff",
		"{file}", "dashboard.js", "{action}", "goals", "{$}", "",
		"{site_id}", "shop.example", "{goal_id}", "1", "{property...}", "plan", "{email}", "ann@example.com", "{job}", "job-0123456789")
	path = r.Replace(path)
	if strings.HasSuffix(path, "/") && path != "/" {
		path += "index.html"
	}
	return method, path
}

// access is what a route answers a request without credentials (anon)
// and one with an API token for another site (wrongSite; 0: the route
// takes no API token, so the token changes nothing).
type access struct {
	anon, wrongSite int
	why             string
}

// accessRules lists every route. A route added to routes.go without a rule
// here fails TestAccessControl: decide who may call it first.
var accessRules = map[string]access{
	"GET /healthz":                           {200, 0, "public: load balancers"},
	"/":                                      {200, 0, "public: the front page here; other unknown addresses answer 404"},
	"GET /favicon.ico":                       {200, 0, "public: icons"},
	"GET /favicon.svg":                       {200, 0, "public: icons"},
	"GET /apple-touch-icon.png":              {200, 0, "public: icons"},
	"GET /icon-512.png":                      {200, 0, "public: icons"},
	"/api/":                                  {404, 0, "public: the JSON answer for unknown API paths and methods"},
	"GET /metrics":                           {200, 0, "public by default: restrict at the network (docs/SECURITY.md)"},
	"GET /b.gif":                             {400, 0, "public: beacons (this request has no site)"},
	"POST /api/event":                        {400, 0, "public: beacons (this request is invalid)"},
	"OPTIONS /api/event":                     {204, 0, "public: CORS preflight"},
	"GET /w.js":                              {200, 0, "public: tracker"},
	"GET /js/{file}":                         {404, 0, "public: Plausible's script names (this one is none)"},
	"GET /login":                             {200, 0, "public: the login form"},
	"POST /login":                            {401, 0, "wrong password"},
	"POST /logout":                           {401, 0, "admin session"},
	"GET /api/v1/consent":                    {200, 0, "public: the visitor's own state"},
	"POST /api/v1/consent":                   {200, 0, "public: the visitor records a choice"},
	"GET /api/v1/consent/me":                 {200, 0, "public: the visitor's own data, by their cookies"},
	"GET /api/v1/consent/receipts":           {401, 403, "operator: token for every site"},
	"GET /api/v1/remembered":                 {403, 0, "the visitor's own details, needs consent and their cookie"},
	"PUT /api/v1/remembered":                 {403, 0, "the visitor's own details, needs consent and their cookie"},
	"DELETE /api/v1/remembered":              {204, 0, "the visitor deletes their own (nothing without a cookie)"},
	"POST /api/v1/consent/forget":            {200, 0, "the visitor forgets themselves (nothing without a cookie)"},
	"GET /consent.js":                        {200, 0, "public: SDK"},
	"GET /consent.css":                       {200, 0, "public: SDK"},
	"POST /api/v1/risk/login":                {401, 403, "operator: token for every site"},
	"POST /api/v1/devices/trust":             {401, 403, "operator: token for every site"},
	"GET /api/v1/accounts/{account}/devices": {401, 403, "operator: token for every site"},
	"DELETE /api/v1/accounts/{account}/devices/{id}": {401, 403, "operator: token for every site"},
	"GET /api/v1/accounts/{account}/events":          {401, 403, "operator: token for every site"},
	"GET /.well-known/waymark/keys":                  {200, 0, "public keys"},
	"POST /api/v1/threats/check":                     {401, 400, "any API token (no site data; this body is invalid)"},
	"POST /api/v1/links/sign":                        {403, 0, "cross-origin pages of known sites only"},
	"OPTIONS /api/v1/links/sign":                     {403, 0, "cross-origin pages of known sites only"},
	"GET /go":                                        {400, 0, "signed links only (this one is unsigned)"},
	"GET /proxy.pac":                                 {200, 0, "public: proxy auto-config"},
	"GET /api/v1/proxy/tokens":                       {401, 401, "admin session or admin API"},
	"POST /api/v1/proxy/tokens":                      {401, 401, "admin session or admin API"},
	"DELETE /api/v1/proxy/tokens/{id}":               {401, 401, "admin session or admin API"},
	"GET /{$}":                                       {200, 0, "public: front page"},
	"GET /style.css":                                 {200, 0, "public"},
	"GET /demo/":                                     {200, 0, "public: demo shop (--demo only)"},
	"GET /demo/news.txt":                             {200, 0, "public: demo"},
	"GET /demo/login":                                {200, 0, "public: demo"},
	"POST /demo/login":                               {400, 0, "demo (this form is empty)"},
	"POST /demo/login/verify":                        {401, 0, "demo: pending code required"},
	"GET /demo/account":                              {303, 0, "demo session"},
	"POST /demo/devices/revoke":                      {303, 0, "demo session"},
	"POST /demo/stolen":                              {303, 0, "demo session"},
	"POST /demo/logout":                              {303, 0, "demo session"},
	"POST /api/v2/query":                             {401, 403, "API token for the site"},
	"GET /api/v1/stats/realtime/visitors":            {401, 403, "API token for the site"},
	"GET /api/v1/stats/aggregate":                    {401, 403, "API token for the site"},
	"GET /api/v1/stats/timeseries":                   {401, 403, "API token for the site"},
	"GET /api/v1/stats/breakdown":                    {401, 403, "API token for the site"},
	"GET /dashboard":                                 {303, 0, "admin session (to /login)"},
	"POST /dashboard/sites":                          {401, 0, "admin session"},
	"GET /dashboard/{site}":                          {303, 0, "admin session"},
	"GET /dashboard/{site}/details":                  {303, 0, "admin session"},
	"GET /dashboard/{site}/realtime.json":            {401, 0, "admin session"},
	"GET /dashboard/{site}/export.csv":               {303, 0, "admin session"},
	"GET /dashboard/{site}/export.zip":               {303, 0, "admin session"},
	"GET /dashboard/{site}/settings":                 {303, 0, "admin session"},
	"POST /dashboard/{site}/settings/{action}":       {401, 0, "admin session"},
	"POST /dashboard/{site}/imports":                 {401, 0, "admin session (checked before the upload is read)"},
	"GET /dashboard/{site}/imports/progress/{job}":   {303, 0, "admin session"},
	"POST /dashboard/{site}/imports/{id}/delete":     {401, 0, "admin session"},
	"GET /dashboard/{site}/export/plausible.zip":     {303, 0, "admin session"},
	"GET /share/{secret}":                            {404, 0, "shared-link secret"},
	"GET /share/{secret}/details":                    {404, 0, "shared-link secret"},
	"GET /share/{secret}/realtime.json":              {404, 0, "shared-link secret"},
	"GET /share/{secret}/export.csv":                 {404, 0, "shared-link secret"},
	"GET /share/{secret}/export.zip":                 {404, 0, "shared-link secret"},
	"GET /dash/{file}":                               {404, 0, "dashboard files (this one does not exist)"},
	// Plausible's Sites API: a token's scopes and site decide; another
	// site's stats token may list (its own) sites and teams only.
	"POST /api/v1/sites":                              {401, 401, "API token for every site with sites:provision:*"},
	"GET /api/v1/sites":                               {401, 200, "API token: lists the sites it may read"},
	"GET /api/v1/sites/{site_id}":                     {401, 401, "API token for the site"},
	"PUT /api/v1/sites/{site_id}":                     {401, 401, "API token for the site with sites:provision:*"},
	"DELETE /api/v1/sites/{site_id}":                  {401, 401, "API token for every site with sites:provision:*"},
	"GET /api/v1/sites/goals":                         {401, 401, "API token for the site"},
	"PUT /api/v1/sites/goals":                         {401, 401, "API token for the site with sites:provision:*"},
	"DELETE /api/v1/sites/goals/{goal_id}":            {401, 401, "API token for the site with sites:provision:*"},
	"GET /api/v1/sites/custom-props":                  {401, 401, "API token for the site"},
	"PUT /api/v1/sites/custom-props":                  {401, 401, "API token for the site with sites:provision:*"},
	"DELETE /api/v1/sites/custom-props/{property...}": {401, 401, "API token for the site with sites:provision:*"},
	"PUT /api/v1/sites/shared-links":                  {401, 401, "API token for the site with sites:provision:*"},
	"GET /api/v1/sites/teams":                         {401, 200, "API token"},
	"GET /api/v1/sites/guests":                        {401, 401, "API token for the site"},
	"PUT /api/v1/sites/guests":                        {401, 401, "API token for the site with sites:provision:*"},
	"DELETE /api/v1/sites/guests/{email}":             {401, 401, "API token for the site with sites:provision:*"},
}

// bodies are requests that would succeed with the right credentials, so
// that the walk sees the access check and not the input check.
var bodies = map[string]string{
	"POST /api/v2/query":                              `{"site_id":"shop.example","metrics":["visitors"],"date_range":"day"}`,
	"GET /api/v1/stats/realtime/visitors":             "?site_id=shop.example",
	"GET /api/v1/stats/aggregate":                     "?site_id=shop.example",
	"GET /api/v1/stats/timeseries":                    "?site_id=shop.example",
	"GET /api/v1/stats/breakdown":                     "?site_id=shop.example&property=event:page",
	"POST /api/v1/risk/login":                         `{"account":"ann","outcome":"attempt","ip":"192.0.2.1"}`,
	"POST /api/v1/devices/trust":                      `{"account":"ann","name":"laptop","ip":"192.0.2.1"}`,
	"GET /api/v1/sites/goals":                         "?site_id=shop.example",
	"PUT /api/v1/sites/goals":                         `{"site_id":"shop.example","goal_type":"event","event_name":"Signup"}`,
	"DELETE /api/v1/sites/goals/{goal_id}":            "?site_id=shop.example",
	"GET /api/v1/sites/custom-props":                  "?site_id=shop.example",
	"PUT /api/v1/sites/custom-props":                  `{"site_id":"shop.example","property":"plan"}`,
	"DELETE /api/v1/sites/custom-props/{property...}": "?site_id=shop.example",
	"PUT /api/v1/sites/shared-links":                  `{"site_id":"shop.example","name":"Board"}`,
	"GET /api/v1/sites/guests":                        "?site_id=shop.example",
	"PUT /api/v1/sites/guests":                        `{"site_id":"shop.example","role":"viewer","email":"ann@example.com"}`,
	"DELETE /api/v1/sites/guests/{email}":             "?site_id=shop.example",
	"POST /api/v1/sites":                              `{"domain":"new.example"}`,
}

// TestAccessControl walks every route of routes.go without credentials
// and with another site's API token, and checks each answer against
// accessRules. Every part is on (demo, consent, risk, proxy admin).
func TestAccessControl(t *testing.T) {
	srv, st, _ := newTestServer(t, apptest.Options{})
	other := st.AddToken(t, "other.example")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	seen := map[string]bool{}
	for _, p := range routePatterns(t) {
		seen[p] = true
		rule, ok := accessRules[p]
		if !ok {
			t.Errorf("route %q has no access rule: add one to accessRules", p)
			continue
		}
		method, path := concrete(p)
		body := bodies[p]
		if strings.HasPrefix(body, "?") {
			path, body = path+body, ""
		}
		if body == "" {
			body = "{}"
		}
		for _, tok := range []string{"", other} {
			req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			want := rule.anon
			if tok != "" {
				req.Header.Set("Authorization", "Bearer "+tok)
				if rule.wrongSite != 0 {
					want = rule.wrongSite
				}
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("%s (token %v): %d, want %d (%s)", p, tok != "", resp.StatusCode, want, rule.why)
			}
			if want == http.StatusSeeOther && !strings.HasPrefix(resp.Header.Get("Location"), "/login") && !strings.HasPrefix(resp.Header.Get("Location"), "/demo/login") {
				t.Errorf("%s redirects to %q, want the login page", p, resp.Header.Get("Location"))
			}
		}
	}
	for p := range accessRules {
		if !seen[p] {
			t.Errorf("access rule for %q, which routes.go no longer has", p)
		}
	}
}

// TestAPIFallback: a wrong method on an API path, or a path that does not
// exist, gets the API's JSON error (they were plain text).
func TestAPIFallback(t *testing.T) {
	srv, _, _ := newTestServer(t, apptest.Options{})
	for _, c := range []struct {
		method, path string
		status       int
		allow, code  string
	}{
		{"GET", "/api/v2/query", 405, "POST", "method_not_allowed"},
		{"DELETE", "/api/v1/consent", 405, "GET, POST", "method_not_allowed"},
		{"GET", "/api/event", 405, "POST, OPTIONS", "method_not_allowed"},
		{"GET", "/api/nope", 404, "", "not_found"},
		{"POST", "/api/v3/query", 404, "", "not_found"},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body struct {
				Error struct{ Code, Message string }
			}
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode != c.status || resp.Header.Get("Allow") != c.allow || err != nil || body.Error.Code != c.code ||
				!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Errorf("%s %s: %d Allow %q %+v (%v); want %d Allow %q code %s", c.method, c.path, resp.StatusCode, resp.Header.Get("Allow"), body, err, c.status, c.allow, c.code)
			}
		})
	}
}
