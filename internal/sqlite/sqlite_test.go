package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"waymark.dev/waymark/internal/consent"
	"waymark.dev/waymark/internal/risk"
	"waymark.dev/waymark/internal/statetest"
)

func open(t *testing.T) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

// TestConformance runs the state-store suite that PostgreSQL runs too.
func TestConformance(t *testing.T) {
	var mu sync.Mutex
	paths := map[*testing.T]string{}
	statetest.Run(t, statetest.Opener{
		New: func(t *testing.T) statetest.Store {
			db, path := open(t)
			mu.Lock()
			paths[t] = path
			mu.Unlock()
			return db
		},
		Second: func(t *testing.T) statetest.Store {
			mu.Lock()
			path := paths[t]
			mu.Unlock()
			db, err := Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		},
	})
}

// BenchmarkRecordReceipts stores receipts durably (synchronous=FULL) from
// 64 concurrent requests through a consent.Recorder, as the consent API
// does; receipts/s is the figure.
func BenchmarkRecordReceipts(b *testing.B) {
	db, err := Open(context.Background(), filepath.Join(b.TempDir(), "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	rc := consent.NewRecorder(db, 256)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rc.Run(ctx); close(done) }()
	p := consent.DefaultPolicy()
	hash := p.TextHash("en")
	b.SetParallelism(32) // 64 goroutines on two cores
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := &consent.Receipt{ID: consent.NewReceiptID(), Site: "shop.example", VisitorID: consent.NewReceiptID(), PolicyVersion: p.Version,
				TextHash: hash, Language: "en", Choices: consent.Choices{consent.Necessary: true, consent.Analytics: true},
				Time: time.Now(), Source: consent.SourceBanner, IPPrefix: "192.0.2.0/24", UAFamily: "Firefox"}
			if err := rc.Record(context.Background(), r); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "receipts/s")
	cancel()
	<-done
}

// TestBackgroundCheckpoint: with automatic checkpoints off, the
// background checkpointer copies the WAL into the database and the WAL
// starts over instead of growing.
func TestBackgroundCheckpoint(t *testing.T) {
	db, path := open(t)
	ctx := context.Background()
	write := func(n int) {
		for i := range n {
			if err := db.AddEvent(ctx, risk.Event{Account: fmt.Sprintf("a%d", i), Kind: risk.EventFailure, Time: time.Now(), Network: "192.0.2.0/24"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var autockpt int
	db.db.QueryRow(`PRAGMA wal_autocheckpoint`).Scan(&autockpt)
	if autockpt != 0 {
		t.Fatalf("wal_autocheckpoint = %d on a pooled connection; want 0", autockpt)
	}
	write(3000)
	before, _ := os.Stat(path + "-wal")
	db.checkpoint()
	write(3000) // the WAL restarts from its beginning: it does not double
	after, _ := os.Stat(path + "-wal")
	if after.Size() > before.Size()*3/2 {
		t.Errorf("WAL grew from %d to %d bytes across a checkpoint", before.Size(), after.Size())
	}
	var busy, frames, done int
	if err := db.db.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &done); err != nil || frames != done {
		t.Errorf("checkpoint: busy %d, %d frames, %d copied, %v", busy, frames, done, err)
	}
}
