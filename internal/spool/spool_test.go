package spool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func openTestSpool(t *testing.T, dir string, seg, max int64) *Spool {
	t.Helper()
	s, err := Open(dir, seg, max, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func readAll(t *testing.T, r *Reader) []string {
	t.Helper()
	var out []string
	for {
		rec, _, ok, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out
		}
		out = append(out, string(rec))
	}
}

func TestSpoolAppendRead(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openTestSpool(t, dir, 100, 1<<20)
	ctx := context.Background()
	var want []string
	for i := range 20 {
		rec := fmt.Sprintf("record-%02d", i)
		want = append(want, rec)
		if err := s.Append(ctx, []byte(rec)); err != nil {
			t.Fatal(err)
		}
	}
	r := s.NewReader(Pos{})
	got := readAll(t, r)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("read %v, want %v", got, want)
	}
	// Small segments rolled over; releasing up to the reader deletes them.
	segs, _ := s.segments()
	if len(segs) < 3 {
		t.Fatalf("expected several segments, got %v", segs)
	}
	before := s.Size()
	if err := s.Release(r.Pos()); err != nil {
		t.Fatal(err)
	}
	if after, _ := s.segments(); len(after) >= len(segs) || s.Size() >= before {
		t.Errorf("release kept %v (size %d -> %d)", after, before, s.Size())
	}
	cp := r.Pos()
	r.Close()
	s.Close()

	// Reopen: a reader from the checkpoint sees only newer records.
	s = openTestSpool(t, dir, 100, 1<<20)
	defer s.Close()
	s.Append(ctx, []byte("after-restart"))
	r = s.NewReader(cp)
	defer r.Close()
	if got := readAll(t, r); fmt.Sprint(got) != "[after-restart]" {
		t.Errorf("after restart read %v", got)
	}
}

func TestSpoolGroupCommit(t *testing.T) {
	t.Parallel()
	s := openTestSpool(t, t.TempDir(), 1<<20, 1<<24)
	defer s.Close()
	var wg sync.WaitGroup
	const n = 400
	for i := range n {
		wg.Go(func() {
			if err := s.Append(context.Background(), []byte(fmt.Sprint(i))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	r := s.NewReader(Pos{})
	defer r.Close()
	if got := len(readAll(t, r)); got != n {
		t.Fatalf("read %d records, want %d", got, n)
	}
	syncs := s.Syncs()
	if syncs >= n {
		t.Errorf("%d fsyncs for %d concurrent appends: no grouping", syncs, n)
	}
	t.Logf("%d appends, %d fsyncs", n, syncs)
}

func TestSpoolFull(t *testing.T) {
	t.Parallel()
	s := openTestSpool(t, t.TempDir(), 4096, 1<<20)
	defer s.Close()
	big := make([]byte, 100<<10)
	var err error
	for i := 0; i < 20 && err == nil; i++ {
		err = s.Append(context.Background(), big)
	}
	if !errors.Is(err, ErrFull) {
		t.Fatalf("err = %v, want ErrFull", err)
	}
	if s.Size() > 1<<20 {
		t.Errorf("spool grew to %d, beyond its bound", s.Size())
	}
}

func TestSpoolTornTail(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openTestSpool(t, dir, 1<<20, 1<<20)
	s.Append(context.Background(), []byte("complete"))
	s.Close()
	segs, _ := os.ReadDir(dir)
	path := filepath.Join(dir, segs[len(segs)-1].Name())
	// A crash in the middle of a write leaves half a record.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte{20, 0, 0, 0, 1, 2, 3, 4, 'h', 'a'})
	f.Close()
	s = openTestSpool(t, dir, 1<<20, 1<<20)
	defer s.Close()
	r := s.NewReader(Pos{})
	defer r.Close()
	if got := readAll(t, r); fmt.Sprint(got) != "[complete]" {
		t.Errorf("after torn write read %v", got)
	}
}

func BenchmarkSpoolAppend(b *testing.B) {
	s, err := Open(b.TempDir(), 64<<20, 1<<34, slog.Default())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	rec := make([]byte, 200)
	b.ReportAllocs()
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Append(context.Background(), rec); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// A lone writer's every append is its own fsync and durable on return:
// the least gap between fsyncs only paces batches of several writers.
func TestSpoolLoneWriter(t *testing.T) {
	t.Parallel()
	s := openTestSpool(t, t.TempDir(), 1<<20, 1<<24)
	defer s.Close()
	before := s.Syncs()
	const n = 20
	for i := range n {
		if err := s.Append(context.Background(), []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
		if got := s.Syncs() - before; got != uint64(i+1) {
			t.Fatalf("after append %d: %d fsyncs, want %d", i+1, got, i+1)
		}
	}
}
