package admin

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// ErrBusy: other logins hold every password-check slot and the wait for
// one ran out. The caller answers 429 and asks to retry shortly.
var ErrBusy = errors.New("admin: too many password checks at once")

// Bounds on password checking. One argon2id check holds 64 MiB and both
// cores for a fraction of a second, so checks run one at a time for
// browsers the server does not know, with a second slot kept for the
// administrator's known devices; a check waits at most gateWait for its
// slot, and at most gateQueue checks wait at once (the rest are refused
// at once), so a burst of logins costs neither memory nor goroutines
// without bound.
const (
	gateWait  = 5 * time.Second
	gateQueue = 16
)

// gate bounds concurrent password checks.
type gate struct {
	general, known chan struct{}
	waiting        atomic.Int32
}

func newGate() *gate {
	return &gate{general: make(chan struct{}, 1), known: make(chan struct{}, 1)}
}

// acquire takes a slot (a known device may take either) and returns its
// release.
func (g *gate) acquire(ctx context.Context, knownDevice bool) (func(), error) {
	release := func(c chan struct{}) func() { return func() { <-c } }
	if knownDevice {
		select {
		case g.known <- struct{}{}:
			return release(g.known), nil
		default:
		}
	}
	select {
	case g.general <- struct{}{}:
		return release(g.general), nil
	default:
	}
	if g.waiting.Add(1) > gateQueue {
		g.waiting.Add(-1)
		return nil, ErrBusy
	}
	defer g.waiting.Add(-1)
	t := time.NewTimer(gateWait)
	defer t.Stop()
	known := g.known
	if !knownDevice {
		known = nil // a nil channel never receives: the slot stays reserved
	}
	select {
	case g.general <- struct{}{}:
		return release(g.general), nil
	case known <- struct{}{}:
		return release(g.known), nil
	case <-t.C:
		return nil, ErrBusy
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// checker is the Auth's lazily made gate and its count of checks.
type checker struct {
	once   sync.Once
	gate   *gate
	checks atomic.Uint64
}

func (c *checker) init() { c.once.Do(func() { c.gate = newGate() }) }

// PasswordChecks is how many password checks (argon2id evaluations) this
// Auth has run.
func (a *Auth) PasswordChecks() uint64 { return a.checker.checks.Load() }

// checkPassword checks password against hash within the gate.
func (a *Auth) checkPassword(ctx context.Context, hash, password string, knownDevice bool) (bool, error) {
	a.checker.init()
	release, err := a.checker.gate.acquire(ctx, knownDevice)
	if err != nil {
		return false, err
	}
	defer release()
	a.checker.checks.Add(1)
	ok := CheckPassword(hash, password)
	// The check's 64 MiB is garbage now. With the collector's target set
	// high for ingestion (serve's --gc-percent), a few checks in a row
	// would each take fresh memory from the system before a collection
	// came; collecting here lets the next check reuse it.
	runtime.GC()
	return ok, nil
}

// Known devices: after a login, the browser gets a device token, a random
// nonce with its HMAC under a key derived from the stored password hash.
// It needs no storage, survives restarts, and is void once the password
// changes. It gives the administrator's browser the reserved check slot,
// nothing more: the password is still checked.

// deviceKey derives the device-token key from the stored password hash.
func deviceKey(hash string) []byte {
	k := sha256.Sum256([]byte("waymark admin device\x00" + hash))
	return k[:]
}

// NewDeviceToken returns a device token for the browser that just logged
// in.
func (a *Auth) NewDeviceToken(ctx context.Context) (string, error) {
	hash, err := a.Store.PasswordHash(ctx)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, 16)
	rand.Read(nonce)
	m := hmac.New(sha256.New, deviceKey(hash))
	m.Write(nonce)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nonce)), nil
}

// KnownDevice reports whether token is a device token made under the
// current password.
func (a *Auth) KnownDevice(ctx context.Context, token string) bool {
	if token == "" || len(token) > 100 {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != 16+sha256.Size {
		return false
	}
	hash, err := a.Store.PasswordHash(ctx)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, deviceKey(hash))
	m.Write(raw[:16])
	return hmac.Equal(m.Sum(nil), raw[16:])
}
