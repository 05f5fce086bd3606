package identity

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func testRing(t testing.TB, now time.Time) *Ring {
	t.Helper()
	r, err := NewRing([]Key{NewKey(now, nil)})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCodec(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	ring := testRing(t, now)
	c := NewCodec(ring, "visitor", 0, clock)
	id := NewID()
	val := c.Encode(id)
	if len(val) != encodeLen {
		t.Fatalf("value %q has %d characters, want %d", val, len(val), encodeLen)
	}
	got, err := c.Decode(val)
	if err != nil || got.ID != id || !got.Issued.Equal(now) || got.KeyID != ring.SigningID() {
		t.Fatalf("Decode = %+v, %v", got, err)
	}

	// Every single-character change fails.
	for i := range val {
		for _, ch := range []byte{'A', 'b', '-', '_', '0'} {
			if val[i] == ch {
				continue
			}
			bad := val[:i] + string(ch) + val[i+1:]
			if _, err := c.Decode(bad); err == nil {
				t.Fatalf("changed value %q verified", bad)
			}
		}
	}
	for _, bad := range []string{"", val[:len(val)-1], val + "A", "!!!!", string(make([]byte, encodeLen))} {
		if _, err := c.Decode(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Decode(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	// Another purpose's codec does not accept it.
	if _, err := NewCodec(ring, "consent", 0, clock).Decode(val); !errors.Is(err, ErrBadMAC) {
		t.Errorf("a visitor value as a consent value: %v", err)
	}
	// A foreign ring does not know the key.
	if _, err := NewCodec(testRing(t, now), "visitor", 0, clock).Decode(val); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("foreign key: %v", err)
	}
	// Expiry, and values from the future.
	short := NewCodec(ring, "visitor", time.Hour, clock)
	now = now.Add(2 * time.Hour)
	if _, err := short.Decode(val); !errors.Is(err, ErrExpired) {
		t.Errorf("2 hours old with a 1-hour limit: %v", err)
	}
	now = now.Add(-3 * time.Hour)
	if _, err := c.Decode(val); !errors.Is(err, ErrExpired) {
		t.Errorf("issued an hour in the future: %v", err)
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	k1 := NewKey(now, nil)
	ring, err := NewRing([]Key{k1})
	if err != nil {
		t.Fatal(err)
	}
	c := NewCodec(ring, "visitor", 0, clock)
	old := c.Encode(NewID())
	// Rotate: a new key signs, the old one still verifies.
	now = now.Add(time.Hour)
	k2 := NewKey(now, func(id uint32) bool { return id == k1.ID })
	if err := ring.Replace([]Key{k1, k2}); err != nil {
		t.Fatal(err)
	}
	if ring.SigningID() != k2.ID {
		t.Fatal("the newest key does not sign")
	}
	fresh := c.Encode(NewID())
	for _, v := range []string{old, fresh} {
		if _, err := c.Decode(v); err != nil {
			t.Errorf("after rotation: %v", err)
		}
	}
	// Retire the old key: its values stop verifying.
	if err := ring.Replace([]Key{k2}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Decode(old); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("value of a retired key: %v", err)
	}
	if _, err := c.Decode(fresh); err != nil {
		t.Errorf("value of the current key: %v", err)
	}
	if err := ring.Replace(nil); err == nil {
		t.Error("an empty ring is accepted")
	}
	if err := ring.Replace([]Key{k2, k2}); err == nil {
		t.Error("a ring with a key twice is accepted")
	}
	if got := ring.Keys(); len(got) != 1 || got[0].ID != k2.ID {
		t.Errorf("Keys = %v", got)
	}
}

func TestDecodeAllocs(t *testing.T) {
	now := time.Now()
	c := NewCodec(testRing(t, now), "visitor", 0, func() time.Time { return now })
	val := c.Encode(NewID())
	if n := testing.AllocsPerRun(1000, func() { c.Decode(val) }); n != 0 && !raceEnabled {
		t.Errorf("Decode allocates %v times", n)
	}
}

func TestID(t *testing.T) {
	t.Parallel()
	id := NewID()
	back, err := ParseID(id.String())
	if err != nil || back != id || id.IsZero() {
		t.Errorf("ParseID(String) = %v, %v", back, err)
	}
	for _, bad := range []string{"", "zz", id.String()[:31] + "g"} {
		if _, err := ParseID(bad); err == nil {
			t.Errorf("ParseID(%q) accepted", bad)
		}
	}
}

// FuzzDecode: no input panics, and none verifies without the key (a random
// 128-bit tag matching is not a thing a fuzzer finds).
func FuzzDecode(f *testing.F) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	c := NewCodec(testRing(f, now), "visitor", 0, func() time.Time { return now })
	f.Add(c.Encode(NewID()))
	f.Add("")
	f.Add("AQAAAAEAAAAA")
	f.Fuzz(func(t *testing.T, s string) {
		if v, err := c.Decode(s); err == nil && c.Encode(v.ID) != s {
			// Only values this codec made (at this instant) verify.
			t.Fatalf("%q verified as %+v but was not made here", s, v)
		}
	})
}

func BenchmarkSignVerify(b *testing.B) {
	now := time.Now()
	c := NewCodec(testRing(b, now), "visitor", 0, func() time.Time { return now })
	id := NewID()
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = c.AppendEncode(buf[:0], id)
		if _, err := c.Decode(string(buf)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	now := time.Now()
	c := NewCodec(testRing(b, now), "visitor", 0, func() time.Time { return now })
	val := c.Encode(NewID())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Decode(val); err != nil {
			b.Fatal(err)
		}
	}
}

func TestRememberedFields(t *testing.T) {
	t.Parallel()
	now := time.Now()
	ring := testRing(t, now)
	alice, bob := NewID(), NewID()
	fields := map[string]string{"name": "Alice Example", "email": "alice@example.com", "postal-code": "10115"}
	sealed, err := ring.SealFields(alice, fields)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed.Data, []byte("alice@example.com")) {
		t.Fatal("details stored in the clear")
	}
	got, err := ring.OpenFields(alice, sealed)
	if err != nil || !reflect.DeepEqual(got, fields) {
		t.Fatalf("OpenFields = %v, %v", got, err)
	}
	if _, err := ring.OpenFields(bob, sealed); err == nil {
		t.Error("another visitor's id opens the details")
	}
	tampered := Sealed{KeyID: sealed.KeyID, Data: append([]byte(nil), sealed.Data...)}
	tampered.Data[len(tampered.Data)-1] ^= 1
	if _, err := ring.OpenFields(alice, tampered); err == nil {
		t.Error("changed ciphertext opens")
	}
	for _, bad := range []map[string]string{
		{"password": "x"}, {"new-password": "x"}, {"cc-number": "4111"}, {"cc-exp": "12/30"}, {"one-time-code": "123456"},
		{"favourite-colour": "blue"}, {"email": strings.Repeat("a", 600)},
	} {
		if _, err := ring.SealFields(alice, bad); err == nil {
			t.Errorf("SealFields(%v) accepted", bad)
		}
	}
	if _, err := ring.SealFields(alice, map[string]string{"Password": "x"}); !errors.Is(err, ErrRefusedField) || !strings.Contains(err.Error(), "never remembered") {
		t.Errorf("a password says why: %v", err)
	}
}
