package cli

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	env := map[string]string{"WAYMARK_NAME": "from-env"}
	for _, c := range []struct {
		name    string
		args    []string
		want    string
		errWant string // "" ok, "help", or text of a UsageError
	}{
		{"environment", nil, "from-env", ""},
		{"flag wins over environment", []string{"--name", "x"}, "x", ""},
		{"help", []string{"-h"}, "", "help"},
		{"unknown flag", []string{"--nope"}, "", "flag provided but not defined"},
		{"left-over argument", []string{"extra"}, "", `unexpected argument "extra"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			fs := NewFlagSet("test", io.Discard)
			name := fs.String("name", "", "a name")
			err := Parse(fs, c.args, func(k string) string { return env[k] })
			var ue *UsageError
			switch {
			case c.errWant == "" && (err != nil || *name != c.want):
				t.Errorf("name %q, %v; want %q", *name, err, c.want)
			case c.errWant == "help" && !errors.Is(err, flag.ErrHelp):
				t.Errorf("%v, want flag.ErrHelp", err)
			case c.errWant != "" && c.errWant != "help" && (!errors.As(err, &ue) || !strings.Contains(ue.Msg, c.errWant)):
				t.Errorf("%v, want a UsageError with %q", err, c.errWant)
			}
		})
	}
}

func TestSubFlagSet(t *testing.T) {
	t.Parallel()
	all := NewFlagSet("cmd", io.Discard)
	all.String("data", "d", "data folder")
	all.String("list", "", "add: the list to add to | show: only this list")
	table := map[string][]string{"add": {"data", "list"}, "show": {"list"}}
	fs, err := SubFlagSet(all, "cmd show", "show", table, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if fs.Lookup("data") != nil || fs.Lookup("list") == nil || fs.Lookup("list").Usage != "only this list" {
		t.Errorf("show's flags: data %v, list %+v", fs.Lookup("data"), fs.Lookup("list"))
	}
	var ue *UsageError
	if _, err := SubFlagSet(all, "cmd nope", "nope", table, io.Discard); !errors.As(err, &ue) {
		t.Errorf("unknown subcommand: %v, want a UsageError", err)
	}
}
