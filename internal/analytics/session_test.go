package analytics

import (
	"testing"
	"time"
)

func sessHit(visitor uint64, min int, name, path string) *Hit {
	return &Hit{Site: "e.com", VisitorID: visitor, Time: time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC).Add(time.Duration(min) * time.Minute), Name: name, Path: path, ReferrerSource: "Google"}
}

func TestSessionizer(t *testing.T) {
	t.Parallel()
	z := NewSessionizer(nil)
	pos := func(i int64) Pos { return Pos{Seg: 1, Off: i} }
	e1 := z.Add(sessHit(1, 0, EventPageview, "/a"), pos(1))
	e2 := z.Add(sessHit(1, 10, EventPageview, "/b"), pos(2))
	if e1.SessionID != e2.SessionID || e2.EntryPage != "/a" || e2.ReferrerSource != "Google" {
		t.Fatalf("hits 10 minutes apart are not one visit: %+v %+v", e1, e2)
	}
	rows := z.Flush()
	if len(rows) != 1 || rows[0].Sign != 1 || rows[0].Pageviews != 2 || rows[0].ExitPage != "/b" || rows[0].End.Sub(rows[0].Start) != 10*time.Minute {
		t.Fatalf("first flush = %+v", rows)
	}
	z.Committed()
	// A change after a commit cancels the stored state and writes the new one.
	z.Add(sessHit(1, 15, "Signup", "/b"), pos(3))
	rows = z.Flush()
	if len(rows) != 2 || rows[0].Sign != -1 || rows[0].Events != 0 || rows[1].Sign != 1 || rows[1].Events != 1 || rows[1].Version != rows[0].Version+1 {
		t.Fatalf("second flush = %+v", rows)
	}
	z.Committed()
	// 31 minutes of silence: a new visit.
	e4 := z.Add(sessHit(1, 46, EventPageview, "/c"), pos(4))
	if e4.SessionID == e1.SessionID || e4.EntryPage != "/c" {
		t.Errorf("hit after 31 idle minutes joined the old visit")
	}
	// Engagement without a live visit is kept but starts none.
	e5 := z.Add(sessHit(2, 50, EventEngagement, "/x"), pos(5))
	if e5.SessionID != 0 {
		t.Errorf("orphan engagement started a session")
	}
	// Engagement extends a visit's end without counting a pageview.
	z.Add(sessHit(1, 47, EventEngagement, "/c"), pos(6))
	rows = z.Flush()
	last := rows[len(rows)-1]
	if last.Pageviews != 1 || last.End.Sub(last.Start) != time.Minute || !last.Bounce() {
		t.Errorf("engagement handling: %+v", last)
	}
}

func TestSessionizerMidnight(t *testing.T) {
	t.Parallel()
	z := NewSessionizer(nil)
	h := sessHit(100, 0, EventPageview, "/a")
	e1 := z.Add(h, Pos{Seg: 1, Off: 1})
	// After the salt changed, the same visitor has a new id and offers
	// the old one.
	h2 := sessHit(200, 5, EventPageview, "/b")
	h2.PrevVisitorID = 100
	e2 := z.Add(h2, Pos{Seg: 1, Off: 2})
	if e2.SessionID != e1.SessionID || e2.VisitorID != 100 {
		t.Errorf("visit across midnight split: %+v", e2)
	}
	h3 := sessHit(200, 6, EventPageview, "/c")
	if e3 := z.Add(h3, Pos{Seg: 1, Off: 3}); e3.SessionID != e1.SessionID {
		t.Error("later hit under the new id lost the visit")
	}
}

func TestSessionizerRestart(t *testing.T) {
	t.Parallel()
	// Replaying from a committed state gives the same rows as before.
	run := func() ([]SessionRow, []Event) {
		z := NewSessionizer(nil)
		z.Add(sessHit(1, 0, EventPageview, "/a"), Pos{Seg: 1, Off: 1})
		z.Flush()
		z.Committed()
		committed := z.live[visitorKey{"e.com", 1}].cur
		z2 := NewSessionizer([]Session{committed})
		e := z2.Add(sessHit(1, 2, EventPageview, "/b"), Pos{Seg: 1, Off: 2})
		return z2.Flush(), []Event{e}
	}
	r1, e1 := run()
	r2, e2 := run()
	if len(r1) != 2 || r1[0].Sign != -1 || r1[1].Pageviews != 2 {
		t.Fatalf("rows after restart = %+v", r1)
	}
	if r1[1] != r2[1] || e1[0].SessionID != e2[0].SessionID {
		t.Error("replay is not deterministic")
	}
}

func TestEngagementReports(t *testing.T) {
	t.Parallel()
	z := NewSessionizer(nil)
	z.Add(sessHit(1, 0, EventPageview, "/a"), Pos{Seg: 1, Off: 1})
	report := func(off int64, pid uint64, ms uint32, depth uint8) Event {
		h := sessHit(1, 1, EventEngagement, "/a")
		h.PageviewID, h.EngagedMS, h.ScrollDepth = pid, ms, depth
		return z.Add(h, Pos{Seg: 1, Off: off})
	}
	tests := []struct {
		pid        uint64
		depth      uint8
		new, delta uint8
	}{
		{pid: 7, depth: 40, new: 1, delta: 40},   // first report of pageview 7
		{pid: 7, depth: 70, new: 0, delta: 30},   // scrolled further
		{pid: 7, depth: 50, new: 0, delta: 0},    // a shallower report adds nothing
		{pid: 9, depth: 100, new: 1, delta: 100}, // another pageview
	}
	for i, tt := range tests {
		e := report(int64(10+i), tt.pid, 1000, tt.depth)
		if e.NewPageview != tt.new || e.ScrollDepth != tt.delta || e.PageviewID != 0 {
			t.Errorf("report %d: new=%d scroll=%d pid=%d, want new=%d scroll=%d pid=0", i, e.NewPageview, e.ScrollDepth, e.PageviewID, tt.new, tt.delta)
		}
	}
	// Sums give the mean maximum depth per pageview: (70 + 100) / 2.
}
