package clickhouse

import (
	"encoding/binary"
	"math"
	"time"

	"waymark.dev/waymark/internal/analytics"
)

// RowBinary is ClickHouse's compact insert format: fixed-width numbers
// little-endian, strings as a varint length and bytes, DateTime as seconds
// in a UInt32, arrays as a varint count and elements. Column order is
// that of eventColumns and sessionColumns.

const eventColumns = "site, ts, name, session_id, visitor_id, pathname, hostname, entry_page, referrer, referrer_source, channel, " +
	"utm_source, utm_medium, utm_campaign, utm_term, utm_content, browser, browser_version, os, os_version, device, screen_class, " +
	"screen_w, screen_h, viewport_w, viewport_h, dpr, color_depth, language, timezone, engaged_ms, scroll_depth, new_pageview, " +
	"prop_keys, prop_values, country, country_name, region, region_name, city, city_name, revenue_milli, revenue_currency, node, batch"

const sessionColumns = "site, session_id, visitor_id, version, sign, start_ts, end_ts, entry_page, exit_page, hostname, pageviews, events, " +
	"referrer, referrer_source, channel, utm_source, utm_medium, utm_campaign, utm_term, utm_content, " +
	"browser, browser_version, os, os_version, device, screen_class, language, " +
	"country, country_name, region, region_name, city, city_name, exit_hostname, noninteractive, node, batch"

type rowWriter struct{ b []byte }

func (w *rowWriter) str(s string) {
	w.b = binary.AppendUvarint(w.b, uint64(len(s)))
	w.b = append(w.b, s...)
}
func (w *rowWriter) u8(v uint8)   { w.b = append(w.b, v) }
func (w *rowWriter) u16(v uint16) { w.b = binary.LittleEndian.AppendUint16(w.b, v) }
func (w *rowWriter) u32(v uint32) { w.b = binary.LittleEndian.AppendUint32(w.b, v) }
func (w *rowWriter) u64(v uint64) { w.b = binary.LittleEndian.AppendUint64(w.b, v) }
func (w *rowWriter) f32(v float32) {
	w.b = binary.LittleEndian.AppendUint32(w.b, math.Float32bits(v))
}

// dateTime writes seconds since 1970, clamped to DateTime's range.
func (w *rowWriter) dateTime(t time.Time) {
	s := t.Unix()
	w.u32(uint32(max(0, min(s, math.MaxUint32))))
}

func (w *rowWriter) event(e *analytics.Event, node uint32, batch uint64) {
	w.str(e.Site)
	w.dateTime(e.Time)
	w.str(e.Name)
	w.u64(e.SessionID)
	w.u64(e.VisitorID)
	for _, s := range [...]string{e.Path, e.Hostname, e.EntryPage, e.Referrer, e.ReferrerSource, e.Channel,
		e.UTMSource, e.UTMMedium, e.UTMCampaign, e.UTMTerm, e.UTMContent,
		e.Browser, e.BrowserVersion, e.OS, e.OSVersion, e.Device, e.ScreenClass} {
		w.str(s)
	}
	w.u16(e.ScreenW)
	w.u16(e.ScreenH)
	w.u16(e.ViewportW)
	w.u16(e.ViewportH)
	w.f32(e.DPR)
	w.u8(e.ColorDepth)
	w.str(e.Language)
	w.str(e.TimeZone)
	w.u32(e.EngagedMS)
	w.u8(e.ScrollDepth)
	w.u8(e.NewPageview)
	w.b = binary.AppendUvarint(w.b, uint64(len(e.Props)))
	for _, p := range e.Props {
		w.str(p.Key)
	}
	w.b = binary.AppendUvarint(w.b, uint64(len(e.Props)))
	for _, p := range e.Props {
		w.str(p.Value)
	}
	w.place(&e.Place)
	w.u64(uint64(e.RevenueMilli)) // Int64: two's complement
	w.str(e.RevenueCurrency)
	w.u32(node)
	w.u64(batch)
}

func (w *rowWriter) place(p *analytics.Place) {
	for _, s := range [...]string{p.Country, p.CountryName, p.Region, p.RegionName, p.CityText(), p.CityName} {
		w.str(s)
	}
}

func (w *rowWriter) session(r *analytics.SessionRow, node uint32, batch uint64) {
	w.str(r.Site)
	w.u64(r.ID)
	w.u64(r.VisitorID)
	w.u32(r.Version)
	w.u8(uint8(r.Sign))
	w.dateTime(r.Start)
	w.dateTime(r.End)
	w.str(r.EntryPage)
	w.str(r.ExitPage)
	w.str(r.Hostname)
	w.u32(r.Pageviews)
	w.u32(r.Events)
	for _, s := range [...]string{r.Referrer, r.ReferrerSource, r.Channel, r.UTMSource, r.UTMMedium, r.UTMCampaign, r.UTMTerm, r.UTMContent,
		r.Browser, r.BrowserVersion, r.OS, r.OSVersion, r.Device, r.ScreenClass, r.Language} {
		w.str(s)
	}
	w.place(&r.Place)
	w.str(r.ExitHostname)
	w.u32(r.NonInteractive)
	w.u32(node)
	w.u64(batch)
}
