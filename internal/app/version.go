package app

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// version describes this build: the module version (a tag when built from
// one, "(devel)" from a working tree), the source revision and its time
// with "modified" when the tree had uncommitted changes, and the Go
// release and platform.
func version() string {
	parts := []string{"waymark"}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "waymark (no build information) " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
	}
	parts = append(parts, info.Main.Version)
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		r := "revision " + rev[:min(12, len(rev))]
		var notes []string
		if t := settings["vcs.time"]; t != "" {
			notes = append(notes, t)
		}
		if settings["vcs.modified"] == "true" {
			notes = append(notes, "modified")
		}
		if len(notes) > 0 {
			r += " (" + strings.Join(notes, ", ") + ")"
		}
		parts = append(parts, r)
	}
	return strings.Join(append(parts, info.GoVersion, runtime.GOOS+"/"+runtime.GOARCH), " ")
}
