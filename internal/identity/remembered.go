package identity

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Remembered registration details: fields a visitor typed, kept so they
// are filled in next time, with the visitor's consent to "preferences".
// They are stored server-side only, encrypted with AES-256-GCM under a key
// derived from the key ring and bound to the visitor id.

// RememberFields are the autocomplete tokens that may be remembered.
var RememberFields = []string{"name", "honorific-prefix", "given-name", "additional-name", "family-name", "nickname",
	"email", "username", "organization", "organization-title", "tel", "street-address", "address-line1", "address-line2",
	"address-line3", "address-level1", "address-level2", "postal-code", "country", "country-name", "language", "bday", "url"}

// refused are fields that are never remembered, with why.
var refused = map[string]string{
	"password": "passwords", "new-password": "passwords", "current-password": "passwords",
	"one-time-code": "one-time codes", "cc-number": "card numbers", "cc-csc": "card security codes",
	"cc-exp": "card expiry dates", "cc-exp-month": "card expiry dates", "cc-exp-year": "card expiry dates",
	"cc-name": "card holder names", "cc-type": "card types", "cc-given-name": "card holder names",
	"cc-family-name": "card holder names", "cc-additional-name": "card holder names", "transaction-amount": "payment details",
}

// ErrRefusedField marks a field that may not be remembered.
var ErrRefusedField = errors.New("identity: field may not be remembered")

// Limits of remembered details.
const (
	maxFields     = 32
	maxFieldValue = 500
)

// CheckFields validates fields to remember: known autocomplete tokens
// only, never passwords, card data or one-time codes.
func CheckFields(fields map[string]string) error {
	if len(fields) > maxFields {
		return fmt.Errorf("identity: at most %d fields", maxFields)
	}
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		token := strings.ToLower(strings.TrimSpace(k))
		if why, ok := refused[token]; ok || strings.HasPrefix(token, "cc-") {
			if why == "" {
				why = "card details"
			}
			return fmt.Errorf("%w: %q: %s are never remembered", ErrRefusedField, k, why)
		}
		if !containsString(RememberFields, token) {
			return fmt.Errorf("%w: %q is not an autocomplete field Waymark remembers (one of %s)", ErrRefusedField, k, strings.Join(RememberFields, ", "))
		}
		if len(fields[k]) > maxFieldValue {
			return fmt.Errorf("identity: field %q is longer than %d bytes", k, maxFieldValue)
		}
	}
	return nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Sealed is remembered details at rest: the key that sealed them and the
// nonce-prefixed ciphertext.
type Sealed struct {
	KeyID uint32
	Data  []byte
}

func (r *Ring) aead(id uint32) (cipher.AEAD, error) {
	k := r.key(id)
	if k == nil {
		return nil, ErrUnknownKey
	}
	key, err := hkdf.Key(sha256.New, k.Secret[:], nil, "waymark remembered details v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// SealFields encrypts fields for visitor id with the signing key.
func (r *Ring) SealFields(id ID, fields map[string]string) (Sealed, error) {
	if err := CheckFields(fields); err != nil {
		return Sealed{}, err
	}
	plain, err := json.Marshal(fields)
	if err != nil {
		return Sealed{}, err
	}
	kid := r.SigningID()
	g, err := r.aead(kid)
	if err != nil {
		return Sealed{}, err
	}
	nonce := make([]byte, g.NonceSize(), g.NonceSize()+len(plain)+g.Overhead())
	rand.Read(nonce)
	return Sealed{KeyID: kid, Data: g.Seal(nonce, nonce, plain, aad(id, kid))}, nil
}

// OpenFields decrypts details sealed for visitor id; another visitor's
// id, a changed byte or a retired key fails.
func (r *Ring) OpenFields(id ID, s Sealed) (map[string]string, error) {
	g, err := r.aead(s.KeyID)
	if err != nil {
		return nil, err
	}
	if len(s.Data) < g.NonceSize() {
		return nil, ErrInvalid
	}
	plain, err := g.Open(nil, s.Data[:g.NonceSize()], s.Data[g.NonceSize():], aad(id, s.KeyID))
	if err != nil {
		return nil, ErrBadMAC
	}
	var fields map[string]string
	if err := json.Unmarshal(plain, &fields); err != nil {
		return nil, ErrInvalid
	}
	return fields, nil
}

func aad(id ID, kid uint32) []byte {
	b := append([]byte("remembered\x00"), id[:]...)
	return binary.BigEndian.AppendUint32(b, kid)
}

// RememberRetention is how long remembered details are kept after they
// were last saved.
const RememberRetention = 365 * 24 * time.Hour

// RememberStore keeps sealed details; the state store implements it.
type RememberStore interface {
	PutRemembered(ctx context.Context, id ID, s Sealed, expires time.Time) error
	// Remembered returns the details that have not expired at now.
	Remembered(ctx context.Context, id ID, now time.Time) (Sealed, bool, error)
	// ForgetRemembered deletes a visitor's details (and expired ones).
	ForgetRemembered(ctx context.Context, id ID, now time.Time) error
}
