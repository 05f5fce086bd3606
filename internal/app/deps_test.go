package app

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

const module = "waymark.dev/waymark"

// TestDependencyAllowList holds every package to the "may import" column
// of the package table in docs/ARCHITECTURE.md: a package missing from
// the table, or an import of this module's packages that its row does not
// name (in backticks; "everything" allows all), fails. Imports from
// outside the module are not checked here (docs/DEPENDENCIES.md).
func TestDependencyAllowList(t *testing.T) {
	doc, err := os.ReadFile("../../docs/ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]map[string]bool{} // package -> internal imports allowed; nil: everything
	cell := regexp.MustCompile("`([^`]+)`")
	for _, line := range strings.Split(string(doc), "\n") {
		cols := strings.Split(line, "|")
		if len(cols) != 5 {
			continue
		}
		m := cell.FindStringSubmatch(strings.TrimSpace(cols[1]))
		if m == nil || (!strings.HasPrefix(m[1], "internal/") && !strings.HasPrefix(m[1], "cmd/")) {
			continue
		}
		pkg := strings.TrimPrefix(m[1], "internal/")
		if strings.TrimSpace(cols[3]) == "everything" {
			allowed[pkg] = nil
			continue
		}
		allowed[pkg] = map[string]bool{}
		for _, d := range cell.FindAllStringSubmatch(cols[3], -1) {
			allowed[pkg][d[1]] = true
		}
	}
	if len(allowed) < 20 {
		t.Fatalf("read only %d packages from the table in docs/ARCHITECTURE.md", len(allowed))
	}
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], module+"/"), "internal/")
		allow, declared := allowed[pkg]
		if !declared {
			t.Errorf("package %s has no row in docs/ARCHITECTURE.md's package table", pkg)
			continue
		}
		for _, imp := range fields[1:] {
			dep, ok := strings.CutPrefix(imp, module+"/")
			if !ok {
				continue
			}
			dep = strings.TrimPrefix(dep, "internal/")
			if allow != nil && !allow[dep] {
				t.Errorf("%s imports %s, which its row in docs/ARCHITECTURE.md does not allow", pkg, dep)
			}
			if dep == "app" && pkg != "cmd/waymark" {
				t.Errorf("%s imports app; only cmd/waymark may", pkg)
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
