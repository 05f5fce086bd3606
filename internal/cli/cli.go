// Package cli holds what every waymark command shares: usage errors
// (exit code 2), flag sets that report instead of exiting, WAYMARK_*
// variables applied before the command line, and flag sets for
// subcommands that share their flag definitions.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"waymark.dev/waymark/internal/config"
)

// UsageError is a command-line mistake: printed with exit code 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef returns a UsageError.
func Usagef(format string, args ...any) error { return &UsageError{fmt.Sprintf(format, args...)} }

// NewFlagSet returns a flag set that reports errors instead of exiting.
func NewFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("waymark "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// ApplyEnv sets flags from WAYMARK_<FLAG> variables (config.ApplyEnv).
func ApplyEnv(fs *flag.FlagSet, getenv func(string) string) error { return config.ApplyEnv(fs, getenv) }

// Parse applies WAYMARK_* variables, then the command line, and refuses
// arguments left over. -h returns flag.ErrHelp; other mistakes are
// UsageErrors.
func Parse(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := ApplyEnv(fs, getenv); err != nil {
		return Usagef("%v", err)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return Usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return Usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// ParseArgs is Parse for a command that takes arguments (file names):
// flags may come before, between or after them, and the arguments are
// returned in order.
func ParseArgs(fs *flag.FlagSet, args []string, getenv func(string) string) ([]string, error) {
	if err := ApplyEnv(fs, getenv); err != nil {
		return nil, Usagef("%v", err)
	}
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, Usagef("%v", err)
		}
		if fs.NArg() == 0 {
			return rest, nil
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// SubFlagSet returns a flag set for subcommand sub of a command whose
// subcommands share their flag definitions (all), with only the flags
// table gives sub: its -h shows its own flags, and the others are unknown
// to it. A usage text may have parts for different subcommands, each
// starting with the subcommands it is for and separated by " | "
// ("import, update: ... | list: ..."): sub gets its own part, without
// the prefix.
func SubFlagSet(all *flag.FlagSet, name, sub string, table map[string][]string, stderr io.Writer) (*flag.FlagSet, error) {
	names, ok := table[sub]
	if !ok {
		return nil, Usagef("unknown command waymark %s; see waymark help", name)
	}
	subs := map[string]bool{}
	for k := range table {
		subs[k[strings.LastIndexByte(k, ' ')+1:]] = true
	}
	fs := NewFlagSet(name, stderr)
	for _, n := range names {
		f := all.Lookup(n)
		if f == nil {
			panic("subFlagSet: no flag " + n) // a mistake in a table of this package
		}
		usage := f.Usage
		for _, part := range strings.Split(f.Usage, " | ") {
			pre, rest, ok := strings.Cut(part, ": ")
			tags := strings.Split(pre, ",")
			if ok && allIn(tags, subs) && slices.ContainsFunc(tags, func(t string) bool { return strings.TrimSpace(t) == sub[strings.LastIndexByte(sub, ' ')+1:] }) {
				usage = rest
				break
			}
		}
		fs.Var(f.Value, f.Name, usage)
	}
	return fs, nil
}

func allIn(words []string, set map[string]bool) bool {
	for _, w := range words {
		if !set[strings.TrimSpace(w)] {
			return false
		}
	}
	return true
}
