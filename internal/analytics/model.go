package analytics

import (
	"context"
	"fmt"
	"time"
)

// Session is one visit: hits of one visitor on one site with no gap longer
// than SessionTimeout. Its attributes come from its first hit.
type Session struct {
	ID        uint64
	Site      string
	VisitorID uint64
	Version   uint32 // increases with each change of the session's state
	Start     time.Time
	End       time.Time // last activity (a hit, or the end of engagement)
	EntryPage string
	ExitPage  string
	Hostname  string
	Pageviews uint32
	Events    uint32 // custom events
	// ExitHostname is the hostname of the visit's last pageview (Hostname
	// is that of its first hit).
	ExitHostname string
	// NonInteractive counts the custom events sent as not interactive
	// (Plausible's interactive: false): among Events, but no reason to
	// say the visit did not bounce.
	NonInteractive uint32

	Referrer, ReferrerSource, Channel                      string
	UTMSource, UTMMedium, UTMCampaign, UTMTerm, UTMContent string
	Browser, BrowserVersion, OS, OSVersion, Device         string
	ScreenClass, Language                                  string
	Place                                                  // of the visit's first hit
}

// Bounce reports a visit with at most one pageview or event.
func (s *Session) Bounce() bool { return s.Pageviews+s.Events-s.NonInteractive <= 1 }

// SessionRow is a row of the sessions table. Stores keep sessions
// append-only: a change writes the old state again with Sign -1 and the new
// state with Sign +1, so sums weighted by Sign are exact without updates or
// merges (the same table works in DuckDB and ClickHouse).
type SessionRow struct {
	Session
	Sign int8
}

// Event is a stored hit: the hit with its session, the visit-level
// attributes of that session and its entry page.
//
// Engagement beacons are stored so that time on page and scroll depth are
// plain sums: NewPageview is 1 on the first report of a page in a visit,
// and ScrollDepth holds how much deeper the page was scrolled than the
// visit's earlier reports on it said. Engaged time per visit and page is
// then sum(engaged_ms) / sum(new_pageview), and the mean maximum scroll
// depth sum(scroll_depth) / sum(new_pageview), without grouping (as
// Plausible measures them: per visitor and page).
type Event struct {
	Hit
	SessionID   uint64
	EntryPage   string
	NewPageview uint8
}

// SessionTimeout ends a session after this long without a hit.
const SessionTimeout = 30 * time.Minute

// Salt is one day's secret for cookieless visitor hashes.
type Salt struct {
	Day string // YYYY-MM-DD: the local date of the sites that use it
	Key [32]byte
}

// SaltStore keeps salts so that a restart (or another collector) hashes a
// visitor the same way during the day. Deleting a salt destroys the link
// between that day's hashes and anyone's address.
type SaltStore interface {
	Salts(ctx context.Context) ([]Salt, error)
	// PutSalt stores salt unless its day has one; it returns the day's salt.
	PutSalt(ctx context.Context, salt Salt) (Salt, error)
	DeleteSaltsBefore(ctx context.Context, day string) error
}

// LocalDay numbers a date (the date of t, whatever its zone) in days since
// 1970-01-01.
func LocalDay(t time.Time) int {
	y, m, d := t.Date()
	return int(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// DayVisitorID makes a visitor id of a day number and a hash: the day in
// the top 16 bits (until the year 2149), 48 bits of the hash below.
func DayVisitorID(day int, hash uint64) uint64 {
	return uint64(day)<<48 | hash&(1<<48-1)
}

// VisitorDay returns the local day number an id belongs to.
func VisitorDay(id uint64) int { return int(id >> 48) }

// Channels a visit can come from: Plausible's acquisition channels (Google
// Analytics 4's default channel group, with AI assistants of their own).
const (
	ChannelCrossNetwork    = "Cross-network"
	ChannelPaidShopping    = "Paid Shopping"
	ChannelPaidSearch      = "Paid Search"
	ChannelPaidSocial      = "Paid Social"
	ChannelPaidVideo       = "Paid Video"
	ChannelDisplay         = "Display"
	ChannelPaidOther       = "Paid Other"
	ChannelOrganicShopping = "Organic Shopping"
	ChannelOrganicSocial   = "Organic Social"
	ChannelOrganicVideo    = "Organic Video"
	ChannelAIAssistants    = "AI Assistants"
	ChannelOrganicSearch   = "Organic Search"
	ChannelEmail           = "Email"
	ChannelAffiliates      = "Affiliates"
	ChannelAudio           = "Audio"
	ChannelSMS             = "SMS"
	ChannelMobilePush      = "Mobile Push Notifications"
	ChannelReferral        = "Referral"
	ChannelDirect          = "Direct"
)

// SourceDirect is the source of a visit with neither referrer nor campaign.
const SourceDirect = "Direct / None"

// Limits on beacon fields. Longer values are refused, not truncated, so a
// caller learns about the problem.
const (
	MaxURLLen       = 2048
	MaxNameLen      = 120
	MaxProps        = 30
	MaxPropKeyLen   = 300
	MaxPropValueLen = 2000
	MaxDomains      = 10
	MaxBodyBytes    = 16 << 10
)

// InvalidError says which field of a beacon or query is wrong and why.
type InvalidError struct {
	Field   string
	Message string
	// Hint says more where Message keeps a peer's wording (Plausible's
	// Stats API errors): what is known, what to send instead.
	Hint string
}

// InvalidHint returns an *InvalidError with a hint.
func InvalidHint(field, message, hint string) error {
	return &InvalidError{Field: field, Message: message, Hint: hint}
}

func (e *InvalidError) Error() string { return e.Field + ": " + e.Message }

// Invalidf returns an *InvalidError for field with a formatted message.
func Invalidf(field, format string, args ...any) error {
	return &InvalidError{Field: field, Message: fmt.Sprintf(format, args...)}
}
