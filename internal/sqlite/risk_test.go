package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"waymark.dev/waymark/internal/risk"
)

// TestRecentCounts: the velocity counts kept in memory agree with the
// stored events, leave with the window, and come back after a restart.
func TestRecentCounts(t *testing.T) {
	db, path := open(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	ev := func(account, kind, network string, ago time.Duration) risk.Event {
		return risk.Event{Account: account, Kind: kind, Network: network, Time: now.Add(-ago)}
	}
	for _, e := range []risk.Event{
		ev("ann", risk.EventFailure, "192.0.2.0/24", 20*time.Minute), // before the window
		ev("ann", risk.EventFailure, "192.0.2.0/24", 10*time.Minute),
		ev("ann", risk.EventFailure, "192.0.2.0/24", 2*time.Minute),
		ev("bob", risk.EventAttempt, "192.0.2.0/24", 9*time.Minute),
		ev("cid", risk.EventSuccess, "192.0.2.0/24", time.Minute),
		ev("cid", risk.EventFailure, "", time.Minute),
		ev("ann", risk.EventTrusted, "192.0.2.0/24", time.Minute), // not a login
	} {
		if err := db.AddEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	check := func(name string, db *DB, account, network string, since time.Time, want risk.Counts) {
		t.Helper()
		got, err := db.Counts(ctx, account, network, since, risk.Counts{})
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: Counts(%s, %s) = %+v, want %+v", name, account, network, got, want)
		}
	}
	window := now.Add(-risk.DefaultWindow)
	check("live", db, "ann", "192.0.2.0/24", window, risk.Counts{AccountFailures: 2, ClientFailures: 2, AccountsFromClient: 3})
	check("live", db, "cid", "192.0.2.0/24", window, risk.Counts{AccountFailures: 1, ClientFailures: 2, AccountsFromClient: 3, KnownNetwork: true})
	check("live", db, "cid", "", window, risk.Counts{AccountFailures: 1})

	// Reopened, the counts are rebuilt from the stored rows.
	db.Close()
	db2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	check("rebuilt", db2, "ann", "192.0.2.0/24", window, risk.Counts{AccountFailures: 2, ClientFailures: 2, AccountsFromClient: 3})
	check("rebuilt", db2, "cid", "192.0.2.0/24", window, risk.Counts{AccountFailures: 1, ClientFailures: 2, AccountsFromClient: 3, KnownNetwork: true})

	// As the window moves on, older events leave.
	later := now.Add(-5 * time.Minute)
	check("moved", db2, "ann", "192.0.2.0/24", later, risk.Counts{AccountFailures: 1, ClientFailures: 1, AccountsFromClient: 2})
	check("moved", db2, "bob", "192.0.2.0/24", later, risk.Counts{ClientFailures: 1, AccountsFromClient: 2})
	check("moved", db2, "ann", "198.51.100.0/24", later, risk.Counts{AccountFailures: 1})
}

// TestRiskJournal: with the journal on, a decision's writes are read back
// before the background writer applies them, appear once after it has,
// and a journal left by a crash is applied on start, record by record
// exactly once.
func TestRiskJournal(t *testing.T) {
	db, path := open(t)
	ctx := context.Background()
	jpath := path + "-riskjournal"
	if err := db.EnableRiskJournal(ctx, jpath, nil); err != nil {
		t.Fatal(err)
	}
	other, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.EnableRiskJournal(ctx, jpath, nil); err == nil {
		t.Error("a second process used the same journal")
	}
	other.Close()

	svc := &risk.Service{Store: db, Policy: risk.DefaultPolicy(), Now: time.Now}
	ip := netip.MustParseAddr("192.0.2.7")
	if _, err := svc.Login(ctx, risk.Attempt{Account: "ann", Outcome: risk.EventSuccess, IP: ip}); err != nil {
		t.Fatal(err)
	}
	d, tok, err := svc.Trust(ctx, "ann", "laptop", ip, "Chrome", "Linux")
	if err != nil {
		t.Fatal(err)
	}
	ans, err := svc.Login(ctx, risk.Attempt{Account: "ann", Outcome: risk.EventSuccess, IP: ip, Browser: "Chrome", OS: "Linux", DeviceCookie: tok.Encode()})
	if err != nil || ans.Decision.Decision != risk.Allow || ans.NewToken == nil {
		t.Fatalf("login on the trusted device: %+v %v", ans, err)
	}
	check := func(when string) {
		t.Helper()
		got, err := db.Device(ctx, d.ID)
		if err != nil || got.Current != risk.HashSecret(ans.NewToken.Secret) {
			t.Errorf("%s: device not rotated: %v", when, err)
		}
		ds, err := db.Devices(ctx, "ann")
		if err != nil || len(ds) != 1 || ds[0].Current != risk.HashSecret(ans.NewToken.Secret) {
			t.Errorf("%s: devices %+v %v", when, ds, err)
		}
		es, err := db.Events(ctx, "ann", 10)
		if err != nil || len(es) != 3 || es[0].Kind != risk.EventSuccess || es[0].Device != d.ID {
			t.Errorf("%s: events %+v %v", when, es, err)
		}
		c, err := db.Counts(ctx, "ann", risk.Network(ip), time.Now().Add(-time.Hour), risk.Counts{})
		if err != nil || !c.KnownNetwork {
			t.Errorf("%s: counts %+v %v", when, c, err)
		}
	}
	check("pending")
	if err := db.journal.flush(ctx); err != nil {
		t.Fatal(err)
	}
	check("applied")
	if fi, err := os.Stat(jpath); err != nil || fi.Size() != 0 {
		t.Errorf("journal after everything was applied: %v %v", fi, err)
	}
	db.Close()

	// A journal left behind: records 1 and 2 of a later run, the first
	// already applied, and a torn line.
	db2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	var applied int64
	db2.db.QueryRow(`SELECT applied FROM risk_journal`).Scan(&applied)
	now := time.Now().UTC()
	lines := ""
	for i, acct := range []string{"bob", "cid"} {
		b, _ := json.Marshal(journalRecord{Seq: uint64(applied) + 1 + uint64(i), Event: &risk.Event{Account: acct, Kind: risk.EventFailure, Time: now, Network: "198.51.100.0/24"}})
		lines += string(b) + "\n"
	}
	os.WriteFile(jpath, []byte(lines+`{"seq":`), 0o600)
	db2.db.Exec(`UPDATE risk_journal SET applied = ?`, applied+1)
	if err := db2.EnableRiskJournal(ctx, jpath, nil); err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if es, _ := db2.Events(ctx, "bob", 10); len(es) != 0 {
		t.Errorf("an applied record was applied again: %+v", es)
	}
	if es, _ := db2.Events(ctx, "cid", 10); len(es) != 1 {
		t.Errorf("the record after the last applied one: %+v", es)
	}
	// New records continue the numbering.
	if err := db2.AddEvent(ctx, risk.Event{Account: "dan", Kind: risk.EventAttempt, Time: now}); err != nil {
		t.Fatal(err)
	}
	if err := db2.journal.flush(ctx); err != nil {
		t.Fatal(err)
	}
	var last int64
	db2.db.QueryRow(`SELECT applied FROM risk_journal`).Scan(&last)
	if last != applied+3 {
		t.Errorf("numbering: applied %d, want %d", last, applied+3)
	}
}

// TestRiskJournalConcurrent: many decisions at once, with the journal.
func TestRiskJournalConcurrent(t *testing.T) {
	db, path := open(t)
	ctx := context.Background()
	if err := db.EnableRiskJournal(ctx, path+"-riskjournal", nil); err != nil {
		t.Fatal(err)
	}
	svc := &risk.Service{Store: db, Policy: risk.DefaultPolicy(), Now: time.Now}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			acct := fmt.Sprintf("user%d", w)
			ip := netip.AddrFrom4([4]byte{198, 51, byte(w), 1}) // a network each
			_, tok, err := svc.Trust(ctx, acct, "x", ip, "Chrome", "Linux")
			if err != nil {
				t.Error(err)
				return
			}
			for range 50 {
				ans, err := svc.Login(ctx, risk.Attempt{Account: acct, Outcome: risk.EventSuccess, IP: ip, Browser: "Chrome", OS: "Linux", DeviceCookie: tok.Encode()})
				if err != nil || ans.Decision.Decision != risk.Allow {
					t.Errorf("%s: %+v %v", acct, ans.Decision, err)
					return
				}
				tok = *ans.NewToken
			}
		})
	}
	wg.Wait()
	db.Close()
	db2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	var n int
	db2.db.QueryRow(`SELECT count(*) FROM risk_events WHERE kind = 'success'`).Scan(&n)
	if n != 8*50 {
		t.Errorf("%d successes stored, want %d", n, 8*50)
	}
}
