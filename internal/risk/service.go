package risk

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Event kinds of an account's audit trail.
const (
	EventAttempt = "attempt"
	EventSuccess = "success"
	EventFailure = "failure"
	EventTrusted = "device_trusted"
	EventRevoked = "device_revoked"
	EventReplay  = "device_token_reuse"
)

// Event is one entry of an account's audit trail (logins included).
type Event struct {
	Account  string    `json:"account"`
	Kind     string    `json:"kind"`
	Time     time.Time `json:"time"`
	Network  string    `json:"network,omitempty"` // IP prefix
	Device   DeviceID  `json:"-"`
	Decision string    `json:"decision,omitempty"`
	Detail   string    `json:"detail,omitempty"`
	// Place ("Lisbon, PT") and Messages (the reasons in words) are set on
	// notifications, where known; they are not stored.
	Place    string   `json:"place,omitempty"`
	Messages []string `json:"messages,omitempty"`
}

// ErrNotFound: no such device.
var ErrNotFound = errors.New("risk: not found")

// ErrOutcome: an attempt's outcome is not attempt, success or failure.
var ErrOutcome = errors.New("risk: outcome must be attempt, success or failure")

// ErrDeviceName: a device name is longer than 100 characters.
var ErrDeviceName = errors.New("risk: a device name has at most 100 characters")

// Counts are a store's answers about recent activity.
type Counts struct {
	AccountFailures    int
	ClientFailures     int
	AccountsFromClient int
	KnownNetwork       bool // the account logged in from this network before
}

// Store keeps devices and events; the state store implements it.
type Store interface {
	Device(ctx context.Context, id DeviceID) (*Device, error)
	SaveDevice(ctx context.Context, d *Device) error
	Devices(ctx context.Context, account string) ([]*Device, error)
	AddEvent(ctx context.Context, e Event) error
	Events(ctx context.Context, account string, limit int) ([]Event, error)
	// Counts answers for an account and a client network since t. Each
	// count may stop at its limit: only whether it reaches the limit
	// matters, and a busy network would otherwise cost a long scan.
	Counts(ctx context.Context, account, network string, since time.Time, limit Counts) (Counts, error)
}

// Service answers login risk questions and manages devices.
type Service struct {
	Store  Store
	Policy Policy
	Now    func() time.Time
	// Window is how far back failures and accounts are counted
	// (default DefaultWindow). A store may keep only DefaultWindow of
	// recent logins at hand after a restart (the embedded one does).
	Window time.Duration
	// Notify, when set, is told of successful logins from a new device
	// (kind EventNewDevice) and of replayed device secrets (EventReplay),
	// for example to send a webhook. It must not block.
	Notify func(Event)
	// Places, when set, adds location signals: a new country, impossible
	// travel since the last login, and a new network by AS number.
	Places Locator

	// deviceLocks make a decision on a device one step: reading it,
	// checking its secret and saving the rotated one cannot interleave
	// with another decision for the same device (two tabs logging in at
	// once would otherwise each rotate from the same secret, and one of
	// them would look like a thief). Decisions on different devices run
	// side by side.
	deviceLocks [256]sync.Mutex
}

// EventNewDevice is the notification of a successful login from a device
// the account has not trusted.
const EventNewDevice = "new_device_login"

// Attempt is what a site's login handler tells about a login.
type Attempt struct {
	Account        string
	Outcome        string // EventAttempt (before checking the password), EventSuccess, EventFailure
	IP             netip.Addr
	Browser, OS    string // families, from the user agent
	DeviceCookie   string // the device cookie's value, "" without one
	CookiesRefused bool
	// At is when the attempt happens (zero: now); simulations set it.
	At time.Time
}

// Answer is a decision and, after a success on a trusted device, the
// device cookie's next value.
type Answer struct {
	Decision
	// NewToken is set when the device's secret rotated: the site sends
	// it to the browser as the new device cookie.
	NewToken *Token `json:"-"`
}

// Network is the prefix an address is grouped by: /24 of IPv4, /48 of
// IPv6.
func Network(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	ip = ip.Unmap()
	bits := 24
	if ip.Is6() {
		bits = 48
	}
	p, _ := ip.Prefix(bits)
	return p.String()
}

// PlaceOf says where a network is ("Lisbon, PT"), "" when unknown or
// without a geolocation database.
func (s *Service) PlaceOf(network string) string {
	if s.Places == nil {
		return ""
	}
	return s.Places.Locate(NetworkAddr(network)).Label()
}

// ValidAccount checks an account name (the site's own id for a user).
func ValidAccount(a string) error {
	if a == "" || len(a) > 200 || strings.ContainsAny(a, "\x00\r\n") {
		return fmt.Errorf("risk: account must be 1 to 200 characters without control characters")
	}
	return nil
}

func (s *Service) window() time.Duration {
	if s.Window > 0 {
		return s.Window
	}
	return DefaultWindow
}

// DefaultWindow is how far back failures and accounts are counted unless
// Service.Window says otherwise.
const DefaultWindow = 15 * time.Minute

// Login assesses and records an attempt.
func (s *Service) Login(ctx context.Context, a Attempt) (Answer, error) {
	if err := ValidAccount(a.Account); err != nil {
		return Answer{}, err
	}
	switch a.Outcome {
	case EventAttempt, EventSuccess, EventFailure:
	default:
		return Answer{}, ErrOutcome
	}
	now := s.Now()
	if !a.At.IsZero() {
		now = a.At
	}
	network := Network(a.IP)
	f := Facts{Device: DeviceNone, CookiesRefused: a.CookiesRefused && a.DeviceCookie == ""}
	var dev *Device
	var tok Token
	rotate := false
	hasToken := false
	if a.DeviceCookie != "" {
		f.Device = DeviceNew
		if t, err := ParseToken(a.DeviceCookie); err == nil {
			tok, hasToken = t, true
			l := &s.deviceLocks[t.Device[0]]
			l.Lock()
			defer l.Unlock()
		}
	}
	// The reads: the device and the velocity counts, in one round trip
	// when the store can.
	limits := Counts{AccountFailures: s.Policy.AccountFailures, ClientFailures: s.Policy.ClientFailures, AccountsFromClient: s.Policy.ManyAccounts}
	since := now.Add(-s.window())
	var d *Device
	var c Counts
	counted := false
	if ls, ok := s.Store.(LookupStore); ok {
		var id *DeviceID
		if hasToken {
			id = &tok.Device
		}
		var err error
		if d, c, err = ls.Lookup(ctx, id, a.Account, network, since, limits); err != nil {
			return Answer{}, err
		}
		counted = true
	} else if hasToken {
		var err error
		if d, err = s.Store.Device(ctx, tok.Device); errors.Is(err, ErrNotFound) {
			d = nil
		} else if err != nil {
			return Answer{}, err
		}
	}
	if d != nil && d.Account == a.Account {
		switch v := d.Check(tok.Secret, now); v {
		case Valid, ValidPrevious:
			f.Device, dev = DeviceKnown, d
			f.BrowserChanged = a.Browser != "" && d.Browser != "" && a.Browser != d.Browser
			rotate = v == Valid
		case Replay:
			f.Device, f.Replay = DeviceKnown, true
			d.Revoked = true
			if err := s.Store.SaveDevice(ctx, d); err != nil {
				return Answer{}, err
			}
			replay := Event{Account: a.Account, Kind: EventReplay, Time: now, Network: network, Device: d.ID,
				Detail: "a rotated device secret was presented again; the device is revoked"}
			if err := s.Store.AddEvent(ctx, replay); err != nil {
				return Answer{}, err
			}
			if s.Notify != nil {
				s.Notify(replay)
			}
		case Revoked:
			f.Device = DeviceRevoked
		}
	}
	if !counted {
		var err error
		if c, err = s.Store.Counts(ctx, a.Account, network, since, limits); err != nil {
			return Answer{}, err
		}
	}
	f.AccountFailures, f.ClientFailures, f.AccountsFromClient = c.AccountFailures, c.ClientFailures, c.AccountsFromClient
	f.NewNetwork = network != "" && !c.KnownNetwork
	var here Where
	var travel *Travel
	if s.Places != nil {
		var err error
		if here, travel, err = s.locate(ctx, a.Account, a.IP, now, &f); err != nil {
			return Answer{}, err
		}
	}
	ans := Answer{Decision: s.Policy.Decide(f)}
	if s.Places != nil {
		ans.Location, ans.Travel, ans.at = &here, travel, now
		ans.explain()
	}
	// The writes: the event and, after a success on a trusted device,
	// its rotated secret.
	ev := Event{Account: a.Account, Kind: a.Outcome, Time: now, Network: network, Device: deviceOf(dev),
		Decision: ans.Decision.Decision, Detail: strings.Join(ans.Reasons, ",")}
	var rotated *Device
	var secret Secret
	if dev != nil && rotate && a.Outcome == EventSuccess && ans.Decision.Decision == Allow {
		secret = dev.Rotate(now)
		dev.Network, dev.Browser, dev.OS = network, orKeep(a.Browser, dev.Browser), orKeep(a.OS, dev.OS)
		rotated = dev
	}
	saved := true
	rs, recorded := s.Store.(RecordStore)
	if recorded {
		var err error
		if saved, err = rs.Record(ctx, ev, rotated); err != nil {
			return Answer{}, err
		}
	} else if err := s.Store.AddEvent(ctx, ev); err != nil {
		return Answer{}, err
	}
	if s.Notify != nil && a.Outcome == EventSuccess && dev == nil && !f.Replay {
		s.Notify(Event{Account: a.Account, Kind: EventNewDevice, Time: now, Network: network, Decision: ans.Decision.Decision,
			Detail: strings.Join(ans.Reasons, ","), Place: here.Label(), Messages: ans.Messages})
	}
	if rotated == nil {
		return ans, nil
	}
	if !recorded {
		if rs, ok := s.Store.(RotationStore); ok {
			var err error
			if saved, err = rs.SaveRotated(ctx, rotated); err != nil {
				return Answer{}, err
			}
		} else if err := s.Store.SaveDevice(ctx, rotated); err != nil {
			return Answer{}, err
		}
	}
	if !saved {
		// Another process rotated this device since it was read (two
		// tabs, two identity nodes): the presented secret is now its
		// previous one, valid within Grace, and the other answer carries
		// the new secret. Keep the cookie as is.
		return ans, nil
	}
	ans.NewToken = &Token{Device: tok.Device, Secret: secret}
	return ans, nil
}

// LookupStore is a store that answers a decision's reads, the device (id
// nil: none; a device not found: nil) and the velocity counts, in one
// round trip (a database server over the network).
type LookupStore interface {
	Lookup(ctx context.Context, id *DeviceID, account, network string, since time.Time, limit Counts) (*Device, Counts, error)
}

// RecordStore is a store that writes a decision's event and, when its
// device's secret rotated, the device (as RotationStore.SaveRotated does:
// only if no other process rotated it since it was read), in one round
// trip. saved reports whether the device was saved (true without one).
type RecordStore interface {
	Record(ctx context.Context, e Event, rotated *Device) (saved bool, err error)
}

// RotationStore is a store that several processes share (identity nodes
// over one database). The in-process lock cannot keep two of them from
// rotating one device at once, so the store saves a rotation only if the
// stored device still has the secret the decision rotated away.
type RotationStore interface {
	// SaveRotated stores d if the stored current secret is still
	// d.Previous, and reports whether it did.
	SaveRotated(ctx context.Context, d *Device) (bool, error)
}

func deviceOf(d *Device) DeviceID {
	if d == nil {
		return DeviceID{}
	}
	return d.ID
}

func orKeep(v, old string) string {
	if v == "" {
		return old
	}
	return v
}

// Trust makes the current browser a trusted device of the account (after
// a successful login and any step-up) and returns its first token.
func (s *Service) Trust(ctx context.Context, account, name string, ip netip.Addr, browser, os string) (*Device, Token, error) {
	if err := ValidAccount(account); err != nil {
		return nil, Token{}, err
	}
	if len(name) > 100 {
		return nil, Token{}, ErrDeviceName
	}
	now := s.Now()
	secret := NewSecret()
	d := &Device{ID: NewDeviceID(), Account: account, Name: name, Current: HashSecret(secret), Created: now, LastSeen: now,
		Network: Network(ip), Browser: browser, OS: os}
	if err := s.Store.SaveDevice(ctx, d); err != nil {
		return nil, Token{}, err
	}
	if err := s.Store.AddEvent(ctx, Event{Account: account, Kind: EventTrusted, Time: now, Network: d.Network, Device: d.ID, Detail: name}); err != nil {
		return nil, Token{}, err
	}
	return d, Token{Device: d.ID, Secret: secret}, nil
}

// Revoke revokes an account's device.
func (s *Service) Revoke(ctx context.Context, account string, id DeviceID) error {
	d, err := s.Store.Device(ctx, id)
	if err != nil {
		return err
	}
	if d.Account != account {
		return ErrNotFound
	}
	if d.Revoked {
		return nil
	}
	d.Revoked = true
	if err := s.Store.SaveDevice(ctx, d); err != nil {
		return err
	}
	return s.Store.AddEvent(ctx, Event{Account: account, Kind: EventRevoked, Time: s.Now(), Device: id})
}
