// Package proxytoken provides the secure proxy's credentials: tokens
// stored as hashes, the Proxy-Authorization parser, and the Authenticator
// that checks tokens against an in-memory copy of the store, reloaded at
// an interval and at once after a change. It has no network code: the
// stores and the admin API use it without the proxy's transport.
package proxytoken

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Token is a proxy credential as stored: only the secret's hash is kept.
type Token struct {
	ID      string    `json:"id"`
	User    string    `json:"user"`
	Hash    [32]byte  `json:"-"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires,omitzero"`
	Revoked bool      `json:"revoked"`
	// Sign: every plain-HTTP answer relayed to this token's user is
	// signed, asked for or not (waymark proxy token add --sign).
	Sign bool `json:"sign"`
}

// TokenStore keeps proxy tokens; the state stores implement it.
// RevokeProxyToken returns an error wrapping ErrNotFound for an unknown
// id.
type TokenStore interface {
	AddProxyToken(ctx context.Context, t Token) error
	ProxyTokens(ctx context.Context) ([]Token, error)
	RevokeProxyToken(ctx context.Context, id string) error
}

// Errors of authentication.
var (
	ErrNoCredentials  = errors.New("proxy: no Proxy-Authorization")
	ErrBadCredentials = errors.New("proxy: unknown, revoked or expired token")
	ErrBadUser        = errors.New("proxy: a user name has 1 to 64 letters, digits, '.', '_', '@' or '-'")
	// ErrNotFound: no token has that id. Every TokenStore returns it
	// (wrapped) from RevokeProxyToken, so callers match it with
	// errors.Is whatever the store.
	ErrNotFound = errors.New("no such proxy token")
)

const tokenPrefix = "wmp_"

// NewToken makes a token for user; the secret is returned once and only
// its hash is kept.
func NewToken(user string, now time.Time, ttl time.Duration) (Token, string, error) {
	if err := ValidUser(user); err != nil {
		return Token{}, "", err
	}
	var b [32]byte
	rand.Read(b[:])
	secret := tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	h := sha256.Sum256([]byte(secret))
	t := Token{ID: hex.EncodeToString(h[:6]), User: user, Hash: h, Created: now.UTC()}
	if ttl > 0 {
		t.Expires = now.Add(ttl).UTC()
	}
	return t, secret, nil
}

// ValidUser checks a proxy user name.
func ValidUser(u string) error {
	if u == "" || len(u) > 64 {
		return ErrBadUser
	}
	for _, c := range u {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '@') {
			return ErrBadUser
		}
	}
	return nil
}

// Credentials reads a Proxy-Authorization value: "Basic" with user and
// token, or "Bearer" with the token alone (user "").
func Credentials(h string) (user, secret string, err error) {
	if h == "" {
		return "", "", ErrNoCredentials
	}
	scheme, rest, _ := strings.Cut(h, " ")
	rest = strings.TrimSpace(rest)
	switch strings.ToLower(scheme) {
	case "basic":
		b, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return "", "", fmt.Errorf("%w: Basic credentials are not base64", ErrBadCredentials)
		}
		u, p, ok := strings.Cut(string(b), ":")
		if !ok {
			return "", "", fmt.Errorf("%w: Basic credentials need user:token", ErrBadCredentials)
		}
		return u, p, nil
	case "bearer":
		return "", rest, nil
	}
	return "", "", fmt.Errorf("%w: scheme must be Basic or Bearer", ErrBadCredentials)
}

// Authenticator checks proxy tokens against an in-memory copy of the
// store, reloaded at an interval and at once after a change made in this
// process. A token revoked here stops working immediately; one revoked by
// another process (the CLI) within the reload interval, and its open
// tunnels are closed then.
type Authenticator struct {
	Store TokenStore
	Now   func() time.Time
	// Revoked is told the ids of tokens that stopped being valid at a
	// reload, so the proxy can close their tunnels.
	Revoked func(ids []string)
	// MaxStale bounds how long the in-memory copy is trusted while the
	// store does not answer (a shared database down): after it, every
	// check fails with ErrTokensStale. Zero: no bound (the embedded store
	// is a local file).
	MaxStale time.Duration

	mu       sync.Mutex // serialises reloads
	tokens   atomic.Pointer[map[[32]byte]Token]
	loadedAt atomic.Int64 // Unix ns of the last successful load
}

// ErrTokensStale: the token store has not answered for longer than
// MaxStale, so no token is trusted (fail closed).
var ErrTokensStale = errors.New("proxy: the token store has not answered for too long")

// Load reads the tokens from the store.
func (a *Authenticator) Load(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	all, err := a.Store.ProxyTokens(ctx)
	if err != nil {
		return fmt.Errorf("proxy: load tokens: %w", err)
	}
	m := make(map[[32]byte]Token, len(all))
	for _, t := range all {
		if !t.Revoked {
			m[t.Hash] = t
		}
	}
	old := a.tokens.Swap(&m)
	a.loadedAt.Store(a.Now().UnixNano())
	if old != nil && a.Revoked != nil {
		var gone []string
		for h, t := range *old {
			if _, ok := m[h]; !ok {
				gone = append(gone, t.ID)
			}
		}
		if len(gone) > 0 {
			a.Revoked(gone)
		}
	}
	return nil
}

// Run reloads every interval until ctx ends; errors keep the last copy.
func (a *Authenticator) Run(ctx context.Context, every time.Duration, onErr func(error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := a.Load(ctx); err != nil && ctx.Err() == nil && onErr != nil {
				onErr(err)
			}
		}
	}
}

// Check authenticates a Proxy-Authorization header value.
func (a *Authenticator) Check(header string) (Token, error) {
	user, secret, err := Credentials(header)
	if err != nil {
		return Token{}, err
	}
	if !strings.HasPrefix(secret, tokenPrefix) {
		return Token{}, ErrBadCredentials
	}
	m := a.tokens.Load()
	if m == nil {
		return Token{}, ErrBadCredentials
	}
	if a.MaxStale > 0 && a.Now().Sub(time.Unix(0, a.loadedAt.Load())) > a.MaxStale {
		return Token{}, ErrTokensStale
	}
	t, ok := (*m)[sha256.Sum256([]byte(secret))]
	if !ok {
		return Token{}, ErrBadCredentials
	}
	if user != "" && subtle.ConstantTimeCompare([]byte(user), []byte(t.User)) != 1 {
		return Token{}, ErrBadCredentials
	}
	if !t.Expires.IsZero() && !a.Now().Before(t.Expires) {
		return Token{}, ErrBadCredentials
	}
	return t, nil
}

// Add stores a new token for user and returns its secret (shown once).
func (a *Authenticator) Add(ctx context.Context, user string, ttl time.Duration) (Token, string, error) {
	return a.AddWith(ctx, user, ttl, false)
}

// AddWith is Add for a token whose answers are always signed (sign) or
// only when its requests ask.
func (a *Authenticator) AddWith(ctx context.Context, user string, ttl time.Duration, sign bool) (Token, string, error) {
	t, secret, err := NewToken(user, a.Now(), ttl)
	if err != nil {
		return Token{}, "", err
	}
	t.Sign = sign
	if err := a.Store.AddProxyToken(ctx, t); err != nil {
		return Token{}, "", err
	}
	return t, secret, a.Load(ctx)
}

// Revoke revokes a token by id, effective at once in this process.
func (a *Authenticator) Revoke(ctx context.Context, id string) error {
	if err := a.Store.RevokeProxyToken(ctx, id); err != nil {
		return err
	}
	return a.Load(ctx)
}
