// Package site defines the sites Waymark collects for and the API tokens that
// may read them: their validation, token generation and the Store interface
// that state-store adapters implement.
package site

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/idna"
)

// Errors returned by stores and validators.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	ErrInvalid  = errors.New("invalid")
)

// Site is one website whose hits Waymark accepts. Its Domain is also its id
// in every API.
type Site struct {
	Domain        string
	TimeZone      string // IANA name, e.g. "Europe/Berlin"; "UTC" by default
	RetentionDays int    // raw events older than this are removed; 0 keeps them forever
	IgnoreIPs     []netip.Prefix
	IgnorePaths   []string // path prefixes; a trailing '*' is implied
	KeepParams    []string // query parameters kept in page paths
	Goals         []Goal
	Funnels       []Funnel
	CreatedAt     time.Time
	// AllowedProps is Plausible's list of custom properties the dashboard
	// offers (empty: all of them); the Sites API manages it.
	AllowedProps []string
	// Tracker is Plausible's tracker script configuration, kept for the
	// Sites API and its provisioning scripts.
	Tracker TrackerConfig
}

// TrackerConfig is a site's tracker script configuration as Plausible's
// Sites API has it: which of the script's options the site's snippet
// turns on, and how it was installed.
type TrackerConfig struct {
	ID               string `json:"id"`
	InstallationType string `json:"installation_type,omitempty"` // manual, wordpress, gtm, npm or ""
	Track404Pages    bool   `json:"track_404_pages"`
	HashBasedRouting bool   `json:"hash_based_routing"`
	OutboundLinks    bool   `json:"outbound_links"`
	FileDownloads    bool   `json:"file_downloads"`
	RevenueTracking  bool   `json:"revenue_tracking"`
	TaggedEvents     bool   `json:"tagged_events"`
	FormSubmissions  bool   `json:"form_submissions"`
	PageviewProps    bool   `json:"pageview_props"`
}

// TrackerID is the configuration's id: the stored one, or one derived
// from the domain for sites made before the Sites API kept one.
func (s *Site) TrackerID() string {
	if s.Tracker.ID != "" {
		return s.Tracker.ID
	}
	h := sha256.Sum256([]byte("tracker\x00" + s.Domain))
	return "pa-" + base64.RawURLEncoding.EncodeToString(h[:15])
}

// InstallationTypes are the tracker installation types Plausible knows.
var InstallationTypes = []string{"manual", "wordpress", "gtm", "npm"}

// Custom property limits, as Plausible's.
const (
	MaxAllowedProps = 300
	MaxPropKeyLen   = 300
)

// settings is how a site's API-managed settings are stored (one JSON
// column).
type settings struct {
	AllowedProps []string      `json:"allowed_props,omitempty"`
	Tracker      TrackerConfig `json:"tracker"`
}

// Funnel is a named sequence of 2 to 8 steps (page visits or custom
// events) that visits go through in order.
type Funnel struct {
	Name  string
	Steps []Goal
}

// Funnel limits.
const (
	MinFunnelSteps = 2
	MaxFunnelSteps = 8
)

// Goal is a conversion goal: a page visit or a custom event.
type Goal struct {
	// Page is a path, and may end in '*' to match a prefix. Empty for event goals.
	Page string
	// Event is a custom event name. Empty for page goals.
	Event string
	// Currency makes an event goal a revenue goal (Plausible's): the ISO
	// 4217 code its revenue is counted in. Revenue sent in another
	// currency is not counted (there are no exchange rates).
	Currency string `json:",omitempty"`
	// DisplayName names the goal in reports instead of its page or event
	// (Plausible's display_name).
	DisplayName string `json:",omitempty"`
}

// ID is the goal's id in the Sites API: stable, derived from what the
// goal counts (a site has one goal per page or event).
func (g Goal) ID() int64 {
	h := fnv.New32a()
	if g.Event != "" {
		h.Write([]byte("event\x00" + g.Event))
	} else {
		h.Write([]byte("page\x00" + g.Page))
	}
	return int64(h.Sum32()) + 1
}

// SameGoal reports whether two goals count the same thing (the currency
// aside).
func SameGoal(a, b Goal) bool { return a.Page == b.Page && a.Event == b.Event }

// Name is how the goal appears in the event:goal dimension.
func (g Goal) Name() string {
	if g.DisplayName != "" {
		return g.DisplayName
	}
	if g.Event != "" {
		return g.Event
	}
	return "Visit " + g.Page
}

// Location returns the site's time zone, falling back to UTC.
func (s *Site) Location() *time.Location {
	if s.TimeZone == "" || s.TimeZone == "UTC" {
		return time.UTC
	}
	if loc, ok := zones.Load(s.TimeZone); ok {
		return loc.(*time.Location)
	}
	loc, err := time.LoadLocation(s.TimeZone)
	if err != nil {
		return time.UTC
	}
	zones.Store(s.TimeZone, loc)
	return loc
}

// zones caches loaded time zones: Location is on the collector's hot path
// and time.LoadLocation reads the zone database on every call.
var zones sync.Map

// Ignored reports whether a hit from addr for path is excluded by the site's
// ignore rules.
func (s *Site) Ignored(addr netip.Addr, path string) bool {
	for _, p := range s.IgnoreIPs {
		if addr.IsValid() && p.Contains(addr.Unmap()) {
			return true
		}
	}
	for _, p := range s.IgnorePaths {
		if strings.HasPrefix(path, strings.TrimSuffix(p, "*")) {
			return true
		}
	}
	return false
}

// DomainFromInput takes what a person typed or pasted for a site, a bare
// domain or a site's address (https://www.example.com/shop, example.com:8080),
// and returns its host, for NormalizeDomain.
func DomainFromInput(in string) string {
	in = strings.TrimSpace(in)
	if i := strings.Index(in, "://"); i >= 0 {
		in = in[i+3:]
	}
	if i := strings.IndexAny(in, "/?#"); i >= 0 {
		in = in[:i]
	}
	if i := strings.LastIndexByte(in, ':'); i >= 0 && !strings.Contains(in, "]") {
		if _, err := strconv.Atoi(in[i+1:]); err == nil {
			in = in[:i]
		}
	}
	return in
}

// NormalizeDomain validates a site domain and returns its canonical form:
// lower case, ASCII (punycode), no scheme, port, path or trailing dot.
func NormalizeDomain(d string) (string, error) {
	d = strings.TrimSpace(d)
	d = strings.TrimSuffix(strings.ToLower(d), ".")
	d = strings.TrimPrefix(d, "www.")
	if d == "" {
		return "", fmt.Errorf("%w: domain is empty", ErrInvalid)
	}
	if strings.ContainsAny(d, "/:@?# ") {
		return "", fmt.Errorf("%w: domain %q must be a bare host name such as example.com", ErrInvalid, d)
	}
	a, err := idna.Lookup.ToASCII(d)
	if err != nil {
		return "", fmt.Errorf("%w: domain %q: %v", ErrInvalid, d, err)
	}
	if len(a) > 253 {
		return "", fmt.Errorf("%w: domain is longer than 253 characters", ErrInvalid)
	}
	return a, nil
}

// Validate checks a site's fields and fills defaults.
func (s *Site) Validate() error {
	d, err := NormalizeDomain(s.Domain)
	if err != nil {
		return err
	}
	s.Domain = d
	if s.TimeZone == "" {
		s.TimeZone = "UTC"
	}
	if _, err := time.LoadLocation(s.TimeZone); err != nil {
		return fmt.Errorf("%w: time zone %q is not an IANA zone name", ErrInvalid, s.TimeZone)
	}
	if s.RetentionDays < 0 {
		return fmt.Errorf("%w: retention days must be 0 (forever) or more", ErrInvalid)
	}
	for _, g := range s.Goals {
		if err := g.validate(); err != nil {
			return err
		}
	}
	names := map[string]bool{}
	for _, f := range s.Funnels {
		if strings.TrimSpace(f.Name) == "" || len(f.Name) > 100 {
			return fmt.Errorf("%w: a funnel needs a name of 1 to 100 characters", ErrInvalid)
		}
		if names[f.Name] {
			return fmt.Errorf("%w: two funnels are named %q", ErrInvalid, f.Name)
		}
		names[f.Name] = true
		if len(f.Steps) < MinFunnelSteps || len(f.Steps) > MaxFunnelSteps {
			return fmt.Errorf("%w: funnel %q has %d steps; a funnel has %d to %d", ErrInvalid, f.Name, len(f.Steps), MinFunnelSteps, MaxFunnelSteps)
		}
		for _, g := range f.Steps {
			if err := g.validate(); err != nil {
				return fmt.Errorf("funnel %q: %w", f.Name, err)
			}
		}
	}
	return nil
}

func (g Goal) validate() error {
	if (g.Page == "") == (g.Event == "") {
		return fmt.Errorf("%w: a goal or step has exactly one of page or event", ErrInvalid)
	}
	if g.Page != "" && !strings.HasPrefix(g.Page, "/") {
		return fmt.Errorf("%w: page %q must start with /", ErrInvalid, g.Page)
	}
	if len(g.Page) > 500 || len(g.Event) > 120 || len(g.DisplayName) > 120 {
		return fmt.Errorf("%w: goal too long", ErrInvalid)
	}
	if g.Currency != "" {
		if g.Event == "" {
			return fmt.Errorf("%w: only event goals count revenue (a currency on page goal %q)", ErrInvalid, g.Page)
		}
		if !ValidCurrency(g.Currency) {
			return fmt.Errorf("%w: currency %q is not an ISO 4217 code such as EUR or USD", ErrInvalid, g.Currency)
		}
	}
	return nil
}

// ValidCurrency reports whether c looks like an ISO 4217 code: three
// upper-case letters.
func ValidCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if c[i] < 'A' || c[i] > 'Z' {
			return false
		}
	}
	return true
}

// Token is an API token's stored form. The secret itself is shown once and
// only its SHA-256 hash is kept.
type Token struct {
	ID        int64
	Name      string
	Site      string // empty: every site (API tokens only)
	Kind      string // TokenAPI (default) or TokenShare
	Hash      [32]byte
	CreatedAt time.Time
	// Scopes are what an API token may do, as Plausible's scopes:
	// ScopeStatsRead (default) and ScopeSitesProvision.
	Scopes []string
	// Secret is a shared link's secret, kept so that the dashboard can
	// show the link again and the Sites API finds it by name (an API
	// token's secret is never kept).
	Secret string
}

// Token scopes, as Plausible names them.
const (
	// ScopeStatsRead reads the Stats API and the Sites API's lists.
	ScopeStatsRead = "stats:read:*"
	// ScopeSitesProvision creates, changes and deletes sites, goals,
	// custom properties and shared links through the Sites API.
	ScopeSitesProvision = "sites:provision:*"
)

// HasScope reports whether the token carries a scope.
func (t *Token) HasScope(scope string) bool { return slices.Contains(t.Scopes, scope) }

// AuditEntry is one change made through an API, kept for the operator.
type AuditEntry struct {
	ID     int64
	At     time.Time
	Actor  string // who: the token ("token reporting #3")
	Action string // what: "site.create", "goal.delete", ...
	Site   string
	Detail string
}

// Check validates a token before it is stored and fills in its default
// kind: a name is required, and a shared link belongs to one site.
func (t *Token) Check() error {
	if strings.TrimSpace(t.Name) == "" {
		return fmt.Errorf("%w: token name is empty", ErrInvalid)
	}
	switch t.Kind {
	case "":
		t.Kind = TokenAPI
	case TokenAPI:
	case TokenShare:
		t.Scopes = nil
		if t.Site == "" {
			return fmt.Errorf("%w: a shared link belongs to one site", ErrInvalid)
		}
	default:
		return fmt.Errorf("%w: token kind %q", ErrInvalid, t.Kind)
	}
	if t.Kind == TokenAPI {
		if len(t.Scopes) == 0 {
			t.Scopes = []string{ScopeStatsRead}
		}
		for _, sc := range t.Scopes {
			if sc != ScopeStatsRead && sc != ScopeSitesProvision {
				return fmt.Errorf("%w: token scope %q: use %s or %s", ErrInvalid, sc, ScopeStatsRead, ScopeSitesProvision)
			}
		}
	}
	return nil
}

// StoredLists is a site's list settings as stores keep them in flat
// columns: comma-separated addresses, paths and parameters, goals and
// funnels as JSON, and the API-managed settings (allowed properties,
// tracker configuration) as JSON.
type StoredLists struct {
	IgnoreIPs, IgnorePaths, KeepParams, Goals, Funnels, Settings string
}

// Lists returns the site's list settings in their stored form.
func (s *Site) Lists() StoredLists {
	ips := make([]string, len(s.IgnoreIPs))
	for i, p := range s.IgnoreIPs {
		ips[i] = p.String()
	}
	goals, _ := json.Marshal(s.Goals)
	funnels := []byte("[]")
	if len(s.Funnels) > 0 {
		funnels, _ = json.Marshal(s.Funnels)
	}
	set, _ := json.Marshal(settings{AllowedProps: s.AllowedProps, Tracker: s.Tracker})
	return StoredLists{IgnoreIPs: strings.Join(ips, ","), IgnorePaths: strings.Join(s.IgnorePaths, ","), KeepParams: strings.Join(s.KeepParams, ","),
		Goals: string(goals), Funnels: string(funnels), Settings: string(set)}
}

// SetLists reads list settings in their stored form.
func (s *Site) SetLists(l StoredLists) error {
	split := func(v string) []string {
		if v == "" {
			return nil
		}
		return strings.Split(v, ",")
	}
	s.IgnoreIPs = nil
	for _, p := range split(l.IgnoreIPs) {
		if pr, err := netip.ParsePrefix(p); err == nil {
			s.IgnoreIPs = append(s.IgnoreIPs, pr)
		}
	}
	s.IgnorePaths, s.KeepParams = split(l.IgnorePaths), split(l.KeepParams)
	s.Funnels = nil
	if err := json.Unmarshal([]byte(l.Funnels), &s.Funnels); err != nil {
		return fmt.Errorf("site %s: funnels: %w", s.Domain, err)
	}
	if len(s.Funnels) == 0 {
		s.Funnels = nil
	}
	if err := json.Unmarshal([]byte(l.Goals), &s.Goals); err != nil {
		return fmt.Errorf("site %s: goals: %w", s.Domain, err)
	}
	var set settings
	if l.Settings != "" {
		if err := json.Unmarshal([]byte(l.Settings), &set); err != nil {
			return fmt.Errorf("site %s: settings: %w", s.Domain, err)
		}
	}
	s.AllowedProps, s.Tracker = set.AllowedProps, set.Tracker
	return nil
}

// Token kinds.
const (
	// TokenAPI reads the stats API (Authorization: Bearer).
	TokenAPI = "api"
	// TokenShare opens one site's read-only dashboard at /share/<secret>.
	TokenShare = "share"
)

// Allows reports whether the token may read the given site.
func (t *Token) Allows(domain string) bool { return t.Site == "" || t.Site == domain }

// tokenPrefix marks Waymark API tokens so that secret scanners can find them.
const tokenPrefix = "wmk_"

// NewTokenSecret returns a fresh random token secret and its hash.
func NewTokenSecret() (secret string, hash [32]byte) {
	b := make([]byte, 24)
	rand.Read(b)
	secret = tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, HashToken(secret)
}

// HashToken returns the stored form of a token secret.
func HashToken(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

// Store keeps sites and tokens.
type Store interface {
	AddSite(ctx context.Context, s *Site) error
	UpdateSite(ctx context.Context, s *Site) error
	DeleteSite(ctx context.Context, domain string) error
	Sites(ctx context.Context) ([]*Site, error)
	AddToken(ctx context.Context, t *Token) (int64, error)
	TokenByHash(ctx context.Context, hash [32]byte) (*Token, error)
	Tokens(ctx context.Context) ([]*Token, error)
	DeleteToken(ctx context.Context, id int64) error
	// AddAudit records a change made through an API; Audit lists a
	// site's latest (all sites' with site ""), newest first, at most n.
	AddAudit(ctx context.Context, e AuditEntry) error
	Audit(ctx context.Context, site string, n int) ([]AuditEntry, error)
}
