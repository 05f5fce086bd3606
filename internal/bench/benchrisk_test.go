package bench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"waymark.dev/waymark/internal/statestore"
)

// TestBenchRiskKeepsCookies: a --reuse run logs in with the cookies the
// previous run's logins set (kept in the folder's jar), so no trusted
// device is taken for a stolen one and no decision is a denial.
func TestBenchRiskKeepsCookies(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a state store; runs in the full pass")
	}
	t.Parallel()
	dir := t.TempDir()
	run := func(args ...string) (string, error) {
		var out, errOut strings.Builder
		err := benchRisk(context.Background(), append([]string{"--dir", dir, "--duration", "1s", "--workers", "4"}, args...), func(string) string { return "" }, &out, &errOut)
		return out.String(), err
	}
	out, err := run("--devices", "2000", "--events", "5000")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if strings.Contains(out, "deny") || strings.Contains(out, "error") || !strings.Contains(out, "allow") {
			t.Fatalf("a run with known cookies:\n%s", out)
		}
		if out, err = run("--reuse", "--devices", "2000"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, benchCookiesFile)); err != nil {
		t.Fatal(err)
	}
	// A killed run's journal records: writing around them is refused.
	if err := os.WriteFile(filepath.Join(dir, statestore.RiskJournalFile), []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := run("--reuse", "--devices", "2000", "--journal=false"); err == nil || !strings.Contains(err.Error(), "not yet applied") {
		t.Errorf("--journal=false with a journal holding records: %v", err)
	}
	os.Remove(filepath.Join(dir, benchCookiesFile))
	if _, err := run("--reuse", "--devices", "2000"); err == nil || !strings.Contains(err.Error(), benchCookiesFile) {
		t.Errorf("--reuse without a jar: %v", err)
	}
}
