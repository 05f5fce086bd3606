package app

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"waymark.dev/waymark/internal/consent"
	"waymark.dev/waymark/internal/statestore"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(context.Background(), args, func(k string) string { return "" }, &out, &errb)
	return code, out.String(), errb.String()
}

func TestAdminCommands(t *testing.T) {
	data := t.TempDir()
	tests := []struct {
		args     []string
		code     int
		out, err string
	}{
		{[]string{"site", "add", "--data", data, "--domain", "Shop.Example", "--timezone", "Europe/Berlin"}, 0, "site shop.example added", ""},
		{[]string{"site", "add", "--data", data, "--domain", "shop.example"}, 1, "", "already exists"},
		{[]string{"site", "add", "--data", data, "--domain", "https://www.blog.example:8080/posts"}, 0, "site blog.example added", ""},
		{[]string{"site", "add", "--data", data, "--domain", "bad name"}, 2, "", "bare host name"},
		{[]string{"site", "add", "--data", data, "--domain", "a.example", "--site", "b.example"}, 2, "", "name two sites"},
		{[]string{"site", "add", "--data", data}, 2, "", "needs --domain"},
		{[]string{"site", "update", "--data", data, "--domain", "shop.example", "--ignore-ips", "10.0.0.0/8", "--retention-days", "90"}, 0, "updated", ""},
		{[]string{"site", "update", "--data", data, "--domain", "shop.example", "--ignore-ips", "nonsense"}, 2, "", "not a CIDR"},
		{[]string{"goal", "add", "--data", data, "--site", "shop.example", "--event", "Signup"}, 0, "goals of shop.example: 1", ""},
		{[]string{"goal", "add", "--data", data, "--domain", "shop.example", "--event", "Signup"}, 1, "", "already exists"},
		{[]string{"goal", "add", "--data", data, "--site", "shop.example"}, 2, "", "exactly one of"},
		{[]string{"site", "list", "--data", data}, 0, "shop.example\ttz=Europe/Berlin\tretention_days=90\tgoals=1", ""},
		{[]string{"token", "add", "--data", data, "--name", "ci", "--site", "shop.example"}, 0, "wmk_", "shown once"},
		{[]string{"token", "add", "--data", data, "--name", "x", "--site", "nope.example"}, 1, "", "not found"},
		{[]string{"token", "list", "--data", data}, 0, "1\tci\tsite=shop.example", ""},
		{[]string{"token", "revoke", "--data", data, "--id", "1"}, 0, "token 1 revoked", ""},
		{[]string{"token", "revoke", "--data", data, "--id", "1"}, 1, "", "not found"},
		{[]string{"site", "remove", "--data", data, "--domain", "shop.example"}, 0, "removed", ""},
		{[]string{"frobnicate"}, 2, "", "unknown command"},
		{[]string{"site"}, 2, "", "needs a subcommand"},
		{[]string{"serve", "--addr", ""}, 2, "", "--addr is empty"},
		{[]string{"serve", "--log-level", "loud", "--batch-size", "0"}, 2, "", "--batch-size must be positive"},
	}
	for _, tt := range tests {
		code, out, errOut := runCLI(t, tt.args...)
		if code != tt.code || !strings.Contains(out, tt.out) || !strings.Contains(errOut, tt.err) {
			t.Errorf("waymark %s\n = %d, stdout %q, stderr %q\nwant %d, stdout ~%q, stderr ~%q", strings.Join(tt.args, " "), code, out, errOut, tt.code, tt.out, tt.err)
		}
	}
}

func TestEnvOverridesDefaults(t *testing.T) {
	var out, errb bytes.Buffer
	env := map[string]string{"WAYMARK_BATCH_SIZE": "0"}
	code := Run(context.Background(), []string{"serve"}, func(k string) string { return env[k] }, &out, &errb)
	if code != 2 || !strings.Contains(errb.String(), "--batch-size must be positive") {
		t.Errorf("WAYMARK_BATCH_SIZE=0 gave %d %q", code, errb.String())
	}
	env["WAYMARK_BATCH_SIZE"] = "zero"
	code = Run(context.Background(), []string{"serve"}, func(k string) string { return env[k] }, &out, &errb)
	if code != 2 || !strings.Contains(errb.String(), "WAYMARK_BATCH_SIZE") {
		t.Errorf("WAYMARK_BATCH_SIZE=zero gave %d %q", code, errb.String())
	}
}

func TestKeysCommand(t *testing.T) {
	data := t.TempDir()
	run := func(args ...string) (string, int) {
		var out, errb bytes.Buffer
		code := Run(context.Background(), append([]string{"keys"}, append(args, "--data", data)...), func(string) string { return "" }, &out, &errb)
		return out.String() + errb.String(), code
	}
	out, code := run("list")
	if code != 0 || strings.Count(out, "\tsigns\n") != 1 || strings.Count(out, "signs content") != 1 {
		t.Fatalf("keys list (a cookie key and a content signing key): %d %q", code, out)
	}
	first := strings.Fields(out)[0]
	if out, code := run("retire", "--id", first); code != 2 || !strings.Contains(out, "only key") {
		t.Errorf("retiring the only key: %d %q", code, out)
	}
	if out, code := run("rotate"); code != 0 || !strings.Contains(out, "signs from now on") {
		t.Fatalf("rotate: %d %q", code, out)
	}
	if out, _ := run("list"); strings.Count(out, "\n") != 3 || !strings.Contains(out, first+"\t") {
		t.Errorf("after rotation: %q", out)
	}
	if out, code := run("retire", "--id", first); code != 0 {
		t.Errorf("retire: %d %q", code, out)
	}
	if out, code := run("retire", "--id", first); code != 1 || !strings.Contains(out, "no such key") {
		t.Errorf("retiring twice: %d %q", code, out)
	}
	if _, code := run("bogus"); code != 2 {
		t.Errorf("unknown subcommand exit %d, want 2", code)
	}
}

func TestConsentCommand(t *testing.T) {
	data := t.TempDir()
	db, err := statestore.Open(context.Background(), data, "")
	if err != nil {
		t.Fatal(err)
	}
	p := consent.DefaultPolicy()
	r := &consent.Receipt{ID: consent.NewReceiptID(), Site: "s.example", VisitorID: "ab", PolicyVersion: p.Version, TextHash: p.TextHash("en"),
		Language: "en", Choices: consent.Choices{consent.Necessary: true, consent.Analytics: false}, Time: time.Now().UTC(), Source: consent.SourceBanner}
	if err := db.AddReceipts(context.Background(), []*consent.Receipt{r}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	run := func(args ...string) (string, int) {
		var out, errb bytes.Buffer
		code := Run(context.Background(), append([]string{"consent"}, append(args, "--data", data)...), func(string) string { return "" }, &out, &errb)
		return out.String() + errb.String(), code
	}
	if out, code := run("export", "--format", "csv"); code != 0 || !strings.Contains(out, r.ID) || !strings.HasPrefix(out, "receipt_id,") {
		t.Errorf("export csv: %d %q", code, out)
	}
	if out, code := run("export"); code != 0 || !strings.Contains(out, `"receipt_id":"`+r.ID) {
		t.Errorf("export jsonl: %d %q", code, out)
	}
	if out, code := run("show", "--visitor", "ab"); code != 0 || !strings.Contains(out, "analytics=false") {
		t.Errorf("show: %d %q", code, out)
	}
	if _, code := run("export", "--since", "yesterday"); code != 2 {
		t.Errorf("bad --since: exit %d, want 2", code)
	}
	if _, code := run("show", "--receipt", "nope"); code != 1 {
		t.Errorf("unknown receipt: exit %d, want 1", code)
	}
}
