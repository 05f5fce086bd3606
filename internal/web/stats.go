package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"waymark.dev/waymark/internal/site"
	"waymark.dev/waymark/internal/stats"
)

// authorize checks the Bearer token and that it may read domain.
func (s *Server) authorize(r *http.Request, domain string) (*site.Site, error) {
	t, err := s.apiToken(r)
	if err != nil {
		return nil, err
	}
	if !t.HasScope(site.ScopeStatsRead) {
		return nil, &apiError{Status: http.StatusUnauthorized, Code: codeUnauthenticated,
			Message: "Invalid API key. This token's scopes (" + strings.Join(t.Scopes, ", ") + ") do not include " + site.ScopeStatsRead + ", which the Stats API needs."}
	}
	d, err := site.NormalizeDomain(domain)
	if err != nil {
		return nil, errInvalid("site_id", err.Error())
	}
	if !t.Allows(d) {
		return nil, &apiError{Status: http.StatusForbidden, Code: codeForbidden, Message: "this token may not read site " + d}
	}
	st := s.Sites.Lookup(r.Context(), d)
	if st == nil {
		return nil, &apiError{Status: http.StatusNotFound, Code: codeNotFound, Field: "site_id", Message: "no site " + d}
	}
	return st, nil
}

// apiToken returns the request's API token (Authorization: Bearer).
func (s *Server) apiToken(r *http.Request) (*site.Token, error) {
	secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || secret == "" {
		return nil, &apiError{Status: http.StatusUnauthorized, Code: codeUnauthenticated, Message: "missing API token: send Authorization: Bearer <token> (create one with: waymark token add --name NAME)"}
	}
	t, err := s.SiteStore.TokenByHash(r.Context(), site.HashToken(strings.TrimSpace(secret)))
	if errors.Is(err, site.ErrNotFound) || err == nil && t.Kind == site.TokenShare {
		return nil, &apiError{Status: http.StatusUnauthorized, Code: codeUnauthenticated, Message: "invalid API token"}
	}
	return t, err
}

// authorizeAny requires an API token for every site (the operator's).
func (s *Server) authorizeAny(r *http.Request) (*site.Token, error) {
	t, err := s.apiToken(r)
	if err != nil {
		return nil, err
	}
	if t.Site != "" {
		return nil, &apiError{Status: http.StatusForbidden, Code: codeForbidden, Message: "this needs a token for every site (waymark token add --name NAME, without --site)"}
	}
	return t, nil
}

type queryResponse struct {
	Results any `json:"results"` // []stats.Row, or []cityRow with visit:city

	Meta  map[string]any `json:"meta"`
	Query map[string]any `json:"query"`
}

// query serves POST /api/v2/query (Plausible Stats API v2).
func (s *Server) query(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		return err
	}
	qr, err := stats.DecodeQueryRequest(body)
	if err != nil {
		return err
	}
	st, err := s.authorize(r, qr.SiteID)
	if err != nil {
		return err
	}
	q, res, err := s.runQuery(r, st, qr, stats.PlausibleRules)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, buildResponse(q, qr, res))
	return nil
}

// runQuery builds qr for st ("all" from the site's first stored event),
// applies check (the API version's own refusals; nil for none) and runs
// it, for v2 and v1 alike.
func (s *Server) runQuery(r *http.Request, st *site.Site, qr *stats.QueryRequest, check func(*stats.Query) error) (*stats.Query, *stats.Result, error) {
	if string(bytes.TrimSpace(qr.DateRange)) == `"all"` {
		st = s.withHistory(r.Context(), st)
	}
	q, err := qr.Build(st, s.Now())
	if err != nil {
		return nil, nil, err
	}
	if check != nil {
		if err := check(q); err != nil {
			return nil, nil, err
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	res, err := s.Stats.Query(ctx, q)
	return q, res, err
}

// importsWarnings explain, in Plausible's words, why imported data was
// left out of an answer that asked for it.
var importsWarnings = map[string]string{
	stats.SkipUnsupportedQuery:    "Imported stats are not included in the results because query parameters are not supported. For more information, see: https://plausible.io/docs/stats-api#filtering-imported-stats",
	stats.SkipUnsupportedInterval: "Imported stats are not included because the time dimension (i.e. the interval) is too short.",
}

func buildResponse(q *stats.Query, qr *stats.QueryRequest, res *stats.Result) queryResponse {
	rows := res.Rows
	if rows == nil {
		rows = []stats.Row{}
	}
	meta := map[string]any{}
	if q.TimeLabels {
		meta["time_labels"] = res.TimeLabels
	}
	if q.TotalRows {
		meta["total_rows"] = res.TotalRows
	}
	if qr.Include.Imports || qr.Include.ImportsMeta {
		meta["imports_included"] = res.ImportsIncluded
		if r := res.ImportsSkipReason; r != "" {
			meta["imports_skip_reason"] = r
			if w := importsWarnings[r]; w != "" {
				meta["imports_warning"] = w
			}
		}
	}
	if len(res.MetricWarnings) > 0 {
		meta["metric_warnings"] = res.MetricWarnings
	}
	var filters any = []any{}
	if len(qr.Filters) > 0 {
		filters = json.RawMessage(qr.Filters)
	}
	var order any = []any{}
	if len(qr.OrderBy) > 0 {
		order = json.RawMessage(qr.OrderBy)
	}
	dims := q.Dimensions
	if dims == nil {
		dims = []string{}
	}
	echo := map[string]any{
		"site_id":    q.Site.Domain,
		"metrics":    q.Metrics,
		"date_range": []string{q.From.In(q.Location).Format(time.RFC3339), q.To.Add(-time.Second).In(q.Location).Format(time.RFC3339)},
		"dimensions": dims,
		"filters":    filters,
		"order_by":   order,
		"pagination": map[string]int{"limit": q.Limit, "offset": q.Offset},
		"time_zone":  q.Location.String(),
	}
	var results any = cityIDs(q.Dimensions, rows)
	if slices.ContainsFunc(q.Metrics, isMoney) {
		results = moneyRows(q, rows)
	}
	return queryResponse{Results: results, Meta: meta, Query: echo}
}

func isMoney(name string) bool {
	m, _ := stats.LookupMetric(name)
	return m != nil && m.Unit == stats.UnitMoney
}

// moneyRow is a result row with revenue metrics, which Plausible answers
// as objects: {"currency", "long", "short", "value"}.
type moneyRow struct {
	Dimensions []any             `json:"dimensions"`
	Metrics    []any             `json:"metrics"`
	Comparison *moneyRowCompared `json:"comparison,omitempty"`
}

type moneyRowCompared struct {
	Dimensions []any        `json:"dimensions"`
	Metrics    []any        `json:"metrics"`
	Change     stats.Values `json:"change"`
}

// money is a revenue figure as Plausible writes it.
type money struct {
	Currency string  `json:"currency"`
	Long     string  `json:"long"`
	Short    string  `json:"short"`
	Value    float64 `json:"value"`
}

func moneyRows(q *stats.Query, rows []stats.Row) []moneyRow {
	metrics := func(vals stats.Values, cur string) []any {
		out := make([]any, len(vals))
		for i, v := range vals {
			switch {
			case math.IsNaN(v):
				out[i] = nil
			case isMoney(q.Metrics[i]):
				out[i] = money{Currency: cur, Long: formatMoney(v, cur, false), Short: formatMoney(v, cur, true), Value: v}
			default:
				out[i] = v
			}
		}
		return out
	}
	dims := func(ds []string) []any {
		out := make([]any, len(ds))
		for i, d := range ds {
			out[i] = d
			if q.Dimensions[i] == "visit:city" {
				n, _ := strconv.ParseUint(d, 10, 32)
				out[i] = n
			}
		}
		return out
	}
	out := make([]moneyRow, len(rows))
	for i, r := range rows {
		out[i] = moneyRow{Dimensions: dims(r.Dimensions), Metrics: metrics(r.Metrics, r.Currency)}
		if c := r.Comparison; c != nil {
			out[i].Comparison = &moneyRowCompared{Dimensions: dims(c.Dimensions), Metrics: metrics(c.Metrics, r.Currency), Change: c.Change}
		}
	}
	return out
}

// cityRow is a result row whose visit:city values are numbers, as
// Plausible answers GeoNames ids.
type cityRow struct {
	Dimensions []any            `json:"dimensions"`
	Metrics    stats.Values     `json:"metrics"`
	Comparison *cityRowCompared `json:"comparison,omitempty"`
}

type cityRowCompared struct {
	Dimensions []any        `json:"dimensions"`
	Metrics    stats.Values `json:"metrics"`
	Change     stats.Values `json:"change"`
}

// cityIDs gives visit:city values as numbers (0 where unknown); rows
// without that dimension are returned as they are.
func cityIDs(dims []string, rows []stats.Row) any {
	at := slices.Index(dims, "visit:city")
	if at < 0 {
		return rows
	}
	conv := func(ds []string) []any {
		out := make([]any, len(ds))
		for i, d := range ds {
			out[i] = d
			if i == at {
				n, _ := strconv.ParseUint(d, 10, 32)
				out[i] = n
			}
		}
		return out
	}
	out := make([]cityRow, len(rows))
	for i, r := range rows {
		out[i] = cityRow{Dimensions: conv(r.Dimensions), Metrics: r.Metrics}
		if c := r.Comparison; c != nil {
			out[i].Comparison = &cityRowCompared{Dimensions: conv(c.Dimensions), Metrics: c.Metrics, Change: c.Change}
		}
	}
	return out
}

// realtimeVisitors serves Plausible's v1 realtime endpoint: the number of
// visitors in the last five minutes.
func (s *Server) realtimeVisitors(w http.ResponseWriter, r *http.Request) error {
	st, err := s.authorize(r, r.URL.Query().Get("site_id"))
	if err != nil {
		return err
	}
	qr := &stats.QueryRequest{SiteID: st.Domain, Metrics: []string{stats.MetricVisitors}, DateRange: json.RawMessage(`"realtime"`)}
	q, err := qr.Build(st, s.Now())
	if err != nil {
		return err
	}
	res, err := s.Stats.Query(r.Context(), q)
	if err != nil {
		return err
	}
	n := 0.0
	if len(res.Rows) > 0 {
		n = res.Rows[0].Metrics[0]
	}
	writeJSON(w, http.StatusOK, n)
	return nil
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	if s.Ready != nil {
		if err := s.Ready(r.Context()); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": err.Error()})
			return nil
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}
