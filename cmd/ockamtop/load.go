package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/ockamtop/ockamtop/schema"
	"github.com/ockamtop/ockamtop/topology"
)

// fileFlags are the flags of every command that reads a topology file.
type fileFlags struct {
	vars    []string
	compact bool
	// engine plans the file for a container engine (topology/engine.go);
	// forEngine does so always, without the --engine flag (export).
	engine, forEngine bool
	// validate, if set, checks the other flags after parsing; false is a
	// usage error it has reported.
	validate func() bool
}

func (f *fileFlags) register(fs *flag.FlagSet) {
	fs.Func("var", "set a variable: `NAME=VALUE` (repeatable; overrides OCKAMTOP_VAR_NAME)", func(s string) error {
		if name, _, ok := strings.Cut(s, "="); !ok || name == "" {
			return fmt.Errorf("%q is not NAME=VALUE", s)
		}
		f.vars = append(f.vars, s)
		return nil
	})
	fs.BoolVar(&f.compact, "compact", false, "print diagnostics one a line, as FILE:LINE,COL: SUMMARY; DETAIL")
	if f.forEngine {
		f.engine = true
		return
	}
	fs.BoolVar(&f.engine, "engine", false, "plan for a container engine, each node in a container named after it: listeners and inlets bind all interfaces, nodes dial each other by name (see docs/engines.md)")
}

// parseAndLoad registers the file flags, parses a command line of one FILE
// (or DIR: see readSources) and loads it. An error ends the command; it
// has been reported.
func (c *cli) parseAndLoad(fs *flag.FlagSet, args []string, f *fileFlags) (*topology.Topology, string, error) {
	path, err := c.parseFileArgs(fs, args, f)
	if err != nil {
		return nil, "", err
	}
	t := c.load(path, f)
	if t == nil {
		return nil, "", errInvalid
	}
	return t, path, nil
}

// parseFileArgs registers the file flags and parses a command line of one
// FILE or DIR, which it returns. An error ends the command; it has been
// reported.
func (c *cli) parseFileArgs(fs *flag.FlagSet, args []string, f *fileFlags) (string, error) {
	f.register(fs)
	pos, err := parseArgs(c, fs, args, 1, 1)
	if err != nil {
		return "", err
	}
	if f.validate != nil && !f.validate() {
		return "", errUsage
	}
	return pos[0], nil
}

// load reads and plans a topology, a file or a directory (see readSources),
// printing its diagnostics. It returns nil when the topology is not valid.
func (c *cli) load(path string, f *fileFlags) *topology.Topology {
	t, files, diags, err := c.loadDiagnostics(path, f)
	if err != nil {
		fmt.Fprintf(c.stderr, "ockamtop: %v\n", err)
		return nil
	}
	if len(diags) > 0 {
		writeDiagnostics(c.stderr, diags, files, f.compact)
	}
	return t
}

// loadDiagnostics reads and plans a topology, and returns its diagnostics
// for the caller to show, with the parsed files they point into. The
// topology is nil when there are errors; err is a file that could not be
// read.
func (c *cli) loadDiagnostics(path string, f *fileFlags) (*topology.Topology, map[string]*hcl.File, hcl.Diagnostics, error) {
	srcs, err := readSources(path)
	if err != nil {
		return nil, nil, nil, err
	}
	overrides := schema.Overrides{Vars: f.vars, Env: c.env, Engine: f.engine}
	t, p, diags := topology.LoadFiles(srcs, overrides)
	if diags.HasErrors() {
		t = nil
	}
	return t, p.Files(), diags, nil
}

// readSources reads a topology: a FILE, or as Terraform reads a module,
// every .hcl file of a DIR, not recursively, in the order of their names.
// Hidden files (an editor's .#lock.hcl) are left out.
func readSources(path string) ([]schema.Source, error) {
	names := []string{path}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		// (Any other error is ReadFile's to report.)
		if names, err = topologyFiles(path); err != nil {
			return nil, err
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("%s: no .hcl files in the directory", path)
		}
	}
	srcs := make([]schema.Source, 0, len(names))
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, schema.Source{Filename: name, Bytes: b})
	}
	return srcs, nil
}

// topologyFiles lists the .hcl files of a directory that make a topology,
// sorted: regular files (or links to them), not hidden.
func topologyFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".hcl") || strings.HasPrefix(name, ".") {
			continue
		}
		path := filepath.Join(dir, name)
		if st, err := os.Stat(path); err != nil || st.IsDir() {
			continue
		}
		out = append(out, path)
	}
	return out, nil
}

// loadForRun is load for the commands that start nodes (apply, check): a
// topology without nodes, valid for validate and plan, is an error here,
// for there is nothing to start.
func (c *cli) loadForRun(path string, f *fileFlags) *topology.Topology {
	t, files, diags, err := c.loadDiagnostics(path, f)
	if err != nil {
		fmt.Fprintf(c.stderr, "ockamtop: %v\n", err)
		return nil
	}
	if t != nil && len(t.Nodes) == 0 {
		for _, d := range diags {
			if d.Summary == topology.NoNodesSummary {
				d.Severity = hcl.DiagError
				d.Detail = "The topology declares no node: there is nothing to start. Declare one with node \"NAME\" {}."
			}
		}
		t = nil
	}
	if len(diags) > 0 {
		writeDiagnostics(c.stderr, diags, files, f.compact)
	}
	return t
}
