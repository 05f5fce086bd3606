package web

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"waymark.dev/waymark/internal/site"
)

type settingsPage struct {
	Title, CSRF, Site, Base, Back, Error, Origin string
	// NewSecret is a token or shared link just made: shown once.
	NewSecret, NewSecretKind string
	TimeZone                 string
	RetentionDays            int
	IgnoreIPs, IgnorePaths   string
	KeepParams               string
	Goals                    []string
	Funnels                  []string
	Shares, Tokens           []tokenRow
	Zones                    []string
	// ImportsOn: the event store keeps imports; Imports are the site's.
	ImportsOn bool
	Imports   []importRow
	// Notice confirms what the last form did (Post/Redirect/Get).
	Notice template.HTML
	// Audit is the latest changes made through the Sites API.
	Audit []auditRow
}

type auditRow struct {
	At                    time.Time
	Actor, Action, Detail string
}

type tokenRow struct {
	ID      int64
	Name    string
	Created time.Time
	URL     string // a shared link's address, when it was kept
	Scopes  string // an API token's scopes
	// AllSites: a token for every site (made with waymark token add
	// without --site), listed on every site's page.
	AllSites bool
}

// settings shows a site's settings, and once a secret just made.
func (s *Server) settings(w http.ResponseWriter, r *http.Request) error {
	var secret, kind string
	if id := r.URL.Query().Get("new"); id != "" {
		secret, kind = s.secrets.take(id, sessionOf(r).CSRF, s.Now())
	}
	return s.renderSettings(w, r, http.StatusOK, "", secret, kind)
}

func (s *Server) renderSettings(w http.ResponseWriter, r *http.Request, status int, msg, secret, kind string) error {
	vw := viewerOf(r)
	st := vw.site
	page := settingsPage{Title: "Settings · " + st.Domain, CSRF: sessionOf(r).CSRF, Site: st.Domain, Base: vw.base, Back: vw.base,
		Error: msg, Origin: origin(r), NewSecret: secret, NewSecretKind: kind, TimeZone: st.TimeZone, RetentionDays: st.RetentionDays,
		IgnorePaths: strings.Join(st.IgnorePaths, ", "), KeepParams: strings.Join(st.KeepParams, ", "), Zones: commonZones}
	var ips []string
	for _, p := range st.IgnoreIPs {
		ips = append(ips, p.String())
	}
	page.IgnoreIPs = strings.Join(ips, ", ")
	if s.Imports != nil {
		page.ImportsOn = true
		imps, err := s.siteImports(r.Context(), st.Domain)
		if err != nil {
			return err
		}
		page.Imports = importRows(imps)
		q := r.URL.Query()
		if id := q.Get("imported"); id != "" {
			for _, im := range page.Imports {
				if strconv.FormatInt(im.ID, 10) == id {
					page.Notice = template.HTML(fmt.Sprintf("Imported %s rows of %s data, %s to %s.", im.Rows, template.HTMLEscapeString(im.Source), dayTag(im.From), dayTag(im.To)))
				}
			}
		}
		if q.Get("deleted_import") != "" {
			page.Notice = "The import was deleted, with everything it brought."
		}
	}
	for _, g := range st.Goals {
		name := g.Name()
		if g.Currency != "" {
			name += " (revenue in " + g.Currency + ")"
		}
		page.Goals = append(page.Goals, name)
	}
	for _, f := range st.Funnels {
		var steps []string
		for _, g := range f.Steps {
			steps = append(steps, g.Name())
		}
		page.Funnels = append(page.Funnels, f.Name+": "+strings.Join(steps, " → "))
	}
	entries, err := s.SiteStore.Audit(r.Context(), st.Domain, 20)
	if err != nil {
		return err
	}
	for _, e := range entries {
		page.Audit = append(page.Audit, auditRow{At: e.At, Actor: e.Actor, Action: e.Action, Detail: e.Detail})
	}
	tokens, err := s.SiteStore.Tokens(r.Context())
	if err != nil {
		return err
	}
	for _, t := range tokens {
		if t.Site != st.Domain && !(t.Site == "" && t.Kind == site.TokenAPI) {
			continue
		}
		row := tokenRow{ID: t.ID, Name: t.Name, Created: t.CreatedAt, Scopes: strings.Join(t.Scopes, ", "), AllSites: t.Site == ""}
		if t.Secret != "" {
			row.URL = origin(r) + "/share/" + t.Secret
		}
		if t.Kind == site.TokenShare {
			page.Shares = append(page.Shares, row)
		} else {
			page.Tokens = append(page.Tokens, row)
		}
	}
	return s.render(w, status, "settings.html", page)
}

// changeSettings applies one settings form.
func (s *Server) changeSettings(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	vw := viewerOf(r)
	cp := *vw.site
	st := &cp
	st.Goals = slices.Clone(st.Goals)
	st.Funnels = slices.Clone(st.Funnels)
	ctx := r.Context()
	var secret, kind string
	var deleted bool
	err := func() error {
		switch action := r.PathValue("action"); action {
		case "general":
			st.TimeZone = strings.TrimSpace(r.PostFormValue("timezone"))
			days, err := strconv.Atoi(strings.TrimSpace(r.PostFormValue("retention_days")))
			if err != nil {
				return fmt.Errorf("%w: retention days must be a whole number", site.ErrInvalid)
			}
			st.RetentionDays = days
		case "ignore":
			st.IgnoreIPs = nil
			for _, part := range splitList(r.PostFormValue("ignore_ips")) {
				p, err := netip.ParsePrefix(part)
				if err != nil {
					a, err2 := netip.ParseAddr(part)
					if err2 != nil {
						return fmt.Errorf("%w: %q is not an IP address or CIDR range", site.ErrInvalid, part)
					}
					p = netip.PrefixFrom(a, a.BitLen())
				}
				st.IgnoreIPs = append(st.IgnoreIPs, p.Masked())
			}
			st.IgnorePaths = splitList(r.PostFormValue("ignore_paths"))
			st.KeepParams = splitList(r.PostFormValue("keep_params"))
		case "goal-add":
			g, err := parseStep(r.PostFormValue("goal"))
			if err != nil {
				return err
			}
			if c := strings.ToUpper(strings.TrimSpace(r.PostFormValue("currency"))); c != "" {
				if g.Event == "" {
					return fmt.Errorf("%w: only event goals count revenue; leave the currency empty for a page goal", site.ErrInvalid)
				}
				g.Currency = c
			}
			if slices.ContainsFunc(st.Goals, func(x site.Goal) bool { return site.SameGoal(x, g) }) {
				return fmt.Errorf("%w: goal %q exists", site.ErrInvalid, g.Name())
			}
			st.Goals = append(st.Goals, g)
		case "goal-remove":
			i, err := strconv.Atoi(r.PostFormValue("index"))
			if err != nil || i < 0 || i >= len(st.Goals) {
				return fmt.Errorf("%w: no such goal", site.ErrInvalid)
			}
			st.Goals = slices.Delete(st.Goals, i, i+1)
		case "funnel-add":
			f := site.Funnel{Name: strings.TrimSpace(r.PostFormValue("name"))}
			for _, line := range strings.Split(r.PostFormValue("steps"), "\n") {
				if strings.TrimSpace(line) == "" {
					continue
				}
				g, err := parseStep(line)
				if err != nil {
					return err
				}
				f.Steps = append(f.Steps, g)
			}
			st.Funnels = append(st.Funnels, f)
		case "funnel-remove":
			i, err := strconv.Atoi(r.PostFormValue("index"))
			if err != nil || i < 0 || i >= len(st.Funnels) {
				return fmt.Errorf("%w: no such funnel", site.ErrInvalid)
			}
			st.Funnels = slices.Delete(st.Funnels, i, i+1)
		case "share-add", "token-add":
			name := strings.TrimSpace(r.PostFormValue("name"))
			k := site.TokenAPI
			if action == "share-add" {
				k = site.TokenShare
			}
			sec, hash := site.NewTokenSecret()
			t := &site.Token{Name: name, Site: st.Domain, Kind: k, Hash: hash}
			if k == site.TokenAPI && r.PostFormValue("scope") == "provision" {
				t.Scopes = []string{site.ScopeStatsRead, site.ScopeSitesProvision}
			}
			if k == site.TokenShare {
				t.Secret = sec // a shared link is meant to be passed on: it can be shown again
			}
			if _, err := s.SiteStore.AddToken(ctx, t); err != nil {
				return err
			}
			secret, kind = sec, k
			return nil
		case "share-revoke", "token-revoke":
			id, err := strconv.ParseInt(r.PostFormValue("id"), 10, 64)
			if err != nil {
				return fmt.Errorf("%w: no such token", site.ErrInvalid)
			}
			tokens, err := s.SiteStore.Tokens(ctx)
			if err != nil {
				return err
			}
			i := slices.IndexFunc(tokens, func(t *site.Token) bool {
				return t.ID == id && (t.Site == st.Domain || t.Site == "" && t.Kind == site.TokenAPI && action == "token-revoke")
			})
			if i < 0 {
				return fmt.Errorf("%w: no such token", site.ErrInvalid)
			}
			return s.SiteStore.DeleteToken(ctx, id)
		case "delete":
			if r.PostFormValue("confirm") != st.Domain {
				return fmt.Errorf("%w: to remove the site, type its domain %s to confirm", site.ErrInvalid, st.Domain)
			}
			if err := s.SiteStore.DeleteSite(ctx, st.Domain); err != nil {
				return err
			}
			deleted = true
			return nil
		default:
			return &apiError{Status: http.StatusNotFound, Code: codeNotFound, Message: "no settings form " + action}
		}
		if err := st.Validate(); err != nil {
			return err
		}
		return s.SiteStore.UpdateSite(ctx, st)
	}()
	if errors.Is(err, site.ErrInvalid) {
		return s.renderSettings(w, r, http.StatusBadRequest, err.Error(), "", "")
	}
	if err != nil {
		return err
	}
	if err := s.Sites.Reload(ctx); err != nil {
		return err
	}
	if deleted {
		http.Redirect(w, r, "/dashboard", http.StatusSeeOther)
		return nil
	}
	dest := "/dashboard/" + url.PathEscape(st.Domain) + "/settings"
	if secret != "" {
		// Post/Redirect/Get: the secret waits for this session's next
		// page, once, so that a reload shows the list, not a resubmission.
		dest += "?new=" + s.secrets.put(sessionOf(r).CSRF, secret, kind, s.Now())
	}
	http.Redirect(w, r, dest, http.StatusSeeOther)
	return nil
}

// newSecrets keep a token or shared link just made for the page the
// browser is sent to next: one view, by the session that made it, within
// five minutes.
type newSecrets struct {
	mu sync.Mutex
	m  map[string]newSecret
}

type newSecret struct {
	session, secret, kind string
	at                    time.Time
}

func (n *newSecrets) put(session, secret, kind string, now time.Time) string {
	b := make([]byte, 12)
	rand.Read(b)
	id := hex.EncodeToString(b)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.m == nil {
		n.m = map[string]newSecret{}
	}
	for k, v := range n.m {
		if now.Sub(v.at) > 5*time.Minute {
			delete(n.m, k)
		}
	}
	n.m[id] = newSecret{session: session, secret: secret, kind: kind, at: now}
	return id
}

// take returns and forgets the secret under id, if this session made it.
func (n *newSecrets) take(id, session string, now time.Time) (secret, kind string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	v, ok := n.m[id]
	if !ok || v.session != session || now.Sub(v.at) > 5*time.Minute {
		return "", ""
	}
	delete(n.m, id)
	return v.secret, v.kind
}

// parseStep reads a goal or funnel step: "/path" (a page, '*' allowed) or
// an event name; "page /x" and "event Name" say it explicitly.
func parseStep(s string) (site.Goal, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return site.Goal{}, fmt.Errorf("%w: a goal or step is empty", site.ErrInvalid)
	case strings.HasPrefix(s, "page "):
		return site.Goal{Page: strings.TrimSpace(s[5:])}, nil
	case strings.HasPrefix(s, "event "):
		return site.Goal{Event: strings.TrimSpace(s[6:])}, nil
	case strings.HasPrefix(s, "/"):
		return site.Goal{Page: s}, nil
	}
	return site.Goal{Event: s}, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' }) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
