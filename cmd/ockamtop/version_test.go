package main

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// TestVersionOf covers what a script cannot: a test binary carries no VCS
// stamp, so the commit and dirty lines are checked on built information.
func TestVersionOf(t *testing.T) {
	platform := runtime.GOOS + "/" + runtime.GOARCH
	tests := []struct {
		name string
		info *debug.BuildInfo
		want string
	}{
		{"no build info", nil, "ockamtop (devel)\n" + runtime.Version() + " " + platform + "\n"},
		{"devel, no vcs", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "m", Version: "(devel)"}},
			"ockamtop (devel)\ngo1.26.0 " + platform + "\n"},
		{"release, clean", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.3.0"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "089d0745d7f3a1b2c3d4e5f60718293a4b5c6d7e"},
			{Key: "vcs.time", Value: "2026-01-02T03:04:05Z"},
			{Key: "vcs.modified", Value: "false"},
		}}, "ockamtop v0.3.0\ncommit 089d0745d7f3a1b2c3d4e5f60718293a4b5c6d7e, 2026-01-02T03:04:05Z\ngo1.26.0 " + platform + "\n"},
		{"work tree, dirty", &debug.BuildInfo{GoVersion: "go1.26.0", Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "089d074"},
			{Key: "vcs.modified", Value: "true"},
		}}, "ockamtop (devel)\ncommit 089d074 (dirty)\ngo1.26.0 " + platform + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			versionOf(tt.info).writeText(&b)
			if b.String() != tt.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tt.want)
			}
		})
	}
}
