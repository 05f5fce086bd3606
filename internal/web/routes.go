package web

import (
	"io/fs"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"waymark.dev/waymark/internal/assets"
)

// routes lists every route of the web surfaces.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()

	// Health and metrics.
	mux.HandleFunc("GET /healthz", s.handle(s.healthz))
	if s.Registry != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{}))
	}

	// Collection (the collector part): the pixel, the events API and the
	// tracker script.
	if s.Collector != nil {
		mux.HandleFunc("GET /b.gif", s.pixel)
		mux.HandleFunc("POST /api/event", s.event)
		mux.HandleFunc("OPTIONS /api/event", s.eventPreflight)
		mux.HandleFunc("GET /w.js", s.tracker)
		// Plausible's script paths, its variants included: a site switching
		// changes only the host.
		mux.HandleFunc("GET /js/{file}", s.plausibleScript)
	}
	if s.Stats != nil {
		s.dashboardRoutes(mux)
	}

	// Administrators' login (the dashboard and the admin API). Forms
	// that change state are checked for cross-origin requests
	// (Sec-Fetch-Site / Origin) and carry the session's token.
	csrf := http.NewCrossOriginProtection()
	mux.HandleFunc("GET /login", s.handle(s.loginForm))
	mux.Handle("POST /login", csrf.Handler(s.handle(s.login)))
	mux.Handle("POST /logout", csrf.Handler(s.requireAdmin(s.logout)))

	// Consent and visitor identity (the identity part).
	if s.Consent != nil {
		mux.HandleFunc("GET /api/v1/consent", s.handle(s.getConsent))
		mux.Handle("POST /api/v1/consent", csrf.Handler(s.handle(s.postConsent)))
		mux.HandleFunc("GET /api/v1/consent/me", s.handle(s.myData))
		mux.HandleFunc("GET /api/v1/consent/receipts", s.handle(s.receipts))
		mux.HandleFunc("GET /api/v1/remembered", s.handle(s.getRemembered))
		mux.Handle("PUT /api/v1/remembered", csrf.Handler(s.handle(s.putRemembered)))
		mux.Handle("DELETE /api/v1/remembered", csrf.Handler(s.handle(s.deleteRemembered)))
		mux.Handle("POST /api/v1/consent/forget", csrf.Handler(s.handle(s.forgetMe)))
		mux.HandleFunc("GET /consent.js", s.consentFile)
		mux.HandleFunc("GET /consent.css", s.consentFile)
	}

	// Account security, for sites' backends (API token; the identity
	// part).
	if s.Risk != nil {
		mux.HandleFunc("POST /api/v1/risk/login", s.handle(s.riskLogin))
		mux.HandleFunc("POST /api/v1/devices/trust", s.handle(s.trustDevice))
		mux.HandleFunc("GET /api/v1/accounts/{account}/devices", s.handle(s.devices))
		mux.HandleFunc("DELETE /api/v1/accounts/{account}/devices/{id}", s.handle(s.revokeDevice))
		mux.HandleFunc("GET /api/v1/accounts/{account}/events", s.handle(s.accountEvents))
	}
	// The public keys that verify content the proxy relays.
	if s.SigningKeys != nil {
		mux.HandleFunc("GET /.well-known/waymark/keys", s.signingKeys)
	}
	// Link checks, for sites' backends (API token).
	if s.Threats != nil {
		mux.HandleFunc("POST /api/v1/threats/check", s.handle(s.threatCheck))
		// The outbound-link gateway signs with the consent part's key ring.
		if s.Consent != nil && s.Consent.Ring != nil {
			mux.HandleFunc("POST /api/v1/links/sign", s.handle(s.signLinks))
			mux.HandleFunc("OPTIONS /api/v1/links/sign", s.signLinksPreflight)
			mux.HandleFunc("GET /go", s.gateway)
		}
	}

	// Secure proxy: the PAC file, and its tokens for administrators.
	if s.ProxyPAC != "" {
		mux.HandleFunc("GET /proxy.pac", s.proxyPAC)
	}
	if s.ProxyAuth != nil {
		mux.HandleFunc("GET /api/v1/proxy/tokens", s.requireAdminAPI(s.proxyTokens))
		mux.HandleFunc("POST /api/v1/proxy/tokens", s.requireAdminAPI(s.addProxyToken))
		mux.HandleFunc("DELETE /api/v1/proxy/tokens/{id}", s.requireAdminAPI(s.revokeProxyToken))
	}

	// Every other /api/ request gets a JSON error like the rest of the
	// API: 405 with Allow for a path that exists under other methods, 404
	// for one that does not.
	mux.HandleFunc("/api/", s.handle(apiFallback(mux)))

	// Front page and demo site.
	static, _ := fs.Sub(assets.Static, "static")
	mux.HandleFunc("GET /{$}", s.handle(s.home))
	// Icons of every page (browsers ask for /favicon.ico on their own).
	mux.HandleFunc("GET /favicon.ico", iconHandler("favicon.ico", "image/x-icon"))
	mux.HandleFunc("GET /favicon.svg", iconHandler("favicon.svg", "image/svg+xml"))
	mux.HandleFunc("GET /apple-touch-icon.png", iconHandler("apple-touch-icon.png", "image/png"))
	mux.HandleFunc("GET /icon-512.png", iconHandler("icon-512.png", "image/png"))
	// Every other address: a page saying so to browsers, JSON to others.
	mux.HandleFunc("/", s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return &apiError{Status: http.StatusNotFound, Code: codeNotFound, Message: "There is no page at " + r.URL.Path + "."}
	}))
	mux.HandleFunc("GET /style.css", s.stylesheet)
	if s.Demo {
		mux.Handle("GET /demo/", http.StripPrefix("/demo/", s.demoFiles(static)))
		if s.SigningKeys != nil {
			mux.HandleFunc("GET /demo/news.txt", s.demoNews)
		}
		if s.Risk != nil {
			mux.HandleFunc("GET /demo/login", s.handle(s.demoLoginForm))
			mux.Handle("POST /demo/login", csrf.Handler(s.handle(s.demoLogin)))
			mux.Handle("POST /demo/login/verify", csrf.Handler(s.handle(s.demoVerify)))
			mux.HandleFunc("GET /demo/account", s.handle(s.demoAccount))
			mux.Handle("POST /demo/devices/revoke", csrf.Handler(s.handle(s.demoRevoke)))
			mux.Handle("POST /demo/stolen", csrf.Handler(s.handle(s.demoStolen)))
			mux.Handle("POST /demo/logout", csrf.Handler(s.handle(s.demoLogout)))
		}
	}
	return withRequestID(secure(mux))
}

// dashboardRoutes are the dashboard part's: the stats API, the dashboard
// and shared links.
func (s *Server) dashboardRoutes(mux *http.ServeMux) {
	csrf := http.NewCrossOriginProtection()
	mux.HandleFunc("POST /api/v2/query", s.handleStats(s.query))
	mux.HandleFunc("GET /api/v1/stats/realtime/visitors", s.handleStats(s.realtimeVisitors))
	mux.HandleFunc("GET /api/v1/stats/aggregate", s.handleStats(s.statsV1("aggregate")))
	mux.HandleFunc("GET /api/v1/stats/timeseries", s.handleStats(s.statsV1("timeseries")))
	mux.HandleFunc("GET /api/v1/stats/breakdown", s.handleStats(s.statsV1("breakdown")))
	// Plausible's Sites API (sitesapi.go).
	mux.HandleFunc("POST /api/v1/sites", s.handleStats(s.createSite))
	mux.HandleFunc("GET /api/v1/sites", s.handleStats(s.listSites))
	mux.HandleFunc("GET /api/v1/sites/{site_id}", s.handleStats(s.getSite))
	mux.HandleFunc("PUT /api/v1/sites/{site_id}", s.handleStats(s.updateSite))
	mux.HandleFunc("DELETE /api/v1/sites/{site_id}", s.handleStats(s.deleteSiteAPI))
	mux.HandleFunc("GET /api/v1/sites/goals", s.handleStats(s.listGoals))
	mux.HandleFunc("PUT /api/v1/sites/goals", s.handleStats(s.putGoal))
	mux.HandleFunc("DELETE /api/v1/sites/goals/{goal_id}", s.handleStats(s.deleteGoal))
	mux.HandleFunc("GET /api/v1/sites/custom-props", s.handleStats(s.listProps))
	mux.HandleFunc("PUT /api/v1/sites/custom-props", s.handleStats(s.putProp))
	mux.HandleFunc("DELETE /api/v1/sites/custom-props/{property...}", s.handleStats(s.deleteProp))
	mux.HandleFunc("PUT /api/v1/sites/shared-links", s.handleStats(s.putSharedLink))
	mux.HandleFunc("GET /api/v1/sites/teams", s.handleStats(s.listTeams))
	mux.HandleFunc("GET /api/v1/sites/guests", s.handleStats(s.listGuests))
	mux.HandleFunc("PUT /api/v1/sites/guests", s.handleStats(s.putGuest))
	mux.HandleFunc("DELETE /api/v1/sites/guests/{email}", s.handleStats(s.deleteGuest))
	mux.HandleFunc("GET /dashboard", s.requireAdmin(s.sites))
	mux.Handle("POST /dashboard/sites", csrf.Handler(s.requireAdmin(s.addSite)))
	mux.HandleFunc("GET /dashboard/{site}", s.adminSite(s.siteView))
	mux.HandleFunc("GET /dashboard/{site}/details", s.adminSite(s.details))
	mux.HandleFunc("GET /dashboard/{site}/realtime.json", s.adminSite(s.realtime))
	mux.HandleFunc("GET /dashboard/{site}/export.csv", s.adminSite(s.exportCSV))
	mux.HandleFunc("GET /dashboard/{site}/export.zip", s.adminSite(s.exportZip))
	mux.HandleFunc("GET /dashboard/{site}/settings", s.adminSite(s.settings))
	mux.Handle("POST /dashboard/{site}/settings/{action}", csrf.Handler(s.adminSite(s.changeSettings)))
	mux.Handle("POST /dashboard/{site}/imports", csrf.Handler(s.limitUpload(s.adminSite(s.uploadImport))))
	mux.HandleFunc("GET /dashboard/{site}/imports/progress/{job}", s.adminSite(s.importProgress))
	mux.Handle("POST /dashboard/{site}/imports/{id}/delete", csrf.Handler(s.adminSite(s.deleteImport)))
	mux.HandleFunc("GET /dashboard/{site}/export/plausible.zip", s.adminSite(s.exportPlausible))
	// Shared links: the same views, read-only, for holders of the secret.
	mux.HandleFunc("GET /share/{secret}", s.sharedSite(s.siteView))
	mux.HandleFunc("GET /share/{secret}/details", s.sharedSite(s.details))
	mux.HandleFunc("GET /share/{secret}/realtime.json", s.sharedSite(s.realtime))
	mux.HandleFunc("GET /share/{secret}/export.csv", s.sharedSite(s.exportCSV))
	mux.HandleFunc("GET /share/{secret}/export.zip", s.sharedSite(s.exportZip))
	mux.HandleFunc("GET /dash/{file}", s.dashFile)
}

// apiFallback answers the /api/ requests no route takes. It asks mux
// which methods the path has, so that GET on a POST-only endpoint says
// so instead of "not found".
func apiFallback(mux *http.ServeMux) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions} {
			probe := &http.Request{Method: m, URL: r.URL, Host: r.Host, Header: http.Header{}}
			if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/api/" {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			return &apiError{Status: http.StatusMethodNotAllowed, Code: codeMethodNotAllowed,
				Message: r.Method + " is not allowed on " + r.URL.Path + "; use " + strings.Join(allow, " or ")}
		}
		return &apiError{Status: http.StatusNotFound, Code: codeNotFound, Message: "no API endpoint " + r.URL.Path + " (docs/API.md lists them)"}
	}
}
