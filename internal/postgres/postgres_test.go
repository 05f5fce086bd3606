package postgres

import (
	"context"
	"sync"
	"testing"
	"time"

	"waymark.dev/waymark/internal/postgres/postgrestest"
	"waymark.dev/waymark/internal/statetest"
)

func open(t *testing.T, url string) *DB {
	t.Helper()
	db, err := Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestConformance runs the state-store suite that SQLite runs too.
func TestConformance(t *testing.T) {
	var mu sync.Mutex
	urls := map[*testing.T]string{}
	statetest.Run(t, statetest.Opener{
		New: func(t *testing.T) statetest.Store {
			u := postgrestest.Database(t)
			mu.Lock()
			urls[t] = u
			mu.Unlock()
			return open(t, u)
		},
		Second: func(t *testing.T) statetest.Store {
			mu.Lock()
			u := urls[t]
			mu.Unlock()
			return open(t, u)
		},
	})
}

// TestMigrateConcurrently: nodes starting together migrate once.
func TestMigrateConcurrently(t *testing.T) {
	u := postgrestest.Database(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			db, err := Open(context.Background(), u)
			if err == nil {
				db.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(context.Background(), "mysql://x"); err == nil {
		t.Error("a non-postgres URL opened")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := Open(ctx, "postgres://postgres@127.0.0.1:1/x?connect_timeout=2"); err == nil {
		t.Error("a closed port opened")
	}
}
