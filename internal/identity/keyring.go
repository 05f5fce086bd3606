package identity

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"sort"
	"sync"
	"time"
)

// Key is one secret of a key ring.
type Key struct {
	ID      uint32
	Secret  [32]byte
	Created time.Time
}

// NewKey makes a random key whose id differs from those in taken.
func NewKey(now time.Time, taken func(uint32) bool) Key {
	k := Key{Created: now.UTC()}
	rand.Read(k.Secret[:])
	for {
		var b [4]byte
		rand.Read(b[:])
		k.ID = binary.BigEndian.Uint32(b[:])
		if k.ID != 0 && (taken == nil || !taken(k.ID)) {
			return k
		}
	}
}

// Ring holds the keys that verify values and the newest, which signs.
// Rotation adds a key that signs from then on; values signed with older
// keys keep verifying until those keys are retired. A Ring is safe for
// concurrent use; Replace swaps the keys at run time.
type Ring struct {
	mu      sync.RWMutex
	signing *ringKey
	keys    map[uint32]*ringKey
}

type ringKey struct {
	Key
	macs sync.Pool // of hash.Hash, keyed HMAC-SHA256 reused across calls
}

// NewRing makes a ring of keys; the newest signs. It needs at least one.
func NewRing(keys []Key) (*Ring, error) {
	r := &Ring{}
	if err := r.Replace(keys); err != nil {
		return nil, err
	}
	return r, nil
}

// Replace sets the ring's keys (after a rotation or retirement).
func (r *Ring) Replace(keys []Key) error {
	if len(keys) == 0 {
		return errors.New("identity: a key ring needs a key")
	}
	m := make(map[uint32]*ringKey, len(keys))
	var newest *ringKey
	for _, k := range keys {
		if k.ID == 0 {
			return errors.New("identity: key id 0 is reserved")
		}
		if _, dup := m[k.ID]; dup {
			return fmt.Errorf("identity: key id %d twice", k.ID)
		}
		rk := &ringKey{Key: k}
		secret := k.Secret
		rk.macs.New = func() any { return hmac.New(sha256.New, secret[:]) }
		m[k.ID] = rk
		if newest == nil || k.Created.After(newest.Created) || k.Created.Equal(newest.Created) && k.ID > newest.ID {
			newest = rk
		}
	}
	r.mu.Lock()
	r.keys, r.signing = m, newest
	r.mu.Unlock()
	return nil
}

// Keys lists the ring's keys, oldest first.
func (r *Ring) Keys() []Key {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Key, 0, len(r.keys))
	for _, k := range r.keys {
		out = append(out, k.Key)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out
}

// SigningID is the id of the key that signs.
func (r *Ring) SigningID() uint32 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.signing.ID
}

func (r *Ring) signer() *ringKey {
	r.mu.RLock()
	k := r.signing
	r.mu.RUnlock()
	return k
}

func (r *Ring) key(id uint32) *ringKey {
	r.mu.RLock()
	k := r.keys[id]
	r.mu.RUnlock()
	return k
}

// tag writes into sc.sum the HMAC-SHA256 of label and sc.raw's body. The
// buffers live in sc (from a pool), so nothing is allocated.
func (k *ringKey) tag(sc *scratch, label []byte) {
	h := k.macs.Get().(hash.Hash)
	h.Reset()
	h.Write(label)
	h.Write(sc.raw[:bodyLen])
	h.Sum(sc.sum[:0])
	k.macs.Put(h)
}

// scratch is the working memory of one Encode or Decode.
type scratch struct {
	raw [rawLen]byte
	src [encodeLen]byte
	sum [32]byte
}

var scratches = sync.Pool{New: func() any { return new(scratch) }}

// KeyStore keeps the key ring; the state store implements it.
type KeyStore interface {
	// IdentityKeys returns the keys that are not retired.
	IdentityKeys(ctx context.Context) ([]Key, error)
	AddIdentityKey(ctx context.Context, k Key) error
	// RetireIdentityKey retires a key; ErrKeyNotFound if there is none.
	RetireIdentityKey(ctx context.Context, id uint32, at time.Time) error
}

// ErrKeyNotFound: no such key (or already retired).
var ErrKeyNotFound = errors.New("identity: no such key")

// Rotate adds a new signing key to the store.
func Rotate(ctx context.Context, st KeyStore, now time.Time) (Key, error) {
	keys, err := st.IdentityKeys(ctx)
	if err != nil {
		return Key{}, err
	}
	k := NewKey(now, func(id uint32) bool {
		for _, x := range keys {
			if x.ID == id {
				return true
			}
		}
		return false
	})
	return k, st.AddIdentityKey(ctx, k)
}

// LoadRing reads the store's keys, making the first key on first use.
func LoadRing(ctx context.Context, st KeyStore, now time.Time) (*Ring, error) {
	keys, err := st.IdentityKeys(ctx)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		k, err := Rotate(ctx, st, now)
		if err != nil {
			return nil, err
		}
		keys = []Key{k}
	}
	return NewRing(keys)
}

// Refresh reloads the ring's keys from the store (a rotation or retirement
// by `waymark keys` while the server runs). A store without keys leaves the
// ring as it is.
func (r *Ring) Refresh(ctx context.Context, st KeyStore) error {
	keys, err := st.IdentityKeys(ctx)
	if err != nil || len(keys) == 0 {
		return err
	}
	return r.Replace(keys)
}

// MAC signs msg for a purpose (label) with the signing key: the key's id
// and HMAC-SHA256(secret, label || 0 || msg). Labels keep one purpose's
// tags from being valid for another.
func (r *Ring) MAC(label string, msg []byte) (uint32, [32]byte) {
	k := r.signer()
	return k.ID, k.mac(label, msg)
}

// VerifyMAC checks a tag made by MAC with the key id, while that key is
// in the ring.
func (r *Ring) VerifyMAC(id uint32, label string, msg []byte, tag []byte) bool {
	k := r.key(id)
	if k == nil {
		return false
	}
	sum := k.mac(label, msg)
	return hmac.Equal(sum[:], tag)
}

func (k *ringKey) mac(label string, msg []byte) [32]byte {
	h := k.macs.Get().(hash.Hash)
	h.Reset()
	h.Write([]byte(label))
	h.Write([]byte{0})
	h.Write(msg)
	var sum [32]byte
	h.Sum(sum[:0])
	k.macs.Put(h)
	return sum
}
