package collect

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/spool"
)

// flakyStore records batches and fails the first few writes, to test the
// ingester's retry without a database; the DuckDB store is exercised by
// the conformance suite and the end-to-end tests.
type flakyStore struct {
	mu       sync.Mutex
	fails    int
	events   []analytics.Event
	sessions []analytics.SessionRow
	cp       spool.Pos
	deleted  map[string]time.Time
}

func (f *flakyStore) WriteBatch(_ context.Context, b *analytics.Batch) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fails > 0 {
		f.fails--
		return errors.New("store unavailable")
	}
	f.events = append(f.events, b.Events...)
	f.sessions = append(f.sessions, b.Sessions...)
	f.cp = b.Checkpoint
	return nil
}
func (f *flakyStore) Checkpoint(context.Context) (spool.Pos, error)               { return f.cp, nil }
func (f *flakyStore) RecentSessions(context.Context) ([]analytics.Session, error) { return nil, nil }
func (f *flakyStore) DeleteBefore(_ context.Context, site string, t time.Time) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.deleted == nil {
		f.deleted = map[string]time.Time{}
	}
	f.deleted[site] = t
	return 1, nil
}

func TestIngesterRetriesAndDrains(t *testing.T) {
	t.Parallel()
	sp, err := spool.Open(t.TempDir(), 1<<20, 1<<24, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	store := &flakyStore{fails: 2}
	cutoff := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	in := &Ingester{Spool: sp, Store: store, Log: slog.Default(), BatchSize: 3, FlushInterval: 5 * time.Millisecond,
		Retention: func() map[string]time.Time { return map[string]time.Time{"e.com": cutoff} }}
	for i := range 10 {
		h := analytics.Hit{Site: "e.com", Name: analytics.EventPageview, Path: "/", VisitorID: uint64(i%3 + 1), Time: time.Unix(int64(1000+i), 0).UTC()}
		if err := sp.Append(context.Background(), h.AppendBinary(nil)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- in.Run(ctx, 5*time.Second) }()
	deadline := time.Now().Add(10 * time.Second)
	for in.Stats.Events.Load() < 10 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	sp.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(store.events) != 10 || in.Stats.WriteErrors.Load() != 2 {
		t.Fatalf("stored %d events after %d write errors; want 10 after 2", len(store.events), in.Stats.WriteErrors.Load())
	}
	if got := store.deleted["e.com"]; !got.Equal(cutoff) {
		t.Errorf("retention cut-off for e.com = %v, want %v", got, cutoff)
	}
	var visits int
	for _, r := range store.sessions {
		visits += int(r.Sign)
	}
	if visits != 3 {
		t.Errorf("net visits = %d, want 3", visits)
	}
}
