package web

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"

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
	writeJSON(w, ae.Status, map[string]any{"error": ae.body()})
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
