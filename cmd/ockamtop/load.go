package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"

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

// writeDiagnostics renders diagnostics with file, line, column and a source
// snippet, or one a line when compact.
func writeDiagnostics(w io.Writer, diags hcl.Diagnostics, files map[string]*hcl.File, compact bool) {
	if !compact {
		wr := hcl.NewDiagnosticTextWriter(w, files, 100, false)
		_ = wr.WriteDiagnostics(diags)
		return
	}
	for _, d := range diags {
		where := "ockamtop"
		if d.Subject != nil {
			where = fmt.Sprintf("%s:%d,%d", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
		}
		sev := "Error"
		if d.Severity == hcl.DiagWarning {
			sev = "Warning"
		}
		detail := strings.Join(strings.Fields(d.Detail), " ")
		fmt.Fprintf(w, "%s: %s: %s; %s\n", where, sev, d.Summary, detail)
	}
}
