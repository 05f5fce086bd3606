package analytics

import (
	"context"
	"log/slog"
	"net/netip"
	"sort"
	"sync"
	"testing"
	"time"
)

// memSalts is an in-memory SaltStore for tests of the rotation logic; the
// SQLite implementation has its own tests.
type memSalts struct {
	mu sync.Mutex
	m  map[string]Salt
}

func (s *memSalts) Salts(context.Context) ([]Salt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Salt
	for _, v := range s.m {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Day < out[j].Day })
	return out, nil
}

func (s *memSalts) PutSalt(_ context.Context, v Salt) (Salt, error) {
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
	store := &memSalts{m: map[string]Salt{}}
	now := time.Date(2024, 5, 1, 23, 50, 0, 0, time.UTC)
	v, err := NewVisitors(ctx, store, func() time.Time { return now }, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("192.0.2.7")
	a, prev := v.Hash("e.com", ip, "UA")
	if prev != 0 {
		t.Errorf("no previous salt yet, got prev %x", prev)
	}
	if b, _ := v.Hash("e.com", ip, "UA"); b != a {
		t.Error("same input hashed differently")
	}
	if b, _ := v.Hash("other.com", ip, "UA"); b == a {
		t.Error("sites share visitor ids")
	}
	if b, _ := v.Hash("e.com", netip.MustParseAddr("192.0.2.8"), "UA"); b == a {
		t.Error("IPs share visitor ids")
	}
	// A second process agrees on the day's salt.
	v2, _ := NewVisitors(ctx, store, func() time.Time { return now }, slog.Default())
	if b, _ := v2.Hash("e.com", ip, "UA"); b != a {
		t.Error("two collectors disagree on the same day")
	}
	// After midnight: a new id, and the old one offered for the session.
	now = now.Add(20 * time.Minute)
	if err := v.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	c, prev := v.Hash("e.com", ip, "UA")
	if c == a || prev != a {
		t.Errorf("after midnight cur=%x prev=%x, want new cur and prev=%x", c, prev, a)
	}
	// Once sessions from yesterday cannot continue, its salt is destroyed.
	now = now.Add(30 * time.Minute)
	if err := v.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, prev := v.Hash("e.com", ip, "UA"); prev != 0 {
		t.Error("yesterday's salt still in use 40 minutes after midnight")
	}
	salts, _ := store.Salts(ctx)
	if len(salts) != 1 || salts[0].Day != "2024-05-02" {
		t.Errorf("stored salts = %v, want only 2024-05-02", salts)
	}
}
