package collect

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"waymark.dev/waymark/internal/analytics"
)

// memSalts is an in-memory SaltStore for tests of the rotation logic; the
// SQLite implementation has its own tests.
type memSalts struct {
	mu sync.Mutex
	m  map[string]analytics.Salt
}

func (s *memSalts) Salts(context.Context) ([]analytics.Salt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []analytics.Salt
	for _, v := range s.m {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Day < out[j].Day })
	return out, nil
}

func (s *memSalts) PutSalt(_ context.Context, v analytics.Salt) (analytics.Salt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.m[v.Day]; ok {
		return old, nil
	}
	s.m[v.Day] = v
	return v, nil
}

func (s *memSalts) DeleteSaltsBefore(_ context.Context, day string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for d := range s.m {
		if d < day {
			delete(s.m, d)
		}
	}
	return nil
}

func TestVisitorsRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := &memSalts{m: map[string]analytics.Salt{}}
	now := time.Date(2024, 5, 1, 23, 50, 0, 0, time.UTC)
	v, err := NewVisitors(ctx, store, func() time.Time { return now }, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("192.0.2.7")
	utc := time.UTC
	a, prev := v.Hash("e.com", utc, now, ip, "UA")
	if prev != 0 {
		t.Errorf("no previous salt 23:50 after midnight, got prev %x", prev)
	}
	if analytics.VisitorDay(a) != analytics.LocalDay(now) {
		t.Errorf("id %x carries day %d, want %d", a, analytics.VisitorDay(a), analytics.LocalDay(now))
	}
	if b, _ := v.Hash("e.com", utc, now, ip, "UA"); b != a {
		t.Error("same input hashed differently")
	}
	if b, _ := v.Hash("other.com", utc, now, ip, "UA"); b == a {
		t.Error("sites share visitor ids")
	}
	if b, _ := v.Hash("e.com", utc, now, netip.MustParseAddr("192.0.2.8"), "UA"); b == a {
		t.Error("IPs share visitor ids")
	}
	// A second process agrees on the day's salt.
	v2, _ := NewVisitors(ctx, store, func() time.Time { return now }, slog.Default())
	if b, _ := v2.Hash("e.com", utc, now, ip, "UA"); b != a {
		t.Error("two collectors disagree on the same day")
	}
	// A site in Tokyo is already on 2024-05-02 (08:50): another salt and day.
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	if b, _ := v.Hash("e.com", tokyo, now, ip, "UA"); b == a || analytics.VisitorDay(b) != analytics.LocalDay(now)+1 {
		t.Errorf("Tokyo id %x (day %d), want a different id on day %d", b, analytics.VisitorDay(b), analytics.LocalDay(now)+1)
	}
	// After midnight: a new id, and the old one offered for the session.
	now = now.Add(20 * time.Minute)
	if err := v.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	c, prev := v.Hash("e.com", utc, now, ip, "UA")
	if c == a || prev != a {
		t.Errorf("after midnight cur=%x prev=%x, want new cur and prev=%x", c, prev, a)
	}
	// 40 minutes after midnight yesterday's visits cannot continue.
	now = now.Add(20 * time.Minute)
	if _, prev := v.Hash("e.com", utc, now, ip, "UA"); prev != 0 {
		t.Error("yesterday's salt offered 40 minutes after midnight")
	}
	// The salt of 2024-05-01 is kept while UTC-12 is still on that date (or
	// 30 minutes into the next), then destroyed.
	now = time.Date(2024, 5, 2, 12, 20, 0, 0, time.UTC)
	if err := v.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := store.m["2024-05-01"]; !ok {
		t.Error("salt of 2024-05-01 destroyed while UTC-12 may still use it")
	}
	now = now.Add(15 * time.Minute)
	if err := v.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	var days []string
	salts, _ := store.Salts(ctx)
	for _, s := range salts {
		days = append(days, s.Day)
	}
	if want := []string{"2024-05-02", "2024-05-03"}; !slices.Equal(days, want) {
		t.Errorf("stored salts = %v, want %v", days, want)
	}
	// A clock outside every salted day gives no visitor.
	if c, _ := v.Hash("e.com", utc, now.AddDate(0, 0, 5), ip, "UA"); c != 0 {
		t.Errorf("hash without a salt = %x, want 0", c)
	}
}
