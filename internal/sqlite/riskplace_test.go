package sqlite

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"waymark.dev/waymark/internal/risk"
)

// places is a fixed geolocation table by network: the decisions' logic
// is under test here; internal/app's TestLoginLocation runs the same
// signals against the real databases.
type places map[string]risk.Where

func (p places) Locate(ip netip.Addr) risk.Where { return p[risk.Network(ip)] }
func (p places) HasASN() bool                    { return true }

// TestLocationSignals: new country, impossible travel (and not for a
// short hop or a slow journey), new network by AS number, and the
// notification of a new-device login carrying the place and the reasons
// in words.
func TestLocationSignals(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	where := places{
		"192.0.2.0/24":    {Country: "EE", City: "Tallinn", Latitude: 59.437, Longitude: 24.754, HasCoords: true, ASN: 3249, ASOrg: "Telia Eesti"},
		"192.0.3.0/24":    {Country: "EE", City: "Tallinn", Latitude: 59.437, Longitude: 24.754, HasCoords: true, ASN: 3249, ASOrg: "Telia Eesti"},
		"198.51.100.0/24": {Country: "FI", City: "Helsinki", Latitude: 60.170, Longitude: 24.935, HasCoords: true, ASN: 1759, ASOrg: "Telia Finland"},
		"203.0.113.0/24":  {Country: "AU", City: "Sydney", Latitude: -33.869, Longitude: 151.209, HasCoords: true, ASN: 13335, ASOrg: "Cloudflare"},
	}
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	var notes []risk.Event
	svc := &risk.Service{Store: db, Policy: risk.DefaultPolicy(), Now: func() time.Time { return now }, Places: where,
		Notify: func(e risk.Event) { notes = append(notes, e) }}
	login := func(outcome, ip string, at time.Time) risk.Answer {
		t.Helper()
		a, err := svc.Login(ctx, risk.Attempt{Account: "ann", Outcome: outcome, IP: netip.MustParseAddr(ip), At: at})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	has := func(a risk.Answer, r string) bool { return slices.Contains(a.Reasons, r) }

	first := login(risk.EventSuccess, "192.0.2.10", now)
	if has(first, risk.ReasonNewCountry) || first.Travel != nil || first.Location.Label() != "Tallinn, EE" {
		t.Errorf("first login: %+v", first.Decision)
	}
	if len(notes) != 1 || notes[0].Place != "Tallinn, EE" || len(notes[0].Messages) != len(first.Reasons) {
		t.Errorf("notification: %+v", notes)
	}
	// Another /24 of the same AS: not a new network.
	if a := login(risk.EventAttempt, "192.0.3.10", now.Add(time.Minute)); has(a, risk.ReasonNewNetwork) {
		t.Errorf("same AS: %v", a.Reasons)
	}
	// Helsinki, 80 km away, ten minutes later: a new country and a new
	// network, but not impossible travel (too short a hop to judge).
	a := login(risk.EventAttempt, "198.51.100.10", now.Add(10*time.Minute))
	if !has(a, risk.ReasonNewCountry) || !has(a, risk.ReasonNewNetwork) || has(a, risk.ReasonImpossibleTravel) {
		t.Errorf("Helsinki: %v", a.Reasons)
	}
	// Sydney within an hour: impossible; explained in words.
	a = login(risk.EventAttempt, "203.0.113.10", now.Add(50*time.Minute))
	if !has(a, risk.ReasonImpossibleTravel) || a.Travel == nil || a.Travel.From != "Tallinn, EE" || a.Travel.Km < 15000 || a.Decision.Decision == risk.Allow {
		t.Errorf("Sydney: %+v %+v", a.Decision, a.Travel)
	}
	if msg := strings.Join(a.Messages, " "); !strings.Contains(msg, "Tallinn, EE") || !strings.Contains(msg, "50 minutes") {
		t.Errorf("messages: %q", a.Messages)
	}
	// Sydney three weeks later: a plane makes it; still a new country.
	a = login(risk.EventAttempt, "203.0.113.10", now.Add(21*24*time.Hour))
	if has(a, risk.ReasonImpossibleTravel) || !has(a, risk.ReasonNewCountry) {
		t.Errorf("Sydney later: %v", a.Reasons)
	}
	// An address no database knows: no location signals at all.
	a = login(risk.EventAttempt, "233.252.0.1", now.Add(time.Hour))
	if has(a, risk.ReasonNewCountry) || has(a, risk.ReasonImpossibleTravel) || a.Travel != nil {
		t.Errorf("unknown place: %+v", a.Decision)
	}
	if svc.PlaceOf("192.0.2.0/24") != "Tallinn, EE" || svc.PlaceOf("not a network") != "" {
		t.Error("PlaceOf")
	}
}
