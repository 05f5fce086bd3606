package clickhouse

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// client speaks ClickHouse's HTTP interface: statements in the request
// body (or, for INSERT, in the query string with the rows in the body),
// answers as TabSeparated text.
type client struct {
	base     string // scheme://host:port/
	database string
	user     string
	password string
	http     *http.Client
	// settings go with every request (the sharded layout's).
	settings url.Values
	// cluster and shards describe a sharded layout: the cluster's name in
	// the servers' remote_servers, and the HTTP address (host:port) of
	// every shard after this one.
	cluster string
	shards  []string
}

// parseURL reads clickhouse://user:password@host:port/database?secure=true.
// The port is the server's HTTP port (8123 by default, 8443 with secure).
// A sharded layout adds cluster=NAME and a shard=host:port for every
// shard after the URL's own server (see Open).
func parseURL(raw string) (*client, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: bad URL: %w", err)
	}
	if u.Scheme != "clickhouse" {
		return nil, fmt.Errorf("clickhouse: URL scheme must be clickhouse://, got %q", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, errors.New("clickhouse: URL has no host")
	}
	q := u.Query()
	scheme, port := "http", "8123"
	if s := q.Get("secure"); s != "" {
		on, err := strconv.ParseBool(s)
		if err != nil {
			return nil, fmt.Errorf("clickhouse: secure=%q: want true or false", s)
		}
		if on {
			scheme, port = "https", "8443"
		}
	}
	for k := range q {
		if k != "secure" && k != "cluster" && k != "shard" {
			return nil, fmt.Errorf("clickhouse: unknown URL parameter %q (known: secure, cluster, shard)", k)
		}
	}
	cluster := q.Get("cluster")
	if q.Has("cluster") && !validName(cluster) {
		return nil, fmt.Errorf("clickhouse: cluster name %q: use letters, digits and _ only", cluster)
	}
	shards := q["shard"]
	if len(shards) > 0 && cluster == "" {
		return nil, errors.New("clickhouse: shard= needs cluster= (the cluster's name in the servers' remote_servers)")
	}
	for i, sh := range shards {
		h, p, err := net.SplitHostPort(sh)
		if err != nil || h == "" || p == "" {
			return nil, fmt.Errorf("clickhouse: shard=%q: want host:port (the shard's HTTP port)", sh)
		}
		shards[i] = hostPort(h, p)
	}
	if u.Port() != "" {
		port = u.Port()
	}
	db := strings.Trim(u.Path, "/")
	if db == "" {
		db = "default"
	}
	if !validName(db) {
		return nil, fmt.Errorf("clickhouse: database name %q: use letters, digits and _ only", db)
	}
	c := &client{base: scheme + "://" + hostPort(u.Hostname(), port) + "/", database: db, user: "default", cluster: cluster, shards: shards}
	if u.User != nil {
		c.user = u.User.Username()
		c.password, _ = u.User.Password()
	}
	return c, nil
}

func hostPort(host, port string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' && i > 0) {
			return false
		}
	}
	return true
}

// shard returns a client of the same database and user on another
// server (host:port).
func (c *client) shard(addr string) *client {
	scheme, _, _ := strings.Cut(c.base, "://")
	return &client{base: scheme + "://" + addr + "/", database: c.database, user: c.user, password: c.password, http: c.http, settings: c.settings, cluster: c.cluster}
}

// do sends one request. With rows != nil the statement goes in the query
// string and rows are the body; otherwise the statement is the body.
func (c *client) do(ctx context.Context, database, stmt string, rows io.Reader) (*http.Response, error) {
	params := url.Values{}
	if database != "" {
		params.Set("database", database)
	}
	for k, v := range c.settings {
		params[k] = v
	}
	params.Set("user", c.user)
	if c.password != "" {
		params.Set("password", c.password)
	}
	if c.cluster != "" {
		stmt = qualify(stmt, c.database)
	}
	body := rows
	if rows != nil {
		params.Set("query", stmt)
	} else {
		body = strings.NewReader(stmt)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"?"+params.Encode(), body)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, &ServerError{Status: resp.StatusCode, Message: strings.TrimSpace(string(msg)), Statement: abbreviate(stmt)}
	}
	return resp, nil
}

// ServerError is an error answer from the server.
type ServerError struct {
	Status    int
	Message   string
	Statement string
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("clickhouse: HTTP %d: %s (statement: %s)", e.Status, e.Message, e.Statement)
}

func abbreviate(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// exec runs a statement that returns nothing.
func (c *client) exec(ctx context.Context, stmt string) error {
	resp, err := c.do(ctx, c.database, stmt, nil)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// insert sends rows in the given format.
func (c *client) insert(ctx context.Context, stmt string, rows []byte) error {
	resp, err := c.do(ctx, c.database, stmt, bytes.NewReader(rows))
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// query runs a SELECT and calls fn with each row's unescaped fields. The
// fields slice is reused between rows.
func (c *client) query(ctx context.Context, stmt string, fn func(fields []string) error) error {
	resp, err := c.do(ctx, c.database, stmt+"\nFORMAT TabSeparated", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	var fields []string
	for sc.Scan() {
		fields = splitTSV(sc.Text(), fields[:0])
		if err := fn(fields); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("clickhouse: reading answer: %w", err)
	}
	return nil
}

// splitTSV splits a TabSeparated line and unescapes each field. NULL
// (written \N) becomes the empty string; a string that is literally \N
// arrives escaped as \\N and keeps its value.
func splitTSV(line string, out []string) []string {
	for {
		i := strings.IndexByte(line, '\t')
		f := line
		if i >= 0 {
			f = line[:i]
		}
		out = append(out, unescapeTSV(f))
		if i < 0 {
			return out
		}
		line = line[i+1:]
	}
}

func unescapeTSV(f string) string {
	if f == `\N` {
		return ""
	}
	if strings.IndexByte(f, '\\') < 0 {
		return f
	}
	var b strings.Builder
	b.Grow(len(f))
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c != '\\' || i+1 == len(f) {
			b.WriteByte(c)
			continue
		}
		i++
		switch f[i] {
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'r':
			b.WriteByte('\r')
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case '0':
			b.WriteByte(0)
		default:
			b.WriteByte(f[i])
		}
	}
	return b.String()
}

// newHTTPClient keeps a few idle connections to the server.
func newHTTPClient(timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	tr.Proxy = nil
	return &http.Client{Transport: tr, Timeout: timeout}
}
