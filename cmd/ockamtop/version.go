package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// buildVersion is what the binary knows about its own build, read from
// runtime/debug.ReadBuildInfo: the module version ("(devel)" when built
// from a work tree, or unknown), the VCS commit and whether the tree had
// uncommitted changes (dirty), the Go toolchain and the platform.
type buildVersion struct {
	Version  string `json:"version"`
	Commit   string `json:"commit,omitempty"`
	Time     string `json:"commit_time,omitempty"`
	Dirty    bool   `json:"dirty"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// develVersion is the module version of a build whose version is unknown,
// the string the go command uses.
const develVersion = "(devel)"

// readBuildVersion reads the running binary's build information.
func readBuildVersion() buildVersion {
	info, _ := debug.ReadBuildInfo()
	return versionOf(info)
}

// versionOf extracts the version from build information, which may be nil
// (a binary built without module support).
func versionOf(info *debug.BuildInfo) buildVersion {
	v := buildVersion{Version: develVersion, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info == nil {
		return v
	}
	if info.Main.Version != "" {
		v.Version = info.Main.Version
	}
	if info.GoVersion != "" {
		v.Go = info.GoVersion
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Dirty = s.Value == "true"
		}
	}
	return v
}

// writeText writes the version as `ockamtop version` prints it:
//
//	ockamtop v0.3.0
//	commit 0123abcd... (dirty), 2026-01-02T03:04:05Z
//	go1.26.0 linux/amd64
func (v buildVersion) writeText(w io.Writer) {
	fmt.Fprintf(w, "ockamtop %s\n", v.Version)
	if v.Commit != "" {
		fmt.Fprintf(w, "commit %s", v.Commit)
		if v.Dirty {
			fmt.Fprint(w, " (dirty)")
		}
		if v.Time != "" {
			fmt.Fprintf(w, ", %s", v.Time)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "%s %s\n", v.Go, v.Platform)
}

var versionCommand = &command{
	name:    "version",
	args:    "",
	short:   "Print the version of ockamtop",
	summary: "Print the version of ockamtop: module version, VCS commit, Go version.",
	run: func(c *cli, fs *flag.FlagSet, args []string) error {
		asJSON := fs.Bool("json", false, "print the version as JSON")
		if _, err := parseArgs(c, fs, args, 0, 0); err != nil {
			return err
		}
		v := readBuildVersion()
		if *asJSON {
			enc := json.NewEncoder(c.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(v)
		}
		v.writeText(c.stdout)
		return nil
	},
}
