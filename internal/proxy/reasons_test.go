package proxy

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"

	"waymark.dev/waymark/internal/netguard"
)

// TestReasonsExplained: every Reason constant of this package and every
// reason of the egress policy has text a person is shown (not the
// generic fallback, for the proxy's own) and a mention in docs/PROXY.md.
func TestReasonsExplained(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/PROXY.md")
	if err != nil {
		t.Fatal(err)
	}
	own := reasonConstants(t, ".", "Reason")
	if len(own) < 15 {
		t.Fatalf("found %d Reason constants; the source walk is broken", len(own))
	}
	for _, r := range own {
		if _, ok := reasonText[Reason(r)]; !ok {
			t.Errorf("reason %s has no text in reasonText", r)
		}
	}
	policy := reasonConstants(t, "../netguard", "")
	if len(policy) < 15 {
		t.Fatalf("found %d netguard reasons; the source walk is broken", len(policy))
	}
	for _, r := range append(own, policy...) {
		if !strings.Contains(string(doc), "`"+r+"`") {
			t.Errorf("reason %s is not in docs/PROXY.md", r)
		}
	}
	if !strings.Contains(explain(Reason("threat_phishing")), "phishing list") || !strings.Contains(explain(netguard.ReasonReserved), "not a public") {
		t.Error("threat and address-class reasons are not explained")
	}
}

// reasonConstants reads the string constants named Reason* declared in
// a package's non-test files (of the given type name, or untyped when
// typ is "").
func reasonConstants(t *testing.T, dir, typ string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), dir+"/"+e.Name(), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		{
			for _, d := range f.Decls {
				g, ok := d.(*ast.GenDecl)
				if !ok || g.Tok != token.CONST {
					continue
				}
				for _, spec := range g.Specs {
					vs := spec.(*ast.ValueSpec)
					if id, ok := vs.Type.(*ast.Ident); (typ == "" && vs.Type != nil) || (typ != "" && (!ok || id.Name != typ)) {
						continue
					}
					for i, n := range vs.Names {
						if !strings.HasPrefix(n.Name, "Reason") || i >= len(vs.Values) {
							continue
						}
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							v, _ := strconv.Unquote(lit.Value)
							out = append(out, v)
						}
					}
				}
			}
		}
	}
	return out
}
