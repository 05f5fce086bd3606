package web

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"

	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/site"
	"waymark.dev/waymark/internal/spool"
)

// Error kinds mapped to HTTP statuses.
const (
	codeInvalid          = "invalid"
	codeNotFound         = "not_found"
	codeMethodNotAllowed = "method_not_allowed"
	codeUnauthenticated  = "unauthenticated"
	codeForbidden        = "forbidden"
	codeUnavailable      = "unavailable"
	codeInternal         = "internal"
	codeTooLarge         = "too_large"
)

// apiError is an error with a kind, safe to show to the client.
type apiError struct {
	Status  int
	Code    string
	Field   string
	Message string
}

func (e *apiError) Error() string { return e.Message }

func errInvalid(field, msg string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: codeInvalid, Field: field, Message: msg}
}

type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle turns a handler's error into a JSON response; internal details go
// to the log with the request id only.
func (s *Server) handle(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		s.writeError(w, r, err)
	}
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae := s.apiErrorOf(w, r, err)
	if wantsHTML(r) {
		s.errorPage(w, r, ae)
		return
	}
	writeJSON(w, ae.Status, map[string]any{"error": ae.body()})
}

// wantsHTML tells a browser's page request from an API client's: pages
// (not /api/ paths or .json files) that accept HTML get HTML errors.
func wantsHTML(r *http.Request) bool {
	p := r.URL.Path
	if strings.HasPrefix(p, "/api/") || strings.HasSuffix(p, ".json") || strings.HasPrefix(p, "/.well-known/") {
		return false
	}
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// errorPage is an error as a page in the dashboard's style: the status,
// what happened and what to do.
type errorPage struct {
	Title, CSRF, Status, Message, Hint string
	Links                              [][2]string // label, address
}

func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, ae *apiError) {
	p := errorPage{Status: strconv.Itoa(ae.Status), Message: ae.Message}
	switch {
	case ae.Status == http.StatusNotFound:
		p.Title, p.Hint = "Not found", "The address may be mistyped, or what it pointed to was removed or revoked."
	case ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden:
		p.Title, p.Hint = "Not allowed", "Log in to the dashboard, or ask its administrator for a shared link."
		p.Links = append(p.Links, [2]string{"Log in", "/login"})
	case ae.Status == http.StatusMethodNotAllowed:
		p.Title, p.Hint = "Not here", "This address does not take that kind of request; go back and try the page's own buttons."
	case ae.Status == http.StatusServiceUnavailable:
		p.Title, p.Hint = "Busy for a moment", "A part of Waymark is catching up or a store is not answering; try again in a few seconds."
	case ae.Status >= 500:
		p.Title, p.Hint = "Something went wrong", "The error is logged with its request id; try again, and give the id to the administrator if it happens again."
	default:
		p.Title, p.Hint = "That did not work", "Go back, change what the message names, and try again."
		if ae.Field != "" {
			p.Hint = "Go back and change " + ae.Field + ", then try again."
		}
	}
	p.Links = append(p.Links, [2]string{"Dashboard", "/dashboard"}, [2]string{"Front page", "/"})
	if err := s.render(w, ae.Status, "error.html", p); err != nil {
		s.log.Error("error page", "err", err)
	}
}

// handleStats is handle for Plausible's Stats API paths: their errors
// have Plausible's shape (see writeStatsError).
func (s *Server) handleStats(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeStatsError(w, r, err)
		}
	}
}

// writeStatsError answers as Plausible's Stats API does, {"error":
// "message"}, with Waymark's code and field beside it.
func (s *Server) writeStatsError(w http.ResponseWriter, r *http.Request, err error) {
	ae := s.apiErrorOf(w, r, err)
	body := map[string]any{"error": bareMessage(err, ae), "code": ae.Code}
	if ae.Field != "" {
		body["field"] = ae.Field
	}
	var ie *analytics.InvalidError
	if errors.As(err, &ie) && ie.Hint != "" {
		body["hint"] = ie.Hint
	}
	writeJSON(w, ae.Status, body)
}

// writeEventError answers the events API: Waymark's error object, and
// Plausible's "errors" map of field to messages beside it, so clients
// written for either read it.
func (s *Server) writeEventError(w http.ResponseWriter, r *http.Request, err error) {
	ae := s.apiErrorOf(w, r, err)
	field := ae.Field
	if field == "" {
		field = "body"
	}
	writeJSON(w, ae.Status, map[string]any{"error": ae.body(), "errors": map[string][]string{field: {bareMessage(err, ae)}}})
}

// bareMessage is an error's message without its field in front, for the
// answers in Plausible's shapes, which give the field apart.
func bareMessage(err error, ae *apiError) string {
	var ie *analytics.InvalidError
	if errors.As(err, &ie) {
		return ie.Message
	}
	return ae.Message
}

func (ae *apiError) body() map[string]any {
	body := map[string]any{"code": ae.Code, "message": ae.Message}
	if ae.Field != "" {
		body["field"] = ae.Field
	}
	return body
}

// apiErrorOf classifies an error for a response; internal details go to
// the log with the request id only.
func (s *Server) apiErrorOf(w http.ResponseWriter, r *http.Request, err error) *apiError {
	var ae *apiError
	var ie *analytics.InvalidError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &ie):
		ae = errInvalid(ie.Field, ie.Error())
	case errors.As(err, &mbe):
		ae = &apiError{Status: http.StatusRequestEntityTooLarge, Code: codeTooLarge, Message: "request body too large"}
	case errors.Is(err, site.ErrInvalid):
		ae = &apiError{Status: http.StatusBadRequest, Code: codeInvalid, Message: err.Error()}
	case errors.Is(err, site.ErrNotFound):
		ae = &apiError{Status: http.StatusNotFound, Code: codeNotFound, Message: err.Error()}
	case storeUnreachable(err):
		// A shared store (PostgreSQL, ClickHouse) does not answer: fail
		// closed, and say so.
		w.Header().Set("Retry-After", "10")
		s.log.Warn("store unreachable", "method", r.Method, "path", r.URL.Path, "request_id", requestID(w), "err", err)
		ae = &apiError{Status: http.StatusServiceUnavailable, Code: codeUnavailable, Message: "a store this request needs is not answering; retry later"}
	case errors.Is(err, spool.ErrFull):
		w.Header().Set("Retry-After", "5")
		ae = &apiError{Status: http.StatusServiceUnavailable, Code: codeUnavailable, Message: "the collector is catching up; retry later"}
	default:
		id := requestID(w)
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "request_id", id, "err", err)
		ae = &apiError{Status: http.StatusInternalServerError, Code: codeInternal, Message: "internal error (request id " + id + ")"}
	}
	return ae
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		slog.Debug("write response", "err", err)
	}
}

// storeUnreachable reports an error from a network store that could not
// be reached or stopped answering (a refused or broken connection, a
// timeout), as opposed to one that answered with an error.
func storeUnreachable(err error) bool {
	var ne net.Error
	var un interface{ Unavailable() bool }
	return errors.As(err, &ne) || errors.As(err, &un) && un.Unavailable() || errors.Is(err, context.DeadlineExceeded)
}
