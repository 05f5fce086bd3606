package collect

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/site"
	"waymark.dev/waymark/internal/spool"
)

// CollectStats count the collector's outcomes.
type CollectStats struct {
	Accepted atomic.Uint64
	Invalid  atomic.Uint64
	Full     atomic.Uint64
	mu       sync.Mutex
	dropped  map[[2]string]uint64 // {site, reason}
}

// Dropped returns a copy of the drop counts by site and reason.
func (s *CollectStats) Dropped() map[[2]string]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[[2]string]uint64, len(s.dropped))
	for k, v := range s.dropped {
		out[k] = v
	}
	return out
}

func (s *CollectStats) drop(site, reason string) {
	s.mu.Lock()
	if s.dropped == nil {
		s.dropped = map[[2]string]uint64{}
	}
	s.dropped[[2]string{site, reason}]++
	s.mu.Unlock()
}

// Collector accepts beacons: it validates them against the known sites,
// enriches them and appends them to the spool, returning only once they
// are durable.
type Collector struct {
	Sites    *site.Registry
	Enricher *Enricher
	Spool    *spool.Spool
	Stats    CollectStats
	bufs     sync.Pool
}

// Outcome says what happened to a valid beacon.
type Outcome struct {
	Stored  int    // hits made durable (one per site the beacon named)
	Dropped string // why nothing was stored, when Stored is 0
}

// Collect stores a beacon for each site it names. It returns an
// *InvalidError for beacons that must be refused, spool.ErrFull when the
// spool is at its bound, and another error if the spool failed.
func (c *Collector) Collect(ctx context.Context, b *Beacon, r Request) (Outcome, error) {
	var out Outcome
	bp, _ := c.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	defer c.bufs.Put(bp)
	buf := (*bp)[:0]
	var ends []int
	for _, d := range b.Domains {
		s := c.Sites.Cached(d) // trackers send the domain as registered
		domain := d
		if s == nil {
			var err error
			if domain, err = site.NormalizeDomain(d); err != nil {
				c.Stats.Invalid.Add(1)
				return out, analytics.Invalidf("domain", "%q is not a domain name", d)
			}
			s = c.Sites.Lookup(ctx, domain)
		}
		if s == nil {
			c.Stats.Invalid.Add(1)
			return out, analytics.Invalidf("domain", "no site %q is registered with this Waymark (add it with: waymark site add --domain %s)", domain, domain)
		}
		h, reason := c.Enricher.Enrich(b, s, r)
		if reason != "" {
			c.Stats.drop(domain, reason)
			out.Dropped = reason
			continue
		}
		buf = h.AppendBinary(buf)
		ends = append(ends, len(buf))
	}
	*bp = buf
	if len(ends) == 0 {
		return out, nil
	}
	recs := make([][]byte, len(ends))
	start := 0
	for i, e := range ends {
		recs[i] = buf[start:e]
		start = e
	}
	if err := c.Spool.Append(ctx, recs...); err != nil {
		if err == spool.ErrFull {
			c.Stats.Full.Add(1)
		}
		return out, err
	}
	c.Stats.Accepted.Add(uint64(len(recs)))
	out.Stored, out.Dropped = len(recs), ""
	return out, nil
}

// IsInvalid reports whether err is a refusal of bad input.
func IsInvalid(err error) (*analytics.InvalidError, bool) {
	var ie *analytics.InvalidError
	ok := errors.As(err, &ie)
	return ie, ok
}
