package bench

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestBenchDashboard times a stand-in for the server's site view: it logs
// in, reads the server time each page reports, and refuses answers that
// are not 200 instead of timing them.
func TestBenchDashboard(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/login":
			if r.PostFormValue("password") != "pw" {
				http.Error(w, "no", http.StatusUnauthorized)
				return
			}
			http.SetCookie(w, &http.Cookie{Name: "s", Value: "1"})
			http.Redirect(w, r, "/dashboard", http.StatusSeeOther)
		case r.URL.Path == "/dashboard/shop.example":
			if c, err := r.Cookie("s"); err != nil || c.Value != "1" {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			if r.URL.Query().Get("period") == "bogus" {
				http.Error(w, "bad period", http.StatusBadRequest)
				return
			}
			w.Write([]byte(`<p class="footnote">Server time 12 ms · shortcuts</p>`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	env := func(k string) string { return map[string]string{"WAYMARK_ADMIN_PASSWORD": "pw"}[k] }
	var out, errs bytes.Buffer
	err := benchDashboard(context.Background(), []string{"--url", srv.URL, "--site", "shop.example", "--periods", "30d,12mo", "--repeats", "3"}, env, &out, &errs)
	if err != nil {
		t.Fatal(err, errs.String())
	}
	for _, want := range []string{"30d          12 ms (12-12)", "12mo         12 ms (12-12)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	for _, c := range []struct {
		args []string
		env  func(string) string
		want string
	}{
		{[]string{"--url", srv.URL, "--site", "shop.example", "--periods", "bogus"}, env, "400 Bad Request"},
		{[]string{"--url", srv.URL, "--site", "shop.example"}, func(k string) string { return map[string]string{"WAYMARK_ADMIN_PASSWORD": "wrong"}[k] }, "is the password right"},
		{[]string{"--url", srv.URL}, env, "--site and the password"},
		{[]string{"--url", srv.URL, "--site", "other.example", "--periods", "30d"}, env, "404"},
	} {
		err := benchDashboard(context.Background(), c.args, c.env, &out, &errs)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one saying %q", c.args, err, c.want)
		}
	}
}
