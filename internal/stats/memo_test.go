package stats

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// TestMemoRunsEachQueryOnce: queries of a batch that need the same SQL at
// the same time run it once; a failure is not kept, so a later query
// tries again.
func TestMemoRunsEachQueryOnce(t *testing.T) {
	t.Parallel()
	m := newMemo()
	var runs atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			rows, err := m.get("SELECT 1", func() ([]RawRow, error) {
				runs.Add(1)
				<-release
				return []RawRow{{Vals: []float64{1}}}, nil
			})
			if err != nil || len(rows) != 1 {
				t.Errorf("get = %v, %v", rows, err)
			}
		})
	}
	for runs.Load() == 0 {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	if n := runs.Load(); n != 1 {
		t.Errorf("the query ran %d times", n)
	}
	boom := errors.New("boom")
	if _, err := m.get("SELECT 2", func() ([]RawRow, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	rows, err := m.get("SELECT 2", func() ([]RawRow, error) { return []RawRow{{}}, nil })
	if err != nil || len(rows) != 1 {
		t.Errorf("after a failure: %v, %v; want the query run again", rows, err)
	}
	// A reserved entry (a prefetch under way): get waits for it to be
	// filled instead of running the query itself.
	e, ok := m.reserve("SELECT 3")
	if !ok {
		t.Fatal("reserve failed")
	}
	if _, again := m.reserve("SELECT 3"); again {
		t.Error("reserved twice")
	}
	got := make(chan []RawRow)
	go func() {
		rows, _ := m.get("SELECT 3", func() ([]RawRow, error) { t.Error("ran a reserved query"); return nil, nil })
		got <- rows
	}()
	m.fill("SELECT 3", e, []RawRow{{}, {}}, nil)
	if rows := <-got; len(rows) != 2 {
		t.Errorf("reserve, fill, get: %v", rows)
	}
}
