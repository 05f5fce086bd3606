package postgres

import (
	"bytes"
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"waymark.dev/waymark/internal/integrity"
	"waymark.dev/waymark/internal/postgres/postgrestest"
	"waymark.dev/waymark/internal/risk"
	"waymark.dev/waymark/internal/statetest"
	"waymark.dev/waymark/internal/threats"
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

// TestSharedThreats: an entry added through one node's store reaches
// another node's local database at its next sync, and removing the source
// takes it away again.
func TestSharedThreats(t *testing.T) {
	ctx := context.Background()
	u := postgrestest.Database(t)
	a, b := open(t, u), open(t, u)
	local, err := threats.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := local.Replace("local-feed", []threats.Entry{{Expr: "local.example/", List: threats.Malware}}); err != nil {
		t.Fatal(err)
	}
	var version int64
	if changed, err := threats.SyncShared(ctx, local, b, &version); err != nil || changed {
		t.Fatalf("first sync of an empty shared store: changed %v, %v", changed, err)
	}
	n, err := a.ReplaceThreatSource(ctx, "ops", []threats.Entry{{Expr: "phish.example/", List: threats.Phishing}, {Expr: "phish.example/", List: threats.Phishing}})
	if err != nil || n != 0 {
		t.Fatalf("ReplaceThreatSource = %d, %v", n, err)
	}
	if changed, err := threats.SyncShared(ctx, local, b, &version); err != nil || !changed {
		t.Fatalf("sync after an addition: changed %v, %v", changed, err)
	}
	c := &threats.Checker{DB: local}
	if v := c.Check("http://phish.example/login"); v.Verdict != threats.Block {
		t.Errorf("shared entry not applied: %+v", v)
	}
	if v := c.Check("http://local.example/"); v.Verdict != threats.Block {
		t.Errorf("the node's own feed was lost in the sync: %+v", v)
	}
	if changed, _ := threats.SyncShared(ctx, local, b, &version); changed {
		t.Error("sync without a change reloaded")
	}
	if n, err := a.ReplaceThreatSource(ctx, "ops", nil); err != nil || n != 1 {
		t.Fatalf("removing the source = %d, %v; want 1 entry removed", n, err)
	}
	threats.SyncShared(ctx, local, b, &version)
	if v := c.Check("http://phish.example/login"); v.Verdict == threats.Block {
		t.Errorf("removed shared entry still blocks: %+v", v)
	}
}

// TestSharedSigningKeys: two nodes sign with the same key; a rotation
// through one is the other's signing key after its reload.
func TestSharedSigningKeys(t *testing.T) {
	u := postgrestest.Database(t)
	now := time.Now()
	a, err := integrity.OpenSharedKeyring(open(t, u), now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := integrity.OpenSharedKeyring(open(t, u), now)
	if err != nil {
		t.Fatal(err)
	}
	if a.Current().ID != b.Current().ID || len(b.Keys()) != 1 {
		t.Fatalf("nodes sign with %s and %s (%d keys)", a.Current().ID, b.Current().ID, len(b.Keys()))
	}
	first := a.Current().ID
	k, err := a.Rotate(now.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Reload(); err != nil {
		t.Fatal(err)
	}
	if b.Current().ID != k.ID || !bytes.Equal(b.Current().Public(), k.Public()) {
		t.Errorf("after rotation node b signs with %s, want %s", b.Current().ID, k.ID)
	}
	if err := b.Retire(first); err != nil {
		t.Fatal(err)
	}
	a.Reload()
	if len(a.Keys()) != 1 || a.Current().ID != k.ID {
		t.Errorf("after retiring %s node a has %d keys", first, len(a.Keys()))
	}
	if err := a.Retire(k.ID); err == nil {
		t.Error("the signing key was retired")
	}
}

// TestConcurrentLoginsTwoNodes: two identity nodes (two services, two
// connections) decide on the same device cookie at the same moment. The
// in-process lock cannot order them; the store's conditional save must,
// so that neither looks like a thief or an unknown device, now or later.
func TestConcurrentLoginsTwoNodes(t *testing.T) {
	u := postgrestest.Database(t)
	ctx := context.Background()
	nodes := []*risk.Service{
		{Store: open(t, u), Policy: risk.DefaultPolicy(), Now: time.Now},
		{Store: open(t, u), Policy: risk.DefaultPolicy(), Now: time.Now},
	}
	ip := netip.MustParseAddr("192.0.2.7")
	if _, err := nodes[0].Login(ctx, risk.Attempt{Account: "ann", Outcome: risk.EventSuccess, IP: ip}); err != nil {
		t.Fatal(err)
	}
	_, tok, err := nodes[0].Trust(ctx, "ann", "laptop", ip, "Chrome", "Linux")
	if err != nil {
		t.Fatal(err)
	}
	cookie := tok.Encode()
	for round := range 20 {
		var wg sync.WaitGroup
		answers := make([]risk.Answer, 2)
		for i, n := range nodes {
			wg.Go(func() {
				a, err := n.Login(ctx, risk.Attempt{Account: "ann", Outcome: risk.EventSuccess, IP: ip, Browser: "Chrome", OS: "Linux", DeviceCookie: cookie})
				if err != nil {
					t.Error(err)
				}
				answers[i] = a
			})
		}
		wg.Wait()
		rotated := 0
		for _, a := range answers {
			if a.Decision.Decision != risk.Allow || a.Decision.Device != risk.DeviceKnown {
				t.Fatalf("round %d: %+v", round, a.Decision)
			}
			if a.NewToken != nil {
				rotated++
				cookie = a.NewToken.Encode() // the browser keeps the newest cookie
			}
		}
		if rotated == 0 {
			t.Fatalf("round %d: nobody rotated the secret", round)
		}
	}
	ds, err := nodes[1].Store.Devices(ctx, "ann")
	if err != nil || len(ds) != 1 || ds[0].Revoked {
		t.Fatalf("device after 20 rounds on two nodes: %+v %v", ds, err)
	}
}

// TestRiskLookupRecord: the one-round-trip reads and writes of a
// decision answer as the single calls do.
func TestRiskLookupRecord(t *testing.T) {
	db := open(t, postgrestest.Database(t))
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	since := now.Add(-time.Hour)
	limit := risk.Counts{AccountFailures: 5, ClientFailures: 5, AccountsFromClient: 5}
	if err := db.AddEvent(ctx, risk.Event{Account: "ann", Kind: risk.EventFailure, Time: now, Network: "192.0.2.0/24"}); err != nil {
		t.Fatal(err)
	}
	d, c, err := db.Lookup(ctx, nil, "ann", "192.0.2.0/24", since, limit)
	if err != nil || d != nil || c.AccountFailures != 1 || c.ClientFailures != 1 {
		t.Fatalf("lookup without a device: %+v %+v %v", d, c, err)
	}
	var unknown risk.DeviceID
	unknown[0] = 7
	if d, c, err := db.Lookup(ctx, &unknown, "ann", "192.0.2.0/24", since, limit); err != nil || d != nil || c.AccountFailures != 1 {
		t.Fatalf("lookup of an unknown device: %+v %+v %v", d, c, err)
	}
	dev := &risk.Device{Account: "ann", Name: "laptop", Created: now, LastSeen: now}
	dev.ID[0] = 1
	dev.Rotate(now)
	if err := db.SaveDevice(ctx, dev); err != nil {
		t.Fatal(err)
	}
	got, c, err := db.Lookup(ctx, &dev.ID, "ann", "198.51.100.0/24", since, limit)
	if err != nil || got == nil || got.Current != dev.Current || c.ClientFailures != 0 || c.AccountFailures != 1 {
		t.Fatalf("lookup of a device: %+v %+v %v", got, c, err)
	}
	// Rotated from what is stored: saved with its event.
	got.Rotate(now)
	if saved, err := db.Record(ctx, risk.Event{Account: "ann", Kind: risk.EventSuccess, Time: now, Network: "198.51.100.0/24", Device: dev.ID}, got); err != nil || !saved {
		t.Fatalf("record with a rotation: %v %v", saved, err)
	}
	// Rotated from a secret another node replaced: not saved, event kept.
	dev.Rotate(now)
	if saved, err := db.Record(ctx, risk.Event{Account: "ann", Kind: risk.EventSuccess, Time: now, Network: "198.51.100.0/24", Device: dev.ID}, dev); err != nil || saved {
		t.Fatalf("record with a stale rotation: %v %v", saved, err)
	}
	stored, err := db.Device(ctx, dev.ID)
	if err != nil || stored.Current != got.Current {
		t.Fatalf("stored device: %+v %v", stored, err)
	}
	if saved, err := db.Record(ctx, risk.Event{Account: "ann", Kind: risk.EventAttempt, Time: now}, nil); err != nil || !saved {
		t.Fatalf("record without a device: %v %v", saved, err)
	}
	evs, err := db.Events(ctx, "ann", 10)
	if err != nil || len(evs) != 4 {
		t.Fatalf("events: %d %v", len(evs), err)
	}
	if _, c, _ := db.Lookup(ctx, nil, "ann", "198.51.100.0/24", since, limit); !c.KnownNetwork {
		t.Error("a recorded success did not make its network known")
	}
	if err := db.VacuumRisk(ctx); err != nil {
		t.Errorf("vacuum after an import: %v", err)
	}
}
