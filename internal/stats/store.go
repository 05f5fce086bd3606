// Package stats answers questions about stored events: the Stats API's
// query model and its validation, the planner that turns a query into SQL
// for an event store's dialect, daily rollups and their builder, and
// funnels. It reads what the collection side (package analytics) wrote,
// through the StatsReader and RollupStore interfaces the event stores
// implement.
package stats

import (
	"context"
	"time"

	"waymark.dev/waymark/internal/site"
)

// StatsReader is an event store's read side: it answers stats queries.
type StatsReader interface {
	Query(ctx context.Context, q *Query) (*Result, error)
	// QueryAll answers several queries as one request (a dashboard's
	// panels), sharing the work they have in common.
	QueryAll(ctx context.Context, qs []*Query) ([]*Result, error)
	// RecentPageviews returns the latest pageviews of q's site since
	// q.From that q's filters select, newest first, at most n.
	RecentPageviews(ctx context.Context, q *Query, n int) ([]RecentPageview, error)
	// Funnel counts the visits of q's range that go through f's steps.
	Funnel(ctx context.Context, q *Query, f site.Funnel) ([]FunnelStep, error)
	// PropKeys lists the property names of custom event name in q's
	// range, most used first, at most n.
	PropKeys(ctx context.Context, q *Query, name string, n int) ([]string, error)
}

// EarliestReader is a store that can say when a site's first stored event
// was: "all" then starts there, not on the day the site was added (a site
// moved in with its history, or the demo's synthetic weeks). Zero when the
// site has none.
type EarliestReader interface {
	EarliestEvent(ctx context.Context, site string) (time.Time, error)
}

// RecentPageview is one of the latest pageviews, for a realtime list.
type RecentPageview struct {
	Time                    time.Time
	Path, Source            string
	Browser, Device, Screen string
}
