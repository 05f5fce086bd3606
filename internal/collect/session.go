package collect

import (
	"hash/fnv"
	"strings"
	"time"

	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/spool"
)

// pageviewReport is what a session remembers of its pageviews' engagement.
type pageviewReport struct {
	id     uint64
	scroll uint8
}

type visitorKey struct {
	site    string
	visitor uint64
}

type sessionState struct {
	cur       analytics.Session
	committed *analytics.Session // last state the store has; nil for a session new in this batch
	touched   bool
	reports   []pageviewReport // pageviews with engagement reports; lost on restart, so a report after one counts as new
	active    time.Time        // the last hit, engagement reports included: what the visit's timeout counts from

	key        visitorKey    // where live holds it
	size       int           // bytes it holds, as sessionSize counts them
	prev, next *sessionState // the live list, least recently hit first
}

// last is the time of the visit's last hit.
func (st *sessionState) last() time.Time {
	if st.active.After(st.cur.End) {
		return st.active
	}
	return st.cur.End
}

// DefaultMaxLiveBytes bounds the memory of the sessions a Sessionizer
// holds when MaxBytes is not set.
const DefaultMaxLiveBytes = 256 << 20

// sessionOverhead is what a live session costs beside its strings: the
// state, its committed copy, the map entry and the list links, rounded up.
const sessionOverhead = 1024

// Sessionizer assigns hits to sessions. It is deterministic: replaying the
// same hits in the same order from the same committed state gives the same
// rows, which is what makes spool replay exact.
//
// Its memory is bounded: live sessions are kept in the order they were
// last hit, and when their bytes pass MaxBytes the least recently hit
// visit ends early (its visitor's next hit starts a new one) and is
// counted in Evicted. A flood of visitors therefore costs at most MaxBytes
// here, and every hit is still stored.
type Sessionizer struct {
	// MaxBytes bounds the live sessions' memory (0: DefaultMaxLiveBytes).
	MaxBytes int

	live       map[visitorKey]*sessionState
	touched    []*sessionState
	latest     time.Time
	swept      time.Time
	head, tail *sessionState // the live list
	bytes      int
	evicted    uint64
}

// NewSessionizer starts with the sessions the store knows to be recent.
func NewSessionizer(recent []analytics.Session) *Sessionizer {
	z := &Sessionizer{live: make(map[visitorKey]*sessionState, len(recent))}
	for _, s := range recent {
		c := s
		st := &sessionState{cur: s, committed: &c}
		own(&st.cur)
		z.insert(st, visitorKey{s.Site, s.VisitorID})
		if s.End.After(z.latest) {
			z.latest = s.End
		}
	}
	return z
}

// Live returns the number of sessions held in memory.
func (z *Sessionizer) Live() int { return len(z.live) }

// LiveBytes returns the memory the live sessions hold, as counted against
// MaxBytes.
func (z *Sessionizer) LiveBytes() int { return z.bytes }

// Evicted returns how many visits were ended early to stay within
// MaxBytes.
func (z *Sessionizer) Evicted() uint64 { return z.evicted }

func (z *Sessionizer) maxBytes() int {
	if z.MaxBytes > 0 {
		return z.MaxBytes
	}
	return DefaultMaxLiveBytes
}

// insert adds st under key at the recent end of the live list.
func (z *Sessionizer) insert(st *sessionState, key visitorKey) {
	if old := z.live[key]; old != nil {
		z.remove(old) // the visitor's earlier visit, timed out
	}
	st.key = key
	st.size = sessionSize(&st.cur)
	z.bytes += st.size
	z.live[key] = st
	z.pushBack(st)
}

// remove takes st out of the live sessions.
func (z *Sessionizer) remove(st *sessionState) {
	if z.live[st.key] == st {
		delete(z.live, st.key)
	}
	z.unlink(st)
	z.bytes -= st.size
}

func (z *Sessionizer) pushBack(st *sessionState) {
	st.prev, st.next = z.tail, nil
	if z.tail != nil {
		z.tail.next = st
	} else {
		z.head = st
	}
	z.tail = st
}

func (z *Sessionizer) unlink(st *sessionState) {
	if st.prev != nil {
		st.prev.next = st.next
	} else {
		z.head = st.next
	}
	if st.next != nil {
		st.next.prev = st.prev
	} else {
		z.tail = st.prev
	}
	st.prev, st.next = nil, nil
}

// evict ends the least recently hit visits until the live sessions fit
// MaxBytes again; keep (the session just hit) always stays. An evicted
// session that changed in this batch is still written by Flush.
func (z *Sessionizer) evict(keep *sessionState) {
	for z.bytes > z.maxBytes() && z.head != nil && z.head != keep {
		z.remove(z.head)
		z.evicted++
	}
}

// sessionSize is the memory a live session holds: its strings (own gives
// them their own allocation) and the fixed overhead.
func sessionSize(s *analytics.Session) int {
	n := sessionOverhead
	for _, f := range sessionStrings(s) {
		n += len(*f)
	}
	return n
}

func sessionStrings(s *analytics.Session) []*string {
	return []*string{&s.Site, &s.EntryPage, &s.ExitPage, &s.Hostname, &s.Referrer, &s.ReferrerSource, &s.Channel,
		&s.UTMSource, &s.UTMMedium, &s.UTMCampaign, &s.UTMTerm, &s.UTMContent,
		&s.Browser, &s.BrowserVersion, &s.OS, &s.OSVersion, &s.Device, &s.ScreenClass, &s.Language,
		&s.Country, &s.CountryName, &s.Region, &s.RegionName, &s.CityName, &s.ExitHostname}
}

// own copies a session's strings into one allocation of its own. A hit's
// strings are slices of its whole spool record; a session kept alive for
// half an hour must not keep the record alive with it.
func own(s *analytics.Session) {
	fields := sessionStrings(s)
	n := 0
	for _, f := range fields {
		n += len(*f)
	}
	var b strings.Builder
	b.Grow(n)
	for _, f := range fields {
		b.WriteString(*f)
	}
	all := b.String()
	for _, f := range fields {
		l := len(*f)
		*f, all = all[:l], all[l:]
	}
}

// Add assigns a hit read at spool position at to a session and returns its
// event row. Engagement beacons without a live session are kept (they carry
// time on page) but start no session.
func (z *Sessionizer) Add(h *analytics.Hit, at spool.Pos) analytics.Event {
	if h.Time.After(z.latest) {
		z.latest = h.Time
	}
	st := z.find(h)
	if st == nil && h.Name == analytics.EventEngagement {
		return analytics.Event{Hit: *h, NewPageview: 1}
	}
	if st == nil {
		st = &sessionState{cur: analytics.Session{
			ID:             uint64(at.Seg)<<40 | uint64(at.Off),
			Site:           h.Site,
			VisitorID:      h.VisitorID,
			Start:          h.Time,
			End:            h.Time,
			EntryPage:      h.Path,
			ExitPage:       h.Path,
			ExitHostname:   h.Hostname,
			Hostname:       h.Hostname,
			Referrer:       h.Referrer,
			ReferrerSource: h.ReferrerSource,
			Channel:        h.Channel,
			UTMSource:      h.UTMSource,
			UTMMedium:      h.UTMMedium,
			UTMCampaign:    h.UTMCampaign,
			UTMTerm:        h.UTMTerm,
			UTMContent:     h.UTMContent,
			Browser:        h.Browser,
			BrowserVersion: h.BrowserVersion,
			OS:             h.OS,
			OSVersion:      h.OSVersion,
			Device:         h.Device,
			ScreenClass:    h.ScreenClass,
			Language:       h.Language,
			Place:          h.Place,
		}}
		own(&st.cur)
		z.insert(st, visitorKey{h.Site, h.VisitorID})
	} else {
		z.unlink(st)
		z.pushBack(st)
	}
	s := &st.cur
	if !st.touched {
		st.touched = true
		z.touched = append(z.touched, st)
	}
	s.Version++
	if h.Time.After(st.active) {
		st.active = h.Time
	}
	if h.Name == analytics.EventEngagement {
		// As Plausible: an engagement report keeps the visit alive but
		// changes neither its length nor whether it bounced.
	} else if h.Name == analytics.EventPageview {
		s.Pageviews++
		if s.ExitPage != h.Path {
			st.size += len(h.Path) - len(s.ExitPage)
			z.bytes += len(h.Path) - len(s.ExitPage)
			s.ExitPage = strings.Clone(h.Path)
		}
		if s.ExitHostname != h.Hostname {
			st.size += len(h.Hostname) - len(s.ExitHostname)
			z.bytes += len(h.Hostname) - len(s.ExitHostname)
			s.ExitHostname = strings.Clone(h.Hostname)
		}
	} else {
		s.Events++
		if h.NonInteractive {
			s.NonInteractive++
		}
	}
	if h.Name != analytics.EventEngagement && h.Time.After(s.End) {
		s.End = h.Time
	}
	e := analytics.Event{Hit: *h, SessionID: s.ID, EntryPage: s.EntryPage}
	if h.Name == analytics.EventEngagement {
		var added bool
		e.NewPageview, e.ScrollDepth, added = st.report(reportID(h), h.ScrollDepth)
		if added {
			st.size += reportSize
			z.bytes += reportSize
		}
	}
	z.evict(st)
	// Only the sessionizer needs pageview ids; stored, a random id on
	// every row would cost 8 bytes each.
	e.PageviewID = 0
	e.VisitorID = s.VisitorID
	e.PrevVisitorID = 0
	e.Referrer, e.ReferrerSource, e.Channel = s.Referrer, s.ReferrerSource, s.Channel
	e.UTMSource, e.UTMMedium, e.UTMCampaign, e.UTMTerm, e.UTMContent = s.UTMSource, s.UTMMedium, s.UTMCampaign, s.UTMTerm, s.UTMContent
	e.Place = s.Place
	return e
}

// reportID is what an engagement report is counted under: its page in
// the visit. Plausible measures time on page and scroll depth per visitor
// and page (a page seen twice in a visit counts once, with the deepest
// scroll and the time of both views), and its tracker sends no pageview
// id; Waymark's tracker does, and it is not needed for that.
func reportID(h *analytics.Hit) uint64 {
	f := fnv.New64a()
	f.Write([]byte(h.Path))
	return f.Sum64() | 1 // never 0
}

// reportSize is what a remembered engagement report costs.
const reportSize = 16

// report records an engagement report and returns whether it is the
// pageview's first, how much deeper it scrolled, and whether a report
// was added to the session's memory.
func (st *sessionState) report(pid uint64, scroll uint8) (first, deeper uint8, added bool) {
	for i := range st.reports {
		r := &st.reports[i]
		if r.id == pid {
			if scroll > r.scroll {
				deeper, r.scroll = scroll-r.scroll, scroll
			}
			return 0, deeper, false
		}
	}
	st.reports = append(st.reports, pageviewReport{id: pid, scroll: scroll})
	return 1, scroll, true
}

// find returns the live session for a hit's visitor, trying the hash under
// the previous day's salt for visits that span midnight.
func (z *Sessionizer) find(h *analytics.Hit) *sessionState {
	for _, v := range [2]uint64{h.VisitorID, h.PrevVisitorID} {
		if v == 0 {
			continue
		}
		st := z.live[visitorKey{h.Site, v}]
		if st == nil {
			continue
		}
		if h.Time.Sub(st.last()) > analytics.SessionTimeout {
			continue
		}
		if v != h.VisitorID {
			// Carry the session over to today's hash so later hits find it.
			delete(z.live, st.key)
			st.key = visitorKey{h.Site, h.VisitorID}
			if old := z.live[st.key]; old != nil {
				z.remove(old) // today's hash's earlier visit, timed out
			}
			z.live[st.key] = st
		}
		return st
	}
	return nil
}

// Flush returns the session rows for the changes since the last Flush.
func (z *Sessionizer) Flush() []analytics.SessionRow {
	rows := make([]analytics.SessionRow, 0, 2*len(z.touched))
	for _, st := range z.touched {
		if st.committed != nil {
			rows = append(rows, analytics.SessionRow{Session: *st.committed, Sign: -1})
		}
		rows = append(rows, analytics.SessionRow{Session: st.cur, Sign: 1})
	}
	return rows
}

// Committed marks the rows of the last Flush as stored, and forgets
// sessions that have ended.
func (z *Sessionizer) Committed() {
	for _, st := range z.touched {
		c := st.cur
		st.committed = &c
		st.touched = false
	}
	z.touched = z.touched[:0]
	if z.latest.Sub(z.swept) < time.Minute {
		return
	}
	z.swept = z.latest
	cutoff := z.latest.Add(-analytics.SessionTimeout)
	for _, st := range z.live {
		if st.last().Before(cutoff) && !st.touched {
			z.remove(st)
		}
	}
}
