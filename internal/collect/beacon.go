// Package collect is the collection side of analytics: beacons from the
// pixel and the events API parsed and checked, enriched (user agents,
// bots, referrer sources and campaigns, cookieless visitor ids with daily
// salts) into hits, made durable in the spool, then assigned to sessions
// and written to the event store in batches by the ingester. The hits,
// events and sessions it makes are package analytics' shared model.
package collect

import (
	"bytes"
	"encoding/json"
	"math"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"waymark.dev/waymark/internal/analytics"
)

// Beacon is a beacon as the browser sent it, before enrichment: from the
// pixel's query string or the events API's JSON body.
type Beacon struct {
	Name     string
	URL      string
	Domains  []string
	Referrer string
	Props    []analytics.Prop

	ScreenW, ScreenH     uint16
	ViewportW, ViewportH uint16
	DPR                  float32
	ColorDepth           uint8
	Language             string
	TimeZone             string

	PageviewID  uint64
	EngagedMS   uint32
	ScrollDepth uint8
	HashMode    bool // the site routes by URL fragment: keep it in the path

	// Revenue (Plausible's "$" or "revenue": amount and ISO 4217 currency),
	// in thousandths of the unit; 0 and "" without.
	RevenueMilli    int64
	RevenueCurrency string
	// NonInteractive: the event was sent with interactive: false (or i:
	// false, as Plausible's tracker sends it).
	NonInteractive bool

	page *url.URL // URL, parsed by validate
}

// eventJSON is the events API body. Plausible's tracker sends the short
// keys; its documentation shows the long ones. Waymark's extra fields ride
// along under their own short names.
type eventJSON struct {
	Name        *string         `json:"name"`
	N           *string         `json:"n"`
	URL         *string         `json:"url"`
	U           *string         `json:"u"`
	Domain      *string         `json:"domain"`
	D           *string         `json:"d"`
	Referrer    *string         `json:"referrer"`
	R           *string         `json:"r"`
	Props       json.RawMessage `json:"props"`
	P           json.RawMessage `json:"p"`
	M           json.RawMessage `json:"m"` // older Plausible trackers: props as a JSON string
	H           json.RawMessage `json:"h"` // Plausible's hash mode: 1 or true
	Rev         json.RawMessage `json:"$"` // Plausible's tracker: revenue {amount, currency}
	Revenue     json.RawMessage `json:"revenue"`
	I           json.RawMessage `json:"i"` // Plausible's tracker: false for a non-interactive event
	Interactive json.RawMessage `json:"interactive"`

	SW json.Number `json:"sw"`
	// Plausible's legacy npm tracker sends the screen width as w; its
	// documentation's long name is screen_width.
	W           json.Number `json:"w"`
	ScreenWidth json.Number `json:"screen_width"`
	SH          json.Number `json:"sh"`
	VW          json.Number `json:"vw"`
	VH          json.Number `json:"vh"`
	DPR         json.Number `json:"dpr"`
	CD          json.Number `json:"cd"`
	L           *string     `json:"l"`
	TZ          *string     `json:"tz"`
	PID         *string     `json:"pid"`
	E           json.Number `json:"e"`
	SD          json.Number `json:"sd"`
}

func pick(a, b *string) string {
	if a != nil {
		return *a
	}
	if b != nil {
		return *b
	}
	return ""
}

// ParseEvent decodes an events API body (JSON, whatever the Content-Type says:
// Plausible's tracker sends text/plain).
func ParseEvent(body []byte) (*Beacon, error) {
	var ej eventJSON
	if !decodeEventJSON(body, &ej) {
		ej = eventJSON{}
		// encoding/json would turn bytes that are not UTF-8 into U+FFFD
		// and accept the event; such a body is refused instead (the fast
		// path refuses them already).
		if !utf8.Valid(body) {
			return nil, analytics.Invalidf("body", "not valid UTF-8")
		}
		if err := json.Unmarshal(body, &ej); err != nil {
			return nil, analytics.Invalidf("body", "not a JSON object: %v", err)
		}
	}
	b := &Beacon{
		Name: pick(ej.Name, ej.N),
		// Trailing and leading white space is not part of the address
		// (Plausible trims it too).
		URL:      strings.TrimSpace(pick(ej.URL, ej.U)),
		Referrer: strings.TrimSpace(pick(ej.Referrer, ej.R)),
	}
	if ej.SW == "" {
		ej.SW = ej.ScreenWidth
	}
	if ej.SW == "" {
		ej.SW = ej.W
	}
	b.Domains = splitDomains(pick(ej.Domain, ej.D))
	raw := ej.Props
	if len(raw) == 0 {
		raw = ej.P
	}
	if len(raw) == 0 {
		raw = ej.M
	}
	b.Props = parseProps(raw)
	rev := ej.Rev
	if len(rev) == 0 {
		rev = ej.Revenue
	}
	b.RevenueMilli, b.RevenueCurrency = parseRevenue(rev)
	b.NonInteractive = string(ej.I) == "false" || string(ej.Interactive) == "false"
	var err error
	var v [8]float64 // sw, sh, vw, vh, dpr, cd, e, sd; 0 when absent
	for i, n := range [...]struct {
		field string
		v     json.Number
		max   float64
	}{
		{"sw", ej.SW, 65535}, {"sh", ej.SH, 65535}, {"vw", ej.VW, 65535}, {"vh", ej.VH, 65535},
		{"dpr", ej.DPR, 20}, {"cd", ej.CD, 64}, {"e", ej.E, 24 * 3600 * 1000},
		{"sd", ej.SD, 1000}, // the tracker leaves capping to us
	} {
		if n.v == "" {
			continue
		}
		f, err := strconv.ParseFloat(string(n.v), 64)
		if err != nil || f < 0 || f > n.max || f != f {
			return nil, analytics.Invalidf(n.field, "must be a number from 0 to %g", n.max)
		}
		v[i] = f
	}
	b.ScreenW, b.ScreenH, b.ViewportW, b.ViewportH = uint16(v[0]), uint16(v[1]), uint16(v[2]), uint16(v[3])
	b.DPR, b.ColorDepth, b.EngagedMS, b.ScrollDepth = float32(v[4]), uint8(v[5]), uint32(v[6]), uint8(min(v[7], 100))
	b.HashMode = string(ej.H) == "1" || string(ej.H) == "true"
	b.Language = pick(ej.L, nil)
	b.TimeZone = pick(ej.TZ, nil)
	if ej.PID != nil {
		if b.PageviewID, err = parsePageviewID(*ej.PID); err != nil {
			return nil, err
		}
	}
	return b, b.validate()
}

// maxRevenueMilli bounds a revenue amount (a trillion units).
const maxRevenueMilli = 1e15

// parseRevenue reads Plausible's revenue object, {"amount": 12.5 or
// "12.50", "currency": "EUR"}, as thousandths of the unit and an upper-case
// ISO 4217 code. Malformed revenue (no amount, an amount that is not a
// finite number within a trillion, a currency that is not three letters)
// is dropped and the event kept, as Plausible keeps events whose props it
// cannot use.
func parseRevenue(raw json.RawMessage) (int64, string) {
	if len(raw) == 0 {
		return 0, ""
	}
	var r struct {
		Amount   json.RawMessage `json:"amount"`
		Currency string          `json:"currency"`
	}
	if json.Unmarshal(raw, &r) != nil || len(r.Currency) != 3 {
		return 0, ""
	}
	cur := strings.ToUpper(r.Currency)
	for _, c := range []byte(cur) {
		if c < 'A' || c > 'Z' {
			return 0, ""
		}
	}
	amount := strings.Trim(string(r.Amount), `"`)
	f, err := strconv.ParseFloat(strings.TrimSpace(amount), 64)
	if err != nil || f != f || math.Abs(f*1000) > maxRevenueMilli {
		return 0, ""
	}
	return int64(math.Round(f * 1000)), cur
}

// ParsePixel decodes the pixel's query string. referer is the request's
// Referer header, used as the page address when the query names none.
func ParsePixel(q url.Values, referer string) (*Beacon, error) {
	b := &Beacon{
		Name:     q.Get("n"),
		URL:      q.Get("u"),
		Referrer: q.Get("r"),
		Domains:  splitDomains(q.Get("d")),
		Language: q.Get("l"),
		TimeZone: q.Get("tz"),
	}
	if b.Name == "" {
		b.Name = analytics.EventPageview
	}
	if b.URL == "" {
		b.URL = referer
		if b.URL == "" {
			return nil, analytics.Invalidf("u", "page address missing: pass u= or let the browser send a Referer header")
		}
	}
	if len(b.Domains) == 0 {
		// A pixel without d= counts for the site it is embedded in.
		if u, err := url.Parse(b.URL); err == nil {
			b.Domains = []string{strings.TrimPrefix(strings.ToLower(u.Hostname()), "www.")}
		}
	}
	ints := []struct {
		key string
		max uint64
		set func(uint64)
	}{
		{"sw", 65535, func(v uint64) { b.ScreenW = uint16(v) }},
		{"sh", 65535, func(v uint64) { b.ScreenH = uint16(v) }},
		{"vw", 65535, func(v uint64) { b.ViewportW = uint16(v) }},
		{"vh", 65535, func(v uint64) { b.ViewportH = uint16(v) }},
		{"cd", 64, func(v uint64) { b.ColorDepth = uint8(v) }},
		{"e", 24 * 3600 * 1000, func(v uint64) { b.EngagedMS = uint32(v) }},
		{"sd", 1000, func(v uint64) { b.ScrollDepth = uint8(min(v, 100)) }},
	}
	for _, f := range ints {
		s := q.Get(f.key)
		if s == "" {
			continue
		}
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil || v > f.max {
			return nil, analytics.Invalidf(f.key, "must be a whole number from 0 to %d", f.max)
		}
		f.set(v)
	}
	if s := q.Get("dpr"); s != "" {
		f, err := strconv.ParseFloat(s, 32)
		if err != nil || f < 0 || f > 20 || f != f {
			return nil, analytics.Invalidf("dpr", "must be a number from 0 to 20")
		}
		b.DPR = float32(f)
	}
	b.HashMode = q.Get("h") == "1"
	if s := q.Get("pid"); s != "" {
		var err error
		if b.PageviewID, err = parsePageviewID(s); err != nil {
			return nil, err
		}
	}
	if s := q.Get("p"); s != "" {
		b.Props = parseProps(json.RawMessage(s))
	}
	return b, b.validate()
}

func splitDomains(s string) []string {
	if s == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	out := parts[:0]
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parsePageviewID(s string) (uint64, error) {
	if len(s) == 0 || len(s) > 16 {
		return 0, analytics.Invalidf("pid", "must be 1 to 16 hexadecimal digits")
	}
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, analytics.Invalidf("pid", "must be 1 to 16 hexadecimal digits")
	}
	return v, nil
}

// parseProps accepts a JSON object, or a JSON string holding one (older
// trackers), with string, number or boolean values.
// parseProps reads custom properties as Plausible does: an object of
// strings, numbers and booleans (numbers and booleans become their text),
// or that object as a JSON string. A property whose value is null, an
// array or an object, or whose name or value is blank, is left out; props
// that are not an object at all are ignored. The event itself is never
// refused for its props: a tracker's odd property must not lose the
// pageview. Beyond MaxProps properties, or names and values over their
// limits, the extra properties are left out too.
func parseProps(raw json.RawMessage) []analytics.Prop {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil
		}
		raw = bytes.TrimSpace([]byte(s))
	}
	if len(raw) == 0 || raw[0] != '{' {
		return nil
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil
	}
	props := make([]analytics.Prop, 0, min(len(m), analytics.MaxProps))
	for k, v := range m {
		var s string
		switch v := v.(type) {
		case string:
			s = v
		case json.Number:
			s = v.String()
		case bool:
			s = strconv.FormatBool(v)
		default: // null, arrays, objects
			continue
		}
		if strings.TrimSpace(k) == "" || strings.TrimSpace(s) == "" || len(k) > analytics.MaxPropKeyLen || len(s) > analytics.MaxPropValueLen {
			continue
		}
		props = append(props, analytics.Prop{Key: k, Value: s})
	}
	sortProps(props)
	if len(props) > analytics.MaxProps {
		props = props[:analytics.MaxProps]
	}
	return props
}

func sortProps(p []analytics.Prop) {
	for i := 1; i < len(p); i++ {
		for j := i; j > 0 && p[j].Key < p[j-1].Key; j-- {
			p[j], p[j-1] = p[j-1], p[j]
		}
	}
}

func (b *Beacon) validate() error {
	switch {
	case b.Name == "":
		return analytics.Invalidf("name", "missing: send \"pageview\" or a custom event name")
	case len(b.Name) > analytics.MaxNameLen:
		return analytics.Invalidf("name", "longer than %d bytes", analytics.MaxNameLen)
	case !utf8.ValidString(b.Name):
		return analytics.Invalidf("name", "not valid UTF-8")
	case b.URL == "":
		return analytics.Invalidf("url", "missing: the page address")
	case len(b.URL) > analytics.MaxURLLen:
		return analytics.Invalidf("url", "longer than %d bytes", analytics.MaxURLLen)
	case !utf8.ValidString(b.URL):
		return analytics.Invalidf("url", "not valid UTF-8")
	case len(b.Domains) == 0:
		return analytics.Invalidf("domain", "missing: the site's domain as registered in Waymark")
	case len(b.Domains) > analytics.MaxDomains:
		return analytics.Invalidf("domain", "at most %d domains", analytics.MaxDomains)
	case len(b.Referrer) > analytics.MaxURLLen:
		return analytics.Invalidf("referrer", "longer than %d bytes", analytics.MaxURLLen)
	case !utf8.ValidString(b.Referrer) || !utf8.ValidString(b.Language) || !utf8.ValidString(b.TimeZone):
		return analytics.Invalidf("referrer", "the referrer, language and time zone must be valid UTF-8")
	case len(b.Language) > 35:
		return analytics.Invalidf("l", "not a language tag")
	case len(b.TimeZone) > 64:
		return analytics.Invalidf("tz", "not a time zone name")
	}
	u, err := url.Parse(b.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return analytics.Invalidf("url", "must be an absolute http(s) address")
	}
	// Percent-escapes decode to bytes: the stored path and campaign
	// parameters must still be text.
	if !utf8.ValidString(u.Path) || !utf8.ValidString(u.Fragment) {
		return analytics.Invalidf("url", "its path is not valid UTF-8 once decoded")
	}
	// Raw bytes were checked with the whole URL; only escapes can decode
	// to bytes that are not text, so most beacons skip this parse.
	if strings.IndexByte(u.RawQuery, '%') >= 0 {
		for k, vs := range u.Query() {
			for _, v := range vs {
				if !utf8.ValidString(k) || !utf8.ValidString(v) {
					return analytics.Invalidf("url", "its query is not valid UTF-8 once decoded")
				}
			}
		}
	}
	b.page = u
	return nil
}
