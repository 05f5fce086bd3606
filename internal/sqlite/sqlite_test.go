package sqlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"waymark.dev/waymark/internal/admin"
	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/consent"
	"waymark.dev/waymark/internal/identity"
	"waymark.dev/waymark/internal/risk"
	"waymark.dev/waymark/internal/site"
)

func open(t *testing.T) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

func TestSitesAndTokens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, path := open(t)
	s := &site.Site{Domain: "WWW.Example.COM", TimeZone: "Europe/Berlin", RetentionDays: 30,
		IgnoreIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, IgnorePaths: []string{"/admin"}, KeepParams: []string{"q"},
		Goals:   []site.Goal{{Event: "Signup"}, {Page: "/thanks*"}},
		Funnels: []site.Funnel{{Name: "Sign-up", Steps: []site.Goal{{Page: "/"}, {Page: "/pricing"}, {Event: "Signup"}}}}}
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
	other, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	sites, err := other.Sites(ctx)
	if err != nil || len(sites) != 1 {
		t.Fatalf("Sites = %v, %v", sites, err)
	}
	got := sites[0]
	got.CreatedAt = s.CreatedAt
	if !reflect.DeepEqual(got, s) {
		t.Errorf("stored site\n got %+v\nwant %+v", got, s)
	}

	secret, hash := site.NewTokenSecret()
	tok := &site.Token{Name: "ci", Site: "example.com", Hash: hash}
	if _, err := db.AddToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddToken(ctx, &site.Token{Name: "x", Site: "nope.com", Hash: [32]byte{1}}); !errors.Is(err, site.ErrNotFound) {
		t.Errorf("token for unknown site: %v", err)
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
	if _, err := db.TokenByHash(ctx, site.HashToken(secret)); !errors.Is(err, site.ErrNotFound) {
		t.Errorf("revoked token still found: %v", err)
	}
	if err := db.DeleteSite(ctx, "example.com"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteSite(ctx, "example.com"); !errors.Is(err, site.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
}

func TestSalts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := open(t)
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
	salts, _ := db.Salts(ctx)
	if len(salts) != 1 || salts[0].Day != "2024-01-02" {
		t.Errorf("after delete: %v", salts)
	}
}

func TestAdminStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := open(t)
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
}

func TestIdentityKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := open(t)
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
	again, err := identity.LoadRing(ctx, db, now)
	if err != nil || again.SigningID() != k2.ID || len(again.Keys()) != 1 {
		t.Errorf("reloaded ring: signing %d, %d keys, %v", again.SigningID(), len(again.Keys()), err)
	}
}

func TestConsentReceipts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, path := open(t)
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
	if err := db.AddReceipts(ctx, []*consent.Receipt{a1}); err == nil {
		t.Error("a receipt id stored twice: receipts must be append-only")
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
	// Another process (the CLI) reads what the server wrote.
	db2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if _, err := db2.ReceiptByID(ctx, b1.ID); err != nil {
		t.Errorf("second process: %v", err)
	}
	if n, err := db.ForgetVisitor(ctx, "aa"); err != nil || n != 2 {
		t.Errorf("ForgetVisitor = %d, %v", n, err)
	}
}

// BenchmarkRecordReceipts stores receipts durably (synchronous=FULL) from
// 64 concurrent requests through a consent.Recorder, as the consent API
// does; receipts/s is the figure.
func BenchmarkRecordReceipts(b *testing.B) {
	db, err := Open(context.Background(), filepath.Join(b.TempDir(), "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	rc := consent.NewRecorder(db, 256)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rc.Run(ctx); close(done) }()
	p := consent.DefaultPolicy()
	hash := p.TextHash("en")
	b.SetParallelism(32) // 64 goroutines on two cores
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := &consent.Receipt{ID: consent.NewReceiptID(), Site: "shop.example", VisitorID: consent.NewReceiptID(), PolicyVersion: p.Version,
				TextHash: hash, Language: "en", Choices: consent.Choices{consent.Necessary: true, consent.Analytics: true},
				Time: time.Now(), Source: consent.SourceBanner, IPPrefix: "192.0.2.0/24", UAFamily: "Firefox"}
			if err := rc.Record(context.Background(), r); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "receipts/s")
	cancel()
	<-done
}

// TestBackgroundCheckpoint: with automatic checkpoints off, the
// background checkpointer copies the WAL into the database and the WAL
// starts over instead of growing.
func TestBackgroundCheckpoint(t *testing.T) {
	db, path := open(t)
	ctx := context.Background()
	write := func(n int) {
		for i := range n {
			if err := db.AddEvent(ctx, risk.Event{Account: fmt.Sprintf("a%d", i), Kind: risk.EventFailure, Time: time.Now(), Network: "192.0.2.0/24"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var autockpt int
	db.db.QueryRow(`PRAGMA wal_autocheckpoint`).Scan(&autockpt)
	if autockpt != 0 {
		t.Fatalf("wal_autocheckpoint = %d on a pooled connection; want 0", autockpt)
	}
	write(3000)
	before, _ := os.Stat(path + "-wal")
	db.checkpoint()
	write(3000) // the WAL restarts from its beginning: it does not double
	after, _ := os.Stat(path + "-wal")
	if after.Size() > before.Size()*3/2 {
		t.Errorf("WAL grew from %d to %d bytes across a checkpoint", before.Size(), after.Size())
	}
	var busy, frames, done int
	if err := db.db.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &done); err != nil || frames != done {
		t.Errorf("checkpoint: busy %d, %d frames, %d copied, %v", busy, frames, done, err)
	}
}
