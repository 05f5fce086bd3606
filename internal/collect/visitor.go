package collect

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"waymark.dev/waymark/internal/analytics"
)

// Visitors derives cookieless visitor ids: a keyed hash of (daily salt,
// site, IP, user agent). A site's visitors are hashed with the salt of the
// site's local date, so an id lives exactly one local day of the site; the
// previous date's salt is offered for SessionTimeout after the site's
// midnight so a visit spanning midnight stays one visit.
//
// Ids carry their local day in the top 16 bits (see VisitorDay): visitor
// counts of separate days add up, which is what lets pre-aggregated daily
// figures answer multi-day queries exactly.
//
// Salts exist for every date some time zone is in (UTC-12 to UTC+14), and
// each is destroyed once no zone can use it: at most about 50 hours after
// it was made.
type Visitors struct {
	store analytics.SaltStore
	log   *slog.Logger
	now   func() time.Time

	mu    sync.RWMutex
	salts map[string]*[32]byte
}

// NewVisitors loads or creates the salts in use now.
func NewVisitors(ctx context.Context, store analytics.SaltStore, now func() time.Time, log *slog.Logger) (*Visitors, error) {
	v := &Visitors{store: store, now: now, log: log, salts: map[string]*[32]byte{}}
	if err := v.Rotate(ctx); err != nil {
		return nil, err
	}
	return v, nil
}

func dayOf(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// Zone offsets span UTC-12 to UTC+14; a salt must outlive the last zone's
// day by SessionTimeout.
const (
	zoneBehind = 12 * time.Hour
	zoneAhead  = 14 * time.Hour
)

// Rotate makes sure the salts of every date some zone is in exist, and
// destroys salts that no session can use any more. Run calls it every
// minute.
func (v *Visitors) Rotate(ctx context.Context) error {
	now := v.now().UTC()
	oldest := dayOf(now.Add(-zoneBehind - analytics.SessionTimeout))
	if err := v.store.DeleteSaltsBefore(ctx, oldest); err != nil {
		return err
	}
	salts, err := v.store.Salts(ctx)
	if err != nil {
		return err
	}
	have := map[string]*[32]byte{}
	for i := range salts {
		if salts[i].Day >= oldest {
			have[salts[i].Day] = &salts[i].Key
		}
	}
	for t := now.Add(-zoneBehind); ; t = t.Add(24 * time.Hour) {
		day := dayOf(t)
		if day > dayOf(now.Add(zoneAhead+time.Hour)) {
			break
		}
		if have[day] == nil {
			salt := analytics.Salt{Day: day}
			rand.Read(salt.Key[:])
			if salt, err = v.store.PutSalt(ctx, salt); err != nil {
				return err
			}
			have[day] = &salt.Key
		}
	}
	v.mu.Lock()
	v.salts = have
	v.mu.Unlock()
	return nil
}

// Run rotates salts every interval until ctx ends.
func (v *Visitors) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := v.Rotate(ctx); err != nil && ctx.Err() == nil {
				v.log.Error("rotate visitor salts", "err", err)
			}
		}
	}
}

// Hash returns the visitor id of a hit at t on a site in zone loc, under
// the salt of the site's local date, and within SessionTimeout after the
// site's midnight also under the previous date's salt (0 otherwise). A
// date without a salt (a clock far off) hashes to 0: no visitor.
func (v *Visitors) Hash(site string, loc *time.Location, t time.Time, ip netip.Addr, userAgent string) (cur, prev uint64) {
	c, p, today := v.saltsAt(loc, t)
	if c != nil {
		cur = analytics.DayVisitorID(today, hashVisitor(c, site, ip, userAgent))
	}
	if p != nil {
		prev = analytics.DayVisitorID(today-1, hashVisitor(p, site, ip, userAgent))
	}
	return cur, prev
}

// HashID is Hash for a visitor who consented to analytics: the hash is of
// the first-party id (so a change of network or browser version is the
// same visitor), still under the day's salt.
func (v *Visitors) HashID(site string, loc *time.Location, t time.Time, id *[16]byte) (cur, prev uint64) {
	c, p, today := v.saltsAt(loc, t)
	if c != nil {
		cur = analytics.DayVisitorID(today, hashID(c, site, id))
	}
	if p != nil {
		prev = analytics.DayVisitorID(today-1, hashID(p, site, id))
	}
	return cur, prev
}

// saltsAt returns the salt of t's local date in loc, the previous date's
// within SessionTimeout after midnight (else nil), and the date's number.
func (v *Visitors) saltsAt(loc *time.Location, t time.Time) (cur, prev *[32]byte, day int) {
	local := t.In(loc)
	y, m, d := local.Date()
	midnight := time.Date(y, m, d, 0, 0, 0, 0, loc)
	today := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	// The keys are formatted into a stack buffer: a map lookup by
	// string(bytes) does not allocate, Format would on every hit.
	var kb [16]byte
	v.mu.RLock()
	cur = v.salts[string(today.AppendFormat(kb[:0], time.DateOnly))]
	if t.Sub(midnight) < analytics.SessionTimeout {
		prev = v.salts[string(today.AddDate(0, 0, -1).AppendFormat(kb[:0], time.DateOnly))]
	}
	v.mu.RUnlock()
	return cur, prev, analytics.LocalDay(today)
}

func hashID(key *[32]byte, site string, id *[16]byte) uint64 {
	var stack [128]byte
	buf := append(stack[:0], key[:]...)
	buf = append(buf, site...)
	buf = append(buf, 0, 'i', 'd', 0)
	buf = append(buf, id[:]...)
	sum := sha256.Sum256(buf)
	return binary.LittleEndian.Uint64(sum[:8])
}

func hashVisitor(key *[32]byte, site string, ip netip.Addr, ua string) uint64 {
	var stack [512]byte // keeps the usual input off the heap
	buf := append(stack[:0], key[:]...)
	buf = append(buf, site...)
	buf = append(buf, 0)
	a := ip.Unmap().As16()
	buf = append(buf, a[:]...)
	buf = append(buf, ua...)
	sum := sha256.Sum256(buf)
	return binary.LittleEndian.Uint64(sum[:8])
}
