package web

import (
	"bytes"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"waymark.dev/waymark/internal/assets"
	"waymark.dev/waymark/internal/integrity"
)

var demoProducts = map[string]string{"lamp": "Desk lamp", "chair": "Reading chair", "shelf": "Book shelf"}

// demoFiles serves the demo shop: templated pages and static files.
func (s *Server) demoFiles(static fs.FS) http.Handler {
	tmpl := template.Must(template.ParseFS(assets.Static, "static/demo/*.html"))
	files := http.FileServerFS(static)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimSuffix(r.URL.Path, "/")
		page, title := "", ""
		switch {
		case p == "" || p == "index.html":
			page, title = "index.html", "Home"
		case p == "products":
			page, title = "products.html", "Products"
		case p == "signup":
			page, title = "signup.html", "Sign up"
		case p == "about":
			page, title = "about.html", "About"
		case p == "news":
			page, title = "news.html", "News"
		case p == "me":
			page, title = "me.html", "What this site stores about me"
		case strings.HasPrefix(p, "products/"):
			if t, ok := demoProducts[strings.TrimPrefix(p, "products/")]; ok {
				page, title = "product.html", t
			}
		case strings.HasSuffix(p, ".css") || strings.HasSuffix(p, ".js"):
			r2 := r.Clone(r.Context())
			r2.URL.Path = "/demo/" + p
			files.ServeHTTP(w, r2)
			return
		}
		if page == "" {
			http.NotFound(w, r)
			return
		}
		var buf bytes.Buffer
		if err := tmpl.ExecuteTemplate(&buf, page, map[string]string{"Title": title, "Domain": s.DemoDomain}); err != nil {
			s.writeError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(buf.Bytes())
	})
}

var homeTmpl = template.Must(template.New("home").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="/favicon.svg" type="image/svg+xml">
<title>Waymark</title><link rel="stylesheet" href="/style.css"></head>
<body><main class="front">
{{if .Admin}}<h1>Waymark is running</h1>
<p class="actions"><a class="button" href="/dashboard">Open the dashboard</a>{{if .Demo}} <a class="button secondary" href="/demo/">Open the demo shop</a>{{end}}</p>
{{if .Demo}}<p>Browse the demo shop in another tab and watch your visit arrive in the dashboard's realtime panel.</p>{{end}}
<h2>Sites</h2>
<ul>{{range .Sites}}<li><code>{{.}}</code></li>{{else}}<li>No sites yet: <code>waymark site add --domain example.com</code></li>{{end}}</ul>
<h2>Add the tracker to a site</h2>
<pre>&lt;script defer data-domain="{{.First}}" src="{{.Origin}}/js/script.js"&gt;&lt;/script&gt;</pre>
<h2>Ask the stats API</h2>
<pre>TOKEN=$(waymark token add --data {{.Data}} --name me)
curl -s -H "Authorization: Bearer $TOKEN" {{.Origin}}/api/v2/query \
  -d '{"site_id":"{{.First}}","metrics":["visitors","pageviews","time_on_page"],"date_range":"day","dimensions":["event:page"]}'</pre>
<p>Documentation: <code>docs/DASHBOARD.md</code>, <code>docs/API.md</code>, <code>docs/MIGRATING.md</code> and <code>docs/ARCHITECTURE.md</code> in the source tree; health at <a href="/healthz">/healthz</a>.</p>
{{else}}<section class="hero">
<h1>Waymark</h1>
<p class="lede">Analytics, consent and account security for your website, from one program that runs beside it. No third party sees your visitors.</p>
<p class="actions"><a class="button" href="/login">Sign in</a>{{if .Demo}} <a class="button secondary" href="/demo/">Try the demo shop</a>{{end}}</p>
</section>
<section class="features">
<div><h2>Visitor analytics</h2><p>Pages, sources, places and goals from a 1&nbsp;KB script or a pixel, counted without cookies. Plausible's tracker and APIs work as they are, and your history comes along.</p></div>
<div><h2>Consent that holds</h2><p>A consent banner visitors understand, Global Privacy Control honoured, and what needs a cookie says why.</p></div>
<div><h2>Account security</h2><p>Known devices recognised, new devices and networks flagged, risky logins stepped up or refused, devices revocable by their owners.</p></div>
<div><h2>A safe way out</h2><p>Links to other sites checked against phishing, malware and lookalikes of your domains, and content signed so that no router can change it.</p></div>
</section>
<p class="hint">This Waymark's administrator signs in with the password set when it was installed.</p>
{{end}}
</main></body></html>`))

// home serves the front page. The sites and the data folder's path are
// the operator's business: they are shown to a logged-in administrator
// only.
func (s *Server) home(w http.ResponseWriter, r *http.Request) error {
	_, err := s.Admin.Check(r.Context(), sessionToken(r))
	admin := err == nil
	var sites []string
	if admin {
		for _, st := range s.Sites.All() {
			sites = append(sites, st.Domain)
		}
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	var buf bytes.Buffer
	first := "example.com"
	if s.Demo {
		first = s.DemoDomain
	} else if len(sites) > 0 {
		first = sites[0]
	}
	if err := homeTmpl.Execute(&buf, map[string]any{"Demo": s.Demo, "Admin": admin, "Sites": sites, "First": first, "Data": s.DataDir, "Origin": scheme + "://" + r.Host}); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store") // it differs for a logged-in administrator
	w.Write(buf.Bytes())
	return nil
}

// stylesheet serves the shared stylesheet of the front page and demo shop.
func (s *Server) stylesheet(w http.ResponseWriter, r *http.Request) {
	b, err := assets.Static.ReadFile("static/demo/style.css")
	if err != nil {
		http.Error(w, "stylesheet missing from this build", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	s.gz.serve(w, r, "style.css", b)
}

// demoNewsBody is the demo's signed article.
const demoNewsBody = "Waymark signs what it relays: this paragraph came with a Content-Digest and an Ed25519 signature, and your browser checked both before showing it."

// demoNews serves GET /demo/news.txt: a short article signed the way the
// proxy signs relayed pages. With ?router=evil the demo plays a router
// that injects an advertisement after the signature was made.
//
// The signature is made with the key that signs relayed content, so it
// is made only for a URL this Waymark serves itself: the Host must name
// the address and port the request arrived on, or a loopback name on that
// port. Otherwise anyone could have a valid signature made for
// http://bank.example/... by sending that Host; the article is then
// served unsigned (the demo's badge says so).
func (s *Server) demoNews(w http.ResponseWriter, r *http.Request) {
	scheme := "http"
	if s.isHTTPS(r) {
		scheme = "https"
	}
	body := []byte(demoNewsBody)
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	if !servedHere(r, scheme) {
		h.Set("Waymark-Demo", "unsigned; reason=host_not_served_here")
		w.Write(body)
		return
	}
	// Signed as the proxy signs by default: when the request asks
	// (Accept-Signature, as the page's verifier does).
	want, err := integrity.ParseWant(r.Header)
	if err != nil {
		s.writeError(w, r, errInvalid("", err.Error()))
		return
	}
	if want.Digest != "" {
		target := &url.URL{Scheme: scheme, Host: r.Host, Path: r.URL.Path, RawQuery: r.URL.RawQuery}
		signer := &integrity.ResponseSigner{Keys: s.SigningKeys, Now: s.Now}
		hash := integrity.DigestHash(want.Digest)
		hash.Write(body)
		if err := signer.SignFor(h, h, http.StatusOK, &integrity.Message{Method: r.Method, URL: target, Header: r.Header}, integrity.DigestField(want.Digest, hash.Sum(nil)), want); err != nil {
			s.writeError(w, r, err)
			return
		}
	} else {
		h.Set("Waymark-Demo", "unsigned; reason=not_asked")
	}
	if r.URL.Query().Get("router") == "evil" {
		body = append(body, []byte(` <script src="//ads.example/inject.js"></script> BUY NOW!`)...)
	}
	w.Write(body)
}

// servedHere reports whether the request's Host names this server: the
// address and port the connection arrived on, or, when that address is a
// loopback one, "localhost" or a name under .localhost on that port.
func servedHere(r *http.Request, scheme string) bool {
	local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return false
	}
	lap, err := netip.ParseAddrPort(local.String())
	if err != nil {
		return false
	}
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil {
		host, port = r.Host, map[string]string{"http": "80", "https": "443"}[scheme]
	}
	if port != strconv.Itoa(int(lap.Port())) {
		return false
	}
	host = strings.ToLower(strings.Trim(host, "[]"))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return lap.Addr().IsLoopback()
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap() == lap.Addr().Unmap()
}
