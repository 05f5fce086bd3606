package app

import (
	"bytes"
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestSubcommandHelp: each subcommand's -h lists its own flags and no
// other (a new user saw every flag of every threats subcommand), exits 0,
// and shows no part of a usage text meant for another subcommand.
func TestSubcommandHelp(t *testing.T) {
	t.Parallel()
	tables := map[string]map[string][]string{"threats": threatsFlags, "keys": keysFlags, "proxy token": proxyTokenFlags, "": adminFlags}
	flagLine := regexp.MustCompile(`(?m)^  -([a-z-]+)`)
	for cmd, table := range tables {
		for sub, want := range table {
			args := strings.Fields(cmd + " " + sub + " -h")
			t.Run(strings.Join(args[:len(args)-1], " "), func(t *testing.T) {
				var out, errb bytes.Buffer
				if code := Run(context.Background(), args, func(string) string { return "" }, &out, &errb); code != 0 {
					t.Fatalf("exit %d: %s", code, errb.String())
				}
				var got []string
				for _, m := range flagLine.FindAllStringSubmatch(errb.String(), -1) {
					got = append(got, m[1])
				}
				if strings.Join(got, ",") != strings.Join(slices.Sorted(slices.Values(want)), ",") {
					t.Errorf("flags %v, want %v", got, want)
				}
				if strings.Contains(errb.String(), " | ") {
					t.Errorf("a usage text meant for several subcommands shows whole:\n%s", errb.String())
				}
			})
		}
	}
	var errb bytes.Buffer
	if code := Run(context.Background(), []string{"threats", "check", "--force", "x"}, func(string) string { return "" }, &bytes.Buffer{}, &errb); code != 2 ||
		!strings.Contains(errb.String(), "flag provided but not defined: -force") {
		t.Errorf("another subcommand's flag: exit %d, %s", code, errb.String())
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if code := Run(context.Background(), []string{"version"}, func(string) string { return "" }, &out, &bytes.Buffer{}); code != 0 ||
		!regexp.MustCompile(`^waymark \S+ .*go1\.\d+.* \w+/\w+\n$`).MatchString(out.String()) {
		t.Errorf("version: exit %d, %q", code, out.String())
	}
	if code := Run(context.Background(), []string{"version", "x"}, func(string) string { return "" }, &out, &bytes.Buffer{}); code != 2 {
		t.Errorf("version with an argument: exit %d, want 2", code)
	}
}

// TestCommandTable: help lists every command of the table, and each
// command with subcommands refuses to run without one.
func TestCommandTable(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if code := Run(context.Background(), []string{"help"}, func(string) string { return "" }, &out, &bytes.Buffer{}); code != 0 {
		t.Fatalf("help: exit %d", code)
	}
	for _, c := range commands {
		for _, h := range c.help {
			if !strings.Contains(out.String(), "  "+h.use) {
				t.Errorf("help lacks %q", h.use)
			}
		}
		if c.sub {
			var errb bytes.Buffer
			if code := Run(context.Background(), []string{c.names[0]}, func(string) string { return "" }, &bytes.Buffer{}, &errb); code != 2 ||
				!strings.Contains(errb.String(), "needs a subcommand") {
				t.Errorf("%s without a subcommand: exit %d, %s", c.names[0], code, errb.String())
			}
		}
	}
}
