// Package risk provides account security: device tokens that recognise a
// browser an account trusted (with rotating secrets whose replay reveals a
// stolen cookie), the signals of a login attempt, and the score and
// decision (allow, challenge, deny) a site's login handler acts on.
package risk

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"time"
)

// DeviceID names a trusted browser of an account.
type DeviceID [16]byte

// Secret is a device token's current secret; only its hash is stored.
type Secret [16]byte

// Hash is the SHA-256 of a secret.
type Hash [32]byte

// HashSecret returns the stored form of a secret.
func HashSecret(s Secret) Hash { return sha256.Sum256(s[:]) }

// NewDeviceID and NewSecret return random values.
func NewDeviceID() DeviceID { var d DeviceID; rand.Read(d[:]); return d }

// NewSecret returns a random secret.
func NewSecret() Secret { var s Secret; rand.Read(s[:]); return s }

// Token is what the device cookie holds: the device and its secret.
type Token struct {
	Device DeviceID
	Secret Secret
}

// tokenVersion leads every encoded token.
const tokenVersion = 1

// tokenLen is the encoded length: base64url of version, device, secret.
const tokenLen = (33*8 + 5) / 6

// ErrBadToken: a cookie value that is not a device token.
var ErrBadToken = errors.New("risk: not a device token")

// Encode writes the token as a cookie value (44 characters).
func (t Token) Encode() string {
	var raw [33]byte
	raw[0] = tokenVersion
	copy(raw[1:17], t.Device[:])
	copy(raw[17:], t.Secret[:])
	return base64.RawURLEncoding.EncodeToString(raw[:])
}

// ParseToken reads a cookie value written by Encode. It checks the form
// only; whether the secret is right is the store's question (Check).
func ParseToken(s string) (Token, error) {
	if len(s) != tokenLen {
		return Token{}, ErrBadToken
	}
	var raw [33]byte
	n, err := base64.RawURLEncoding.Decode(raw[:], []byte(s))
	if err != nil || n != len(raw) || raw[0] != tokenVersion {
		return Token{}, ErrBadToken
	}
	var t Token
	copy(t.Device[:], raw[1:17])
	copy(t.Secret[:], raw[17:])
	return t, nil
}

// Device is a browser an account trusts.
type Device struct {
	ID        DeviceID
	Account   string
	Name      string
	Current   Hash // hash of the secret the browser should hold
	Previous  Hash // the one before, accepted until PrevUntil
	PrevUntil time.Time
	// Retired are earlier secrets' hashes: presenting one is a replay.
	Retired  []Hash
	Created  time.Time
	LastSeen time.Time
	Network  string // IP prefix last seen from
	Browser  string // browser family
	OS       string // OS family
	Revoked  bool
}

// PackHashes joins hashes back to back, as stores keep a device's
// retired secrets.
func PackHashes(hs []Hash) []byte {
	b := make([]byte, 0, 32*len(hs))
	for _, h := range hs {
		b = append(b, h[:]...)
	}
	return b
}

// UnpackHashes splits what PackHashes joined (a trailing partial hash is
// dropped).
func UnpackHashes(b []byte) []Hash {
	var hs []Hash
	for i := 0; i+32 <= len(b); i += 32 {
		hs = append(hs, Hash(b[i:i+32]))
	}
	return hs
}

// Grace is how long the secret before a rotation stays valid, so that two
// requests of the real browser that crossed do not look like a theft.
const Grace = 30 * time.Second

// keepRetired is how many earlier secrets a device remembers to recognise
// a replay.
const keepRetired = 8

// Verdict is what a presented token says about its device.
type Verdict int

// Verdicts.
const (
	Valid   Verdict = iota // the current secret
	Replay                 // a secret that was rotated away: a stolen cookie
	Invalid                // never this device's secret
	Revoked                // the device was revoked
	// ValidPrevious is the secret before the last rotation, within
	// Grace: another tab of the same browser whose request crossed the
	// one that rotated. It is accepted without rotating again (the
	// browser already has, or is about to get, the current secret).
	ValidPrevious
)

// Check compares a presented secret with the device's.
func (d *Device) Check(s Secret, now time.Time) Verdict {
	if d.Revoked {
		return Revoked
	}
	h := HashSecret(s)
	if subtle.ConstantTimeCompare(h[:], d.Current[:]) == 1 {
		return Valid
	}
	if now.Before(d.PrevUntil) && subtle.ConstantTimeCompare(h[:], d.Previous[:]) == 1 {
		return ValidPrevious
	}
	if subtle.ConstantTimeCompare(h[:], d.Previous[:]) == 1 {
		return Replay
	}
	for _, r := range d.Retired {
		if subtle.ConstantTimeCompare(h[:], r[:]) == 1 {
			return Replay
		}
	}
	return Invalid
}

// Rotate gives the device a new secret after a successful use and
// returns it for the browser's new cookie. The secret it replaces stays
// valid for Grace and is remembered as retired afterwards.
func (d *Device) Rotate(now time.Time) Secret {
	s := NewSecret()
	if d.Previous != (Hash{}) {
		d.Retired = append(d.Retired, d.Previous)
		if len(d.Retired) > keepRetired {
			d.Retired = d.Retired[len(d.Retired)-keepRetired:]
		}
	}
	d.Previous, d.PrevUntil = d.Current, now.Add(Grace)
	d.Current = HashSecret(s)
	d.LastSeen = now
	return s
}
