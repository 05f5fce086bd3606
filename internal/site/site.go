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
	"net/netip"
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
}

// SameGoal reports whether two goals count the same thing (the currency
// aside).
func SameGoal(a, b Goal) bool { return a.Page == b.Page && a.Event == b.Event }

// Name is how the goal appears in the event:goal dimension.
func (g Goal) Name() string {
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
	if len(g.Page) > 500 || len(g.Event) > 120 {
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
		if t.Site == "" {
			return fmt.Errorf("%w: a shared link belongs to one site", ErrInvalid)
		}
	default:
		return fmt.Errorf("%w: token kind %q", ErrInvalid, t.Kind)
	}
	return nil
}

// StoredLists is a site's list settings as stores keep them in flat
// columns: comma-separated addresses, paths and parameters, and goals and
// funnels as JSON.
type StoredLists struct {
	IgnoreIPs, IgnorePaths, KeepParams, Goals, Funnels string
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
	return StoredLists{IgnoreIPs: strings.Join(ips, ","), IgnorePaths: strings.Join(s.IgnorePaths, ","), KeepParams: strings.Join(s.KeepParams, ","),
		Goals: string(goals), Funnels: string(funnels)}
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
}
