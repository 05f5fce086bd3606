package risk

import (
	"fmt"
	"sort"
	"time"
)

// Reasons: the signals a decision names.
const (
	ReasonNewDevice        = "new_device"         // no trusted device of this account
	ReasonNoDeviceCookie   = "no_device_cookie"   // the browser refuses cookies: no device can be recognised
	ReasonRevokedDevice    = "revoked_device"     // a device the account revoked
	ReasonTokenReuse       = "device_token_reuse" // a rotated secret presented again: a stolen cookie
	ReasonNewNetwork       = "new_network"        // an address prefix (or ASN) this account has not logged in from
	ReasonNewCountry       = "new_country"        // where a geo database is configured
	ReasonImpossibleTravel = "impossible_travel"  // faster than a plane since the last login
	ReasonAccountFailures  = "account_failures"   // recent failed attempts on this account
	ReasonClientFailures   = "client_failures"    // recent failed attempts from this client (address or device)
	ReasonManyAccounts     = "many_accounts"      // one client trying many accounts
	ReasonBrowserChanged   = "browser_changed"    // a known device now presents another browser family
)

// Device states in a decision.
const (
	DeviceKnown   = "known"
	DeviceNew     = "new"
	DeviceRevoked = "revoked"
	DeviceNone    = "none" // no device cookie at all
)

// Decisions.
const (
	Allow     = "allow"
	Challenge = "challenge"
	Deny      = "deny"
)

// Facts are what the store knows about a login attempt.
type Facts struct {
	Device         string // DeviceKnown, DeviceNew, DeviceRevoked or DeviceNone
	Replay         bool   // the device cookie held a rotated secret
	CookiesRefused bool   // the SDK says the browser refuses cookies
	NewNetwork     bool
	NewCountry     bool
	TravelKmh      float64 // speed since the last login, where geo is known; 0 otherwise
	// Recent failures (within Policy.Window).
	AccountFailures int
	ClientFailures  int
	// AccountsFromClient is how many accounts the client tried recently.
	AccountsFromClient int
	BrowserChanged     bool
}

// Policy weighs the signals. Scores add up to at most 100.
type Policy struct {
	Weights map[string]int
	// Thresholds of the score.
	ChallengeAt, DenyAt int
	// Counts that make a signal: failures on an account, failures from
	// one client (it is then throttled), accounts from one client.
	AccountFailures, ClientFailures, ManyAccounts int
	// ImpossibleKmh is the speed above which travel is impossible.
	ImpossibleKmh float64
}

// DefaultPolicy follows OWASP's authentication guidance: a new device is
// challenged, brute force throttles the untrusted client (20 failures),
// and failures on an account never lock out its trusted device.
func DefaultPolicy() Policy {
	return Policy{
		Weights: map[string]int{
			ReasonNewDevice: 40, ReasonNoDeviceCookie: 40, ReasonRevokedDevice: 40, ReasonTokenReuse: 100,
			ReasonNewNetwork: 10, ReasonNewCountry: 25, ReasonImpossibleTravel: 60, ReasonAccountFailures: 20,
			ReasonClientFailures: 100, ReasonManyAccounts: 40, ReasonBrowserChanged: 25,
		},
		ChallengeAt: 30, DenyAt: 80,
		AccountFailures: 5, ClientFailures: 20, ManyAccounts: 5,
		ImpossibleKmh: 1000,
	}
}

// Validate checks a policy.
func (p Policy) Validate() error {
	if p.ChallengeAt <= 0 || p.DenyAt <= p.ChallengeAt || p.DenyAt > 100 {
		return fmt.Errorf("risk: thresholds must satisfy 0 < challenge < deny <= 100 (got %d, %d)", p.ChallengeAt, p.DenyAt)
	}
	for r, w := range p.Weights {
		if w < 0 || w > 100 {
			return fmt.Errorf("risk: weight of %s must be 0 to 100", r)
		}
	}
	if p.AccountFailures < 1 || p.ClientFailures < 1 || p.ManyAccounts < 2 {
		return fmt.Errorf("risk: failure and account counts must be positive")
	}
	return nil
}

// Decision is the answer to a login attempt.
type Decision struct {
	Decision string   `json:"decision"`
	Score    int      `json:"score"`
	Device   string   `json:"device"`
	Reasons  []string `json:"reasons"`
	// Messages say each reason in words, in the same order.
	Messages []string `json:"messages"`
	// Location is where the attempt came from and Travel the step from
	// the previous login, where a geolocation database is configured.
	Location *Where  `json:"location,omitempty"`
	Travel   *Travel `json:"travel,omitempty"`

	at time.Time // when it was decided, for Explain
}

// explain fills Messages.
func (d *Decision) explain() {
	d.Messages = make([]string, len(d.Reasons))
	for i, r := range d.Reasons {
		d.Messages[i] = Explain(r, *d)
	}
}

// Decide scores the facts of an attempt.
func (p Policy) Decide(f Facts) Decision {
	var reasons []string
	add := func(r string, on bool) {
		if on {
			reasons = append(reasons, r)
		}
	}
	trusted := f.Device == DeviceKnown && !f.Replay
	add(ReasonTokenReuse, f.Replay)
	add(ReasonRevokedDevice, f.Device == DeviceRevoked)
	add(ReasonNoDeviceCookie, f.Device == DeviceNone && f.CookiesRefused)
	add(ReasonNewDevice, f.Device == DeviceNew || f.Device == DeviceNone && !f.CookiesRefused)
	add(ReasonNewNetwork, f.NewNetwork)
	add(ReasonNewCountry, f.NewCountry)
	add(ReasonImpossibleTravel, f.TravelKmh > p.ImpossibleKmh)
	// Failures on the account lock out untrusted clients only: the real
	// user on a trusted device still logs in.
	add(ReasonAccountFailures, !trusted && f.AccountFailures >= p.AccountFailures)
	add(ReasonClientFailures, f.ClientFailures >= p.ClientFailures)
	add(ReasonManyAccounts, f.AccountsFromClient >= p.ManyAccounts)
	add(ReasonBrowserChanged, trusted && f.BrowserChanged)
	score := 0
	for _, r := range reasons {
		score += p.Weights[r]
	}
	score = min(score, 100)
	d := Decision{Score: score, Device: f.Device, Reasons: reasons}
	if f.Replay {
		d.Device = DeviceRevoked // the store revokes it
	}
	switch {
	case score >= p.DenyAt:
		d.Decision = Deny
	case score >= p.ChallengeAt:
		d.Decision = Challenge
	default:
		d.Decision = Allow
	}
	if d.Reasons == nil {
		d.Reasons = []string{}
	}
	sort.SliceStable(d.Reasons, func(i, j int) bool { return p.Weights[d.Reasons[i]] > p.Weights[d.Reasons[j]] })
	d.explain()
	return d
}
