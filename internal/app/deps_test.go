package app

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "waymark.dev/waymark"

// TestDependencyDirection enforces the layering of docs/ARCHITECTURE.md:
// domain packages never import the web layer, adapters, app or config;
// adapters never import each other; only cmd imports app.
func TestDependencyDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	domain := []string{"analytics", "site", "config", "admin", "identity", "consent", "risk", "webhook"}
	adapters := []string{"duckdb", "clickhouse", "sqlite", "postgres"}
	forbiddenFor := map[string][]string{}
	for _, d := range domain {
		forbiddenFor[d] = []string{"web", "app", "duckdb", "clickhouse", "sqlite", "postgres", "apptest"}
	}
	forbiddenFor["config"] = append(forbiddenFor["config"], "analytics", "site")
	for _, a := range adapters {
		for _, b := range adapters {
			if a != b {
				forbiddenFor[a] = append(forbiddenFor[a], b)
			}
		}
		forbiddenFor[a] = append(forbiddenFor[a], "web", "app", "config")
	}
	forbiddenFor["web"] = []string{"app", "duckdb", "clickhouse", "sqlite", "postgres"}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], module+"/"), "internal/")
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			dep := strings.TrimPrefix(strings.TrimPrefix(imp, module+"/"), "internal/")
			if dep == "app" && pkg != "cmd/waymark" {
				t.Errorf("%s imports app; only cmd/waymark may", pkg)
			}
			root := strings.Split(pkg, "/")[0]
			for _, f := range forbiddenFor[root] {
				if dep == f || strings.HasPrefix(dep, f+"/") {
					t.Errorf("%s imports %s", pkg, dep)
				}
			}
		}
	}
}

// TestPackageDocs checks that every package has a doc comment.
func TestPackageDocs(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{.Doc}}", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, doc, _ := strings.Cut(line, "|")
		if len(strings.TrimSpace(doc)) < 10 {
			t.Errorf("package %s has no doc comment", pkg)
		}
	}
}
