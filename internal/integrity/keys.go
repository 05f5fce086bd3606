package integrity

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// KeysFile holds a data folder's Ed25519 signing keys (mode 0600).
const KeysFile = "signing-keys.json"

// SigningKey is one Ed25519 key of the ring.
type SigningKey struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	Seed    []byte    `json:"seed"` // the 32-byte private seed

	priv ed25519.PrivateKey // derived once when loaded
}

// Private is the key's private half.
func (k SigningKey) Private() ed25519.PrivateKey {
	if k.priv != nil {
		return k.priv
	}
	return ed25519.NewKeyFromSeed(k.Seed)
}

// Public is the key's public half.
func (k SigningKey) Public() ed25519.PublicKey {
	return k.Private().Public().(ed25519.PublicKey)
}

// Keyring is the signing keys of a data folder, or of a shared state
// store (every node signs with the same keys): the newest signs, all
// verify until retired.
type Keyring struct {
	path  string
	store KeyStore
	mu    sync.RWMutex
	keys  []SigningKey
}

// KeyStore keeps a ring's keys in the shared state store.
type KeyStore interface {
	// SigningKeys returns the keys, oldest first.
	SigningKeys(ctx context.Context) ([]SigningKey, error)
	AddSigningKey(ctx context.Context, k SigningKey) error
	// RemoveSigningKey removes a key and reports whether there was one.
	RemoveSigningKey(ctx context.Context, id string) (bool, error)
}

// storeTimeout bounds one call to the shared store.
const storeTimeout = 10 * time.Second

// OpenSharedKeyring loads the shared store's keys, creating the first
// one; Reload picks up keys rotated through another node.
func OpenSharedKeyring(store KeyStore, now time.Time) (*Keyring, error) {
	return open(&Keyring{store: store}, now)
}

// OpenKeyring loads dir's signing keys, creating the first one.
func OpenKeyring(dir string, now time.Time) (*Keyring, error) {
	return open(&Keyring{path: filepath.Join(dir, KeysFile)}, now)
}

func open(k *Keyring, now time.Time) (*Keyring, error) {
	if err := k.Reload(); err != nil {
		return nil, err
	}
	if len(k.keys) == 0 {
		if _, err := k.Rotate(now); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// Reload reads the keys again (the CLI or another node rotated or
// retired one).
func (k *Keyring) Reload() error {
	if k.store != nil {
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		defer cancel()
		keys, err := k.store.SigningKeys(ctx)
		if err != nil {
			return fmt.Errorf("integrity: shared signing keys: %w", err)
		}
		if err := derive(keys, "the shared store"); err != nil {
			return err
		}
		if len(keys) > 0 || k.keys == nil {
			k.mu.Lock()
			k.keys = keys
			k.mu.Unlock()
		}
		return nil
	}
	b, err := os.ReadFile(k.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("integrity: %w", err)
	}
	var keys []SigningKey
	if err := json.Unmarshal(b, &keys); err != nil {
		return fmt.Errorf("integrity: %s: %w", k.path, err)
	}
	if err := derive(keys, k.path); err != nil {
		return err
	}
	k.mu.Lock()
	k.keys = keys
	k.mu.Unlock()
	return nil
}

// derive checks loaded keys and derives their private halves once.
func derive(keys []SigningKey, from string) error {
	for i, key := range keys {
		if len(key.Seed) != ed25519.SeedSize || key.ID == "" {
			return fmt.Errorf("integrity: %s: signing key %q is damaged", from, key.ID)
		}
		keys[i].priv = ed25519.NewKeyFromSeed(key.Seed)
	}
	return nil
}

func (k *Keyring) save(keys []SigningKey) error {
	b, err := json.MarshalIndent(keys, "", "  ")
	if err != nil {
		return err
	}
	tmp := k.path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("integrity: %w", err)
	}
	if err := os.Rename(tmp, k.path); err != nil {
		return fmt.Errorf("integrity: %w", err)
	}
	k.mu.Lock()
	k.keys = keys
	k.mu.Unlock()
	return nil
}

// Rotate adds a key that signs from now on; older keys keep verifying.
func (k *Keyring) Rotate(now time.Time) (SigningKey, error) {
	if err := k.Reload(); err != nil {
		return SigningKey{}, err
	}
	seed := make([]byte, ed25519.SeedSize)
	rand.Read(seed)
	id := make([]byte, 6)
	rand.Read(id)
	key := SigningKey{ID: "wm-" + now.UTC().Format("20060102") + "-" + hex.EncodeToString(id), Created: now.UTC(), Seed: seed,
		priv: ed25519.NewKeyFromSeed(seed)}
	if k.store != nil {
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		defer cancel()
		if err := k.store.AddSigningKey(ctx, key); err != nil {
			return SigningKey{}, fmt.Errorf("integrity: shared signing keys: %w", err)
		}
		return key, k.Reload()
	}
	k.mu.RLock()
	keys := append(append([]SigningKey(nil), k.keys...), key)
	k.mu.RUnlock()
	return key, k.save(keys)
}

// Retire removes a key that no longer signs: signatures made with it
// stop verifying.
func (k *Keyring) Retire(id string) error {
	if err := k.Reload(); err != nil {
		return err
	}
	k.mu.RLock()
	keys := append([]SigningKey(nil), k.keys...)
	k.mu.RUnlock()
	for i, key := range keys {
		if key.ID != id {
			continue
		}
		if i == len(keys)-1 {
			return errors.New("integrity: the signing key cannot be retired; rotate first")
		}
		if k.store != nil {
			ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
			defer cancel()
			if _, err := k.store.RemoveSigningKey(ctx, id); err != nil {
				return fmt.Errorf("integrity: shared signing keys: %w", err)
			}
			return k.Reload()
		}
		return k.save(append(keys[:i], keys[i+1:]...))
	}
	return fmt.Errorf("integrity: no signing key %q", id)
}

// Current is the key that signs.
func (k *Keyring) Current() SigningKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.keys[len(k.keys)-1]
}

// Keys returns the keys, oldest first.
func (k *Keyring) Keys() []SigningKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return append([]SigningKey(nil), k.keys...)
}

// KeySet returns the public keys by id.
func (k *Keyring) KeySet() KeySet {
	ks := KeySet{}
	for _, key := range k.Keys() {
		ks[key.ID] = key.Public()
	}
	return ks
}

// KeySet is public keys by key id, for verifying.
type KeySet map[string]ed25519.PublicKey

type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// JWKS is the key set as a JSON Web Key Set (RFC 7517, OKP keys of
// RFC 8037).
func (ks KeySet) JWKS() []byte {
	out := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	for id, pub := range ks {
		out.Keys = append(out.Keys, jwk{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(pub), Kid: id, Alg: "EdDSA", Use: "sig"})
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	return b
}

// ParseJWKS reads the Ed25519 keys of a JSON Web Key Set.
func ParseJWKS(b []byte) (KeySet, error) {
	var in struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("integrity: key set: %w", err)
	}
	ks := KeySet{}
	for _, k := range in.Keys {
		if k.Kty != "OKP" || k.Crv != "Ed25519" || k.Kid == "" {
			continue
		}
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("integrity: key set: key %q is not an Ed25519 public key", k.Kid)
		}
		ks[k.Kid] = ed25519.PublicKey(x)
	}
	if len(ks) == 0 {
		return nil, errors.New("integrity: key set has no Ed25519 key")
	}
	return ks, nil
}
