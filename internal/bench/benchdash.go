package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"waymark.dev/waymark/internal/cli"
)

// serverTime is the footnote every site view ends with.
var serverTime = regexp.MustCompile(`Server time ([0-9.]+) ms`)

// benchDashboard times a running server's site view for each period: the
// server time the page reports (its queries and rendering) and the time to
// the last byte, over repeats loads each, counting only views that
// answered 200.
func benchDashboard(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("bench dashboard", stderr)
	base := fs.String("url", "http://127.0.0.1:8080", "the running server's web address")
	domain := fs.String("site", "", "the site whose view is timed")
	password := fs.String("admin-password", "", "the dashboard's password (prefer WAYMARK_ADMIN_PASSWORD)")
	periods := fs.String("periods", "day,7d,30d,month,last_month,12mo,all", "periods to time, comma-separated")
	repeats := fs.Int("repeats", 5, "loads per period; the median is reported")
	compare := fs.Bool("compare", false, "compare with the previous period, as the view's button does")
	if err := cli.Parse(fs, args, getenv); err != nil {
		return err
	}
	if *domain == "" || *password == "" {
		return cli.Usagef("--site and the password (WAYMARK_ADMIN_PASSWORD or --admin-password) are needed")
	}
	if *repeats < 1 {
		return cli.Usagef("--repeats must be positive")
	}
	var list []string
	for _, p := range strings.Split(*periods, ",") {
		if p = strings.TrimSpace(p); p != "" {
			list = append(list, p)
		}
	}
	if len(list) == 0 {
		return cli.Usagef("--periods names no period")
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	root := strings.TrimSuffix(*base, "/")
	resp, err := c.PostForm(root+"/login", url.Values{"password": {*password}, "next": {"/dashboard"}})
	if err != nil {
		return fmt.Errorf("log in: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return fmt.Errorf("log in: %s (is the password right?)", resp.Status)
	}
	view := root + "/dashboard/" + url.PathEscape(*domain)
	fmt.Fprintf(stdout, "%-12s %-30s %-30s (%d loads each, one at a time%s)\n", "period", "server time: median (range)", "to last byte: median (range)", *repeats,
		map[bool]string{true: ", compared with the previous period"}[*compare])
	for _, p := range list {
		var server, total []float64
		for range *repeats {
			u := view + "?period=" + url.QueryEscape(p)
			if *compare {
				u += "&compare=1"
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			if err != nil {
				return err
			}
			start := time.Now()
			resp, err := c.Do(req)
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			took := time.Since(start)
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s: the view answered %s; only answers of 200 are timed", p, resp.Status)
			}
			m := serverTime.FindSubmatch(body)
			if m == nil {
				return fmt.Errorf("%s: the page does not report its server time (is %s a site view?)", p, u)
			}
			ms, _ := strconv.ParseFloat(string(m[1]), 64)
			server = append(server, ms)
			total = append(total, float64(took.Microseconds())/1000)
		}
		fmt.Fprintf(stdout, "%-12s %-30s %-30s\n", p, spread(server), spread(total))
	}
	return nil
}

// spread writes "median ms (min-max)".
func spread(v []float64) string {
	slices.Sort(v)
	return fmt.Sprintf("%.0f ms (%.0f-%.0f)", v[len(v)/2], v[0], v[len(v)-1])
}
