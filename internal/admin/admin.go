// Package admin provides the dashboard's administrator account: the
// password (argon2id), login sessions kept server-side, and throttling of
// failed logins. The state store implements Store.
package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
)

// Errors.
var (
	// ErrBadLogin: the password is wrong or the session unknown or
	// expired. Callers never learn which.
	ErrBadLogin = errors.New("admin: wrong password or expired session")
	// ErrNotFound is returned by a Store for a missing row.
	ErrNotFound = errors.New("admin: not found")
)

// Store keeps the password hash and sessions.
type Store interface {
	// PasswordHash returns the stored hash, or ErrNotFound.
	PasswordHash(ctx context.Context) (string, error)
	SetPasswordHash(ctx context.Context, hash string) error
	// PutSession stores a session by the SHA-256 of its token.
	PutSession(ctx context.Context, s Session) error
	// SessionByHash returns a session, or ErrNotFound.
	SessionByHash(ctx context.Context, tokenHash []byte) (Session, error)
	DeleteSession(ctx context.Context, tokenHash []byte) error
	// DeleteSessionsBefore removes sessions that expired before t.
	DeleteSessionsBefore(ctx context.Context, t time.Time) error
	// DeleteAllSessions logs everyone out (after a password change).
	DeleteAllSessions(ctx context.Context) error
}

// Session is a logged-in browser. Only the token's hash is stored.
type Session struct {
	TokenHash []byte
	CSRF      string // per-session token for forms (defence in depth)
	Created   time.Time
	Expires   time.Time
}

// argon2id parameters (RFC 9106's second recommended option, with 64 MiB
// and two lanes for a two-core server).
const (
	argonTime    = 3
	argonMemory  = 64 * 1024
	argonThreads = 2
	argonKeyLen  = 32
)

// HashPassword returns a PHC-format argon2id hash of password.
func HashPassword(password string) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// CheckPassword reports whether password matches a hash made by
// HashPassword (with whatever parameters it records).
func CheckPassword(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var v int
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || m > 1<<22 || t == 0 || t > 20 || p == 0 {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 || len(want) > 64 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// NewPassword returns a random password of 20 characters from an
// unambiguous alphabet (about 100 bits).
func NewPassword() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 20)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// Setup makes sure an admin password exists. A password from the
// environment (WAYMARK_ADMIN_PASSWORD) replaces the stored one when it
// differs, and logs everyone out. Without one, a first run generates a
// password and returns it so it can be printed once; later runs return "".
func Setup(ctx context.Context, st Store, fromEnv string) (generated string, err error) {
	hash, err := st.PasswordHash(ctx)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return "", err
	}
	switch {
	case fromEnv != "":
		if hash != "" && CheckPassword(hash, fromEnv) {
			return "", nil
		}
		if err := st.SetPasswordHash(ctx, HashPassword(fromEnv)); err != nil {
			return "", err
		}
		return "", st.DeleteAllSessions(ctx)
	case hash != "":
		return "", nil
	}
	pw := NewPassword()
	if err := st.SetPasswordHash(ctx, HashPassword(pw)); err != nil {
		return "", err
	}
	return pw, nil
}

// SessionTTL is how long a login lasts.
const SessionTTL = 14 * 24 * time.Hour

// Auth logs the administrator in and out.
type Auth struct {
	Store Store
	Now   func() time.Time

	checker checker // bounds concurrent password checks
}

// Login checks the password and starts a new session; it returns the
// session's token for the cookie. Every login gets a fresh token, so a
// token planted before login is worthless. At most one check from an
// unknown browser runs at a time (ErrBusy when the wait for it runs out).
func (a *Auth) Login(ctx context.Context, password string) (token string, s Session, err error) {
	return a.LoginDevice(ctx, password, false)
}

// LoginDevice is Login for a browser that may be a known device
// (KnownDevice): such a browser's check may use the slot kept for the
// administrator's devices.
func (a *Auth) LoginDevice(ctx context.Context, password string, knownDevice bool) (token string, s Session, err error) {
	hash, err := a.Store.PasswordHash(ctx)
	if errors.Is(err, ErrNotFound) {
		return "", Session{}, ErrBadLogin
	}
	if err != nil {
		return "", Session{}, err
	}
	ok, err := a.checkPassword(ctx, hash, password, knownDevice)
	if err != nil {
		return "", Session{}, err
	}
	if !ok {
		return "", Session{}, ErrBadLogin
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	token = base64.RawURLEncoding.EncodeToString(raw)
	csrf := make([]byte, 18)
	rand.Read(csrf)
	now := a.Now()
	s = Session{TokenHash: hashToken(token), CSRF: base64.RawURLEncoding.EncodeToString(csrf), Created: now, Expires: now.Add(SessionTTL)}
	if err := a.Store.PutSession(ctx, s); err != nil {
		return "", Session{}, err
	}
	// Old sessions are swept on each login.
	if err := a.Store.DeleteSessionsBefore(ctx, now); err != nil {
		return "", Session{}, err
	}
	return token, s, nil
}

// Check returns the live session of a token.
func (a *Auth) Check(ctx context.Context, token string) (Session, error) {
	if token == "" || len(token) > 100 {
		return Session{}, ErrBadLogin
	}
	s, err := a.Store.SessionByHash(ctx, hashToken(token))
	if errors.Is(err, ErrNotFound) {
		return Session{}, ErrBadLogin
	}
	if err != nil {
		return Session{}, err
	}
	if !a.Now().Before(s.Expires) {
		return Session{}, ErrBadLogin
	}
	return s, nil
}

// Logout ends a token's session.
func (a *Auth) Logout(ctx context.Context, token string) error {
	return a.Store.DeleteSession(ctx, hashToken(token))
}

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
