package sqlite

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"waymark.dev/waymark/internal/risk"
)

// TestConcurrentLoginsOneDevice: two tabs of the same browser logging in
// at once present the same device secret; neither may look like a thief.
func TestConcurrentLoginsOneDevice(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	svc := &risk.Service{Store: db, Policy: risk.DefaultPolicy(), Now: time.Now}
	ip := netip.MustParseAddr("192.0.2.7")
	if _, err := svc.Login(ctx, risk.Attempt{Account: "ann", Outcome: risk.EventSuccess, IP: ip}); err != nil {
		t.Fatal(err)
	}
	_, tok, err := svc.Trust(ctx, "ann", "laptop", ip, "Chrome", "Linux")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	answers := make(chan risk.Answer, 8)
	for range 8 {
		wg.Go(func() {
			a, err := svc.Login(ctx, risk.Attempt{Account: "ann", Outcome: risk.EventSuccess, IP: ip, Browser: "Chrome", OS: "Linux", DeviceCookie: tok.Encode()})
			if err != nil {
				t.Error(err)
			}
			answers <- a
		})
	}
	wg.Wait()
	close(answers)
	for a := range answers {
		if a.Decision.Decision == risk.Deny || a.Decision.Device != risk.DeviceKnown {
			t.Errorf("concurrent login: %+v", a.Decision)
		}
	}
	d, err := db.Devices(ctx, "ann")
	if err != nil || len(d) != 1 || d[0].Revoked {
		t.Errorf("device after concurrent logins: %+v %v", d, err)
	}
}

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
