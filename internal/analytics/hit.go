// Package analytics is the shared model of Waymark's web-beacon
// analytics: hits and their binary records, events, sessions and the
// batches the ingester writes, salts and visitor ids, and the names and
// limits every side agrees on. The collection side (package collect)
// makes them, the event stores (duckdb, clickhouse) store them through
// EventWriter, and the query side (package stats) reads them.
package analytics

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Event names with a meaning of their own. Any other name is a custom event.
const (
	EventPageview   = "pageview"
	EventEngagement = "engagement"
)

// Hit is one enriched, validated beacon: what the spool holds and the event
// store keeps. It never carries a raw IP address or user agent.
type Hit struct {
	ID   uint64    // random; lets stores without transactions drop retried rows
	Time time.Time // acceptance time, UTC, millisecond precision
	Site string
	Name string

	Hostname string
	Path     string

	Referrer       string // registrable host of the referring page, "" when direct or internal
	ReferrerSource string // e.g. "Google", "Newsletter"; "" when direct
	Channel        string // search, social, email, campaign, referral, direct
	UTMSource      string
	UTMMedium      string
	UTMCampaign    string
	UTMTerm        string
	UTMContent     string

	Browser        string
	BrowserVersion string
	OS             string
	OSVersion      string
	Device         string // Desktop, Mobile, Tablet, TV

	ScreenW, ScreenH     uint16
	ViewportW, ViewportH uint16
	DPR                  float32
	ColorDepth           uint8
	ScreenClass          string // Mobile, Tablet, Laptop, Desktop, from the screen width
	Language             string
	TimeZone             string

	VisitorID     uint64
	PrevVisitorID uint64 // hash under the previous day's salt, while it still exists
	PageviewID    uint64
	EngagedMS     uint32
	ScrollDepth   uint8 // 0-100

	Place // where the hit came from, when a geolocation database says

	Props []Prop

	// Revenue of a custom event (Plausible's revenue goals): the amount
	// in thousandths of the currency's unit, and its ISO 4217 code; 0 and
	// "" without revenue.
	RevenueMilli    int64
	RevenueCurrency string
	// NonInteractive marks a custom event sent with interactive: false:
	// it does not keep its visit from counting as a bounce.
	NonInteractive bool
}

// Place is where a visitor was, as far as a geolocation database knows,
// cut to the precision the operator chose. The address it was found from
// is never stored.
type Place struct {
	Country     string // ISO 3166-1 alpha-2, "" when unknown
	CountryName string // English short name
	Region      string // ISO 3166-2 subdivision code, "" when unknown
	RegionName  string
	City        uint32 // GeoNames id, or an id of the database's city name with the top bit set; 0 when unknown
	CityName    string
}

// Prop is one custom property of an event.
type Prop struct{ Key, Value string }

// hitVersion is the first byte of an encoded hit; bump it when the layout changes.
// Record versions: 1 had no Place; 2 appends it; 3 appends the revenue;
// 4 a byte of flags (1: not interactive). Spooled records of earlier
// versions still decode.
const (
	hitVersion1 = 1
	hitVersion2 = 2
	hitVersion3 = 3
	hitVersion  = 4
)

// ErrCorrupt reports an encoded hit that cannot be decoded.
var ErrCorrupt = errors.New("analytics: corrupt hit record")

// AppendBinary appends the hit's compact binary form to b.
func (h *Hit) AppendBinary(b []byte) []byte {
	b = append(b, hitVersion)
	b = binary.LittleEndian.AppendUint64(b, h.ID)
	b = binary.AppendVarint(b, h.Time.UnixMilli())
	for _, s := range [...]string{h.Site, h.Name, h.Hostname, h.Path, h.Referrer, h.ReferrerSource, h.Channel,
		h.UTMSource, h.UTMMedium, h.UTMCampaign, h.UTMTerm, h.UTMContent,
		h.Browser, h.BrowserVersion, h.OS, h.OSVersion, h.Device, h.ScreenClass, h.Language, h.TimeZone} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	for _, v := range [...]uint16{h.ScreenW, h.ScreenH, h.ViewportW, h.ViewportH} {
		b = binary.AppendUvarint(b, uint64(v))
	}
	b = binary.LittleEndian.AppendUint32(b, math.Float32bits(h.DPR))
	b = append(b, h.ColorDepth, h.ScrollDepth)
	b = binary.LittleEndian.AppendUint64(b, h.VisitorID)
	b = binary.LittleEndian.AppendUint64(b, h.PrevVisitorID)
	b = binary.LittleEndian.AppendUint64(b, h.PageviewID)
	b = binary.AppendUvarint(b, uint64(h.EngagedMS))
	b = binary.AppendUvarint(b, uint64(len(h.Props)))
	for _, p := range h.Props {
		b = binary.AppendUvarint(b, uint64(len(p.Key)))
		b = append(b, p.Key...)
		b = binary.AppendUvarint(b, uint64(len(p.Value)))
		b = append(b, p.Value...)
	}
	for _, s := range [...]string{h.Country, h.CountryName, h.Region, h.RegionName, h.CityName} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, uint64(h.City))
	b = binary.AppendVarint(b, h.RevenueMilli)
	b = binary.AppendUvarint(b, uint64(len(h.RevenueCurrency)))
	b = append(b, h.RevenueCurrency...)
	var flags byte
	if h.NonInteractive {
		flags |= 1
	}
	return append(b, flags)
}

type decoder struct {
	b   []byte
	s   string // a copy of the whole record, which strings are cut from: one allocation instead of one per field
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = ErrCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) fixed(n int) []byte {
	if d.err != nil || len(d.b) < n {
		d.err = ErrCorrupt
		return make([]byte, n)
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = ErrCorrupt
		return ""
	}
	off := len(d.s) - len(d.b)
	d.fixed(int(n))
	return d.s[off : off+int(n)]
}

// UnmarshalBinary decodes a hit written by AppendBinary.
func (h *Hit) UnmarshalBinary(b []byte) error {
	if len(b) == 0 || b[0] < hitVersion1 || b[0] > hitVersion {
		return fmt.Errorf("%w: unknown version", ErrCorrupt)
	}
	d := &decoder{b: b[1:], s: string(b[1:])}
	h.ID = binary.LittleEndian.Uint64(d.fixed(8))
	ms, n := binary.Varint(d.b)
	if n <= 0 {
		return ErrCorrupt
	}
	d.b = d.b[n:]
	h.Time = time.UnixMilli(ms).UTC()
	for _, p := range [...]*string{&h.Site, &h.Name, &h.Hostname, &h.Path, &h.Referrer, &h.ReferrerSource, &h.Channel,
		&h.UTMSource, &h.UTMMedium, &h.UTMCampaign, &h.UTMTerm, &h.UTMContent,
		&h.Browser, &h.BrowserVersion, &h.OS, &h.OSVersion, &h.Device, &h.ScreenClass, &h.Language, &h.TimeZone} {
		*p = d.str()
	}
	for _, p := range [...]*uint16{&h.ScreenW, &h.ScreenH, &h.ViewportW, &h.ViewportH} {
		v := d.uvarint()
		if v > math.MaxUint16 {
			d.err = ErrCorrupt
		}
		*p = uint16(v)
	}
	h.DPR = math.Float32frombits(binary.LittleEndian.Uint32(d.fixed(4)))
	if math.IsNaN(float64(h.DPR)) || math.IsInf(float64(h.DPR), 0) {
		d.err = ErrCorrupt // the encoder never writes one: parsing refuses them
	}
	cs := d.fixed(2)
	h.ColorDepth, h.ScrollDepth = cs[0], cs[1]
	h.VisitorID = binary.LittleEndian.Uint64(d.fixed(8))
	h.PrevVisitorID = binary.LittleEndian.Uint64(d.fixed(8))
	h.PageviewID = binary.LittleEndian.Uint64(d.fixed(8))
	e := d.uvarint()
	if e > math.MaxUint32 {
		d.err = ErrCorrupt
	}
	h.EngagedMS = uint32(e)
	np := d.uvarint()
	if np > uint64(len(d.b)) {
		d.err = ErrCorrupt
	}
	h.Props = nil
	for i := uint64(0); i < np && d.err == nil; i++ {
		h.Props = append(h.Props, Prop{Key: d.str(), Value: d.str()})
	}
	h.Place = Place{}
	h.RevenueMilli, h.RevenueCurrency, h.NonInteractive = 0, "", false
	if b[0] >= hitVersion2 {
		for _, p := range [...]*string{&h.Country, &h.CountryName, &h.Region, &h.RegionName, &h.CityName} {
			*p = d.str()
		}
		c := d.uvarint()
		if c > math.MaxUint32 {
			d.err = ErrCorrupt
		}
		h.City = uint32(c)
	}
	if b[0] >= hitVersion3 {
		r, n := binary.Varint(d.b)
		if n <= 0 {
			d.err = ErrCorrupt
		} else {
			d.b = d.b[n:]
		}
		h.RevenueMilli = r
		h.RevenueCurrency = d.str()
	}
	if b[0] >= hitVersion {
		flags := d.fixed(1)[0]
		if flags&^1 != 0 {
			d.err = ErrCorrupt // no other flag is written
		}
		h.NonInteractive = flags&1 != 0
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = ErrCorrupt
	}
	return d.err
}

// CityText is the city id as stores keep it: decimal, "" when unknown.
func (p *Place) CityText() string {
	if p.City == 0 {
		return ""
	}
	return strconv.FormatUint(uint64(p.City), 10)
}

// SetCityText reads a city id as CityText writes it; anything else is 0.
func (p *Place) SetCityText(s string) {
	n, _ := strconv.ParseUint(s, 10, 32)
	p.City = uint32(n)
}
