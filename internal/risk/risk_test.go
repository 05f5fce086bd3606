package risk

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestTokenCodec(t *testing.T) {
	t.Parallel()
	tok := Token{Device: NewDeviceID(), Secret: NewSecret()}
	v := tok.Encode()
	if len(v) != tokenLen {
		t.Fatalf("encoded %d characters, want %d", len(v), tokenLen)
	}
	back, err := ParseToken(v)
	if err != nil || back != tok {
		t.Fatalf("ParseToken = %v, %v", back, err)
	}
	for _, bad := range []string{"", v[:len(v)-1], v + "A", strings.Repeat("!", tokenLen), "B" + v[1:]} {
		if _, err := ParseToken(bad); err == nil {
			t.Errorf("ParseToken(%q) accepted", bad)
		}
	}
}

func FuzzParseToken(f *testing.F) {
	f.Add(Token{Device: NewDeviceID(), Secret: NewSecret()}.Encode())
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		if err == nil && tok.Encode() != s {
			t.Fatalf("%q parsed but encodes as %q", s, tok.Encode())
		}
	})
}

func TestRotation(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	s0 := NewSecret()
	d := &Device{Current: HashSecret(s0)}
	if v := d.Check(s0, now); v != Valid {
		t.Fatalf("first secret: %v", v)
	}
	s1 := d.Rotate(now)
	// The browser's request that crossed the rotation still passes (and
	// does not rotate again).
	if v := d.Check(s0, now.Add(5*time.Second)); v != ValidPrevious {
		t.Errorf("previous secret within the grace window: %v", v)
	}
	if v := d.Check(s1, now.Add(5*time.Second)); v != Valid {
		t.Errorf("new secret: %v", v)
	}
	// After the grace window, the old secret is a replay.
	if v := d.Check(s0, now.Add(time.Minute)); v != Replay {
		t.Errorf("old secret after the grace window: %v, want Replay", v)
	}
	s2 := d.Rotate(now.Add(time.Minute))
	for i := range 3 {
		d.Rotate(now.Add(time.Duration(2+i) * time.Minute))
	}
	if v := d.Check(s0, now.Add(time.Hour)); v != Replay {
		t.Errorf("a secret several rotations old: %v, want Replay", v)
	}
	if v := d.Check(s2, now.Add(time.Hour)); v != Replay {
		t.Errorf("s2 after later rotations: %v, want Replay", v)
	}
	if v := d.Check(NewSecret(), now); v != Invalid {
		t.Errorf("a random secret: %v, want Invalid", v)
	}
	d.Revoked = true
	if v := d.Check(s1, now); v != Revoked {
		t.Errorf("revoked device: %v", v)
	}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		f        Facts
		decision string
		reasons  []string
	}{
		{"known device", Facts{Device: DeviceKnown}, Allow, []string{}},
		{"known device, new network", Facts{Device: DeviceKnown, NewNetwork: true}, Allow, []string{ReasonNewNetwork}},
		{"new device", Facts{Device: DeviceNew}, Challenge, []string{ReasonNewDevice}},
		{"no cookie", Facts{Device: DeviceNone}, Challenge, []string{ReasonNewDevice}},
		{"cookies refused", Facts{Device: DeviceNone, CookiesRefused: true}, Challenge, []string{ReasonNoDeviceCookie}},
		{"revoked device", Facts{Device: DeviceRevoked}, Challenge, []string{ReasonRevokedDevice}},
		{"stolen cookie", Facts{Device: DeviceKnown, Replay: true}, Deny, []string{ReasonTokenReuse}},
		{"brute force from a client", Facts{Device: DeviceNone, ClientFailures: 20}, Deny, []string{ReasonClientFailures, ReasonNewDevice}},
		{"account under attack, trusted device", Facts{Device: DeviceKnown, AccountFailures: 50}, Allow, []string{}},
		{"account under attack, new device", Facts{Device: DeviceNew, AccountFailures: 5}, Challenge, []string{ReasonNewDevice, ReasonAccountFailures}},
		{"impossible travel", Facts{Device: DeviceKnown, TravelKmh: 5000}, Challenge, []string{ReasonImpossibleTravel}},
		{"new device in a new country far away", Facts{Device: DeviceNew, NewCountry: true, TravelKmh: 5000}, Deny, []string{ReasonImpossibleTravel, ReasonNewDevice, ReasonNewCountry}},
		{"many accounts", Facts{Device: DeviceNone, AccountsFromClient: 5}, Deny, []string{ReasonNewDevice, ReasonManyAccounts}},
		{"browser changed", Facts{Device: DeviceKnown, BrowserChanged: true}, Allow, []string{ReasonBrowserChanged}},
		{"browser changed, new network", Facts{Device: DeviceKnown, BrowserChanged: true, NewNetwork: true}, Challenge, []string{ReasonBrowserChanged, ReasonNewNetwork}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := p.Decide(c.f)
			if got.Decision != c.decision || !reflect.DeepEqual(got.Reasons, c.reasons) {
				t.Errorf("%s: %+v, want %s %v", c.name, got, c.decision, c.reasons)
			}
			if got.Score < 0 || got.Score > 100 {
				t.Errorf("%s: score %d out of range", c.name, got.Score)
			}
		})
	}
	bad := DefaultPolicy()
	bad.DenyAt = 10
	if bad.Validate() == nil {
		t.Error("deny below challenge accepted")
	}
}
