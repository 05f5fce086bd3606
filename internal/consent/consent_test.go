package consent

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"net/netip"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestDefaultPolicy(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := p.Defaults(); !reflect.DeepEqual(got, Choices{Necessary: true, Preferences: false, Analytics: false}) {
		t.Errorf("defaults %v: only necessary may be on before a choice", got)
	}
	fresh := DefaultPolicy()
	en, again := p.TextHash("en"), fresh.TextHash("en")
	if en == p.TextHash("zh-CN") || en != again {
		t.Error("text hashes must differ by language and be stable")
	}
	q := DefaultPolicy()
	q.Banner["en"] = Text{Title: "Your privacy", Description: "changed"}
	if q.TextHash("en") == p.TextHash("en") {
		t.Error("a changed text has the same hash")
	}
}

func TestPolicyValidate(t *testing.T) {
	t.Parallel()
	for name, edit := range map[string]func(*Policy){
		"no version":       func(p *Policy) { p.Version = "" },
		"bad purpose id":   func(p *Policy) { p.Purposes[1].ID = "Pref erences" },
		"duplicate":        func(p *Policy) { p.Purposes[2].ID = Preferences },
		"optional needed":  func(p *Policy) { p.Purposes[0].Required = false },
		"no necessary":     func(p *Policy) { p.Purposes = p.Purposes[1:] },
		"no english text":  func(p *Policy) { delete(p.Purposes[1].Text, "en") },
		"expiry too long":  func(p *Policy) { p.Expiry = 500 * 24 * time.Hour },
		"no english title": func(p *Policy) { delete(p.Banner, "en") },
	} {
		p := DefaultPolicy()
		edit(&p)
		if err := p.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate = %v, want ErrInvalid", name, err)
		}
	}
}

func TestLanguage(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ override, accept, want string }{
		{"", "zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"},
		{"", "zh", "zh-CN"},
		{"", "zh-TW,en;q=0.5", "en"},
		{"", "de-DE,de;q=0.9", "en"},
		{"", "fr, en-GB;q=0.8", "en"},
		{"zh-CN", "en-US", "zh-CN"},
		{"xx", "zh-Hans-CN", "zh-CN"},
		{"", "", "en"},
	} {
		t.Run(c.override+"|"+c.accept, func(t *testing.T) {
			if got := Language(c.override, c.accept); got != c.want {
				t.Errorf("Language(%q, %q) = %s, want %s", c.override, c.accept, got, c.want)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy()
	all := Choices{Preferences: true, Analytics: true}
	gpc := Signals{GPC: true}
	for _, c := range []struct {
		name     string
		in       Choices
		s        Signals
		explicit bool
		want     Choices
	}{
		{"accept all", all, Signals{}, false, Choices{Necessary: true, Preferences: true, Analytics: true}},
		{"reject all", Choices{}, Signals{}, false, Choices{Necessary: true, Preferences: false, Analytics: false}},
		{"accept all under GPC keeps analytics off", all, gpc, false, Choices{Necessary: true, Preferences: true, Analytics: false}},
		{"analytics chosen by name overrides GPC", all, gpc, true, Choices{Necessary: true, Preferences: true, Analytics: true}},
		{"necessary cannot be refused", Choices{Necessary: false}, Signals{}, false, Choices{Necessary: true, Preferences: false, Analytics: false}},
		{"DNT ignored unless configured", all, Signals{DNT: true}, false, Choices{Necessary: true, Preferences: true, Analytics: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := p.Decide(c.in, c.s, c.explicit)
			if err != nil || !reflect.DeepEqual(got, c.want) {
				t.Errorf("%s: %v, %v; want %v", c.name, got, err, c.want)
			}
		})
	}
	p.HonorDNT = true
	if got, _ := p.Decide(all, Signals{DNT: true}, false); got[Analytics] {
		t.Error("DNT honoured by configuration still grants analytics")
	}
	if _, err := p.Decide(Choices{"marketing": true}, Signals{}, false); err == nil || !strings.Contains(err.Error(), "marketing") {
		t.Errorf("unknown purpose: %v", err)
	}
	before := Choices{Necessary: true, Preferences: true, Analytics: true}
	after := Choices{Necessary: true, Preferences: true, Analytics: false}
	if w := p.Withdrawn(before, after); len(w) != 1 || w[0].ID != Analytics {
		t.Errorf("Withdrawn = %v", w)
	}
}

func TestTruncateIP(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"192.0.2.77":            "192.0.2.0/24",
		"::ffff:192.0.2.77":     "192.0.2.0/24",
		"2001:db8:1234:5678::1": "2001:db8:1234::/48",
	} {
		if got := TruncateIP(netip.MustParseAddr(in)); got != want {
			t.Errorf("TruncateIP(%s) = %s, want %s", in, got, want)
		}
	}
	if TruncateIP(netip.Addr{}) != "" {
		t.Error("invalid address not empty")
	}
}

// memStore is an in-memory Store for the package's own tests; the sqlite
// store has its own.
type memStore struct {
	mu      sync.Mutex
	rs      []*Receipt
	batches int
}

func (m *memStore) AddReceipts(_ context.Context, rs []*Receipt) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rs = append(m.rs, rs...)
	m.batches++
	return nil
}
func (m *memStore) ReceiptByID(_ context.Context, id string) (*Receipt, error) {
	for _, r := range m.rs {
		if r.ID == id {
			return r, nil
		}
	}
	return nil, ErrNotFound
}
func (m *memStore) ReceiptsByVisitor(_ context.Context, v string) ([]*Receipt, error) {
	var out []*Receipt
	for _, r := range m.rs {
		if r.VisitorID == v {
			out = append(out, r)
		}
	}
	return out, nil
}
func (m *memStore) EachReceipt(_ context.Context, since time.Time, fn func(*Receipt) error) error {
	rs := append([]*Receipt(nil), m.rs...)
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].Time.Before(rs[j].Time) })
	for _, r := range rs {
		if !r.Time.Before(since) {
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return nil
}
func (m *memStore) ForgetVisitor(_ context.Context, v string) (int64, error) { return 0, nil }

func sampleReceipt(i int, t time.Time) *Receipt {
	p := DefaultPolicy()
	return &Receipt{ID: NewReceiptID(), Site: "shop.example", VisitorID: "00112233445566778899aabbccddeeff", PolicyVersion: p.Version,
		TextHash: p.TextHash("en"), Language: "en", Choices: Choices{Necessary: true, Analytics: i%2 == 0, Preferences: false},
		Time: t.Add(time.Duration(i) * time.Second).UTC(), Source: SourceBanner, IPPrefix: "192.0.2.0/24", UAFamily: "Firefox"}
}

func TestExportRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := &memStore{}
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	var want []*Receipt
	for i := range 5 {
		r := sampleReceipt(i, t0)
		want = append(want, r)
	}
	st.AddReceipts(ctx, want)
	var buf bytes.Buffer
	if err := Export(ctx, st, time.Time{}, FormatJSONL, &buf); err != nil {
		t.Fatal(err)
	}
	got, err := ReadJSONL(&buf)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("JSON lines round trip: %v\n got %+v\nwant %+v", err, got, want)
	}
	buf.Reset()
	if err := Export(ctx, st, t0.Add(3*time.Second), FormatCSV, &buf); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(recs) != 3 || recs[0][0] != "receipt_id" || recs[1][6] != "analytics=no necessary=yes preferences=no" {
		t.Errorf("CSV since the fourth receipt: %v %v", recs, err)
	}
	if err := Export(ctx, st, time.Time{}, "xml", &buf); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown format: %v", err)
	}
}

func TestRecorderBatches(t *testing.T) {
	st := &memStore{}
	rc := NewRecorder(st, 64)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rc.Run(ctx); close(done) }()
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range 500 {
		wg.Go(func() {
			if err := rc.Record(context.Background(), sampleReceipt(i, t0)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	cancel()
	<-done
	if len(st.rs) != 500 {
		t.Fatalf("%d receipts stored, want 500", len(st.rs))
	}
	if st.batches >= 500 {
		t.Errorf("%d batches for 500 concurrent receipts: no grouping", st.batches)
	}
}

func TestLoadPolicy(t *testing.T) {
	t.Parallel()
	p, err := LoadPolicy([]byte(`{"version":"7","expiry_days":30,"banner":{"en":{"title":"T","description":"D"}},
		"purposes":[{"id":"necessary","required":true,"text":{"en":{"title":"N"}}},
		{"id":"marketing","off_under_gpc":true,"cookies":["_mkt"],"text":{"en":{"title":"M"}},"services":[{"name":"Ads","cookies":["_ads"]}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != "7" || p.Expiry != 30*24*time.Hour || len(p.Purposes) != 2 || p.Purposes[1].Cookies[0] != "_mkt" {
		t.Errorf("loaded %+v", p)
	}
	for _, bad := range []string{`{`, `{"version":"1","unknown":1}`, `{"version":"1","banner":{"en":{}},"purposes":[]}`} {
		if _, err := LoadPolicy([]byte(bad)); !errors.Is(err, ErrInvalid) {
			t.Errorf("LoadPolicy(%s) = %v, want ErrInvalid", bad, err)
		}
	}
}
