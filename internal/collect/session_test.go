package collect

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/spool"
)

func sessHit(visitor uint64, min int, name, path string) *analytics.Hit {
	return &analytics.Hit{Site: "e.com", VisitorID: visitor, Time: time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC).Add(time.Duration(min) * time.Minute), Name: name, Path: path, ReferrerSource: "Google"}
}

func TestSessionizer(t *testing.T) {
	t.Parallel()
	z := NewSessionizer(nil)
	pos := func(i int64) spool.Pos { return spool.Pos{Seg: 1, Off: i} }
	e1 := z.Add(sessHit(1, 0, analytics.EventPageview, "/a"), pos(1))
	e2 := z.Add(sessHit(1, 10, analytics.EventPageview, "/b"), pos(2))
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
	e4 := z.Add(sessHit(1, 46, analytics.EventPageview, "/c"), pos(4))
	if e4.SessionID == e1.SessionID || e4.EntryPage != "/c" {
		t.Errorf("hit after 31 idle minutes joined the old visit")
	}
	// Engagement without a live visit is kept but starts none.
	e5 := z.Add(sessHit(2, 50, analytics.EventEngagement, "/x"), pos(5))
	if e5.SessionID != 0 {
		t.Errorf("orphan engagement started a session")
	}
	// Engagement neither lengthens a visit nor counts a pageview (as
	// Plausible), but keeps it alive: a pageview 30 minutes after the
	// report still joins it.
	z.Add(sessHit(1, 47, analytics.EventEngagement, "/c"), pos(6))
	rows = z.Flush()
	last := rows[len(rows)-1]
	if last.Pageviews != 1 || last.End != last.Start || !last.Bounce() {
		t.Errorf("engagement handling: %+v", last)
	}
	z.Committed()
	if e := z.Add(sessHit(1, 77, analytics.EventPageview, "/d"), pos(7)); e.SessionID != e4.SessionID {
		t.Errorf("a pageview 30 minutes after an engagement report started a new visit")
	}
}

func TestSessionizerMidnight(t *testing.T) {
	t.Parallel()
	z := NewSessionizer(nil)
	h := sessHit(100, 0, analytics.EventPageview, "/a")
	e1 := z.Add(h, spool.Pos{Seg: 1, Off: 1})
	// After the salt changed, the same visitor has a new id and offers
	// the old one.
	h2 := sessHit(200, 5, analytics.EventPageview, "/b")
	h2.PrevVisitorID = 100
	e2 := z.Add(h2, spool.Pos{Seg: 1, Off: 2})
	if e2.SessionID != e1.SessionID || e2.VisitorID != 100 {
		t.Errorf("visit across midnight split: %+v", e2)
	}
	h3 := sessHit(200, 6, analytics.EventPageview, "/c")
	if e3 := z.Add(h3, spool.Pos{Seg: 1, Off: 3}); e3.SessionID != e1.SessionID {
		t.Error("later hit under the new id lost the visit")
	}
}

func TestSessionizerRestart(t *testing.T) {
	t.Parallel()
	// Replaying from a committed state gives the same rows as before.
	run := func() ([]analytics.SessionRow, []analytics.Event) {
		z := NewSessionizer(nil)
		z.Add(sessHit(1, 0, analytics.EventPageview, "/a"), spool.Pos{Seg: 1, Off: 1})
		z.Flush()
		z.Committed()
		committed := z.live[visitorKey{"e.com", 1}].cur
		z2 := NewSessionizer([]analytics.Session{committed})
		e := z2.Add(sessHit(1, 2, analytics.EventPageview, "/b"), spool.Pos{Seg: 1, Off: 2})
		return z2.Flush(), []analytics.Event{e}
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
	z.Add(sessHit(1, 0, analytics.EventPageview, "/a"), spool.Pos{Seg: 1, Off: 1})
	report := func(off int64, pid uint64, path string, ms uint32, depth uint8) analytics.Event {
		h := sessHit(1, 1, analytics.EventEngagement, path)
		h.PageviewID, h.EngagedMS, h.ScrollDepth = pid, ms, depth
		return z.Add(h, spool.Pos{Seg: 1, Off: off})
	}
	tests := []struct {
		pid        uint64
		path       string
		depth      uint8
		new, delta uint8
	}{
		{pid: 7, path: "/a", depth: 40, new: 1, delta: 40},   // first report of /a
		{pid: 7, path: "/a", depth: 70, new: 0, delta: 30},   // scrolled further
		{pid: 7, path: "/a", depth: 50, new: 0, delta: 0},    // a shallower report adds nothing
		{pid: 8, path: "/a", depth: 60, new: 0, delta: 0},    // /a seen again: the same page of the visit
		{pid: 9, path: "/b", depth: 100, new: 1, delta: 100}, // another page
	}
	for i, tt := range tests {
		e := report(int64(10+i), tt.pid, tt.path, 1000, tt.depth)
		if e.NewPageview != tt.new || e.ScrollDepth != tt.delta || e.PageviewID != 0 {
			t.Errorf("report %d: new=%d scroll=%d pid=%d, want new=%d scroll=%d pid=0", i, e.NewPageview, e.ScrollDepth, e.PageviewID, tt.new, tt.delta)
		}
	}
	// Sums give the mean of the deepest scroll per page: (70 + 100) / 2.
}

// TestEngagementWithoutPageviewID: Plausible's tracker sends engagement
// events without a pageview id. Its reports on one page of a visit count
// as one pageview with the deepest scroll; another page is another.
func TestEngagementWithoutPageviewID(t *testing.T) {
	t.Parallel()
	z := NewSessionizer(nil)
	z.Add(sessHit(1, 0, analytics.EventPageview, "/a"), spool.Pos{Seg: 1, Off: 1})
	z.Add(sessHit(1, 1, analytics.EventPageview, "/b"), spool.Pos{Seg: 1, Off: 2})
	var new, depth int
	for i, r := range []struct {
		path  string
		depth uint8
	}{{"/a", 30}, {"/a", 80}, {"/b", 50}, {"/a", 60}} {
		h := sessHit(1, 2, analytics.EventEngagement, r.path)
		h.EngagedMS, h.ScrollDepth = 1000, r.depth
		e := z.Add(h, spool.Pos{Seg: 1, Off: int64(10 + i)})
		new, depth = new+int(e.NewPageview), depth+int(e.ScrollDepth)
	}
	if new != 2 || depth != 80+50 {
		t.Errorf("%d pageviews with %d scroll depth in total, want 2 and 130", new, depth)
	}
}

// TestSessionizerBounded is the probe's fifth finding: 20,000 beacons
// with distinct user agents and long UTM values made 20,000 live sessions
// and took the heap from 12 to 256 MiB. Live sessions now stay within
// MaxBytes: the least recently hit visit ends early, is counted, and
// every hit still gets its event row.
func TestSessionizerBounded(t *testing.T) {
	t.Parallel()
	z := NewSessionizer(nil)
	z.MaxBytes = 2 << 20
	long := strings.Repeat("u", 256)
	for i := range 20000 {
		h := sessHit(uint64(i+1), i/1000, analytics.EventPageview, fmt.Sprintf("/p/%d", i))
		h.UTMSource, h.UTMMedium, h.UTMCampaign, h.UTMTerm, h.UTMContent = long, long, long, long, long
		if e := z.Add(h, spool.Pos{Seg: 1, Off: int64(i)}); e.SessionID == 0 {
			t.Fatalf("hit %d got no session", i)
		}
		if i%500 == 0 {
			z.Flush()
			z.Committed()
		}
		if z.LiveBytes() > z.MaxBytes {
			t.Fatalf("after %d hits the live sessions hold %d bytes, over the bound %d", i+1, z.LiveBytes(), z.MaxBytes)
		}
	}
	if z.Evicted() == 0 || uint64(z.Live())+z.Evicted() != 20000 {
		t.Fatalf("%d live, %d evicted; want the flood bounded and every visit accounted for", z.Live(), z.Evicted())
	}
	// The most recent visitor's visit goes on; the first one's was ended
	// early, so its next hit starts a new visit.
	recent := z.Add(sessHit(20000, 20, analytics.EventPageview, "/again"), spool.Pos{Seg: 2, Off: 1})
	if recent.EntryPage != "/p/19999" {
		t.Errorf("the most recent visit did not go on: entry %q", recent.EntryPage)
	}
	first := z.Add(sessHit(1, 20, analytics.EventPageview, "/again"), spool.Pos{Seg: 2, Off: 2})
	if first.EntryPage != "/again" {
		t.Errorf("the oldest visit was not the one ended: entry %q", first.EntryPage)
	}
	// The byte count agrees with the sessions held.
	sum := 0
	for _, st := range z.live {
		sum += st.size
	}
	if sum != z.LiveBytes() {
		t.Errorf("live bytes %d, sessions hold %d", z.LiveBytes(), sum)
	}
}

// TestSessionOwnsItsStrings: a live session does not keep its first hit's
// spool record alive through the strings it took from it.
func TestSessionOwnsItsStrings(t *testing.T) {
	t.Parallel()
	record := strings.Repeat("x", 10000)
	h := sessHit(1, 0, analytics.EventPageview, record[:5])
	h.Referrer = record[5:20]
	z := NewSessionizer(nil)
	z.Add(h, spool.Pos{Seg: 1, Off: 1})
	st := z.live[visitorKey{"e.com", 1}]
	lo := uintptr(unsafe.Pointer(unsafe.StringData(record)))
	for _, f := range sessionStrings(&st.cur) {
		if p := uintptr(unsafe.Pointer(unsafe.StringData(*f))); len(*f) > 0 && p >= lo && p < lo+uintptr(len(record)) {
			t.Fatalf("session string %q points into the hit's record", *f)
		}
	}
	if st.cur.EntryPage != "xxxxx" || st.cur.Referrer != strings.Repeat("x", 15) {
		t.Errorf("copied strings changed: %q %q", st.cur.EntryPage, st.cur.Referrer)
	}
}

// BenchmarkSessionFlood adds 20,000 visitors whose hits are slices of
// 4 KB records (as spool records decode) with long UTM values, and
// reports the heap each live session holds and the live bytes counted.
func BenchmarkSessionFlood(b *testing.B) {
	long := strings.Repeat("u", 200)
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		z := NewSessionizer(nil)
		for i := range 20000 {
			record := strings.Repeat("r", 4096) + long + fmt.Sprintf("/p/%d", i)
			h := sessHit(uint64(i+1), 0, analytics.EventPageview, record[4096+200:])
			h.UTMSource, h.UTMMedium, h.UTMCampaign, h.UTMTerm, h.UTMContent = record[4096:], record[4096:], record[4096:], record[4096:], record[4096:]
			z.Add(h, spool.Pos{Seg: 1, Off: int64(i)})
		}
		z.Flush()
		z.Committed()
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/float64(z.Live()), "heap-B/session")
		b.ReportMetric(float64(z.LiveBytes())/float64(z.Live()), "counted-B/session")
		runtime.KeepAlive(z)
	}
}

// TestScrollDepthAsPlausible is a case of Plausible's scroll depth tests:
// visitor 12 scrolls "/" to 20%; visitor 34 views "/" twice in one visit,
// to 17% then 60%. Plausible reports 40: the mean of each visitor's
// deepest scroll on the page.
func TestScrollDepthAsPlausible(t *testing.T) {
	t.Parallel()
	z := NewSessionizer(nil)
	var new, depth int
	add := func(visitor uint64, min int, name string, pid uint64, sd uint8, off int64) {
		h := sessHit(visitor, min, name, "/")
		h.PageviewID, h.ScrollDepth = pid, sd
		e := z.Add(h, spool.Pos{Seg: 1, Off: off})
		if name == analytics.EventEngagement {
			new, depth = new+int(e.NewPageview), depth+int(e.ScrollDepth)
		}
	}
	add(12, 0, analytics.EventPageview, 1, 0, 1)
	add(12, 1, analytics.EventEngagement, 1, 20, 2)
	add(34, 0, analytics.EventPageview, 2, 0, 3)
	add(34, 1, analytics.EventEngagement, 2, 17, 4)
	add(34, 2, analytics.EventPageview, 3, 0, 5)
	add(34, 3, analytics.EventEngagement, 3, 60, 6)
	if new != 2 || depth/new != 40 {
		t.Errorf("scroll depth %d over %d pages, want 40 over 2", depth, new)
	}
}
