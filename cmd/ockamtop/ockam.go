package main

import (
	"flag"
	"fmt"
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

var importCommand = &command{
	name:    "import",
	args:    "ockam [FILE.yaml]",
	short:   "Print the session that 'ockam' commands built as a topology file",
	summary: "Print the nodes, listeners, services, relays and portals that 'ockam' commands built in $OCKAM_HOME as one topology file, formatted as 'ockamtop fmt' formats, which 'ockamtop apply' runs with the same names and ports; or, with FILE.yaml, the session an Ockam configuration file would build.",
	words:   []string{"ockam"},
	run: func(c *cli, fs *flag.FlagSet, args []string) error {
		pos, err := parseArgs(c, fs, args, 1, 2)
		if err != nil {
			return err
		}
		if pos[0] != "ockam" {
			fmt.Fprintf(c.stderr, "ockamtop import: unknown source %q (want ockam)\n", pos[0])
			return errUsage
		}
		var src []byte
		if len(pos) == 2 {
			src, err = ockam.ConfigHCL(c.env, pos[1])
		} else {
			src, err = ockam.SessionHCL(c.env)
		}
		if err != nil {
			return err
		}
		_, err = c.stdout.Write(src)
		return err
	},
}
