package risk

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"time"
)

// Where is what a geolocation database says of an address.
type Where struct {
	Country   string  `json:"country,omitempty"` // ISO 3166-1 alpha-2
	City      string  `json:"city,omitempty"`
	Latitude  float64 `json:"-"`
	Longitude float64 `json:"-"`
	HasCoords bool    `json:"-"`
	ASN       uint32  `json:"asn,omitempty"`
	ASOrg     string  `json:"as_org,omitempty"`
}

// Label is the place in words: "Lisbon, PT", "PT", or "".
func (w Where) Label() string {
	switch {
	case w.City != "" && w.Country != "":
		return w.City + ", " + w.Country
	case w.Country != "":
		return w.Country
	}
	return ""
}

// Locator finds where an address is; the geo part provides one.
type Locator interface {
	Locate(ip netip.Addr) Where
	// HasASN says whether networks can be told by their AS number.
	HasASN() bool
}

// Travel is the step from the previous login to this one, where both
// places are known.
type Travel struct {
	From   string    `json:"from"`
	Since  time.Time `json:"since"`
	Km     float64   `json:"km"`
	Kmh    float64   `json:"kmh"`
	Beyond bool      `json:"impossible"`
}

// MinTravelKm is the distance below which travel is never impossible:
// free databases place a network's addresses tens to hundreds of
// kilometres apart, and a login from the next city over is not a theft.
const MinTravelKm = 500

// historyLimit is how many recent events of an account are read to find
// where it logged in before.
const historyLimit = 200

// NetworkAddr is the first address of a network as Network writes it; it
// stands for the network in geolocation (databases place networks of
// that size, not single addresses).
func NetworkAddr(network string) netip.Addr {
	p, err := netip.ParsePrefix(network)
	if err != nil {
		return netip.Addr{}
	}
	return p.Addr()
}

// locate fills the facts of where an attempt comes from: a country the
// account has not logged in from, travel from the last login, and, with an
// ASN database, a new network by AS number instead of by prefix.
func (s *Service) locate(ctx context.Context, account string, ip netip.Addr, now time.Time, f *Facts) (Where, *Travel, error) {
	here := s.Places.Locate(ip)
	if here == (Where{}) {
		return here, nil, nil // no database knows the address: nothing to compare
	}
	evs, err := s.Store.Events(ctx, account, historyLimit)
	if err != nil {
		return here, nil, err
	}
	byASN := s.Places.HasASN() && here.ASN != 0
	countries, asns := map[string]bool{}, map[uint32]bool{}
	var last *Event
	var lastWhere Where
	seen := map[string]Where{}
	for i := range evs {
		e := &evs[i]
		if e.Kind != EventSuccess || e.Network == "" || !e.Time.Before(now) {
			continue
		}
		w, ok := seen[e.Network]
		if !ok {
			w = s.Places.Locate(NetworkAddr(e.Network))
			seen[e.Network] = w
		}
		if w.Country != "" {
			countries[w.Country] = true
		}
		if w.ASN != 0 {
			asns[w.ASN] = true
		}
		if last == nil {
			last, lastWhere = e, w
		}
	}
	if here.Country != "" && len(countries) > 0 && !countries[here.Country] {
		f.NewCountry = true
	}
	if byASN && len(asns) > 0 {
		f.NewNetwork = !asns[here.ASN]
	}
	if last == nil || !here.HasCoords || !lastWhere.HasCoords {
		return here, nil, nil
	}
	km := greatCircleKm(lastWhere.Latitude, lastWhere.Longitude, here.Latitude, here.Longitude)
	hours := max(now.Sub(last.Time).Hours(), 1.0/60) // a minute at least: clocks and redirects
	t := &Travel{From: lastWhere.Label(), Since: last.Time, Km: math.Round(km), Kmh: math.Round(km / hours)}
	if km >= MinTravelKm {
		f.TravelKmh = t.Kmh
		t.Beyond = t.Kmh > s.Policy.ImpossibleKmh
	}
	return here, t, nil
}

// greatCircleKm is the haversine distance between two points.
func greatCircleKm(lat1, lon1, lat2, lon2 float64) float64 {
	const r = 6371.0088 // mean Earth radius
	rad := math.Pi / 180
	dlat, dlon := (lat2-lat1)*rad, (lon2-lon1)*rad
	a := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(a)))
}

// Explain says what a reason means, in words for the person logging in
// or the admin reading a webhook.
func Explain(reason string, d Decision) string {
	switch reason {
	case ReasonNewDevice:
		return "This browser has not been used with this account before."
	case ReasonNoDeviceCookie:
		return "This browser refuses cookies, so it cannot be recognised as one you used before."
	case ReasonRevokedDevice:
		return "This browser was removed from the account's trusted devices."
	case ReasonTokenReuse:
		return "A device key that was already replaced was presented again: someone may have copied it."
	case ReasonNewNetwork:
		if d.Location != nil && d.Location.ASOrg != "" {
			return fmt.Sprintf("The account has not logged in from this network (%s) before.", d.Location.ASOrg)
		}
		return "The account has not logged in from this network before."
	case ReasonNewCountry:
		if d.Location != nil && d.Location.Country != "" {
			return fmt.Sprintf("The account has not logged in from this country (%s) before.", d.Location.Label())
		}
		return "The account has not logged in from this country before."
	case ReasonImpossibleTravel:
		if t := d.Travel; t != nil {
			return fmt.Sprintf("The last login was from %s, %.0f km away, %s ago: nobody travels that fast (%.0f km/h).",
				t.From, t.Km, roundAgo(d.at.Sub(t.Since)), t.Kmh)
		}
		return "The last login was too far away, too recently, for anyone to have travelled between them."
	case ReasonAccountFailures:
		return "There were several failed attempts on this account just now."
	case ReasonClientFailures:
		return "There were many failed attempts from this network just now."
	case ReasonManyAccounts:
		return "This network tried many different accounts just now."
	case ReasonBrowserChanged:
		return "The device now presents a different browser than before."
	}
	return reason
}

func roundAgo(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "less than a minute"
	case d < time.Hour:
		return fmt.Sprintf("%d minutes", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d hours", int(d.Hours()))
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}
