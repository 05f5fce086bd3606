// Package identity provides first-party visitor identity: 128-bit random
// visitor ids carried in cookie (or local-storage) values authenticated
// with a rotating key ring. Values hold ids only, never personal data.
package identity

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
)

// ID is a visitor id: 128 random bits.
type ID [16]byte

// NewID returns a fresh random visitor id.
func NewID() ID {
	var id ID
	rand.Read(id[:])
	return id
}

// String is the id in hex, as APIs show it.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports the zero id (no visitor).
func (id ID) IsZero() bool { return id == ID{} }

// ParseID reads an id written by String.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 32 {
		return id, ErrInvalid
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return ID{}, ErrInvalid
	}
	return id, nil
}

// Errors. Callers treat every one of them the same way: the value is not
// trusted and a new one is issued; the kinds are for logs and metrics.
var (
	ErrInvalid    = errors.New("identity: malformed value")
	ErrUnknownKey = errors.New("identity: value signed with an unknown or retired key")
	ErrBadMAC     = errors.New("identity: value does not verify")
	ErrExpired    = errors.New("identity: value expired")
)
