package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/ockamtop/ockamtop/schema"
	"github.com/ockamtop/ockamtop/topology"
)

// fileFlags are the flags of every command that reads a topology file.
type fileFlags struct {
	vars    []string
	compact bool
	// validate, if set, checks the other flags after parsing; false is a
	// usage error it has reported.
	validate func() bool
}

func (f *fileFlags) register(fs *flag.FlagSet) {
	fs.Func("var", "set a variable: `NAME=VALUE` (repeatable; overrides OCKAMTOP_VAR_NAME)", func(s string) error {
		f.vars = append(f.vars, s)
		return nil
	})
	fs.BoolVar(&f.compact, "compact", false, "print diagnostics one a line, as FILE:LINE,COL: SUMMARY; DETAIL")
}

// parseAndLoad registers the file flags, parses a command line of one FILE
// and loads it. An error ends the command; it has been reported.
func (c *cli) parseAndLoad(fs *flag.FlagSet, args []string, f *fileFlags) (*topology.Topology, string, error) {
	f.register(fs)
	pos, err := parseArgs(c, fs, args, 1, 1)
	if err != nil {
		return nil, "", err
	}
	if f.validate != nil && !f.validate() {
		return nil, "", errUsage
	}
	t := c.load(pos[0], f)
	if t == nil {
		return nil, "", errInvalid
	}
	return t, pos[0], nil
}

// load reads and plans a topology file, printing its diagnostics. It
// returns nil when the file is not valid.
func (c *cli) load(path string, f *fileFlags) *topology.Topology {
	src, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(c.stderr, "ockamtop: %v\n", err)
		return nil
	}
	overrides := schema.Overrides{Vars: f.vars, Env: c.env}
	t, p, diags := topology.Load(path, src, overrides)
	if len(diags) > 0 {
		writeDiagnostics(c.stderr, diags, p.Files(), f.compact)
	}
	if diags.HasErrors() {
		return nil
	}
	return t
}
