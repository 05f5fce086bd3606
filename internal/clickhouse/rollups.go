package clickhouse

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/stats"
)

// Daily rollups without transactions (see migrations/0009_rollups.sql):
// a build writes rows tagged with its number, then its mark; readers take
// each day's newest mark and read only that build's rows, so a build cut
// short is never read. A mark is current while the day's count of raw
// writes (rollup_dirty) is what the build saw before it read the raw
// tables; a write counts after its rows are stored, so a build that may
// have missed them never matches.

var _ stats.RollupStore = (*Store)(nil)

// buildNumber makes a build's tag: the server's second when it started
// in the high bits, so that a later build has a larger number, and 20
// random bits that keep two builds of the same second apart. It stays
// below 2^53, so it survives any float64 on the way.
func buildNumber(serverNow int64) uint64 {
	return uint64(serverNow)<<20 | uint64(rand.Uint32()&(1<<20-1))
}

// utcDays lists the UTC dates from t0's to t1's, inclusive.
func utcDays(t0, t1 time.Time) []string {
	var out []string
	d := t0.UTC().Truncate(24 * time.Hour)
	for end := t1.UTC().Truncate(24 * time.Hour); !d.After(end); d = d.AddDate(0, 0, 1) {
		out = append(out, d.Format(time.DateOnly))
	}
	return out
}

// dirtySpans returns, per site, the UTC dates a batch writes into and the
// date after each: the days whose rollups (and the next days', whose new
// visitor counts look back a day) it makes stale.
func dirtySpans(b *analytics.Batch) map[string][]string {
	type span struct{ min, max time.Time }
	spans := map[string]*span{}
	see := func(site string, t time.Time) {
		sp := spans[site]
		switch {
		case sp == nil:
			spans[site] = &span{t, t}
		case t.Before(sp.min):
			sp.min = t
		case t.After(sp.max):
			sp.max = t
		}
	}
	for i := range b.Events {
		see(b.Events[i].Site, b.Events[i].Time)
	}
	for i := range b.Sessions {
		see(b.Sessions[i].Site, b.Sessions[i].Start)
	}
	out := make(map[string][]string, len(spans))
	for site, sp := range spans {
		out[site] = utcDays(sp.min, sp.max.Add(24*time.Hour))
	}
	return out
}

// markDirty counts one write on each of the sites' days.
func (s *Store) markDirty(ctx context.Context, days map[string][]string) error {
	if len(days) == 0 {
		return nil
	}
	d := Dialect{}
	var vals []string
	sites := make([]string, 0, len(days))
	for site := range days {
		sites = append(sites, site)
	}
	slices.Sort(sites)
	for _, site := range sites {
		for _, day := range days[site] {
			vals = append(vals, fmt.Sprintf("(%s, %s, 1)", d.Quote(site), d.Quote(day)))
		}
	}
	if err := s.c.exec(ctx, "INSERT INTO rollup_dirty (site, day, n) VALUES "+strings.Join(vals, ", ")); err != nil {
		return fmt.Errorf("clickhouse: rollup marks: %w", err)
	}
	return nil
}

// dirtyCounts reads a site's write counts per UTC date in [from, to]
// ("" for no bound).
func (s *Store) dirtyCounts(ctx context.Context, site, from, to string) (map[string]uint64, error) {
	d := Dialect{}
	stmt := "SELECT toString(day), sum(n) FROM rollup_dirty WHERE site = " + d.Quote(site)
	if from != "" {
		stmt += " AND day >= " + d.Quote(from)
	}
	if to != "" {
		stmt += " AND day <= " + d.Quote(to)
	}
	out := map[string]uint64{}
	err := s.c.query(ctx, stmt+" GROUP BY day", func(f []string) error {
		n, err := strconv.ParseUint(f[1], 10, 64)
		out[f[0]] = n
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("clickhouse: rollup marks: %w", err)
	}
	return out, nil
}

// seenCount adds up the counts of the UTC dates a local day [from, to)
// touches.
func seenCount(counts map[string]uint64, from, to time.Time) uint64 {
	var n uint64
	for _, day := range utcDays(from, to.Add(-time.Second)) {
		n += counts[day]
	}
	return n
}

// shiftDate moves a YYYY-MM-DD date by days ("" stays "").
func shiftDate(day string, days int) string {
	t, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return ""
	}
	return t.AddDate(0, 0, days).Format(time.DateOnly)
}

// BuiltDays lists a site's days, cut in zone, whose newest build is
// current.
func (s *Store) BuiltDays(ctx context.Context, site, zone, from, to string) ([]stats.BuiltDay, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	d := Dialect{}
	stmt := "SELECT toString(day), build, seen, toUnixTimestamp(from_ts), toUnixTimestamp(to_ts) FROM rollup_days WHERE site = " + d.Quote(site) + " AND zone = " + d.Quote(zone)
	if from != "" {
		stmt += " AND day >= " + d.Quote(from)
	}
	if to != "" {
		stmt += " AND day < " + d.Quote(to)
	}
	type mark struct {
		build, seen uint64
		from, to    time.Time
	}
	marks := map[string]mark{}
	err := s.c.query(ctx, stmt, func(f []string) error {
		var m mark
		var from, to int64
		if _, err := fmt.Sscan(f[1]+" "+f[2]+" "+f[3]+" "+f[4], &m.build, &m.seen, &from, &to); err != nil {
			return err
		}
		m.from, m.to = time.Unix(from, 0), time.Unix(to, 0)
		if old, ok := marks[f[0]]; !ok || old.build < m.build {
			marks[f[0]] = m
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("clickhouse: rollup marks: %w", err)
	}
	if len(marks) == 0 {
		return nil, nil
	}
	// A local day touches the UTC dates from the day before it to the day
	// after it.
	counts, err := s.dirtyCounts(ctx, site, shiftDate(from, -1), shiftDate(to, 1))
	if err != nil {
		return nil, err
	}
	var out []stats.BuiltDay
	for day, m := range marks {
		if seenCount(counts, m.from, m.to) == m.seen {
			out = append(out, stats.BuiltDay{Day: day, Build: m.build})
		}
	}
	slices.SortFunc(out, func(a, b stats.BuiltDay) int { return strings.Compare(a.Day, b.Day) })
	return out, nil
}

// ReplaceRollup writes a new build of a day and marks it; older builds'
// rows are deleted afterwards, in the background of the server.
func (s *Store) ReplaceRollup(ctx context.Context, day stats.RollupDay, inserts func(build uint64) []string) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	var now int64
	if err := s.c.query(ctx, "SELECT toUnixTimestamp(now())", func(f []string) error {
		var err error
		now, err = strconv.ParseInt(f[0], 10, 64)
		return err
	}); err != nil {
		return fmt.Errorf("clickhouse: rollup: %w", err)
	}
	// The count of writes comes before the raw tables are read.
	days := utcDays(day.From, day.To.Add(-time.Second))
	counts, err := s.dirtyCounts(ctx, day.Site, days[0], days[len(days)-1])
	if err != nil {
		return err
	}
	seen := seenCount(counts, day.From, day.To)
	build := buildNumber(now)
	for _, st := range inserts(build) {
		if err := s.c.exec(ctx, st); err != nil {
			return fmt.Errorf("clickhouse: rollup of %s on %s: %w", day.Site, day.Day, err)
		}
	}
	d := Dialect{}
	S, D := d.Quote(day.Site), d.Quote(day.Day)
	if err := s.c.exec(ctx, fmt.Sprintf("INSERT INTO rollup_days VALUES (%s, %s, %s, %s, %s, %d, %d, toDateTime(%d, 'UTC'))",
		S, D, d.Quote(day.Zone), d.Time(day.From), d.Time(day.To), build, seen, now)); err != nil {
		return fmt.Errorf("clickhouse: rollup mark: %w", err)
	}
	// Builds before this one (older marks, builds cut short) are never
	// read again: delete their rows, if any.
	old := fmt.Sprintf("site = %s AND day = %s AND build < %d", S, D, build)
	for _, table := range []string{"rollup_visits", "rollup_events", "rollup_days"} {
		n, err := s.count(ctx, "SELECT count() FROM "+table+" WHERE "+old)
		if err != nil {
			return fmt.Errorf("clickhouse: rollup: %w", err)
		}
		if n > 0 {
			if err := s.c.exec(ctx, "ALTER TABLE "+table+" DELETE WHERE "+old); err != nil {
				return fmt.Errorf("clickhouse: rollup: %w", err)
			}
		}
	}
	return nil
}
