package migrate

import (
	"testing"
	"testing/fstest"
)

func TestList(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0010_later.sql": {Data: []byte("B")},
		"m/0002_first.sql": {Data: []byte("A")},
		"m/README":         {Data: []byte("not a migration")},
	}
	got, err := List(fsys, "m")
	if err != nil || len(got) != 2 || got[0].Version != 2 || got[1].Version != 10 || got[0].SQL != "A" || got[1].Name != "0010_later.sql" {
		t.Fatalf("List = %+v, %v", got, err)
	}
	for name, bad := range map[string]fstest.MapFS{
		"no number":   {"m/first.sql": {}},
		"same number": {"m/0001_a.sql": {}, "m/0001_b.sql": {}},
		"zero":        {"m/0000_a.sql": {}},
	} {
		if _, err := List(bad, "m"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
