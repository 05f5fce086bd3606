package analytics

import (
	"context"
	"time"

	"waymark.dev/waymark/internal/spool"
)

// Batch is what the ingester writes in one go: events, session rows, and
// the spool position up to which everything is in the batch. A store must
// apply the whole batch or none of it; stores with transactions keep the
// checkpoint in the same transaction, so replay after a crash starts
// exactly where the last batch ended.
type Batch struct {
	Events     []Event
	Sessions   []SessionRow
	Checkpoint spool.Pos
}

// EventWriter is an event store's write side.
type EventWriter interface {
	// WriteBatch stores a batch atomically.
	WriteBatch(ctx context.Context, b *Batch) error
	// Checkpoint returns the spool position after the last stored batch.
	Checkpoint(ctx context.Context) (spool.Pos, error)
	// RecentSessions returns the latest state of the sessions that were
	// active within SessionTimeout of the newest stored session activity,
	// for the sessionizer to continue them after a restart.
	RecentSessions(ctx context.Context) ([]Session, error)
	// DeleteBefore removes a site's events and sessions older than t
	// (retention) and returns the number of events removed.
	DeleteBefore(ctx context.Context, site string, t time.Time) (int64, error)
}
