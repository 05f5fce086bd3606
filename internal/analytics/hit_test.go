package analytics

import (
	"reflect"
	"testing"
	"time"
)

func TestHitRoundTrip(t *testing.T) {
	t.Parallel()
	h := Hit{ID: 7, Time: time.UnixMilli(1700000000123).UTC(), Site: "e.com", Name: "pageview", Path: "/ü?x=1", Browser: "Chrome",
		ScreenW: 1920, ScreenH: 1080, DPR: 1.25, ColorDepth: 24, VisitorID: 1 << 60, PrevVisitorID: 3, PageviewID: 9, EngagedMS: 1234, ScrollDepth: 55,
		Props: []Prop{{"a", "b"}, {"c", ""}},
		Place: Place{Country: "EE", CountryName: "Estonia", Region: "EE-37", RegionName: "Harjumaa", City: 588409, CityName: "Tallinn"}}
	var got Hit
	if err := got.UnmarshalBinary(h.AppendBinary(nil)); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, h) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, h)
	}
	enc := h.AppendBinary(nil)
	for i := 0; i < len(enc); i++ {
		if err := new(Hit).UnmarshalBinary(enc[:i]); err == nil {
			t.Fatalf("truncated record of %d bytes decoded", i)
		}
	}
}

// Records spooled by a Waymark before Place was added (version 1) still
// decode, with an empty Place.
func TestHitVersion1(t *testing.T) {
	t.Parallel()
	h := Hit{ID: 3, Time: time.UnixMilli(1700000000000).UTC(), Site: "e.com", Name: "pageview", Path: "/", Props: []Prop{{"k", "v"}}}
	enc := h.AppendBinary(nil)
	v1 := append([]byte(nil), enc[:len(enc)-9]...) // without five empty strings, city 0, no revenue and no flags
	v1[0] = 1
	var got Hit
	if err := got.UnmarshalBinary(v1); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, h) {
		t.Errorf("version 1:\n got %+v\nwant %+v", got, h)
	}
}

// Records of version 2 (with Place, before revenue) still decode, with
// no revenue; version 3 keeps it.
func TestHitVersion2(t *testing.T) {
	t.Parallel()
	h := Hit{ID: 4, Time: time.UnixMilli(1700000000000).UTC(), Site: "e.com", Name: "Purchase", Path: "/", Place: Place{Country: "EE", City: 588409}}
	enc := h.AppendBinary(nil)
	v2 := append([]byte(nil), enc[:len(enc)-3]...) // without revenue 0, currency "" and flags
	v2[0] = 2
	var got Hit
	if err := got.UnmarshalBinary(v2); err != nil || !reflect.DeepEqual(got, h) {
		t.Errorf("version 2: %v\n got %+v\nwant %+v", err, got, h)
	}
	h.RevenueMilli, h.RevenueCurrency = 12500, "EUR"
	enc = h.AppendBinary(nil)
	v3 := append([]byte(nil), enc[:len(enc)-1]...) // without flags
	v3[0] = 3
	got = Hit{}
	if err := got.UnmarshalBinary(v3); err != nil || !reflect.DeepEqual(got, h) {
		t.Errorf("version 3: %v\n got %+v\nwant %+v", err, got, h)
	}
	h.NonInteractive = true
	got = Hit{}
	if err := got.UnmarshalBinary(h.AppendBinary(nil)); err != nil || !reflect.DeepEqual(got, h) {
		t.Errorf("revenue: %v\n got %+v\nwant %+v", err, got, h)
	}
}

func FuzzHitUnmarshal(f *testing.F) {
	h := Hit{Site: "e.com", Name: "pageview", Props: []Prop{{"k", "v"}}}
	f.Add(h.AppendBinary(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		var h Hit
		if h.UnmarshalBinary(b) != nil {
			return
		}
		var again Hit
		if err := again.UnmarshalBinary(h.AppendBinary(nil)); err != nil || !reflect.DeepEqual(h, again) {
			t.Fatalf("decoded hit does not round-trip: %v", err)
		}
	})
}
