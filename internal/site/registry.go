package site

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Registry is an in-memory, periodically refreshed view of the sites in a
// Store, so the collector's hot path never touches the database. Sites added
// by the CLI while the server runs appear within the refresh interval, or at
// once on a miss (misses refresh at most once per MinMissInterval).
type Registry struct {
	store Store
	log   *slog.Logger
	sites atomic.Pointer[map[string]*Site]

	mu       sync.Mutex
	lastMiss time.Time
	// MinMissInterval bounds how often an unknown domain triggers a reload.
	MinMissInterval time.Duration
}

// NewRegistry loads all sites from store.
func NewRegistry(ctx context.Context, store Store, log *slog.Logger) (*Registry, error) {
	r := &Registry{store: store, log: log, MinMissInterval: time.Second}
	if err := r.Reload(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload replaces the view with the store's current sites.
func (r *Registry) Reload(ctx context.Context) error {
	list, err := r.store.Sites(ctx)
	if err != nil {
		return err
	}
	m := make(map[string]*Site, len(list))
	for _, s := range list {
		m[s.Domain] = s
	}
	r.sites.Store(&m)
	return nil
}

// Cached returns the site for a domain exactly as given, without reloading
// on a miss: the collector's fast path for already-normalised domains.
func (r *Registry) Cached(domain string) *Site { return (*r.sites.Load())[domain] }

// Lookup returns the site for a domain (already normalised), or nil.
func (r *Registry) Lookup(ctx context.Context, domain string) *Site {
	if s := (*r.sites.Load())[domain]; s != nil {
		return s
	}
	r.mu.Lock()
	due := time.Since(r.lastMiss) >= r.MinMissInterval
	if due {
		r.lastMiss = time.Now()
	}
	r.mu.Unlock()
	if !due {
		return nil
	}
	if err := r.Reload(ctx); err != nil {
		r.log.Warn("reload sites", "err", err)
		return nil
	}
	return (*r.sites.Load())[domain]
}

// All returns every known site.
func (r *Registry) All() []*Site {
	m := *r.sites.Load()
	out := make([]*Site, 0, len(m))
	for _, s := range m {
		out = append(out, s)
	}
	return out
}

// Run reloads the view every interval until ctx ends.
func (r *Registry) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := r.Reload(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("reload sites", "err", err)
			}
		}
	}
}
