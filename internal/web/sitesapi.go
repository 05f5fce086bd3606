package web

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"waymark.dev/waymark/internal/site"
)

// Plausible's Sites API (/api/v1/sites...): sites, goals, custom
// properties, shared links and (as far as Waymark's one-administrator
// model has them) guests and teams, with Plausible's token scopes, request
// shapes, answers and error messages. Every change is audited.

// errInvalidKey is Plausible's answer to a token without access.
var errInvalidKey = &apiError{Status: http.StatusUnauthorized, Code: codeUnauthenticated,
	Message: "Invalid API key. Please make sure you're using a valid API key with access to the resource you've requested."}

var errSiteNotFound = &apiError{Status: http.StatusNotFound, Code: codeNotFound, Field: "site_id", Message: "Site could not be found"}

// sitesBadRequest is a 400 in Plausible's words.
func sitesBadRequest(field, msg string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: codeInvalid, Field: field, Message: msg}
}

// reservedShareNames are shared-link names Plausible keeps for its
// plugins.
var reservedShareNames = []string{"WordPress - Shared Dashboard"}

// sitesParams are a request's parameters: the query string, then a JSON
// or form body (Plausible accepts both).
type sitesParams map[string]any

func readSitesParams(w http.ResponseWriter, r *http.Request) (sitesParams, error) {
	p := sitesParams{}
	for k, v := range r.URL.Query() {
		p[k] = v[0]
	}
	if r.Body == nil || r.Method == http.MethodGet {
		return p, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		return nil, err
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return p, nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/x-www-form-urlencoded" {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, sitesBadRequest("", "the form body does not parse: "+err.Error())
		}
		for k, v := range form {
			p[k] = v[0]
		}
		return p, nil
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, sitesBadRequest("", "the body is not a JSON object: "+err.Error())
	}
	for k, v := range m {
		p[k] = v
	}
	return p, nil
}

// str returns a string parameter: ok false when absent or empty, an error
// when it is not a string.
func (p sitesParams) str(key string) (string, bool, error) {
	v, ok := p[key]
	if !ok || v == nil {
		return "", false, nil
	}
	s, isStr := v.(string)
	if !isStr {
		return "", true, sitesBadRequest(key, key+": is invalid")
	}
	s = strings.TrimSpace(s)
	return s, s != "", nil
}

// required returns a string parameter that must be there, with
// Plausible's message naming what it is required for.
func (p sitesParams) required(key, what string) (string, error) {
	v, ok, err := p.str(key)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", sitesBadRequest(key, "Parameter `"+key+"` is required to "+what)
	}
	return v, nil
}

// sitesToken returns the request's token, which must have a scope of
// the Sites API (provisioning to change anything).
func (s *Server) sitesToken(r *http.Request, write bool) (*site.Token, error) {
	t, err := s.apiToken(r)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
			return nil, errInvalidKey
		}
		return nil, err
	}
	if t.HasScope(site.ScopeSitesProvision) || !write && t.HasScope(site.ScopeStatsRead) {
		return t, nil
	}
	return nil, errInvalidKey
}

// sitesSite finds the site a request names for a token that may use it.
func (s *Server) sitesSite(r *http.Request, t *site.Token, siteID string) (*site.Site, error) {
	d, err := site.NormalizeDomain(siteID)
	if err != nil {
		return nil, errSiteNotFound
	}
	st := s.Sites.Lookup(r.Context(), d)
	if st == nil {
		return nil, errSiteNotFound
	}
	if !t.Allows(st.Domain) {
		return nil, errInvalidKey
	}
	return st, nil
}

// requireSiteID reads site_id, with Plausible's message for what the
// request was for.
func requireSiteID(p sitesParams, what string) (string, error) { return p.required("site_id", what) }

// siteRequest is the start of every call about one site: the token (with
// the provisioning scope to change anything), the parameters, site_id
// (what names the call in Plausible's message when it is missing) and
// the site.
func (s *Server) siteRequest(w http.ResponseWriter, r *http.Request, write bool, what string) (*site.Token, sitesParams, *site.Site, error) {
	t, err := s.sitesToken(r, write)
	if err != nil {
		return nil, nil, nil, err
	}
	p, err := readSitesParams(w, r)
	if err != nil {
		return nil, nil, nil, err
	}
	id, err := requireSiteID(p, what)
	if err != nil {
		return nil, nil, nil, err
	}
	st, err := s.sitesSite(r, t, id)
	if err != nil {
		return nil, nil, nil, err
	}
	return t, p, st, nil
}

func (s *Server) audit(r *http.Request, t *site.Token, action, domain, detail string) {
	e := site.AuditEntry{At: s.Now().UTC(), Actor: fmt.Sprintf("token %q #%d", t.Name, t.ID), Action: action, Site: domain, Detail: detail}
	if err := s.SiteStore.AddAudit(r.Context(), e); err != nil {
		s.log.Error("audit", "action", action, "site", domain, "err", err)
	}
	s.log.Info("sites api", "actor", e.Actor, "action", action, "site", domain, "detail", detail)
}

// saveSite stores a changed site and reloads the registry.
func (s *Server) saveSite(r *http.Request, st *site.Site) error {
	if err := s.SiteStore.UpdateSite(r.Context(), st); err != nil {
		return err
	}
	return s.Sites.Reload(r.Context())
}

// copySite copies a site for changing.
func copySite(st *site.Site) *site.Site {
	c := *st
	c.Goals = slices.Clone(st.Goals)
	c.AllowedProps = slices.Clone(st.AllowedProps)
	return &c
}

// pageMeta is Plausible's cursor pagination: cursors are opaque strings
// (here an offset), limit 1 to 1000, 100 by default.
func paginate(n int, p sitesParams) (start, end int, meta map[string]any, err error) {
	limit := 100
	if v, ok, err := p.str("limit"); err != nil {
		return 0, 0, nil, err
	} else if ok {
		l, err := strconv.Atoi(v)
		if err != nil || l < 1 || l > 1000 {
			return 0, 0, nil, sitesBadRequest("limit", "Parameter `limit` must be a number from 1 to 1000")
		}
		limit = l
	}
	cursor := func(key string) (int, bool, error) {
		v, ok, err := p.str(key)
		if err != nil || !ok {
			return 0, false, err
		}
		b, err := base64.RawURLEncoding.DecodeString(v)
		off, err2 := strconv.Atoi(strings.TrimPrefix(string(b), "o:"))
		if err != nil || err2 != nil || !strings.HasPrefix(string(b), "o:") || off < 0 {
			return 0, false, sitesBadRequest(key, "Parameter `"+key+"` is not a cursor this API gave")
		}
		return min(off, n), true, nil
	}
	after, hasAfter, err := cursor("after")
	if err != nil {
		return 0, 0, nil, err
	}
	before, hasBefore, err := cursor("before")
	if err != nil {
		return 0, 0, nil, err
	}
	switch {
	case hasAfter:
		start = after
	case hasBefore:
		start = max(0, before-limit)
	}
	end = min(n, start+limit)
	enc := func(off int) string { return base64.RawURLEncoding.EncodeToString([]byte("o:" + strconv.Itoa(off))) }
	meta = map[string]any{"before": nil, "after": nil, "limit": limit}
	if start > 0 {
		meta["before"] = enc(start)
	}
	if end < n {
		meta["after"] = enc(end)
	}
	return start, end, meta, nil
}

// visibleSites are the sites a token may see, newest first.
func (s *Server) visibleSites(r *http.Request, t *site.Token) ([]*site.Site, error) {
	all, err := s.SiteStore.Sites(r.Context())
	if err != nil {
		return nil, err
	}
	var out []*site.Site
	for _, st := range all {
		if t.Allows(st.Domain) {
			out = append(out, st)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.After(out[j].CreatedAt)
		}
		return out[i].Domain > out[j].Domain
	})
	return out, nil
}

func timeZoneOut(tz string) string {
	if tz == "" || tz == "UTC" {
		return "Etc/UTC"
	}
	return tz
}

func trackerJSON(st *site.Site) map[string]any {
	c := st.Tracker
	var it any
	if c.InstallationType != "" {
		it = c.InstallationType
	}
	return map[string]any{"id": st.TrackerID(), "installation_type": it, "track_404_pages": c.Track404Pages,
		"hash_based_routing": c.HashBasedRouting, "outbound_links": c.OutboundLinks, "file_downloads": c.FileDownloads,
		"revenue_tracking": c.RevenueTracking, "tagged_events": c.TaggedEvents, "form_submissions": c.FormSubmissions,
		"pageview_props": c.PageviewProps}
}

func siteJSON(st *site.Site) map[string]any {
	props := st.AllowedProps
	if props == nil {
		props = []string{}
	}
	return map[string]any{"domain": st.Domain, "timezone": timeZoneOut(st.TimeZone), "custom_properties": props,
		"tracker_script_configuration": trackerJSON(st)}
}

// trackerKeys are the configuration's keys in Plausible's order, which
// decides the error reported first.
var trackerKeys = []string{"installation_type", "track_404_pages", "hash_based_routing", "outbound_links", "file_downloads",
	"revenue_tracking", "tagged_events", "form_submissions", "pageview_props"}

// applyTracker merges a tracker_script_configuration object into c.
func applyTracker(c *site.TrackerConfig, v any) error {
	m, ok := v.(map[string]any)
	if !ok {
		return sitesBadRequest("tracker_script_configuration", "tracker_script_configuration: is invalid")
	}
	bools := map[string]*bool{"track_404_pages": &c.Track404Pages, "hash_based_routing": &c.HashBasedRouting,
		"outbound_links": &c.OutboundLinks, "file_downloads": &c.FileDownloads, "revenue_tracking": &c.RevenueTracking,
		"tagged_events": &c.TaggedEvents, "form_submissions": &c.FormSubmissions, "pageview_props": &c.PageviewProps}
	for _, k := range trackerKeys {
		val, ok := m[k]
		if !ok {
			continue
		}
		bad := sitesBadRequest("tracker_script_configuration."+k, "tracker_script_configuration."+k+": is invalid")
		if k == "installation_type" {
			switch x := val.(type) {
			case nil:
				c.InstallationType = ""
			case string:
				if !slices.Contains(site.InstallationTypes, x) {
					return bad
				}
				c.InstallationType = x
			default:
				return bad
			}
			continue
		}
		b, ok := val.(bool)
		if !ok {
			return bad
		}
		*bools[k] = b
	}
	return nil
}

// uriReserved are characters Plausible refuses in a domain.
const uriReserved = ":?#[]@!$&'()*+,;="

// createSite serves POST /api/v1/sites.
func (s *Server) createSite(w http.ResponseWriter, r *http.Request) error {
	t, err := s.sitesToken(r, true)
	if err != nil {
		return err
	}
	if t.Site != "" {
		return errInvalidKey // a token for one site makes no sites
	}
	p, err := readSitesParams(w, r)
	if err != nil {
		return err
	}
	domain, ok, err := p.str("domain")
	if err != nil {
		return err
	}
	if !ok {
		return sitesBadRequest("domain", "domain: can't be blank")
	}
	if strings.ContainsAny(domain, uriReserved) {
		return sitesBadRequest("domain", "domain: must not contain URI reserved characters "+uriReserved)
	}
	st := &site.Site{Domain: domain, TimeZone: "Etc/UTC"}
	if tz, ok, err := p.str("timezone"); err != nil {
		return err
	} else if ok {
		if _, err := time.LoadLocation(tz); err != nil || !strings.Contains(tz, "/") && tz != "UTC" {
			return sitesBadRequest("timezone", "timezone: is invalid")
		}
		st.TimeZone = tz
	}
	if v, ok := p["tracker_script_configuration"]; ok && v != nil {
		if err := applyTracker(&st.Tracker, v); err != nil {
			return err
		}
	}
	if err := st.Validate(); err != nil {
		return sitesBadRequest("domain", "domain: "+strings.TrimPrefix(err.Error(), "invalid: "))
	}
	st.Tracker.ID = st.TrackerID()
	if err := s.SiteStore.AddSite(r.Context(), st); err != nil {
		if errors.Is(err, site.ErrExists) {
			return sitesBadRequest("domain", "domain: has already been taken")
		}
		return err
	}
	if err := s.Sites.Reload(r.Context()); err != nil {
		return err
	}
	s.audit(r, t, "site.create", st.Domain, "time zone "+st.TimeZone)
	writeJSON(w, http.StatusOK, siteJSON(st))
	return nil
}

// listSites serves GET /api/v1/sites.
func (s *Server) listSites(w http.ResponseWriter, r *http.Request) error {
	t, err := s.sitesToken(r, false)
	if err != nil {
		return err
	}
	p, _ := readSitesParams(w, r)
	sites, err := s.visibleSites(r, t)
	if err != nil {
		return err
	}
	start, end, meta, err := paginate(len(sites), p)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, end-start)
	for _, st := range sites[start:end] {
		out = append(out, map[string]any{"domain": st.Domain, "timezone": timeZoneOut(st.TimeZone)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"sites": out, "meta": meta})
	return nil
}

// getSite serves GET /api/v1/sites/{site_id}.
func (s *Server) getSite(w http.ResponseWriter, r *http.Request) error {
	t, err := s.sitesToken(r, false)
	if err != nil {
		return err
	}
	st, err := s.sitesSite(r, t, r.PathValue("site_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, siteJSON(st))
	return nil
}

// updateSite serves PUT /api/v1/sites/{site_id}: the tracker
// configuration (a domain cannot change: a site's events are kept under
// its domain).
func (s *Server) updateSite(w http.ResponseWriter, r *http.Request) error {
	t, err := s.sitesToken(r, true)
	if err != nil {
		return err
	}
	st, err := s.sitesSite(r, t, r.PathValue("site_id"))
	if err != nil {
		return err
	}
	p, err := readSitesParams(w, r)
	if err != nil {
		return err
	}
	_, hasDomain := p["domain"]
	tracker, hasTracker := p["tracker_script_configuration"]
	if !hasDomain && !hasTracker {
		return sitesBadRequest("", "Payload must contain at least one of the parameters 'domain', 'tracker_script_configuration'")
	}
	c := copySite(st)
	if hasTracker {
		if err := applyTracker(&c.Tracker, tracker); err != nil {
			return err
		}
	}
	if hasDomain {
		d, ok, err := p.str("domain")
		if err != nil {
			return err
		}
		nd, nerr := site.NormalizeDomain(d)
		switch {
		case !ok:
			return sitesBadRequest("domain", "domain: can't be blank")
		case nerr == nil && nd == st.Domain:
			return sitesBadRequest("domain", "domain: New domain must be different than the current one")
		default:
			return &apiError{Status: http.StatusBadRequest, Code: codeInvalid, Field: "domain",
				Message: "domain: Waymark keeps a site's events under its domain and cannot rename it; add a site for " + d + " (POST /api/v1/sites) and move the tracker to it"}
		}
	}
	c.Tracker.ID = c.TrackerID()
	if err := s.saveSite(r, c); err != nil {
		return err
	}
	s.audit(r, t, "site.update", c.Domain, "tracker script configuration")
	writeJSON(w, http.StatusOK, siteJSON(c))
	return nil
}

// deleteSiteAPI serves DELETE /api/v1/sites/{site_id}.
func (s *Server) deleteSiteAPI(w http.ResponseWriter, r *http.Request) error {
	t, err := s.sitesToken(r, true)
	if err != nil {
		return err
	}
	st, err := s.sitesSite(r, t, r.PathValue("site_id"))
	if err != nil {
		return err
	}
	if t.Site != "" {
		return errInvalidKey // a token for one site does not delete it
	}
	if err := s.SiteStore.DeleteSite(r.Context(), st.Domain); err != nil {
		return err
	}
	if err := s.Sites.Reload(r.Context()); err != nil {
		return err
	}
	s.audit(r, t, "site.delete", st.Domain, "")
	writeJSON(w, http.StatusOK, map[string]bool{"deleted": true})
	return nil
}

func goalJSON(g site.Goal) map[string]any {
	typ, ev, page := "page", any(nil), any(g.Page)
	if g.Event != "" {
		typ, ev, page = "event", g.Event, nil
	}
	return map[string]any{"id": g.ID(), "display_name": g.Name(), "goal_type": typ, "event_name": ev, "page_path": page,
		"custom_props": map[string]string{}}
}

// listGoals serves GET /api/v1/sites/goals.
func (s *Server) listGoals(w http.ResponseWriter, r *http.Request) error {
	_, p, st, err := s.siteRequest(w, r, false, "list goals")
	if err != nil {
		return err
	}
	goals := slices.Clone(st.Goals)
	slices.Reverse(goals) // newest first
	start, end, meta, err := paginate(len(goals), p)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, end-start)
	for _, g := range goals[start:end] {
		out = append(out, goalJSON(g))
	}
	writeJSON(w, http.StatusOK, map[string]any{"goals": out, "meta": meta})
	return nil
}

// putGoal serves PUT /api/v1/sites/goals: find or create.
func (s *Server) putGoal(w http.ResponseWriter, r *http.Request) error {
	t, p, st, err := s.siteRequest(w, r, true, "create a goal")
	if err != nil {
		return err
	}
	typ, err := p.required("goal_type", "create a goal")
	if err != nil {
		return err
	}
	var g site.Goal
	switch typ {
	case "event":
		name, err := p.required("event_name", "create a goal")
		if err != nil {
			return err
		}
		g.Event = name
		if cur, ok, err := p.str("currency"); err != nil {
			return err
		} else if ok {
			g.Currency = strings.ToUpper(cur)
		}
	case "page":
		path, err := p.required("page_path", "create a goal")
		if err != nil {
			return err
		}
		g.Page = path
	default:
		return sitesBadRequest("goal_type", "Parameter `goal_type` must be `event` or `page`")
	}
	if dn, ok, err := p.str("display_name"); err != nil {
		return err
	} else if ok {
		g.DisplayName = dn
	}
	if cp, ok := p["custom_props"]; ok && cp != nil {
		m, isMap := cp.(map[string]any)
		if !isMap {
			return sitesBadRequest("custom_props", "custom_props must be a map with string keys and string values")
		}
		for _, v := range m {
			if _, isStr := v.(string); !isStr {
				return sitesBadRequest("custom_props", "custom_props must be a map with string keys and string values")
			}
		}
		if len(m) > 3 {
			return sitesBadRequest("custom_props", "custom_props: use at most 3 properties per goal")
		}
		if len(m) > 0 {
			return sitesBadRequest("custom_props", "custom_props: Waymark's goals count every event of their name; create the goal without custom_props and filter queries by event:props instead")
		}
	}
	for _, old := range st.Goals {
		if site.SameGoal(old, g) {
			writeJSON(w, http.StatusOK, withDomain(goalJSON(old), st.Domain)) // find or create: the goal there is
			return nil
		}
	}
	c := copySite(st)
	c.Goals = append(c.Goals, g)
	if err := c.Validate(); err != nil {
		return sitesBadRequest("goal", strings.TrimPrefix(err.Error(), "invalid: "))
	}
	if err := s.saveSite(r, c); err != nil {
		return err
	}
	s.audit(r, t, "goal.create", c.Domain, g.Name())
	writeJSON(w, http.StatusOK, withDomain(goalJSON(g), c.Domain))
	return nil
}

func withDomain(m map[string]any, domain string) map[string]any {
	m["domain"] = domain
	return m
}

// deleteGoal serves DELETE /api/v1/sites/goals/{goal_id}.
func (s *Server) deleteGoal(w http.ResponseWriter, r *http.Request) error {
	t, _, st, err := s.siteRequest(w, r, true, "delete a goal")
	if err != nil {
		return err
	}
	gid, err := strconv.ParseInt(r.PathValue("goal_id"), 10, 64)
	notFound := &apiError{Status: http.StatusNotFound, Code: codeNotFound, Field: "goal_id", Message: "Goal could not be found"}
	if err != nil {
		return notFound
	}
	i := slices.IndexFunc(st.Goals, func(g site.Goal) bool { return g.ID() == gid })
	if i < 0 {
		return notFound
	}
	c := copySite(st)
	name := c.Goals[i].Name()
	c.Goals = slices.Delete(c.Goals, i, i+1)
	if err := s.saveSite(r, c); err != nil {
		return err
	}
	s.audit(r, t, "goal.delete", c.Domain, name)
	writeJSON(w, http.StatusOK, map[string]bool{"deleted": true})
	return nil
}

// listProps serves GET /api/v1/sites/custom-props.
func (s *Server) listProps(w http.ResponseWriter, r *http.Request) error {
	_, _, st, err := s.siteRequest(w, r, false, "list custom properties")
	if err != nil {
		return err
	}
	out := make([]map[string]string, 0, len(st.AllowedProps))
	for _, prop := range st.AllowedProps {
		out = append(out, map[string]string{"property": prop})
	}
	writeJSON(w, http.StatusOK, map[string]any{"custom_properties": out})
	return nil
}

// putProp serves PUT /api/v1/sites/custom-props: the property joins the
// properties the dashboard offers.
func (s *Server) putProp(w http.ResponseWriter, r *http.Request) error {
	t, p, st, err := s.siteRequest(w, r, true, "create a custom property")
	if err != nil {
		return err
	}
	prop, err := p.required("property", "create a custom property")
	if err != nil {
		return err
	}
	if len(prop) > site.MaxPropKeyLen {
		return sitesBadRequest("property", "Parameter `property` is too long")
	}
	if !slices.Contains(st.AllowedProps, prop) {
		if len(st.AllowedProps) >= site.MaxAllowedProps {
			return sitesBadRequest("property", "Can't add any more custom properties")
		}
		c := copySite(st)
		c.AllowedProps = append(c.AllowedProps, prop)
		if err := s.saveSite(r, c); err != nil {
			return err
		}
		s.audit(r, t, "custom_prop.create", c.Domain, prop)
	}
	writeJSON(w, http.StatusOK, map[string]bool{"created": true})
	return nil
}

// deleteProp serves DELETE /api/v1/sites/custom-props/{property...}.
func (s *Server) deleteProp(w http.ResponseWriter, r *http.Request) error {
	t, _, st, err := s.siteRequest(w, r, true, "delete a custom property")
	if err != nil {
		return err
	}
	prop := r.PathValue("property")
	if i := slices.Index(st.AllowedProps, prop); i >= 0 {
		c := copySite(st)
		c.AllowedProps = slices.Delete(c.AllowedProps, i, i+1)
		if err := s.saveSite(r, c); err != nil {
			return err
		}
		s.audit(r, t, "custom_prop.delete", c.Domain, prop)
	}
	writeJSON(w, http.StatusOK, map[string]bool{"deleted": true})
	return nil
}

// putSharedLink serves PUT /api/v1/sites/shared-links: find or create a
// shared link by name.
func (s *Server) putSharedLink(w http.ResponseWriter, r *http.Request) error {
	t, p, st, err := s.siteRequest(w, r, true, "create a shared link")
	if err != nil {
		return err
	}
	name, err := p.required("name", "create a shared link")
	if err != nil {
		return err
	}
	if slices.Contains(reservedShareNames, name) {
		return sitesBadRequest("name", "This name is reserved. Please choose another one")
	}
	if len(name) > 100 {
		return sitesBadRequest("name", "name: should be at most 100 characters")
	}
	tokens, err := s.SiteStore.Tokens(r.Context())
	if err != nil {
		return err
	}
	for _, old := range tokens {
		if old.Kind == site.TokenShare && old.Site == st.Domain && old.Name == name && old.Secret != "" {
			writeJSON(w, http.StatusOK, map[string]string{"name": name, "url": origin(r) + "/share/" + old.Secret})
			return nil
		}
	}
	secret, hash := site.NewTokenSecret()
	if _, err := s.SiteStore.AddToken(r.Context(), &site.Token{Name: name, Site: st.Domain, Kind: site.TokenShare, Hash: hash, Secret: secret}); err != nil {
		return err
	}
	s.audit(r, t, "shared_link.create", st.Domain, name)
	writeJSON(w, http.StatusOK, map[string]string{"name": name, "url": origin(r) + "/share/" + secret})
	return nil
}

// listTeams serves GET /api/v1/sites/teams: one Waymark is one team.
func (s *Server) listTeams(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.sitesToken(r, false); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"teams": []map[string]any{{"id": "waymark", "name": "This Waymark", "api_available": true}},
		"meta":  map[string]any{"before": nil, "after": nil, "limit": 100}})
	return nil
}

// errNoGuests says what to use instead of guest accounts.
var errNoGuests = &apiError{Status: http.StatusBadRequest, Code: codeInvalid, Field: "email",
	Message: "Waymark has one administrator and no guest accounts: give read access with a shared link (PUT /api/v1/sites/shared-links) or a stats:read:* token for the site (waymark token add --site DOMAIN)"}

// listGuests serves GET /api/v1/sites/guests: there are none.
func (s *Server) listGuests(w http.ResponseWriter, r *http.Request) error {
	_, p, _, err := s.siteRequest(w, r, false, "list guests")
	if err != nil {
		return err
	}
	_, _, meta, err := paginate(0, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"guests": []any{}, "meta": meta})
	return nil
}

// putGuest serves PUT /api/v1/sites/guests: checked as Plausible checks
// it, then refused (no guest accounts).
func (s *Server) putGuest(w http.ResponseWriter, r *http.Request) error {
	_, p, _, err := s.siteRequest(w, r, true, "create guest")
	if err != nil {
		return err
	}
	if role, _, _ := p.str("role"); role != "viewer" && role != "editor" {
		return sitesBadRequest("role", "Parameter `role` is required to create guest. Possible values: `viewer` or `editor`")
	}
	if email, ok, _ := p.str("email"); !ok || !strings.Contains(email, "@") {
		return sitesBadRequest("email", "Parameter `email` is required to create guest")
	}
	return errNoGuests
}

// deleteGuest serves DELETE /api/v1/sites/guests/{email}: nothing to
// delete, as Plausible answers for an unknown guest.
func (s *Server) deleteGuest(w http.ResponseWriter, r *http.Request) error {
	if _, _, _, err := s.siteRequest(w, r, true, "delete guest"); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]bool{"deleted": true})
	return nil
}
