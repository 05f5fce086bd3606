// Package postgrestest gives tests a fresh PostgreSQL database on the
// server that scripts/test starts (WAYMARK_TEST_POSTGRES). Without one the
// tests skip, except under WAYMARK_REQUIRE_SERVICES (CI), where they fail.
package postgrestest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

var seq atomic.Int64

// Database creates a new database and returns its URL; it is dropped when
// the test ends.
func Database(t testing.TB) string {
	t.Helper()
	base := os.Getenv("WAYMARK_TEST_POSTGRES")
	if base == "" {
		if os.Getenv("WAYMARK_REQUIRE_SERVICES") != "" {
			t.Fatal("WAYMARK_TEST_POSTGRES is not set: no PostgreSQL server for this test")
		}
		t.Skip("no PostgreSQL server: run scripts/test, or set WAYMARK_TEST_POSTGRES=postgres://postgres@127.0.0.1:PORT/postgres")
	}
	name := fmt.Sprintf("wmtest_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9, seq.Add(1))
	if err := exec(base, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() { exec(base, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func exec(base, stmt string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, stmt)
	return err
}
