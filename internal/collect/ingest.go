package collect

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/spool"
)

// IngestStats are the ingester's counters, read by the metrics endpoint.
type IngestStats struct {
	Events      atomic.Uint64 // events stored
	Batches     atomic.Uint64 // batches committed
	WriteErrors atomic.Uint64 // failed batch writes (each retried)
	Corrupt     atomic.Uint64 // undecodable spool records skipped
	LiveSession atomic.Int64  // sessions held in memory
	LiveBytes   atomic.Int64  // memory those sessions hold, as bounded by MaxLiveBytes
	Evicted     atomic.Uint64 // visits ended early to stay within MaxLiveBytes
	LastBatch   atomic.Int64  // unix ms of the last commit
}

// Ingester moves hits from the spool into the event store in batches: it
// reads durable records, assigns sessions, writes events, session rows and
// the new checkpoint as one batch, and only then releases spool segments.
// A failed write is retried with the same rows until it succeeds, so a
// store outage backs up into the bounded spool, never into memory.
type Ingester struct {
	Spool         *spool.Spool
	Store         analytics.EventWriter
	Log           *slog.Logger
	BatchSize     int           // most hits per batch
	FlushInterval time.Duration // longest wait to fill a batch
	// Retention, when set, is called about hourly between batches and
	// returns each site's cut-off time for raw events.
	Retention func() map[string]time.Time
	// MaxLiveBytes bounds the memory of the live sessions (0:
	// DefaultMaxLiveBytes); see Sessionizer.
	MaxLiveBytes int
	Stats        IngestStats

	lastRetention time.Time
}

// Run ingests until ctx ends, then writes whatever is already in the spool
// and returns. Writes are not cut short by ctx: a batch in flight, and the
// drain after it, get drainTimeout to finish. A batch that cannot be
// written stops the ingester without moving the checkpoint, so nothing
// after it is stored out of order and a restart replays it.
func (in *Ingester) Run(ctx context.Context, drainTimeout time.Duration) error {
	wctx, wcancel := context.WithCancel(context.Background())
	defer wcancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(drainTimeout, wcancel) })
	defer stop()
	// A store that does not answer yet (a shared server during an
	// outage) is waited for: hits keep arriving in the spool meanwhile.
	var cp spool.Pos
	var recent []analytics.Session
	backoff := 100 * time.Millisecond
	for {
		var err error
		if cp, err = in.Store.Checkpoint(wctx); err == nil {
			if recent, err = in.Store.RecentSessions(wctx); err == nil {
				break
			}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("analytics: event store not reachable before shutdown (hits stay in the spool): %w", err)
		}
		in.Stats.WriteErrors.Add(1)
		in.Log.Error("read checkpoint; will retry", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	z := NewSessionizer(recent)
	z.MaxBytes = in.MaxLiveBytes
	r := in.Spool.NewReader(cp)
	defer r.Close()
	in.Log.Info("ingester started", "checkpoint_segment", cp.Seg, "checkpoint_offset", cp.Off, "recent_sessions", len(recent))
	for r.Wait(ctx) {
		if err := in.step(wctx, r, z, ctx.Err() != nil); err != nil {
			return err
		}
	}
	// Shutdown: store what was acknowledged, so a clean stop leaves an
	// empty spool behind.
	for r.Available() {
		if err := in.step(wctx, r, z, true); err != nil {
			return err
		}
	}
	return nil
}

func (in *Ingester) step(ctx context.Context, r *spool.Reader, z *Sessionizer, draining bool) error {
	deadline := time.Now().Add(in.FlushInterval)
	events := make([]analytics.Event, 0, min(in.BatchSize, 4096))
	for len(events) < in.BatchSize {
		rec, at, ok, err := r.Next()
		if err != nil {
			return err
		}
		if !ok {
			if draining || time.Now().After(deadline) {
				break
			}
			time.Sleep(min(5*time.Millisecond, time.Until(deadline)))
			continue
		}
		var h analytics.Hit
		if err := h.UnmarshalBinary(rec); err != nil {
			in.Stats.Corrupt.Add(1)
			in.Log.Error("skip undecodable spool record", "segment", at.Seg, "offset", at.Off, "err", err)
			continue
		}
		events = append(events, z.Add(&h, at))
	}
	b := &analytics.Batch{Events: events, Sessions: z.Flush(), Checkpoint: r.Pos()}
	if len(events) == 0 && len(b.Sessions) == 0 {
		return nil
	}
	if err := in.write(ctx, b); err != nil {
		return err
	}
	z.Committed()
	in.Stats.Events.Add(uint64(len(events)))
	in.Stats.Batches.Add(1)
	in.Stats.LiveSession.Store(int64(z.Live()))
	in.Stats.LiveBytes.Store(int64(z.LiveBytes()))
	in.Stats.Evicted.Store(z.Evicted())
	in.Stats.LastBatch.Store(time.Now().UnixMilli())
	if err := in.Spool.Release(b.Checkpoint); err != nil {
		in.Log.Warn("release spool segments", "err", err)
	}
	in.retention(ctx)
	return nil
}

// write retries a batch until it is stored or ctx ends.
func (in *Ingester) write(ctx context.Context, b *analytics.Batch) error {
	backoff := 50 * time.Millisecond
	for {
		err := in.Store.WriteBatch(ctx, b)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("analytics: batch of %d events not stored before shutdown (kept in the spool for the next start): %w", len(b.Events), err)
		}
		in.Stats.WriteErrors.Add(1)
		in.Log.Error("write batch; will retry", "events", len(b.Events), "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return fmt.Errorf("analytics: batch of %d events not stored before shutdown (kept in the spool for the next start): %w", len(b.Events), ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (in *Ingester) retention(ctx context.Context) {
	if in.Retention == nil || time.Since(in.lastRetention) < time.Hour {
		return
	}
	in.lastRetention = time.Now()
	for site, cutoff := range in.Retention() {
		n, err := in.Store.DeleteBefore(ctx, site, cutoff)
		if err != nil {
			in.Log.Error("retention", "site", site, "err", err)
			continue
		}
		if n > 0 {
			in.Log.Info("retention removed old events", "site", site, "events", n, "before", cutoff)
		}
	}
}
