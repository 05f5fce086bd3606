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
	er, ok := s.Stats.(stats.EarliestReader)
	if !ok {
		return st
	}
	now := time.Now()
	s.earliest.mu.Lock()
	e, hit := s.earliest.m[st.Domain]
	s.earliest.mu.Unlock()
	if !hit || now.Sub(e.at) > earliestTTL {
		t, err := er.EarliestEvent(ctx, st.Domain)
		if err != nil {
			s.log.Warn("earliest event", "site", st.Domain, "err", err)
			return st // the range then starts on the day the site was added
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
	if e.t.IsZero() || !st.CreatedAt.IsZero() && !e.t.Before(st.CreatedAt) {
		return st
	}
	c := *st
	c.CreatedAt = e.t
	return &c
}
