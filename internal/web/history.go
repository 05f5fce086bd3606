package web

import (
	"context"
	"sync"
	"time"

	"waymark.dev/waymark/internal/imported"
	"waymark.dev/waymark/internal/site"
	"waymark.dev/waymark/internal/stats"
)

// earliestCache remembers each site's first stored event for a minute: a
// dashboard opened on "All time" asks for it with every panel load.
type earliestCache struct {
	mu sync.Mutex
	m  map[string]earliestEntry
}

type earliestEntry struct {
	t, at time.Time
}

const earliestTTL = time.Minute

// forget drops a site's entry (an import changed its first day).
func (c *earliestCache) forget(domain string) {
	c.mu.Lock()
	delete(c.m, domain)
	c.mu.Unlock()
}

// withHistory returns st, or a copy whose CreatedAt is its first stored
// event when that is earlier: "all" (Plausible's "All time") then starts
// where the data starts, not on the day the site was added.
func (s *Server) withHistory(ctx context.Context, st *site.Site) *site.Site {
	first, ok := s.firstData(ctx, st)
	if !ok || first.IsZero() || !st.CreatedAt.IsZero() && !first.Before(st.CreatedAt) {
		return st
	}
	c := *st
	c.CreatedAt = first
	return &c
}

// firstData is when a site's data starts: its first stored event or
// first imported day; zero for a site without any (kept a few seconds
// only, so that a new site's first hit shows soon). ok is false when the
// store cannot say.
func (s *Server) firstData(ctx context.Context, st *site.Site) (time.Time, bool) {
	er, ok := s.Stats.(stats.EarliestReader)
	if !ok {
		return time.Time{}, false
	}
	now := time.Now()
	s.earliest.mu.Lock()
	e, hit := s.earliest.m[st.Domain]
	s.earliest.mu.Unlock()
	ttl := earliestTTL
	if e.t.IsZero() {
		ttl = 3 * time.Second
	}
	if !hit || now.Sub(e.at) > ttl {
		t, err := er.EarliestEvent(ctx, st.Domain)
		if err != nil {
			s.log.Warn("earliest event", "site", st.Domain, "err", err)
			return time.Time{}, false // "all" then starts on the day the site was added
		}
		// Imported history counts too, as Plausible's "All time" starts
		// at the first imported day.
		imps, err := s.siteImports(ctx, st.Domain)
		if err != nil {
			s.log.Warn("imports", "site", st.Domain, "err", err)
		}
		for _, im := range imps {
			d := imported.Date(im.From)
			first := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, st.Location())
			if t.IsZero() || first.Before(t) {
				t = first
			}
		}
		e = earliestEntry{t: t, at: now}
		s.earliest.mu.Lock()
		if s.earliest.m == nil || len(s.earliest.m) > 10000 {
			s.earliest.m = map[string]earliestEntry{}
		}
		s.earliest.m[st.Domain] = e
		s.earliest.mu.Unlock()
	}
	return e.t, true
}
