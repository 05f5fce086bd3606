package web

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/assets"
	"waymark.dev/waymark/internal/collect"
	"waymark.dev/waymark/internal/spool"
)

func (s *Server) request(r *http.Request) collect.Request {
	req := collect.Request{IP: ClientIP(r, s.TrustedProxies), UserAgent: r.UserAgent()}
	if s.Consent != nil {
		if id, ok := s.analyticsID(r); ok {
			b := [16]byte(id)
			req.Consented = &b
		}
	}
	return req
}

// acceptLanguage returns the first tag of Accept-Language.
func acceptLanguage(r *http.Request) string {
	v := r.Header.Get("Accept-Language")
	v, _, _ = strings.Cut(v, ",")
	v, _, _ = strings.Cut(v, ";")
	return strings.TrimSpace(v)
}

// pixel serves GET /b.gif: always the GIF (so browsers log nothing), with
// the outcome in the status and the Waymark-Drop / Waymark-Error headers.
func (s *Server) pixel(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	h := w.Header()
	h.Set("Content-Type", "image/gif")
	h.Set("Cache-Control", "no-store, max-age=0")
	h.Set("Access-Control-Allow-Origin", "*")
	status := http.StatusOK
	b, err := collect.ParsePixel(r.URL.Query(), r.Referer())
	if err == nil {
		if b.Language == "" {
			b.Language = acceptLanguage(r)
		}
		var out collect.Outcome
		out, err = s.Collector.Collect(r.Context(), b, s.request(r))
		if err == nil && out.Dropped != "" {
			h.Set("Waymark-Drop", out.Dropped)
		}
	}
	if err != nil {
		var ie *analytics.InvalidError
		switch {
		case errors.As(err, &ie):
			status = http.StatusBadRequest
			h.Set("Waymark-Error", sanitizeHeader(ie.Error()))
		case errors.Is(err, spool.ErrFull):
			status = http.StatusServiceUnavailable
			h.Set("Retry-After", "5")
			h.Set("Waymark-Error", "collector busy; retry later")
		default:
			status = http.StatusInternalServerError
			s.log.Error("collect pixel", "err", err, "request_id", requestID(w))
			h.Set("Waymark-Error", "internal error")
		}
	}
	w.WriteHeader(status)
	w.Write(assets.PixelGIF)
	s.metrics.observe("pixel", status, start)
}

func sanitizeHeader(v string) string {
	v = strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, v)
	if len(v) > 300 {
		v = v[:300]
	}
	return v
}

func (s *Server) eventPreflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "POST")
	h.Set("Access-Control-Allow-Headers", "Content-Type")
	h.Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
}

// Header values of the event endpoint's answers, shared (net/http only
// reads them).
var (
	anyOrigin = []string{"*"}
	textPlain = []string{"text/plain; charset=utf-8"}
)

// bodyBuffers hold event bodies while they are parsed.
var bodyBuffers = sync.Pool{New: func() any { return bytes.NewBuffer(make([]byte, 0, 1024)) }}

// event serves POST /api/event, Plausible's events API: 202 when stored or
// deliberately dropped (the reason in Waymark-Drop), 400 for invalid
// beacons, 503 with Retry-After when the spool is full.
func (s *Server) event(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	hd := w.Header()
	hd["Access-Control-Allow-Origin"] = anyOrigin
	status := http.StatusAccepted
	defer func() { s.metrics.observe("event", status, start) }()
	buf := bodyBuffers.Get().(*bytes.Buffer)
	buf.Reset()
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, analytics.MaxBodyBytes))
	if err != nil {
		bodyBuffers.Put(buf)
		status = http.StatusRequestEntityTooLarge
		s.writeEventError(w, r, err)
		return
	}
	// ParseEvent copies what it keeps, so the buffer goes back at once.
	b, err := collect.ParseEvent(buf.Bytes())
	bodyBuffers.Put(buf)
	if err != nil {
		status = http.StatusBadRequest
		s.writeEventError(w, r, err)
		return
	}
	if b.Language == "" {
		b.Language = acceptLanguage(r)
	}
	out, err := s.Collector.Collect(r.Context(), b, s.request(r))
	if err != nil {
		status = http.StatusBadRequest
		if errors.Is(err, spool.ErrFull) {
			status = http.StatusServiceUnavailable
		} else if _, ok := collect.IsInvalid(err); !ok {
			status = http.StatusInternalServerError
		}
		s.writeEventError(w, r, err)
		return
	}
	if out.Dropped != "" {
		hd.Set("Waymark-Drop", out.Dropped)
	}
	hd["Content-Type"] = textPlain
	w.WriteHeader(status)
	io.WriteString(w, "ok")
}

func (s *Server) tracker(w http.ResponseWriter, r *http.Request) {
	s.serveTracker(w, r, "w.full.js", nil)
}

// plausibleVariants maps the parts of Plausible's script names
// (script.hash.outbound-links.js) to the full tracker's attributes; parts
// mapped to nothing need no attribute (revenue and exclusions work from
// the call's options and the tag's data-exclude/data-include; compat is
// the same script).
var plausibleVariants = map[string]string{
	"hash": "hash", "outbound-links": "outbound", "file-downloads": "downloads", "manual": "manual",
	"local": "allow-localhost", "tagged-events": "tagged-events", "pageview-props": "pageview-props",
	"exclusions": "", "revenue": "", "compat": "",
}

// plausibleScript serves Plausible's script names: script.js and
// plausible.js get the default tracker, names with variants
// (script.tagged-events.outbound-links.js) the full one with the
// attributes their parts promise set before it runs.
func (s *Server) plausibleScript(w http.ResponseWriter, r *http.Request) {
	file := r.PathValue("file")
	base, ok := strings.CutSuffix(file, ".js")
	parts := strings.Split(base, ".")
	if !ok || parts[0] != "script" && parts[0] != "plausible" {
		s.writeError(w, r, &apiError{Status: http.StatusNotFound, Code: codeNotFound,
			Message: "no script " + file + "; Plausible's names are served: script.js, plausible.js, and script.<variants>.js"})
		return
	}
	if len(parts) == 1 {
		s.serveTracker(w, r, "w.js", nil)
		return
	}
	var attrs []string
	for _, p := range parts[1:] {
		a, known := plausibleVariants[p]
		if !known {
			names := make([]string, 0, len(plausibleVariants))
			for k := range plausibleVariants {
				names = append(names, k)
			}
			slices.Sort(names)
			s.writeError(w, r, &apiError{Status: http.StatusNotFound, Code: codeNotFound,
				Message: fmt.Sprintf("unknown script variant %q in %s; known: %s", p, file, strings.Join(names, ", "))})
			return
		}
		if a != "" && !slices.Contains(attrs, a) {
			attrs = append(attrs, a)
		}
	}
	s.serveTracker(w, r, "w.full.js", attrs)
}

// serveTracker serves a built tracker; attrs are data- attributes set on
// its script tag before it runs (a variant's features).
func (s *Server) serveTracker(w http.ResponseWriter, r *http.Request, name string, attrs []string) {
	b, err := assets.Static.ReadFile("static/" + name)
	if err != nil {
		http.Error(w, "tracker missing from this build", http.StatusInternalServerError)
		return
	}
	key := name
	if len(attrs) > 0 {
		slices.Sort(attrs)
		key = name + "?" + strings.Join(attrs, ",")
		b = append([]byte(`(s=>s&&"`+strings.Join(attrs, " ")+`".split(" ").forEach(a=>s.setAttribute("data-"+a,"")))(document.currentScript);`+"\n"), b...)
	}
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=3600")
	h.Set("Access-Control-Allow-Origin", "*")
	s.gz.serve(w, r, key, b)
}
