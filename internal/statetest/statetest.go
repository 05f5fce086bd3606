// Package statetest is the conformance suite every state store runs
// (SQLite embedded, PostgreSQL shared): sites and API tokens, visitor
// salts, the dashboard's admin sessions, identity keys and remembered
// details, consent receipts, proxy tokens, and devices and login events.
// Each store must give the same answers, and what one connection writes
// another must read (the CLI beside a running server, or two nodes).
package statetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"waymark.dev/waymark/internal/admin"
	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/consent"
	"waymark.dev/waymark/internal/identity"
	"waymark.dev/waymark/internal/proxytoken"
	"waymark.dev/waymark/internal/risk"
	"waymark.dev/waymark/internal/site"
)

// Store is what a state store provides.
type Store interface {
	site.Store
	analytics.SaltStore
	admin.Store
	identity.KeyStore
	identity.RememberStore
	consent.Store
	proxytoken.TokenStore
	risk.Store
}

// Opener opens a store on a fresh, empty database. Second opens a second
// connection to the database the first call made (another process).
type Opener struct {
	New    func(t *testing.T) Store
	Second func(t *testing.T) Store
}

// Run runs every case; each gets a fresh database.
func Run(t *testing.T, o Opener) {
	for _, c := range []struct {
		name string
		fn   func(t *testing.T, db Store, o Opener)
	}{
		{"sites and tokens", sitesAndTokens},
		{"salts", salts},
		{"admin", adminSessions},
		{"identity keys", identityKeys},
		{"remembered details", remembered},
		{"consent receipts", receipts},
		{"proxy tokens", proxyTokens},
		{"devices", devices},
		{"login events and counts", loginEvents},
		{"concurrent logins on one device", concurrentLogins},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, o.New(t), o) })
	}
}

func sitesAndTokens(t *testing.T, db Store, o Opener) {
	ctx := context.Background()
	s := &site.Site{Domain: "WWW.Example.COM", TimeZone: "Europe/Berlin", RetentionDays: 30,
		IgnoreIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, IgnorePaths: []string{"/admin"}, KeepParams: []string{"q"},
		Goals:        []site.Goal{{Event: "Signup", DisplayName: "New customer"}, {Page: "/thanks*"}},
		Funnels:      []site.Funnel{{Name: "Sign-up", Steps: []site.Goal{{Page: "/"}, {Page: "/pricing"}, {Event: "Signup"}}}},
		AllowedProps: []string{"plan", "author"},
		Tracker:      site.TrackerConfig{ID: "pa-1", InstallationType: "wordpress", OutboundLinks: true}}
	if err := db.AddSite(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := db.AddSite(ctx, &site.Site{Domain: "example.com"}); !errors.Is(err, site.ErrExists) {
		t.Errorf("duplicate add: %v, want ErrExists", err)
	}
	if err := db.AddSite(ctx, &site.Site{Domain: "https://x.com/"}); !errors.Is(err, site.ErrInvalid) {
		t.Errorf("bad domain: %v, want ErrInvalid", err)
	}
	if err := db.AddSite(ctx, &site.Site{Domain: "y.com", TimeZone: "Mars/Olympus"}); !errors.Is(err, site.ErrInvalid) {
		t.Errorf("bad zone: %v, want ErrInvalid", err)
	}
	// A second connection (the CLI while the server runs) sees it.
	sites, err := o.Second(t).Sites(ctx)
	if err != nil || len(sites) != 1 {
		t.Fatalf("Sites = %v, %v", sites, err)
	}
	got := sites[0]
	if !got.CreatedAt.Equal(s.CreatedAt.Truncate(time.Second)) {
		t.Errorf("created %v, want %v", got.CreatedAt, s.CreatedAt)
	}
	got.CreatedAt = s.CreatedAt
	if !reflect.DeepEqual(got, s) {
		t.Errorf("stored site\n got %+v\nwant %+v", got, s)
	}
	s.RetentionDays, s.Goals = 90, []site.Goal{{Event: "Buy"}}
	if err := db.UpdateSite(ctx, s); err != nil {
		t.Fatal(err)
	}
	if sites, _ := db.Sites(ctx); len(sites) != 1 || sites[0].RetentionDays != 90 || !reflect.DeepEqual(sites[0].Goals, s.Goals) {
		t.Errorf("after update: %+v", sites)
	}
	if err := db.UpdateSite(ctx, &site.Site{Domain: "nope.example"}); !errors.Is(err, site.ErrNotFound) {
		t.Errorf("update of an unknown site: %v", err)
	}

	secret, hash := site.NewTokenSecret()
	tok := &site.Token{Name: "ci", Site: "example.com", Hash: hash}
	if _, err := db.AddToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddToken(ctx, &site.Token{Name: "x", Site: "nope.com", Hash: [32]byte{1}}); !errors.Is(err, site.ErrNotFound) {
		t.Errorf("token for unknown site: %v", err)
	}
	if _, err := db.AddToken(ctx, &site.Token{Name: " ", Hash: [32]byte{2}}); !errors.Is(err, site.ErrInvalid) {
		t.Errorf("token without a name: %v", err)
	}
	if _, err := db.AddToken(ctx, &site.Token{Name: "share", Kind: site.TokenShare, Hash: [32]byte{3}}); !errors.Is(err, site.ErrInvalid) {
		t.Errorf("shared link without a site: %v", err)
	}
	all, err := db.Tokens(ctx)
	if err != nil || len(all) != 1 || all[0].ID != tok.ID || all[0].Kind != site.TokenAPI || !slices.Equal(all[0].Scopes, []string{site.ScopeStatsRead}) {
		t.Errorf("Tokens = %+v, %v", all, err)
	}
	// Scopes and a shared link's secret are kept.
	prov := &site.Token{Name: "terraform", Hash: [32]byte{5}, Scopes: []string{site.ScopeStatsRead, site.ScopeSitesProvision}}
	if _, err := db.AddToken(ctx, prov); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddToken(ctx, &site.Token{Name: "bad scope", Hash: [32]byte{6}, Scopes: []string{"sites:write"}}); !errors.Is(err, site.ErrInvalid) {
		t.Errorf("unknown scope: %v", err)
	}
	share := &site.Token{Name: "WordPress", Site: "example.com", Kind: site.TokenShare, Hash: site.HashToken("wmk_shared"), Secret: "wmk_shared"}
	if _, err := db.AddToken(ctx, share); err != nil {
		t.Fatal(err)
	}
	if got, err := o.Second(t).TokenByHash(ctx, [32]byte{5}); err != nil || !got.HasScope(site.ScopeSitesProvision) || !got.HasScope(site.ScopeStatsRead) {
		t.Errorf("provisioning token = %+v, %v", got, err)
	}
	if got, err := db.TokenByHash(ctx, site.HashToken("wmk_shared")); err != nil || got.Secret != "wmk_shared" || len(got.Scopes) != 0 {
		t.Errorf("shared link = %+v, %v", got, err)
	}
	for _, id := range []int64{prov.ID, share.ID} {
		if err := db.DeleteToken(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	// The audit trail, newest first, per site or all.
	for i, a := range []string{"site.create", "goal.create", "goal.delete"} {
		e := site.AuditEntry{At: time.UnixMilli(1_700_000_000_000 + int64(i)).UTC(), Actor: "token terraform #5", Action: a, Site: "example.com", Detail: fmt.Sprint(i)}
		if err := db.AddAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.AddAudit(ctx, site.AuditEntry{Actor: "token x #1", Action: "site.create", Site: "other.example"}); err != nil {
		t.Fatal(err)
	}
	if got, err := o.Second(t).Audit(ctx, "example.com", 2); err != nil || len(got) != 2 || got[0].Action != "goal.delete" || got[1].Action != "goal.create" ||
		!got[0].At.Equal(time.UnixMilli(1_700_000_000_002)) || got[0].Actor != "token terraform #5" || got[0].Detail != "2" {
		t.Errorf("Audit(example.com) = %+v, %v", got, err)
	}
	if got, err := db.Audit(ctx, "", 10); err != nil || len(got) != 4 || got[0].Site != "other.example" {
		t.Errorf("Audit(all) = %+v, %v", got, err)
	}
	found, err := db.TokenByHash(ctx, site.HashToken(secret))
	if err != nil || found.Name != "ci" || !found.Allows("example.com") || found.Allows("other.com") {
		t.Fatalf("TokenByHash = %+v, %v", found, err)
	}
	if _, err := db.TokenByHash(ctx, site.HashToken(secret+"x")); !errors.Is(err, site.ErrNotFound) {
		t.Errorf("wrong secret: %v", err)
	}
	if err := db.DeleteToken(ctx, found.ID); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteToken(ctx, found.ID); !errors.Is(err, site.ErrNotFound) {
		t.Errorf("second token delete: %v", err)
	}
	if _, err := db.TokenByHash(ctx, site.HashToken(secret)); !errors.Is(err, site.ErrNotFound) {
		t.Errorf("revoked token still found: %v", err)
	}
	// Deleting a site takes its tokens along.
	if _, err := db.AddToken(ctx, &site.Token{Name: "ci2", Site: "example.com", Hash: [32]byte{4}}); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteSite(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteSite(ctx, "example.com"); !errors.Is(err, site.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	if all, _ := db.Tokens(ctx); len(all) != 0 {
		t.Errorf("tokens of a deleted site remain: %+v", all)
	}
}

func salts(t *testing.T, db Store, _ Opener) {
	ctx := context.Background()
	a, err := db.PutSalt(ctx, analytics.Salt{Day: "2024-01-01", Key: [32]byte{1}})
	if err != nil {
		t.Fatal(err)
	}
	// A second writer for the same day gets the first one's salt.
	b, _ := db.PutSalt(ctx, analytics.Salt{Day: "2024-01-01", Key: [32]byte{2}})
	if a != b || b.Key[0] != 1 {
		t.Errorf("salts for one day differ: %v %v", a, b)
	}
	db.PutSalt(ctx, analytics.Salt{Day: "2024-01-02", Key: [32]byte{3}})
	if err := db.DeleteSaltsBefore(ctx, "2024-01-02"); err != nil {
		t.Fatal(err)
	}
	all, _ := db.Salts(ctx)
	if len(all) != 1 || all[0].Day != "2024-01-02" || all[0].Key[0] != 3 {
		t.Errorf("after delete: %v", all)
	}
}

func adminSessions(t *testing.T, db Store, _ Opener) {
	ctx := context.Background()
	if _, err := db.PasswordHash(ctx); !errors.Is(err, admin.ErrNotFound) {
		t.Fatalf("PasswordHash before setup: %v", err)
	}
	pw, err := admin.Setup(ctx, db, "")
	if err != nil || pw == "" {
		t.Fatalf("Setup = %q, %v", pw, err)
	}
	now := time.Now()
	a := &admin.Auth{Store: db, Now: func() time.Time { return now }}
	tok, s, err := a.Login(ctx, pw)
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.Check(ctx, tok)
	if err != nil || got.CSRF != s.CSRF || !got.Expires.Equal(s.Expires.Truncate(time.Second)) {
		t.Errorf("Check = %+v, %v; want %+v", got, err, s)
	}
	now = now.Add(admin.SessionTTL + time.Second)
	if _, err := a.Check(ctx, tok); !errors.Is(err, admin.ErrBadLogin) {
		t.Errorf("expired session: %v", err)
	}
	if err := db.DeleteSessionsBefore(ctx, now); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SessionByHash(ctx, s.TokenHash); !errors.Is(err, admin.ErrNotFound) {
		t.Errorf("expired session not swept: %v", err)
	}
	if err := db.SetPasswordHash(ctx, "h2"); err != nil {
		t.Fatal(err)
	}
	if h, err := db.PasswordHash(ctx); err != nil || h != "h2" {
		t.Errorf("password hash after change = %q, %v", h, err)
	}
	db.PutSession(ctx, admin.Session{TokenHash: []byte("x"), CSRF: "c", Created: now, Expires: now.Add(time.Hour)})
	if err := db.DeleteAllSessions(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SessionByHash(ctx, []byte("x")); !errors.Is(err, admin.ErrNotFound) {
		t.Errorf("session after DeleteAllSessions: %v", err)
	}
}

func identityKeys(t *testing.T, db Store, o Opener) {
	ctx := context.Background()
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	ring, err := identity.LoadRing(ctx, db, now)
	if err != nil {
		t.Fatal(err)
	}
	first := ring.SigningID()
	c := identity.NewCodec(ring, "visitor", 0, func() time.Time { return now })
	old := c.Encode(identity.NewID())
	k2, err := identity.Rotate(ctx, db, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := ring.Refresh(ctx, db); err != nil {
		t.Fatal(err)
	}
	if ring.SigningID() != k2.ID {
		t.Errorf("after rotation key %d signs, want %d", ring.SigningID(), k2.ID)
	}
	if _, err := c.Decode(old); err != nil {
		t.Errorf("old value after rotation: %v", err)
	}
	if err := db.RetireIdentityKey(ctx, first, now); err != nil {
		t.Fatal(err)
	}
	if err := db.RetireIdentityKey(ctx, first, now); !errors.Is(err, identity.ErrKeyNotFound) {
		t.Errorf("retiring twice: %v", err)
	}
	ring.Refresh(ctx, db)
	if _, err := c.Decode(old); !errors.Is(err, identity.ErrUnknownKey) {
		t.Errorf("value of a retired key: %v", err)
	}
	again, err := identity.LoadRing(ctx, o.Second(t), now)
	if err != nil || again.SigningID() != k2.ID || len(again.Keys()) != 1 {
		t.Errorf("reloaded ring: signing %d, %d keys, %v", again.SigningID(), len(again.Keys()), err)
	}
}

func remembered(t *testing.T, db Store, _ Opener) {
	ctx := context.Background()
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	a, b := identity.NewID(), identity.NewID()
	if _, ok, err := db.Remembered(ctx, a, now); ok || err != nil {
		t.Fatalf("nothing remembered yet: %v %v", ok, err)
	}
	db.PutRemembered(ctx, a, identity.Sealed{KeyID: 7, Data: []byte("v1")}, now.Add(time.Hour))
	if err := db.PutRemembered(ctx, a, identity.Sealed{KeyID: 8, Data: []byte("v2")}, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	db.PutRemembered(ctx, b, identity.Sealed{KeyID: 8, Data: []byte("b")}, now.Add(time.Minute))
	if s, ok, err := db.Remembered(ctx, a, now); !ok || err != nil || s.KeyID != 8 || string(s.Data) != "v2" {
		t.Errorf("Remembered = %+v, %v, %v; want the replaced details", s, ok, err)
	}
	if _, ok, _ := db.Remembered(ctx, b, now.Add(2*time.Minute)); ok {
		t.Error("expired details returned")
	}
	if err := db.ForgetRemembered(ctx, a, now); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := db.Remembered(ctx, a, now); ok {
		t.Error("forgotten details returned")
	}
}

func receipts(t *testing.T, db Store, o Opener) {
	ctx := context.Background()
	p := consent.DefaultPolicy()
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	mk := func(visitor string, i int) *consent.Receipt {
		return &consent.Receipt{ID: consent.NewReceiptID(), Site: "shop.example", VisitorID: visitor, PolicyVersion: p.Version,
			TextHash: p.TextHash("zh-CN"), Language: "zh-CN", Choices: consent.Choices{consent.Necessary: true, consent.Analytics: i == 0},
			Time: t0.Add(time.Duration(i) * time.Minute), Source: consent.SourceBanner, IPPrefix: "2001:db8:1::/48", UAFamily: "Chrome"}
	}
	a1, a2, b1 := mk("aa", 0), mk("aa", 1), mk("", 2)
	if err := db.AddReceipts(ctx, []*consent.Receipt{a1, a2, b1}); err != nil {
		t.Fatal(err)
	}
	if err := db.AddReceipts(ctx, []*consent.Receipt{mk("cc", 3), a1}); err == nil {
		t.Error("a receipt id stored twice: receipts must be append-only")
	}
	var n int
	db.EachReceipt(ctx, time.Time{}, func(*consent.Receipt) error { n++; return nil })
	if n != 3 {
		t.Errorf("%d receipts after a refused batch, want 3 (a batch is stored whole or not at all)", n)
	}
	got, err := db.ReceiptByID(ctx, a1.ID)
	if err != nil || !reflect.DeepEqual(got, a1) {
		t.Errorf("ReceiptByID = %+v, %v; want %+v", got, err, a1)
	}
	if _, err := db.ReceiptByID(ctx, "nope"); !errors.Is(err, consent.ErrNotFound) {
		t.Errorf("unknown receipt: %v", err)
	}
	if rs, _ := db.ReceiptsByVisitor(ctx, "aa"); len(rs) != 2 || rs[0].ID != a1.ID {
		t.Errorf("ReceiptsByVisitor = %v", rs)
	}
	if rs, _ := db.ReceiptsByVisitor(ctx, ""); len(rs) != 0 {
		t.Errorf("receipts without a visitor are nobody's: %v", rs)
	}
	var buf bytes.Buffer
	if err := consent.Export(ctx, db, t0.Add(time.Minute), consent.FormatJSONL, &buf); err != nil {
		t.Fatal(err)
	}
	back, err := consent.ReadJSONL(&buf)
	if err != nil || !reflect.DeepEqual(back, []*consent.Receipt{a2, b1}) {
		t.Errorf("export since the second receipt: %v, %v", back, err)
	}
	// Another process (the CLI, another node) reads what this one wrote.
	if _, err := o.Second(t).ReceiptByID(ctx, b1.ID); err != nil {
		t.Errorf("second connection: %v", err)
	}
	if n, err := db.ForgetVisitor(ctx, "aa"); err != nil || n != 2 {
		t.Errorf("ForgetVisitor = %d, %v", n, err)
	}
	if n, err := db.ForgetVisitor(ctx, ""); err != nil || n != 0 {
		t.Errorf("ForgetVisitor(\"\") = %d, %v; want nothing removed", n, err)
	}
}

func proxyTokens(t *testing.T, db Store, o Opener) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	a := proxytoken.Token{ID: "tok1", User: "ann", Hash: [32]byte{1}, Created: t0}
	b := proxytoken.Token{ID: "tok2", User: "bob", Hash: [32]byte{2}, Created: t0.Add(time.Second), Expires: t0.Add(24 * time.Hour), Sign: true}
	for _, x := range []proxytoken.Token{a, b} {
		if err := db.AddProxyToken(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.AddProxyToken(ctx, proxytoken.Token{ID: "tok1", User: "eve", Hash: [32]byte{3}, Created: t0}); err == nil {
		t.Error("a token id stored twice")
	}
	if err := db.RevokeProxyToken(ctx, "tok2"); err != nil {
		t.Fatal(err)
	}
	if err := db.RevokeProxyToken(ctx, "tok2"); err != nil {
		t.Errorf("revoking twice: %v", err)
	}
	if err := db.RevokeProxyToken(ctx, "nope"); err == nil {
		t.Error("revoking an unknown token succeeded")
	}
	got, err := o.Second(t).ProxyTokens(ctx)
	b.Revoked = true
	if err != nil || !reflect.DeepEqual(got, []proxytoken.Token{a, b}) {
		t.Errorf("ProxyTokens = %+v, %v\nwant %+v", got, err, []proxytoken.Token{a, b})
	}
}

func device(account string, seen time.Time) *risk.Device {
	d := &risk.Device{ID: risk.NewDeviceID(), Account: account, Name: "laptop", Current: risk.Hash{1}, Previous: risk.Hash{2},
		PrevUntil: seen.Add(risk.Grace), Retired: []risk.Hash{{3}, {4}}, Created: seen, LastSeen: seen, Network: "192.0.2.0/24",
		Browser: "Firefox", OS: "Linux"}
	return d
}

func devices(t *testing.T, db Store, o Opener) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	a, b := device("ann", t0), device("ann", t0.Add(time.Hour))
	b.Retired = nil
	for _, d := range []*risk.Device{a, b, device("bob", t0)} {
		if err := db.SaveDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	got, err := o.Second(t).Device(ctx, a.ID)
	if err != nil || !reflect.DeepEqual(got, a) {
		t.Errorf("Device = %+v, %v\nwant %+v", got, err, a)
	}
	if _, err := db.Device(ctx, risk.NewDeviceID()); !errors.Is(err, risk.ErrNotFound) {
		t.Errorf("unknown device: %v", err)
	}
	a.Revoked, a.Name, a.LastSeen, a.Current = true, "old laptop", t0.Add(2*time.Hour), risk.Hash{9}
	if err := db.SaveDevice(ctx, a); err != nil {
		t.Fatal(err)
	}
	list, err := db.Devices(ctx, "ann")
	if err != nil || len(list) != 2 || list[0].ID != a.ID || !list[0].Revoked || list[0].Name != "old laptop" || list[1].ID != b.ID {
		t.Errorf("Devices(ann), newest first = %+v, %v", list, err)
	}
	if list, _ := db.Devices(ctx, "nobody"); len(list) != 0 {
		t.Errorf("Devices(nobody) = %+v", list)
	}
}

func loginEvents(t *testing.T, db Store, o Opener) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	dev := risk.NewDeviceID()
	add := func(account, kind, network string, ago time.Duration) {
		t.Helper()
		if err := db.AddEvent(ctx, risk.Event{Account: account, Kind: kind, Time: now.Add(-ago), Network: network, Device: dev, Decision: "allow", Detail: "d"}); err != nil {
			t.Fatal(err)
		}
	}
	net1, net2 := "192.0.2.0/24", "198.51.100.0/24"
	add("ann", risk.EventSuccess, net1, time.Hour) // known network, outside the window
	add("ann", risk.EventFailure, net2, 5*time.Minute)
	add("ann", risk.EventFailure, net2, 4*time.Minute)
	add("bob", risk.EventFailure, net2, 3*time.Minute)
	add("cat", risk.EventAttempt, net2, 2*time.Minute)
	add("ann", risk.EventFailure, net2, 20*time.Minute) // outside the window
	add("ann", risk.EventTrusted, net2, time.Minute)    // not a login
	since := now.Add(-10 * time.Minute)
	limit := risk.Counts{AccountFailures: 100, ClientFailures: 100, AccountsFromClient: 100}
	c, err := db.Counts(ctx, "ann", net2, since, limit)
	if err != nil {
		t.Fatal(err)
	}
	if want := (risk.Counts{AccountFailures: 2, ClientFailures: 3, AccountsFromClient: 3}); c != want {
		t.Errorf("Counts(ann, net2) = %+v, want %+v", c, want)
	}
	if c, _ := db.Counts(ctx, "ann", net1, since, limit); !c.KnownNetwork || c.ClientFailures != 0 || c.AccountFailures != 2 {
		t.Errorf("Counts(ann, net1) = %+v, want a known network and ann's 2 failures", c)
	}
	if c, _ := db.Counts(ctx, "ann", "", since, limit); c.AccountFailures != 2 || c.KnownNetwork {
		t.Errorf("Counts(ann, no network) = %+v", c)
	}
	evs, err := o.Second(t).Events(ctx, "ann", 3)
	if err != nil || len(evs) != 3 || evs[0].Kind != risk.EventTrusted || evs[1].Time.After(evs[0].Time) {
		t.Fatalf("Events(ann, 3), newest first = %+v, %v", evs, err)
	}
	if e := evs[1]; e.Account != "ann" || e.Kind != risk.EventFailure || !e.Time.Equal(now.Add(-4*time.Minute)) || e.Network != net2 || e.Device != dev || e.Decision != "allow" || e.Detail != "d" {
		t.Errorf("stored event = %+v", e)
	}
}

// concurrentLogins: two tabs of the same browser logging in at once
// present the same device secret; neither may look like a thief.
func concurrentLogins(t *testing.T, db Store, _ Opener) {
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
