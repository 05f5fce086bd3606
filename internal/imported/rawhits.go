package imported

import (
	"encoding/csv"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/collect"
)

// hitReader reads a CSV export of raw hits by header names.
type hitReader struct {
	file string
	r    *csv.Reader
	col  map[string]int
}

func newHitReader(file string, r io.Reader, required []string) (*hitReader, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		if err == io.EOF {
			return nil, &FormatError{File: file, Msg: "the file is empty; a header line was expected"}
		}
		return nil, csvError(file, err)
	}
	h := &hitReader{file: file, r: cr, col: map[string]int{}}
	for i, name := range head {
		h.col[strings.TrimSpace(strings.TrimPrefix(name, "\ufeff"))] = i
	}
	var missing []string
	for _, c := range required {
		if _, ok := h.col[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return nil, &FormatError{File: file, Line: 1, Msg: "missing columns: " + strings.Join(missing, ", ")}
	}
	return h, nil
}

// get returns the named field of rec, "" when the file has no such column.
func (h *hitReader) get(rec []string, name string) string {
	i, ok := h.col[name]
	if !ok || i >= len(rec) {
		return ""
	}
	return rec[i]
}

func (h *hitReader) fieldError(name string, msg string) error {
	i := h.col[name]
	line, _ := h.r.FieldPos(0)
	return &FormatError{File: h.file, Line: line, Column: i + 1, Field: name, Msg: msg}
}

// goatCounterRequired are the columns of GoatCounter's export (format 2)
// that the import reads; the first is prefixed with the format's version.
var goatCounterRequired = []string{"Title", "Event", "Browser", "System", "Session", "Bot", "Referrer", "Referrer scheme", "Screen size", "Location", "Date"}

// isGoatCounter reports a header of GoatCounter's export.
func isGoatCounter(head []string) bool {
	return len(head) > 0 && (head[0] == "2Path" || head[0] == "1Path")
}

// readGoatCounter reads GoatCounter's CSV export: one row per pageview or
// event, with a session id that the import uses as visitor and visit.
func readGoatCounter(file string, r io.Reader, add func(hit) error) error {
	h, err := newHitReader(file, r, goatCounterRequired)
	if err != nil {
		return err
	}
	pathCol := "2Path"
	if _, ok := h.col[pathCol]; !ok {
		pathCol = "1Path"
		if _, ok := h.col[pathCol]; !ok {
			return &FormatError{File: file, Line: 1, Column: 1, Msg: `the first column is not GoatCounter's "2Path"`}
		}
	}
	for n := 0; ; n++ {
		rec, err := h.r.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return csvError(file, err)
		}
		if b := h.get(rec, "Bot"); b != "" && b != "0" {
			continue
		}
		var x hit
		ts := h.get(rec, "Date")
		x.Time, err = time.Parse(time.RFC3339, ts)
		if err != nil {
			return h.fieldError("Date", strconv.Quote(ts)+" is not an RFC 3339 time")
		}
		x.Time = x.Time.UTC()
		path := h.get(rec, pathCol)
		switch strings.ToLower(h.get(rec, "Event")) {
		case "1", "true":
			x.Name = path
		case "0", "false", "":
			x.Path = path
		default:
			return h.fieldError("Event", strconv.Quote(h.get(rec, "Event"))+" is not true, false, 1 or 0")
		}
		x.Visitor = h.get(rec, "Session")
		if x.Visitor == "" {
			x.Visitor = "row-" + strconv.Itoa(n) // unknown: one visitor per hit
		}
		x.Browser, x.BrowserVersion = splitVersion(h.get(rec, "Browser"))
		if x.Browser == "Edge" {
			x.Browser = "Microsoft Edge"
		}
		x.OS, x.OSVersion = splitVersion(h.get(rec, "System"))
		if x.OS == "macOS" {
			x.OS = "Mac"
		}
		if w, _, ok := strings.Cut(h.get(rec, "Screen size"), ","); ok {
			if n, err := strconv.ParseFloat(w, 64); err == nil && n > 0 && n < 65536 {
				x.Device = collect.ScreenClass(uint16(n))
			}
		}
		loc := h.get(rec, "Location")
		x.Country, _, _ = strings.Cut(loc, "-")
		if strings.Contains(loc, "-") {
			x.Region = loc
		}
		ref := h.get(rec, "Referrer")
		page := &url.URL{Path: x.Path}
		switch h.get(rec, "Referrer scheme") {
		case "h":
			u := ref
			if !strings.Contains(u, "://") {
				u = "https://" + u
			}
			s := collect.Classify(u, page, collect.UTM{})
			x.Source, x.Referrer, x.Channel = s.Name, s.Referrer, s.Channel
		case "c":
			x.Source, x.UTMSource = ref, ref
		case "g", "o":
			x.Source = ref
		}
		if x.Source == "" {
			x.Source = analytics.SourceDirect
		}
		if x.Channel == "" {
			src := x.Source
			if src == analytics.SourceDirect {
				src = ""
			}
			x.Channel = collect.Channel(src, "", "", x.UTMSource, "")
		}
		if err := add(x); err != nil {
			return err
		}
	}
}

// splitVersion splits "Chrome 86" into "Chrome" and "86".
func splitVersion(s string) (string, string) {
	s = strings.TrimSpace(s)
	i := strings.LastIndexByte(s, ' ')
	if i < 0 {
		return s, ""
	}
	v := s[i+1:]
	if v == "" || v[0] < '0' || v[0] > '9' {
		return s, ""
	}
	return s[:i], v
}

// umamiRequired are the columns of Umami's event export the import needs.
var umamiRequired = []string{"session_id", "url_path", "event_type", "created_at"}

// isUmami reports a header of Umami's export.
func isUmami(head []string) bool {
	has := map[string]bool{}
	for _, h := range head {
		has[strings.TrimPrefix(h, "\ufeff")] = true
	}
	return has["session_id"] && has["url_path"] && has["event_type"]
}

// umamiBrowsers maps Umami's browser ids to the names Waymark reports.
var umamiBrowsers = map[string]string{
	"chrome": "Chrome", "crios": "Chrome", "chromium-webview": "Chrome", "firefox": "Firefox", "fxios": "Firefox",
	"safari": "Safari", "ios": "Safari", "ios-webview": "Safari", "edge": "Microsoft Edge", "edge-chromium": "Microsoft Edge",
	"edge-ios": "Microsoft Edge", "opera": "Opera", "opera-mini": "Opera Mini", "samsung": "Samsung Browser",
	"yandexbrowser": "Yandex Browser", "android": "Android Browser", "facebook": "Facebook", "instagram": "Instagram App",
	"brave": "Brave", "silk": "Silk", "miui": "MIUI Browser", "ie": "Internet Explorer",
}

// umamiOS maps Umami's system names.
var umamiOS = map[string]string{"Mac OS": "Mac", "Linux": "GNU/Linux", "Android OS": "Android", "Chrome OS": "Chrome OS"}

// umamiTimes are the layouts of created_at in Umami's exports.
var umamiTimes = []string{"2006-01-02 15:04:05", "2006-01-02 15:04:05.000", time.RFC3339Nano, "2006-01-02T15:04:05.000Z"}

// readUmami reads Umami's CSV export of website events: one row per
// pageview (event_type 1) or custom event (2), with session and visit ids.
func readUmami(file string, r io.Reader, add func(hit) error) error {
	h, err := newHitReader(file, r, umamiRequired)
	if err != nil {
		return err
	}
	for {
		rec, err := h.r.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return csvError(file, err)
		}
		var x hit
		ts := h.get(rec, "created_at")
		ok := false
		for _, l := range umamiTimes {
			if t, err := time.Parse(l, ts); err == nil {
				x.Time, ok = t.UTC(), true
				break
			}
		}
		if !ok {
			return h.fieldError("created_at", strconv.Quote(ts)+" is not a time (2006-01-02 15:04:05, UTC)")
		}
		x.Path = h.get(rec, "url_path")
		switch h.get(rec, "event_type") {
		case "1":
		case "2":
			x.Name = h.get(rec, "event_name")
			if x.Name == "" {
				return h.fieldError("event_name", "a custom event (event_type 2) without a name")
			}
			x.Path = ""
		default:
			continue // Umami's other event types (link and pixel hits) are not pageviews
		}
		x.Visitor = h.get(rec, "session_id")
		if d := h.get(rec, "distinct_id"); d != "" {
			x.Visitor = d
		}
		x.Visit = h.get(rec, "visit_id")
		x.Host = h.get(rec, "hostname")
		b := h.get(rec, "browser")
		if n, ok := umamiBrowsers[b]; ok {
			b = n
		} else if b != "" {
			b = strings.ToUpper(b[:1]) + b[1:]
		}
		x.Browser = b
		x.OS, x.OSVersion = splitVersion(h.get(rec, "os"))
		if n, ok := umamiOS[h.get(rec, "os")]; ok {
			x.OS, x.OSVersion = n, ""
		}
		if d := h.get(rec, "device"); d != "" {
			x.Device = strings.ToUpper(d[:1]) + d[1:]
		}
		x.Country = h.get(rec, "country")
		x.Region = h.get(rec, "region")
		if x.Region == "" {
			x.Region = h.get(rec, "subdivision1")
		}
		if x.Region != "" && !strings.Contains(x.Region, "-") && x.Country != "" {
			x.Region = x.Country + "-" + x.Region
		}
		x.CityName = h.get(rec, "city")
		q, _ := url.ParseQuery(strings.TrimPrefix(h.get(rec, "url_query"), "?"))
		utm := collect.ParseUTM(q)
		for _, f := range []struct {
			col string
			to  *string
		}{{"utm_source", &utm.Source}, {"utm_medium", &utm.Medium}, {"utm_campaign", &utm.Campaign}, {"utm_term", &utm.Term}, {"utm_content", &utm.Content}} {
			if v := h.get(rec, f.col); v != "" {
				*f.to = v
			}
		}
		ref := ""
		if d := h.get(rec, "referrer_domain"); d != "" {
			ref = "https://" + d + h.get(rec, "referrer_path")
		}
		page := &url.URL{Scheme: "https", Host: x.Host, Path: x.Path}
		s := collect.Classify(ref, page, utm)
		x.Source, x.Referrer, x.Channel = s.Name, s.Referrer, s.Channel
		x.UTMSource, x.UTMMedium, x.UTMCampaign, x.UTMTerm, x.UTMContent = utm.Source, utm.Medium, utm.Campaign, utm.Term, utm.Content
		if err := add(x); err != nil {
			return err
		}
	}
}
