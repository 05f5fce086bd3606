package threats

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func openDB(t *testing.T) *DB {
	t.Helper()
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestCheckerLists(t *testing.T) {
	d := openDB(t)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := d.Replace("feed-a", []Entry{
		{Expr: "evil.example/", List: Phishing, Added: at},
		{Expr: "files.example/dl/", List: Malware},
		{Expr: "sub.shared.example/", List: Phishing},
		{Expr: "bank-l0gin.example/", List: Lookalike},
		{Expr: "ok.evil.example/", List: Allow},
	}); err != nil {
		t.Fatal(err)
	}
	if err := d.Replace("operator", []Entry{{Expr: "blocked.example/x.html", List: Custom}}); err != nil {
		t.Fatal(err)
	}
	p, err := NewProtector([]string{"mybank.example"}, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	c := &Checker{DB: d, Protect: p}
	tests := []struct{ url, verdict, list, match string }{
		{"http://evil.example/", Block, "phishing", "evil.example/"},
		{"https://www.evil.example/login?next=/", Block, "phishing", "evil.example/"},
		{"http://EVIL.example.:8080/a/b/c#x", Block, "phishing", "evil.example/"},
		{"http://ok.evil.example/", Pass, "allow", "ok.evil.example/"}, // the allowlist wins
		{"http://files.example/dl/a.exe", Block, "malware", "files.example/dl/"},
		{"http://files.example/other", Pass, "", ""},
		{"http://shared.example/", Pass, "", ""}, // a subdomain's entry does not list its parent
		{"http://a.sub.shared.example/", Block, "phishing", "sub.shared.example/"},
		{"http://blocked.example/x.html?q=1", Block, "custom", "blocked.example/x.html"},
		{"http://blocked.example/y.html", Pass, "", ""},
		{"http://bank-l0gin.example/", Warn, "lookalike", "bank-l0gin.example/"},
		{"http://bank.example/", Pass, "", ""},
		{"https://mybamk.example/", Block, "lookalike", "mybank.example"},        // a strong lookalike blocks
		{"https://mybank-fanclub.example/", Warn, "lookalike", "mybank.example"}, // a weak one warns
		{"http://example.org/", Pass, "", ""},
	}
	for _, tt := range tests {
		v := c.Check(tt.url)
		if v.Verdict != tt.verdict || v.List != tt.list || v.Match != tt.match {
			t.Errorf("Check(%q) = %+v, want %s %s %s", tt.url, v, tt.verdict, tt.list, tt.match)
		}
	}
	if v := c.Check("http://evil.example/"); v.Source != "feed-a" || v.Reason == "" {
		t.Errorf("source and reason: %+v", v)
	}

	// Replacing a source drops its old entries and keeps the others.
	if err := d.Replace("feed-a", []Entry{{Expr: "new.example/", List: Phishing}}); err != nil {
		t.Fatal(err)
	}
	if v := c.Check("http://evil.example/"); v.Verdict != Pass {
		t.Errorf("after replace, old entry still matches: %+v", v)
	}
	if v := c.Check("http://blocked.example/x.html"); v.Verdict != Block {
		t.Errorf("after replace, another source's entry is gone: %+v", v)
	}
	// A second process's view (another Open of the folder) sees it.
	d2, err := Open(d.path[:len(d.path)-len(SnapshotFile)])
	if err != nil {
		t.Fatal(err)
	}
	st := d2.Snapshot().Stats()
	if st.Entries != 2 || st.BySource["operator"] != 1 || st.ByList["phishing"] != 1 {
		t.Errorf("stats after reopening: %+v", st)
	}
	var listed []Entry
	d2.Snapshot().Entries(func(e Entry) bool { listed = append(listed, e); return true })
	if len(listed) != 2 {
		t.Errorf("entries: %+v", listed)
	}

	// An update counts as a change only for the other DB of the folder.
	if d.Changed() || d2.Changed() {
		t.Error("a change reported before any update")
	}
	time.Sleep(10 * time.Millisecond) // a new modification time
	if err := d2.Replace("operator", nil); err != nil {
		t.Fatal(err)
	}
	if d2.Changed() || !d.Changed() {
		t.Errorf("after the second DB's update: changed %v (it), %v (the first)", d2.Changed(), d.Changed())
	}
	if err := d.Reload(); err != nil || d.Changed() || d.Snapshot().Len() != 1 {
		t.Errorf("after reloading: %v %v %d", err, d.Changed(), d.Snapshot().Len())
	}
}

// TestSwapUnderLookups: lookups running while updates swap snapshots
// always see either the old or the new content, never a mix, and never
// fault on a released mapping.
func TestSwapUnderLookups(t *testing.T) {
	d := openDB(t)
	const n = 200
	gen := func(g int) []Entry {
		var es []Entry
		for i := range n {
			es = append(es, Entry{Expr: fmt.Sprintf("g%d-h%d.example/", g, i), List: Phishing})
		}
		return es
	}
	if err := d.Replace("feed", gen(0)); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				s := d.Snapshot()
				// Find which generation this snapshot holds, then every
				// host of that generation must match in the same snapshot.
				g := -1
				for cand := range 6 {
					u, _ := Canonicalize(fmt.Sprintf("http://g%d-h0.example/", cand))
					if len(s.Matches(u)) > 0 {
						g = cand
					}
				}
				if g < 0 {
					t.Errorf("worker %d: a snapshot with no generation", w)
					return
				}
				u, _ := Canonicalize(fmt.Sprintf("http://g%d-h%d.example/x", g, (i*7)%n))
				if len(s.Matches(u)) != 1 {
					t.Errorf("worker %d: generation %d incomplete", w, g)
					return
				}
			}
		})
	}
	for g := 1; g <= 5; g++ {
		if err := d.Replace("feed", gen(g)); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
}

func TestDamagedSnapshot(t *testing.T) {
	header := func(n, sources uint32) []byte {
		b := append([]byte(nil), magic...)
		b = binary.BigEndian.AppendUint64(b, 0)
		b = binary.BigEndian.AppendUint32(b, n)
		return binary.BigEndian.AppendUint32(b, sources)
	}
	for name, b := range map[string][]byte{
		"empty":               nil,
		"not a snapshot":      []byte("nope"),
		"magic only":          append([]byte(nil), magic...),
		"records missing":     header(5, 0),
		"source cut off":      append(header(0, 1), 10, 'a'),
		"source out of range": append(append(header(1, 0), make([]byte, 38)...), 0, 3, 0, 0, 0, 0),
	} {
		if _, err := parse(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if s, err := parse(header(0, 0)); err != nil || s.Len() != 0 {
		t.Errorf("an empty database: %v", err)
	}
}
