package web

import (
	"bytes"
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/collect"
	"waymark.dev/waymark/internal/threats"
)

// The outbound-link gateway: GET /go sends a visitor on to a third-party
// site after checking it, as in-app browsers of large platforms do. Every
// gateway link is signed by this server, so /go never becomes an open
// redirect: links a site's backend signs (API token) are valid for 30
// days; links the SDK asks for from a visitor's browser are also bound to
// a random cookie of that browser (wm_go), so one browser's links do not
// work in another, and are valid for a day.

const (
	linkLabel       = "waymark-link-gateway"
	continueLabel   = "waymark-link-continue"
	continueTTL     = 5 * time.Minute // how long a warning's "continue" link works
	linkCookie      = "wm_go"
	linkTTLToken    = 30 * 24 * time.Hour
	linkTTLBrowser  = 24 * time.Hour
	maxLinksPerSign = 500
	maxLinkURL      = 8 << 10
)

//go:embed gateway.html
var gatewayHTML string

var gatewayPage = template.Must(template.New("gateway").Parse(gatewayHTML))

type linkSignRequest struct {
	URLs   []string `json:"urls"`
	Page   string   `json:"page"`   // the page the links are on (analytics)
	Domain string   `json:"domain"` // its site
}

// linkMessage is what a gateway link's tag covers.
func linkMessage(bind, exp, u, page, domain string) []byte {
	return []byte(strings.Join([]string{bind, exp, u, page, domain}, "\x00"))
}

func (s *Server) signLink(bind, u, page, domain string, exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	id, tag := s.Consent.Ring.MAC(linkLabel, linkMessage(bind, e, u, page, domain))
	q := url.Values{"u": {u}, "e": {e}, "s": {strconv.FormatUint(uint64(id), 16) + "." + base64.RawURLEncoding.EncodeToString(tag[:])}}
	if page != "" {
		q.Set("p", page)
	}
	if domain != "" {
		q.Set("d", domain)
	}
	if bind != "" {
		q.Set("b", "1")
	}
	return "/go?" + q.Encode()
}

// signLinks answers POST /api/v1/links/sign: gateway links for outbound
// URLs. With an API token (a site's backend) the links are for anyone;
// from a browser (the SDK, a registered site's page) they are bound to
// that browser.
func (s *Server) signLinks(w http.ResponseWriter, r *http.Request) error {
	var req linkSignRequest
	bind := ""
	ttl := linkTTLToken
	if r.Header.Get("Authorization") != "" {
		t, err := s.apiToken(r)
		if err != nil {
			return err
		}
		if err := decodeStrict(r, w, &req); err != nil {
			return err
		}
		if t.Site != "" && req.Domain != t.Site {
			return &apiError{Status: http.StatusForbidden, Code: codeForbidden, Field: "domain", Message: "this token signs links for " + t.Site + " only"}
		}
	} else {
		origin, err := url.Parse(r.Header.Get("Origin"))
		if err != nil || origin.Host == "" {
			return &apiError{Status: http.StatusForbidden, Code: codeForbidden, Message: "links are signed for a site's pages (Origin) or its backend (API token)"}
		}
		if origin.Host != r.Host && s.Sites.Lookup(r.Context(), origin.Hostname()) == nil {
			return &apiError{Status: http.StatusForbidden, Code: codeForbidden, Message: "the page's origin is not a registered site"}
		}
		w.Header().Set("Access-Control-Allow-Origin", origin.Scheme+"://"+origin.Host)
		w.Header().Set("Access-Control-Allow-Credentials", "true")
		w.Header().Add("Vary", "Origin")
		if err := decodeStrict(r, w, &req); err != nil {
			return err
		}
		bind = readCookie(r, linkCookie)
		if len(bind) != 32 {
			var b [16]byte
			rand.Read(b[:])
			bind = hex.EncodeToString(b[:])
			// A security cookie (the necessary purpose): it only ties
			// gateway links to the browser they were made for.
			http.SetCookie(w, &http.Cookie{Name: s.cookieName(r, linkCookie), Value: bind, Path: "/", HttpOnly: true,
				Secure: s.isHTTPS(r), SameSite: http.SameSiteLaxMode, MaxAge: int(linkTTLBrowser / time.Second)})
		}
		ttl = linkTTLBrowser
	}
	if len(req.URLs) == 0 || len(req.URLs) > maxLinksPerSign {
		return errInvalid("urls", fmt.Sprintf("give 1 to %d URLs", maxLinksPerSign))
	}
	if req.Domain != "" && s.Sites.Lookup(r.Context(), req.Domain) == nil {
		return errInvalid("domain", "not a registered site")
	}
	exp := s.Now().Add(ttl)
	links := make([]string, len(req.URLs))
	for i, u := range req.URLs {
		if err := outboundURL(u); err != nil {
			return errInvalid(fmt.Sprintf("urls[%d]", i), err.Error())
		}
		links[i] = s.signLink(bind, u, req.Page, req.Domain, exp)
	}
	writeJSON(w, http.StatusOK, map[string]any{"links": links, "expires": exp.UTC()})
	return nil
}

// signLinksPreflight answers the browser's CORS preflight for a
// registered site's pages.
func (s *Server) signLinksPreflight(w http.ResponseWriter, r *http.Request) {
	origin, err := url.Parse(r.Header.Get("Origin"))
	if err != nil || origin.Host == "" || (origin.Host != r.Host && s.Sites.Lookup(r.Context(), origin.Hostname()) == nil) {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin.Scheme+"://"+origin.Host)
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Set("Access-Control-Allow-Methods", "POST")
	h.Set("Access-Control-Allow-Headers", "Content-Type")
	h.Set("Access-Control-Max-Age", "3600")
	h.Add("Vary", "Origin")
	w.WriteHeader(http.StatusNoContent)
}

// outboundURL accepts absolute http(s) URLs only: a gateway never sends
// anyone to javascript:, data: or another scheme.
func outboundURL(u string) error {
	if len(u) > maxLinkURL {
		return fmt.Errorf("longer than %d bytes", maxLinkURL)
	}
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return fmt.Errorf("an absolute http or https URL is needed")
	}
	return nil
}

// gateway answers GET /go.
func (s *Server) gateway(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	u, page, domain, e := q.Get("u"), q.Get("p"), q.Get("d"), q.Get("e")
	page = strings.TrimSpace(page)
	bind := ""
	if q.Get("b") == "1" {
		bind = readCookie(r, linkCookie)
	}
	valid := false
	if kid, tag, ok := strings.Cut(q.Get("s"), "."); ok && outboundURL(u) == nil {
		id, err1 := strconv.ParseUint(kid, 16, 32)
		sum, err2 := base64.RawURLEncoding.DecodeString(tag)
		exp, err3 := strconv.ParseInt(e, 10, 64)
		valid = err1 == nil && err2 == nil && err3 == nil && s.Now().Unix() <= exp && (q.Get("b") != "1" || bind != "") &&
			s.Consent.Ring.VerifyMAC(uint32(id), linkLabel, linkMessage(bind, e, u, page, domain), sum)
	}
	if !valid {
		s.log.Info("link gateway", "decision", "refused", "reason", "bad_signature", "url", truncate(u, 300))
		s.gatewayAnswer(w, http.StatusBadRequest, "refused", "This link could not be verified",
			"The link is not one this site made, was changed, or has expired, so it is not followed. If you trust the address, copy it into the address bar yourself.", u, "", "")
		return
	}
	v := s.Threats.Check(u)
	decision := v.Verdict
	switch {
	case v.Verdict == threats.Block:
		s.gatewayAnswer(w, http.StatusForbidden, "block", "This site was not opened",
			"The address is "+v.Reason+". Waymark stopped the visit to protect your account.", u, "", backTo(page))
	case v.Verdict == threats.Warn && !s.continueValid(q.Get("c"), bind, u):
		// "Continue anyway" is a grant of its own: signed for this link's
		// destination and browser, and short-lived, so that no one can
		// skip the warning by adding a parameter to a link.
		cont := r.URL.Query()
		cont.Set("c", s.continueGrant(bind, u, s.Now().Add(continueTTL)))
		s.gatewayAnswer(w, http.StatusOK, "warn", "This site may be imitating another one",
			sentence(v.Reason)+". Do not enter passwords, card numbers or codes there unless you are sure it is the right site.", u, "/go?"+cont.Encode(), backTo(page))
	default:
		if v.Verdict == threats.Warn {
			decision = "continue"
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "origin")
		http.Redirect(w, r, u, http.StatusFound)
	}
	s.log.Info("link gateway", "decision", decision, "url", truncate(u, 300), "list", v.List, "match", v.Match, "source", v.Source, "page", truncate(page, 300))
	if page != "" && domain != "" && s.Collector != nil {
		b := &collect.Beacon{Name: "Outbound Link: Click", URL: page, Domains: []string{domain},
			Props: []analytics.Prop{{Key: "url", Value: truncate(u, 300)}, {Key: "verdict", Value: decision}}}
		if _, err := s.Collector.Collect(r.Context(), b, s.request(r)); err != nil {
			s.log.Debug("link gateway: outbound event not recorded", "err", err)
		}
	}
}

// continueGrant signs a warning's "continue anyway" for destination u in
// the browser bound by bind, until exp.
func (s *Server) continueGrant(bind, u string, exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	id, tag := s.Consent.Ring.MAC(continueLabel, []byte(bind+"\x00"+u+"\x00"+e))
	return strconv.FormatUint(uint64(id), 16) + "." + e + "." + base64.RawURLEncoding.EncodeToString(tag[:])
}

// continueValid checks a grant made by continueGrant.
func (s *Server) continueValid(grant, bind, u string) bool {
	parts := strings.Split(grant, ".")
	if len(parts) != 3 {
		return false
	}
	id, err1 := strconv.ParseUint(parts[0], 16, 32)
	exp, err2 := strconv.ParseInt(parts[1], 10, 64)
	sum, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	return err1 == nil && err2 == nil && err3 == nil && s.Now().Unix() <= exp &&
		s.Consent.Ring.VerifyMAC(uint32(id), continueLabel, []byte(bind+"\x00"+u+"\x00"+parts[1]), sum)
}

// backTo is the signed link's page when it is an http(s) URL.
func backTo(page string) string {
	if outboundURL(page) != nil {
		return ""
	}
	return page
}

// sentence starts s with a capital letter (threat reasons are phrases:
// "the address imitates shop.example (...)", "listed as imitating ...").
func sentence(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (s *Server) gatewayAnswer(w http.ResponseWriter, status int, decision, title, message, dest, cont, back string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// A decision page is never shown inside another site's frame, where
	// its "continue" could be clicked for the visitor (clickjacking).
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Waymark-Decision", decision)
	var body bytes.Buffer
	gatewayPage.Execute(&body, map[string]string{"Title": title, "Message": message, "Destination": truncate(dest, 2000), "Continue": cont, "Decision": decision, "Back": back})
	h.Set("Content-Length", strconv.Itoa(body.Len()))
	w.WriteHeader(status)
	w.Write(body.Bytes())
}
