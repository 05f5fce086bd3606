package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"waymark.dev/waymark/internal/assets"
	"waymark.dev/waymark/internal/collect"
	"waymark.dev/waymark/internal/consent"
	"waymark.dev/waymark/internal/identity"
	"waymark.dev/waymark/internal/site"
)

// ConsentDeps are what the consent and identity endpoints use.
type ConsentDeps struct {
	Policy   consent.Policy
	Store    consent.Store
	Recorder *consent.Recorder
	// Visitor signs visitor-id cookies; Decision signs the consent
	// cookie, which holds the id of the visitor's latest receipt.
	Visitor, Decision *identity.Codec
	// Ring seals remembered details kept in Remembered (nil: off).
	Ring       *identity.Ring
	Remembered identity.RememberStore
}

// Cookie names: __Host- over HTTPS, plain names on plain-HTTP setups.
const (
	visitorCookie  = "waymark_id"
	decisionCookie = "waymark_consent"
	// visitorHeader and decisionHeader carry the signed values from local
	// storage where the browser refuses cookies (the SDK sends them).
	visitorHeader  = "Waymark-Id"
	decisionHeader = "Waymark-Consent"
)

func (s *Server) cookieName(r *http.Request, name string) string {
	if s.isHTTPS(r) {
		return "__Host-" + name
	}
	return name
}

func readCookie(r *http.Request, name string) string {
	for _, n := range []string{"__Host-" + name, name} {
		if c, err := r.Cookie(n); err == nil {
			return c.Value
		}
	}
	return ""
}

func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	c := &http.Cookie{Name: s.cookieName(r, name), Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.isHTTPS(r)}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.MaxAge = int(maxAge / time.Second)
	}
	http.SetCookie(w, c)
}

// consentState is the answer of GET and POST /api/v1/consent.
type consentState struct {
	VisitorID     string          `json:"visitor_id"`
	PolicyVersion string          `json:"policy_version"`
	Purposes      consent.Choices `json:"purposes"`
	ReceiptID     string          `json:"receipt_id"`
	Source        string          `json:"source"`
	// Prompt: no current decision (none yet, a new policy version, or
	// expired): show the banner.
	Prompt bool `json:"prompt"`
	// GPC: the browser's privacy signal is honoured.
	GPC      bool   `json:"gpc"`
	Language string `json:"language"`
	// VisitorToken and ConsentToken are the signed id and decision, for
	// the SDK to keep in local storage when cookies are refused and
	// preferences are granted.
	VisitorToken string         `json:"visitor_token,omitempty"`
	ConsentToken string         `json:"consent_token,omitempty"`
	Policy       *consent.Shown `json:"policy,omitempty"`
}

// visitor returns the verified visitor id of a request (cookie, or the
// local-storage header), zero if none or not valid.
func (s *Server) visitor(r *http.Request) identity.ID {
	for _, v := range []string{readCookie(r, visitorCookie), r.Header.Get(visitorHeader)} {
		if v == "" {
			continue
		}
		if val, err := s.Consent.Visitor.Decode(v); err == nil {
			return val.ID
		}
	}
	return identity.ID{}
}

// currentDecision reads the visitor's latest receipt from the consent
// cookie; nil when there is none, it does not verify, or it is gone.
func (s *Server) currentDecision(ctx context.Context, r *http.Request) (*consent.Receipt, error) {
	v := readCookie(r, decisionCookie)
	if v == "" {
		v = r.Header.Get(decisionHeader)
	}
	if v == "" {
		return nil, nil
	}
	val, err := s.Consent.Decision.Decode(v)
	if err != nil {
		return nil, nil // tampered or old: ask again
	}
	rec, err := s.Consent.Store.ReceiptByID(ctx, val.ID.String())
	if errors.Is(err, consent.ErrNotFound) {
		return nil, nil // forgotten
	}
	return rec, err
}

// signals reads the privacy signals: the Sec-GPC and DNT headers, and
// gpc=1, which the SDK adds when navigator.globalPrivacyControl is set
// (scripts cannot send Sec- headers).
func signals(r *http.Request) consent.Signals {
	return consent.Signals{GPC: r.Header.Get("Sec-GPC") == "1" || r.URL.Query().Get("gpc") == "1", DNT: r.Header.Get("DNT") == "1"}
}

func (s *Server) stateOf(r *http.Request, rec *consent.Receipt, visitor identity.ID, lang string, withPolicy bool) consentState {
	p := &s.Consent.Policy
	st := consentState{PolicyVersion: p.Version, Purposes: p.Defaults(), Prompt: true, GPC: p.Honoured(signals(r)), Language: lang}
	if rec != nil && rec.PolicyVersion == p.Version && time.Since(rec.Time) < p.Expiry {
		st.Purposes, st.ReceiptID, st.Source, st.Prompt = rec.Choices, rec.ID, string(rec.Source), false
	}
	if !visitor.IsZero() {
		st.VisitorID = visitor.String()
	}
	if withPolicy {
		shown := p.Shown(lang)
		st.Policy = &shown
	}
	return st
}

// getConsent answers what is granted for this browser.
func (s *Server) getConsent(w http.ResponseWriter, r *http.Request) error {
	rec, err := s.currentDecision(r.Context(), r)
	if err != nil {
		return err
	}
	lang := consent.Language(r.URL.Query().Get("lang"), r.Header.Get("Accept-Language"))
	visitor := s.visitor(r)
	// A visit renews the visitor cookie (at most daily), so an active
	// visitor keeps the id while the 400-day limit holds.
	if v := readCookie(r, visitorCookie); v != "" && !visitor.IsZero() {
		if val, err := s.Consent.Visitor.Decode(v); err == nil && s.Now().Sub(val.Issued) > 24*time.Hour {
			s.setCookie(w, r, visitorCookie, s.Consent.Visitor.Encode(visitor), identity.MaxAge)
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Vary", "Cookie, Accept-Language, Sec-GPC")
	writeJSON(w, http.StatusOK, s.stateOf(r, rec, visitor, lang, true))
	return nil
}

// receipts answers the operator's lookups, with a stats API token:
// GET /api/v1/consent/receipts?receipt=ID or ?visitor=ID, or an export of
// every receipt since a time (?since=RFC3339&format=jsonl|csv).
func (s *Server) receipts(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.authorizeAny(r); err != nil {
		return err
	}
	q := r.URL.Query()
	ctx := r.Context()
	switch {
	case q.Get("receipt") != "":
		rec, err := s.Consent.Store.ReceiptByID(ctx, q.Get("receipt"))
		if errors.Is(err, consent.ErrNotFound) {
			return &apiError{Status: http.StatusNotFound, Code: codeNotFound, Field: "receipt", Message: "no such receipt"}
		}
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"receipts": []*consent.Receipt{rec}})
	case q.Get("visitor") != "":
		rs, err := s.Consent.Store.ReceiptsByVisitor(ctx, q.Get("visitor"))
		if err != nil {
			return err
		}
		if rs == nil {
			rs = []*consent.Receipt{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"receipts": rs})
	default:
		var since time.Time
		if v := q.Get("since"); v != "" {
			var err error
			if since, err = time.Parse(time.RFC3339, v); err != nil {
				return errInvalid("since", "must be an RFC 3339 time")
			}
		}
		format := q.Get("format")
		if format == "" {
			format = consent.FormatJSONL
		}
		if format != consent.FormatJSONL && format != consent.FormatCSV {
			return errInvalid("format", "must be jsonl or csv")
		}
		ctype := "application/x-ndjson"
		if format == consent.FormatCSV {
			ctype = "text/csv; charset=utf-8"
		}
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Content-Disposition", `attachment; filename="consent-receipts.`+format+`"`)
		return consent.Export(ctx, s.Consent.Store, since, format, w)
	}
	return nil
}

type consentRequest struct {
	Purposes consent.Choices `json:"purposes"`
	Source   consent.Source  `json:"source"`
	// Explicit: the visitor set purposes one by one (the second layer);
	// a bulk "Accept all" under a privacy signal keeps analytics off.
	Explicit bool   `json:"explicit"`
	Language string `json:"language"`
	Site     string `json:"site"`
}

// postConsent records a decision: a receipt, the consent cookie, and the
// visitor-id cookie when an optional purpose is granted (removed when none
// is). Cookies of withdrawn purposes are deleted.
func (s *Server) postConsent(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 8<<10))
	if err != nil {
		return err
	}
	var req consentRequest
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return errInvalid("body", fmt.Sprintf("not a consent request: %v", err))
	}
	if req.Source == "" {
		req.Source = consent.SourceAPI
	}
	if !consent.ValidSource(req.Source) {
		return errInvalid("source", "must be banner, preferences or api")
	}
	st, err := s.consentSite(r, req.Site)
	if err != nil {
		return err
	}
	p := &s.Consent.Policy
	choices, err := p.Decide(req.Purposes, signals(r), req.Explicit)
	if err != nil {
		return errInvalid("purposes", strings.TrimPrefix(err.Error(), "consent: invalid: "))
	}
	if req.Language != "" && !languageTag.MatchString(req.Language) {
		return errInvalid("language", "not a language tag (e.g. en or zh-CN)")
	}
	ctx := r.Context()
	prev, err := s.currentDecision(ctx, r)
	if err != nil {
		return err
	}
	optional := false
	for _, pu := range p.Purposes {
		if !pu.Required && choices[pu.ID] {
			optional = true
		}
	}
	visitor := s.visitor(r)
	if optional && visitor.IsZero() {
		visitor = identity.NewID()
	}
	if !optional {
		visitor = identity.ID{} // no identifier without consent to one
	}
	lang := consent.Language(req.Language, r.Header.Get("Accept-Language"))
	rec := &consent.Receipt{ID: identity.NewID().String(), Site: st.Domain, PolicyVersion: p.Version, TextHash: p.TextHash(lang),
		Language: lang, Choices: choices, Time: s.Now().UTC(), Source: req.Source,
		IPPrefix: consent.TruncateIP(ClientIP(r, s.TrustedProxies)), UAFamily: s.uaFamily(r)}
	if !visitor.IsZero() {
		rec.VisitorID = visitor.String()
	}
	if err := s.Consent.Recorder.Record(ctx, rec); err != nil {
		return err
	}
	receiptID, _ := identity.ParseID(rec.ID)
	decision := s.Consent.Decision.Encode(receiptID)
	s.setCookie(w, r, decisionCookie, decision, p.Expiry)
	out := s.stateOf(r, rec, visitor, lang, false)
	if choices[consent.Preferences] {
		out.ConsentToken = decision
	}
	if visitor.IsZero() {
		s.setCookie(w, r, visitorCookie, "", 0)
	} else {
		token := s.Consent.Visitor.Encode(visitor)
		s.setCookie(w, r, visitorCookie, token, identity.MaxAge)
		if choices[consent.Preferences] {
			out.VisitorToken = token
		}
	}
	if prev != nil {
		for _, pu := range p.Withdrawn(prev.Choices, choices) {
			for _, name := range pu.Cookies {
				http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1})
			}
			for _, sv := range pu.Services {
				for _, name := range sv.Cookies {
					http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1})
				}
			}
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
	return nil
}

// consentSite is the site a decision is for: named in the request, or the
// one whose domain the page is on, or the only site.
func (s *Server) consentSite(r *http.Request, name string) (*site.Site, error) {
	if name != "" {
		if st := s.Sites.Lookup(r.Context(), name); st != nil {
			return st, nil
		}
		return nil, errInvalid("site", fmt.Sprintf("no site %q", name))
	}
	for _, h := range []string{r.Header.Get("Origin"), r.Header.Get("Referer")} {
		if u, err := parseURL(h); err == nil && u.Hostname() != "" {
			if st := s.Sites.Lookup(r.Context(), strings.TrimPrefix(u.Hostname(), "www.")); st != nil {
				return st, nil
			}
		}
	}
	all := s.Sites.All()
	if len(all) == 1 {
		return all[0], nil
	}
	if s.Demo {
		if st := s.Sites.Lookup(r.Context(), s.DemoDomain); st != nil {
			return st, nil
		}
	}
	return nil, errInvalid("site", "name the site: the request's origin is not a registered site")
}

// languageTag is the shape of a BCP 47 tag.
var languageTag = regexp.MustCompile(`^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8}){0,4}$`)

// uaFamily is the browser family of the request, for receipts.
func (s *Server) uaFamily(r *http.Request) string {
	return s.agent(r.UserAgent()).Browser
}

// agent parses a user agent (empty without a parser).
func (s *Server) agent(ua string) collect.Agent {
	if s.Agents == nil {
		return collect.Agent{}
	}
	return s.Agents.Parse(ua)
}

// forgetMe removes what is stored about this browser: its receipts and
// cookies.
func (s *Server) forgetMe(w http.ResponseWriter, r *http.Request) error {
	visitor := s.visitor(r)
	var n int64
	if !visitor.IsZero() {
		var err error
		if n, err = s.Consent.Store.ForgetVisitor(r.Context(), visitor.String()); err != nil {
			return err
		}
	}
	if !visitor.IsZero() && s.Consent.Remembered != nil {
		if err := s.Consent.Remembered.ForgetRemembered(r.Context(), visitor, s.Now()); err != nil {
			return err
		}
	}
	for _, c := range serverCookies {
		if readCookie(r, c.Name) != "" {
			s.setCookie(w, r, c.Name, "", 0)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"forgotten_receipts": n})
	return nil
}

// storedCookie describes a cookie this server sets in visitors' browsers.
type storedCookie struct {
	Name    string `json:"name"`
	Purpose string `json:"purpose"`
	Why     string `json:"why"`
}

// serverCookies are every cookie the consent, identity and link-gateway
// endpoints set in a visitor's browser ("__Host-" is added over HTTPS).
// "What is stored about me" lists those a browser holds, and "Forget me"
// deletes them all.
var serverCookies = []storedCookie{
	{decisionCookie, consent.Necessary, "remembers which privacy choices this browser made (the id of its latest receipt)"},
	{visitorCookie, "preferences or analytics", "recognises this browser when you allowed preferences or analytics"},
	{linkCookie, consent.Necessary, "ties the site's checked outbound links to this browser, so they cannot be used as redirects elsewhere; set when a page with such links is opened, kept a day"},
}

// heldCookies are the server's cookies the request carries.
func heldCookies(r *http.Request) []storedCookie {
	out := []storedCookie{}
	for _, c := range serverCookies {
		if readCookie(r, c.Name) != "" {
			out = append(out, c)
		}
	}
	return out
}

// myData answers what is stored about this browser: its visitor id and
// receipts.
func (s *Server) myData(w http.ResponseWriter, r *http.Request) error {
	visitor := s.visitor(r)
	out := map[string]any{"visitor_id": "", "receipts": []*consent.Receipt{}, "cookies": heldCookies(r)}
	rs := []*consent.Receipt{}
	if !visitor.IsZero() {
		var err error
		if rs, err = s.Consent.Store.ReceiptsByVisitor(r.Context(), visitor.String()); err != nil {
			return err
		}
		out["visitor_id"] = visitor.String()
	}
	// The current decision's receipt, which carries no visitor id when
	// everything optional was refused, is this browser's too.
	cur, err := s.currentDecision(r.Context(), r)
	if err != nil {
		return err
	}
	if cur != nil && !slices.ContainsFunc(rs, func(x *consent.Receipt) bool { return x.ID == cur.ID }) {
		rs = append(rs, cur)
	}
	if len(rs) > 0 {
		out["receipts"] = rs
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
	return nil
}

func parseURL(s string) (*url.URL, error) { return url.Parse(s) }

// consentFile serves the consent manager's script and stylesheet.
func (s *Server) consentFile(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/")
	b, err := assets.Static.ReadFile("static/consent/" + name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	ctype := "text/javascript; charset=utf-8"
	if strings.HasSuffix(name, ".css") {
		ctype = "text/css; charset=utf-8"
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "public, max-age=300")
	s.gz.serve(w, r, "consent/"+name, b)
}

// grants remembers, per receipt id, whether it granted analytics: receipts
// never change, and a consented visitor's every hit asks.
type grants struct {
	mu sync.Mutex
	m  map[identity.ID]bool
}

// maxGrants bounds the memory of grants; beyond it the map starts over.
const maxGrants = 100_000

// analyticsID returns the visitor's first-party id when the visitor
// granted analytics: the beacon collector then counts by it instead of
// the cookieless hash. Without a consent cookie it returns at once.
func (s *Server) analyticsID(r *http.Request) (identity.ID, bool) {
	v := readCookie(r, decisionCookie)
	if v == "" {
		return identity.ID{}, false
	}
	dec, err := s.Consent.Decision.Decode(v)
	if err != nil {
		return identity.ID{}, false
	}
	g := &s.grants
	g.mu.Lock()
	ok, known := g.m[dec.ID]
	g.mu.Unlock()
	if !known {
		rec, err := s.Consent.Store.ReceiptByID(r.Context(), dec.ID.String())
		if err != nil {
			return identity.ID{}, false
		}
		ok = rec.Choices[consent.Analytics] && rec.PolicyVersion == s.Consent.Policy.Version
		g.mu.Lock()
		if g.m == nil || len(g.m) >= maxGrants {
			g.m = make(map[identity.ID]bool)
		}
		g.m[dec.ID] = ok
		g.mu.Unlock()
	}
	if !ok {
		return identity.ID{}, false
	}
	id, err := s.Consent.Visitor.Decode(readCookie(r, visitorCookie))
	if err != nil {
		return identity.ID{}, false
	}
	return id.ID, true
}

// rememberer returns the visitor whose details may be remembered: one with
// a visitor id who granted preferences under the current policy.
func (s *Server) rememberer(r *http.Request) (identity.ID, error) {
	if s.Consent.Remembered == nil || s.Consent.Ring == nil {
		return identity.ID{}, &apiError{Status: http.StatusNotFound, Code: codeNotFound, Message: "remembered details are off on this server"}
	}
	rec, err := s.currentDecision(r.Context(), r)
	if err != nil {
		return identity.ID{}, err
	}
	visitor := s.visitor(r)
	if rec == nil || rec.PolicyVersion != s.Consent.Policy.Version || !rec.Choices[consent.Preferences] || visitor.IsZero() {
		return identity.ID{}, &apiError{Status: http.StatusForbidden, Code: codeForbidden,
			Message: "remembering details needs the preferences consent; nothing is stored without it"}
	}
	return visitor, nil
}

// getRemembered answers the details remembered for this visitor.
func (s *Server) getRemembered(w http.ResponseWriter, r *http.Request) error {
	visitor, err := s.rememberer(r)
	if err != nil {
		return err
	}
	fields := map[string]string{}
	sealed, ok, err := s.Consent.Remembered.Remembered(r.Context(), visitor, s.Now())
	if err != nil {
		return err
	}
	if ok {
		if f, err := s.Consent.Ring.OpenFields(visitor, sealed); err == nil {
			fields = f
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"fields": fields})
	return nil
}

// putRemembered saves details (replacing earlier ones).
func (s *Server) putRemembered(w http.ResponseWriter, r *http.Request) error {
	visitor, err := s.rememberer(r)
	if err != nil {
		return err
	}
	var req struct {
		Fields map[string]string `json:"fields"`
	}
	if err := decodeStrict(r, w, &req); err != nil {
		return err
	}
	sealed, err := s.Consent.Ring.SealFields(visitor, req.Fields)
	if errors.Is(err, identity.ErrRefusedField) {
		return errInvalid("fields", err.Error())
	}
	if err != nil {
		return errInvalid("fields", err.Error())
	}
	if err := s.Consent.Remembered.PutRemembered(r.Context(), visitor, sealed, s.Now().Add(identity.RememberRetention)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// deleteRemembered forgets the details ("forget these details").
func (s *Server) deleteRemembered(w http.ResponseWriter, r *http.Request) error {
	visitor := s.visitor(r)
	if !visitor.IsZero() && s.Consent.Remembered != nil {
		if err := s.Consent.Remembered.ForgetRemembered(r.Context(), visitor, s.Now()); err != nil {
			return err
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
