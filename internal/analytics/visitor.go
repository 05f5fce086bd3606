package analytics

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"log/slog"
	"net/netip"
	"sync"
	"time"
)

// SessionTimeout ends a session after this long without a hit.
const SessionTimeout = 30 * time.Minute

// Salt is one day's secret for cookieless visitor hashes.
type Salt struct {
	Day string // YYYY-MM-DD, UTC
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

// Visitors derives cookieless visitor ids: a keyed hash of (daily salt,
// site, IP, user agent). The salt changes every UTC day; the previous day's
// salt is kept for SessionTimeout after midnight so a visit spanning
// midnight stays one visit, then destroyed.
type Visitors struct {
	store SaltStore
	log   *slog.Logger
	now   func() time.Time

	mu        sync.RWMutex
	cur, prev *Salt
}

// NewVisitors loads or creates today's salt.
func NewVisitors(ctx context.Context, store SaltStore, now func() time.Time, log *slog.Logger) (*Visitors, error) {
	v := &Visitors{store: store, now: now, log: log}
	if err := v.Rotate(ctx); err != nil {
		return nil, err
	}
	return v, nil
}

func dayOf(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// Rotate makes sure today's salt is in force and destroys salts that no
// session can use any more. Run calls it every minute.
func (v *Visitors) Rotate(ctx context.Context) error {
	now := v.now().UTC()
	today := dayOf(now)
	yesterday := dayOf(now.Add(-24 * time.Hour))
	v.mu.RLock()
	ok := v.cur != nil && v.cur.Day == today
	v.mu.RUnlock()
	var cur Salt
	if ok {
		cur = *v.cur
	} else {
		cur.Day = today
		rand.Read(cur.Key[:])
		var err error
		if cur, err = v.store.PutSalt(ctx, cur); err != nil {
			return err
		}
	}
	keepPrev := now.Sub(now.Truncate(24*time.Hour)) < SessionTimeout
	var prev *Salt
	if keepPrev {
		salts, err := v.store.Salts(ctx)
		if err != nil {
			return err
		}
		for i := range salts {
			if salts[i].Day == yesterday {
				prev = &salts[i]
			}
		}
	}
	cutoff := today
	if keepPrev {
		cutoff = yesterday
	}
	if err := v.store.DeleteSaltsBefore(ctx, cutoff); err != nil {
		return err
	}
	v.mu.Lock()
	v.cur, v.prev = &cur, prev
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

// Hash returns the visitor id under today's salt and, while it exists,
// under yesterday's (0 otherwise).
func (v *Visitors) Hash(site string, ip netip.Addr, userAgent string) (cur, prev uint64) {
	v.mu.RLock()
	c, p := v.cur, v.prev
	v.mu.RUnlock()
	cur = hashVisitor(&c.Key, site, ip, userAgent)
	if p != nil {
		prev = hashVisitor(&p.Key, site, ip, userAgent)
	}
	return cur, prev
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
	id := binary.LittleEndian.Uint64(sum[:8])
	if id == 0 {
		id = 1 // 0 means "no visitor"
	}
	return id
}
