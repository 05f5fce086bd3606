package identity

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// A value is base64url (no padding) of
//
//	version (1) | key id (4) | issued, Unix seconds (4) | visitor id (16) | tag (16)
//
// where tag is the first 16 bytes of HMAC-SHA256 under the key over a
// purpose label and the 25 bytes before it. The purpose binds a value to
// its use: an identity value does not verify as a consent value.
const (
	version   = 1
	bodyLen   = 1 + 4 + 4 + 16
	tagLen    = 16
	rawLen    = bodyLen + tagLen
	encodeLen = (rawLen*8 + 5) / 6
)

// MaxAge is the longest a value is accepted (RFC 6265bis caps cookies at
// 400 days); Issue renews a value well before.
const MaxAge = 400 * 24 * time.Hour

// skew is how far in the future an issue time may be (clocks differ
// between servers).
const skew = 5 * time.Minute

// Codec signs and verifies values for one purpose.
type Codec struct {
	ring   *Ring
	label  []byte // purpose, NUL
	now    func() time.Time
	maxAge time.Duration
}

// NewCodec makes a codec for values of one purpose (e.g. "visitor",
// "consent"), accepted for maxAge after they were issued (0: MaxAge).
func NewCodec(ring *Ring, purpose string, maxAge time.Duration, now func() time.Time) *Codec {
	if maxAge <= 0 || maxAge > MaxAge {
		maxAge = MaxAge
	}
	return &Codec{ring: ring, label: append([]byte(purpose), 0), now: now, maxAge: maxAge}
}

// Value is what a verified value says.
type Value struct {
	ID     ID
	Issued time.Time
	KeyID  uint32
}

// Encode signs id with the ring's signing key, issued now.
func (c *Codec) Encode(id ID) string {
	var out [encodeLen]byte
	return string(c.AppendEncode(out[:0], id))
}

// AppendEncode appends the signed value of id to dst.
func (c *Codec) AppendEncode(dst []byte, id ID) []byte {
	k := c.ring.signer()
	sc := scratches.Get().(*scratch)
	defer scratches.Put(sc)
	sc.raw[0] = version
	binary.BigEndian.PutUint32(sc.raw[1:5], k.ID)
	binary.BigEndian.PutUint32(sc.raw[5:9], uint32(c.now().Unix()))
	copy(sc.raw[9:25], id[:])
	k.tag(sc, c.label)
	copy(sc.raw[bodyLen:], sc.sum[:tagLen])
	return base64.RawURLEncoding.AppendEncode(dst, sc.raw[:])
}

// strictBase64 refuses a last character whose unused bits are set, so a
// value has exactly one spelling (otherwise a changed last character can
// decode to the same bytes).
var strictBase64 = base64.RawURLEncoding.Strict()

// Decode verifies a value and returns what it says. Any change to a value
// (a flipped bit, a truncation, another key or purpose, an expired time)
// makes it fail; it never panics and does not allocate.
func (c *Codec) Decode(s string) (Value, error) {
	if len(s) != encodeLen {
		return Value{}, ErrInvalid
	}
	sc := scratches.Get().(*scratch)
	defer scratches.Put(sc)
	copy(sc.src[:], s)
	n, err := strictBase64.Decode(sc.raw[:], sc.src[:])
	if err != nil || n != rawLen || sc.raw[0] != version {
		return Value{}, ErrInvalid
	}
	k := c.ring.key(binary.BigEndian.Uint32(sc.raw[1:5]))
	if k == nil {
		return Value{}, ErrUnknownKey
	}
	k.tag(sc, c.label)
	if subtle.ConstantTimeCompare(sc.sum[:tagLen], sc.raw[bodyLen:]) != 1 {
		return Value{}, ErrBadMAC
	}
	issued := time.Unix(int64(binary.BigEndian.Uint32(sc.raw[5:9])), 0).UTC()
	now := c.now()
	if issued.After(now.Add(skew)) || now.Sub(issued) > c.maxAge {
		return Value{}, ErrExpired
	}
	v := Value{Issued: issued, KeyID: k.ID}
	copy(v.ID[:], sc.raw[9:25])
	return v, nil
}
