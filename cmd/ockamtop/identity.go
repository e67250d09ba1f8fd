package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/ockamtop/ockamtop/runtime/secure"
)

var identityCommand = &command{
	name:    "identity",
	args:    "create FILE | show FILE",
	short:   "Create an identity file, or show its identifier",
	summary: "Create an identity file for a node (identity = FILE) and print its identifier, or print a file's identifier.",
	words:   []string{"create", "show"},
	run: func(c *cli, fs *flag.FlagSet, args []string) error {
		pos, err := parseArgs(c, fs, args, 2, 2)
		if err != nil {
			return err
		}
		var id *secure.Identity
		switch pos[0] {
		case "create":
			id, err = secure.CreateIdentityFile(pos[1], time.Now())
		case "show":
			id, err = secure.LoadIdentity(pos[1])
		default:
			fmt.Fprintf(c.stderr, "ockamtop identity: unknown subcommand %q (want create or show)\n", pos[0])
			return errUsage
		}
		if err != nil {
			fmt.Fprintf(c.stderr, "ockamtop identity %s: %v\n", pos[0], err)
			return errInvalid
		}
		fmt.Fprintln(c.stdout, id.Identifier)
		return nil
	},
}
