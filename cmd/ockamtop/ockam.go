package main

import (
	"flag"
	"os"
	"path/filepath"

	"github.com/ockamtop/ockamtop/cmd/ockamtop/ockam"
)

// Ockam's own command line (package ockam): this program run as `ockam`
// (a symbolic link named ockam, as busybox's are) or as `ockamtop ockam
// ARGS...`.

// invokedAsOckam reports whether this program was started under the name
// ockam.
func invokedAsOckam(argv0 string) bool { return filepath.Base(argv0) == "ockam" }

var ockamCommand = &command{
	name:    "ockam",
	args:    "COMMAND [ARGS...]",
	short:   "Run Ockam's own command line (node create, relay create, tcp-inlet create, ...)",
	summary: "Run Ockam's command line, its local subset, as Ockam's documents write it: each node a background process in $OCKAM_HOME, the session a topology that 'ockamtop import ockam' prints (docs/ockam.md). The same as running this program under the name ockam.",
	run: func(c *cli, _ *flag.FlagSet, args []string) error {
		code := c.runOckam([]string{os.Args[0], "ockam"}, args)
		if code != 0 {
			return &exitError{code}
		}
		return nil
	},
}

// runOckam runs Ockam's command line; prefix is how a background node
// runs this program again.
func (c *cli) runOckam(prefix, args []string) int {
	return ockam.Main(ockam.Env{Stdin: os.Stdin, Stdout: c.stdout, Stderr: c.stderr, Environ: c.env, Prefix: prefix}, args)
}
