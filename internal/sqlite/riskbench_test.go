package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"waymark.dev/waymark/internal/risk"
)

// BenchmarkRiskLogin measures one login decision on a store with 10,000
// devices and 100,000 events (waymark bench risk does the large run).
func BenchmarkRiskLogin(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(b.TempDir(), "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	r := rand.New(rand.NewPCG(1, 2))
	now := time.Now()
	var ds []*risk.Device
	var toks []risk.Token
	for i := range 10000 {
		s := risk.NewSecret()
		d := &risk.Device{ID: risk.NewDeviceID(), Account: fmt.Sprintf("user%d", i), Current: risk.HashSecret(s), Created: now, LastSeen: now, Network: "10.0.0.0/24"}
		ds = append(ds, d)
		toks = append(toks, risk.Token{Device: d.ID, Secret: s})
	}
	var es []risk.Event
	for range 100000 {
		es = append(es, risk.Event{Account: fmt.Sprintf("user%d", r.IntN(10000)), Kind: risk.EventSuccess, Time: now.Add(-time.Duration(r.IntN(1000)) * time.Minute), Network: fmt.Sprintf("10.%d.%d.0/24", r.IntN(256), r.IntN(256))})
	}
	if err := db.ImportRisk(ctx, ds, es); err != nil {
		b.Fatal(err)
	}
	// Without and with a geolocation database: the location signals read
	// the account's recent logins (up to 200 events) once per decision.
	for _, name := range []string{"no-geo", "geo"} {
		b.Run(name, func(b *testing.B) {
			svc := &risk.Service{Store: db, Policy: risk.DefaultPolicy(), Now: time.Now}
			if name == "geo" {
				svc.Places = everywhere{}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				k := i % len(toks)
				ans, err := svc.Login(ctx, risk.Attempt{Account: fmt.Sprintf("user%d", k), Outcome: risk.EventSuccess,
					IP: netip.AddrFrom4([4]byte{10, 0, 0, 1}), DeviceCookie: toks[k].Encode()})
				if err != nil {
					b.Fatal(err)
				}
				if ans.NewToken != nil {
					toks[k] = *ans.NewToken
				}
				i++
			}
		})
	}
}

// everywhere places every address in Tallinn, AS3249: the cost of the
// location signals without a database's lookup.
type everywhere struct{}

func (everywhere) Locate(netip.Addr) risk.Where {
	return risk.Where{Country: "EE", City: "Tallinn", Latitude: 59.437, Longitude: 24.754, HasCoords: true, ASN: 3249}
}
func (everywhere) HasASN() bool { return true }
