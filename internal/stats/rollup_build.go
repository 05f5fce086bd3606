package stats

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/site"
)

// RollupStore is an event store that keeps the daily rollup tables.
// Writing raw data must make the rollups of the days it falls in, and of
// the day after each, no longer current (BuiltDays leaves them out until
// they are built again); removing old data (retention) must do the same
// for the days it touches.
type RollupStore interface {
	Runner
	RollupMarks
	// Dialect is the store's SQL dialect.
	Dialect() Dialect
	// ReplaceRollup makes the rows that inserts write the current rollup
	// of day, replacing what the day had. inserts gives the statements
	// for a build tag (see BuiltDay; the store chooses it, 0 for none).
	// The day must not be reported current with only part of its rows,
	// nor with rows read from raw data older than a write that marked it
	// stale.
	ReplaceRollup(ctx context.Context, day RollupDay, inserts func(build uint64) []string) error
}

// RollupSettle is how long after a local day ends its rollup is built:
// the visits that started on it have ended by then (a visit that goes on
// longer unmarks the day again with its next write, and the day is built
// once more).
const RollupSettle = analytics.SessionTimeout + 5*time.Minute

// RollupBuilder builds the daily rollups of days that have ended, newest
// first, and rebuilds days whose raw data changed.
type RollupBuilder struct {
	Store RollupStore
	Sites func() []*site.Site
	Now   func() time.Time
	Log   *slog.Logger
	// MaxDays is how many days back to build (default 400).
	MaxDays int
	// Budget bounds one pass; the rest waits for the next (default 10 s).
	Budget time.Duration

	// Built counts days built since start.
	Built atomic.Int64

	earliest map[string]time.Time // per site: start of the oldest visit
	empty    map[string]time.Time // per site without visits: when last looked
}

// Run builds due days every interval until ctx ends.
func (b *RollupBuilder) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := b.BuildDue(ctx); err != nil && ctx.Err() == nil {
			b.Log.Error("build rollups", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// BuildDue builds every due day of every site, newest first, within the
// budget, and returns how many it built.
func (b *RollupBuilder) BuildDue(ctx context.Context) (int, error) {
	now := b.Now()
	deadline := time.Now().Add(b.budget()) // wall time, whatever Now says
	n := 0
	for _, s := range b.Sites() {
		days, err := b.due(ctx, s, now)
		if err != nil {
			return n, err
		}
		for _, d := range days {
			if n > 0 && time.Now().After(deadline) {
				return n, nil
			}
			if err := b.BuildDay(ctx, s, d); err != nil {
				return n, fmt.Errorf("rollup of %s on %s: %w", s.Domain, d.Format(time.DateOnly), err)
			}
			n++
			b.Built.Add(1)
		}
	}
	return n, nil
}

// BuildDay builds one local day of a site now, whether due or not.
func (b *RollupBuilder) BuildDay(ctx context.Context, s *site.Site, day time.Time) error {
	p := b.planner()
	return b.Store.ReplaceRollup(ctx, RollupDayOf(s, day), func(build uint64) []string {
		return p.RollupInserts(s, day, build)
	})
}

func (b *RollupBuilder) planner() *Planner { return &Planner{D: b.Store.Dialect(), R: b.Store} }

func (b *RollupBuilder) budget() time.Duration {
	if b.Budget > 0 {
		return b.Budget
	}
	return 10 * time.Second
}

// due lists the local days of s that have ended and settled, have data
// around them and are not built in the site's current zone, newest first.
func (b *RollupBuilder) due(ctx context.Context, s *site.Site, now time.Time) ([]time.Time, error) {
	loc := s.Location()
	firstVisit, err := b.firstVisit(ctx, s)
	if err != nil || firstVisit.IsZero() {
		return nil, err
	}
	first := localMidnight(firstVisit, loc)
	maxDays := b.MaxDays
	if maxDays <= 0 {
		maxDays = 400
	}
	oldest := localMidnight(now, loc).AddDate(0, 0, -maxDays)
	if s.RetentionDays > 0 {
		// The first whole day inside the retention window.
		if r := localMidnight(now.AddDate(0, 0, -s.RetentionDays), loc).AddDate(0, 0, 1); r.After(oldest) {
			oldest = r
		}
	}
	if first.After(oldest) {
		oldest = first
	}
	days, err := b.Store.BuiltDays(ctx, s.Domain, loc.String(), "", "")
	if err != nil {
		return nil, err
	}
	built := make(map[string]bool, len(days))
	for _, d := range days {
		built[d.Day] = true
	}
	var out []time.Time
	for d := localMidnight(now.Add(-RollupSettle), loc).AddDate(0, 0, -1); !d.Before(oldest); d = d.AddDate(0, 0, -1) {
		if !built[d.Format(time.DateOnly)] {
			out = append(out, d)
		}
	}
	return out, nil
}

// firstVisit returns when a site's oldest visit started (zero without
// data), remembered once found: data arrives at the present, not before.
func (b *RollupBuilder) firstVisit(ctx context.Context, s *site.Site) (time.Time, error) {
	if t, ok := b.earliest[s.Domain]; ok {
		return t, nil
	}
	// A site without visits is looked at again after ten minutes: the
	// lookup scans the sessions table.
	if t, ok := b.empty[s.Domain]; ok && time.Since(t) < 10*time.Minute {
		return time.Time{}, nil
	}
	raws, err := b.Store.Rows(ctx, fmt.Sprintf("SELECT %s FROM sessions WHERE site = %s ORDER BY start_ts LIMIT 1",
		b.Store.Dialect().ToString("start_ts"), b.Store.Dialect().Quote(s.Domain)), 1)
	if err != nil {
		return time.Time{}, err
	}
	if len(raws) == 0 {
		if b.empty == nil {
			b.empty = map[string]time.Time{}
		}
		b.empty[s.Domain] = time.Now()
		return time.Time{}, nil
	}
	t, err := time.Parse(time.DateTime, raws[0].Dims[0])
	if err != nil {
		return time.Time{}, fmt.Errorf("oldest visit of %s: %w", s.Domain, err)
	}
	if b.earliest == nil {
		b.earliest = map[string]time.Time{}
	}
	b.earliest[s.Domain] = t
	return t, nil
}
