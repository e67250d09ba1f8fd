package main

import (
	"flag"
	"fmt"

	"github.com/ockamtop/ockamtop/cmd/ockamtop/ockam"
)

// ockamtop import ockam: the session that Ockam's commands built (package
// ockam), or an Ockam configuration file, as one topology file.

var importCommand = &command{
	name:    "import",
	args:    "ockam [FILE.yaml]",
	short:   "Print the session that 'ockam' commands built as a topology file",
	summary: "Print the nodes, listeners, services, relays and portals that 'ockam' commands built in $OCKAM_HOME as one topology file, formatted as 'ockamtop fmt' formats, which 'ockamtop apply' runs with the same names and ports; or, with FILE.yaml, the session an Ockam configuration file would build.",
	words:   []string{"ockam"},
	run: func(c *cli, fs *flag.FlagSet, args []string) error {
		asYAML := fs.Bool("yaml", false, "print the session as Ockam's configuration file, for 'ockam run', rather than a topology")
		pos, err := parseArgs(c, fs, args, 1, 2)
		if err != nil {
			return err
		}
		if pos[0] != "ockam" {
			fmt.Fprintf(c.stderr, "ockamtop import: unknown source %q (want ockam)\n", pos[0])
			return errUsage
		}
		var src []byte
		switch {
		case *asYAML && len(pos) == 2:
			fmt.Fprintf(c.stderr, "ockamtop import: --yaml prints the session of $OCKAM_HOME, not a file's\n")
			return errUsage
		case *asYAML:
			src, err = ockam.SessionYAML(c.env)
		case len(pos) == 2:
			src, err = ockam.ConfigHCL(c.env, pos[1])
		default:
			src, err = ockam.SessionHCL(c.env)
		}
		if err != nil {
			return err
		}
		_, err = c.stdout.Write(src)
		return err
	},
}
