package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/rogpeppe/go-internal/diff"

	"github.com/ockamtop/ockamtop/schema"
)

var fmtCommand = &command{
	name:    "fmt",
	args:    "FILE|DIR...",
	short:   "Rewrite topology files in the canonical format",
	summary: "Rewrite topology files in the canonical HCL format (or show the changes). Files with syntax errors are left alone.",
	run: func(c *cli, fs *flag.FlagSet, args []string) error {
		check := fs.Bool("check", false, "change nothing: list the files that are not formatted and exit 1 if there are any")
		showDiff := fs.Bool("diff", false, "change nothing: print a unified diff of what would change (exit 1 with --check if anything would)")
		compact := fs.Bool("compact", false, "print diagnostics one a line")
		pos, err := parseArgs(c, fs, args, 1, -1)
		if err != nil {
			return err
		}
		var files []string
		for _, p := range pos {
			st, err := os.Stat(p)
			if err != nil {
				fmt.Fprintf(c.stderr, "ockamtop fmt: %v\n", err)
				return errInvalid
			}
			if !st.IsDir() {
				files = append(files, p)
				continue
			}
			matches, err := topologyFiles(p)
			if err != nil {
				fmt.Fprintf(c.stderr, "ockamtop fmt: %v\n", err)
				return errInvalid
			}
			files = append(files, matches...)
		}
		var result error
		parser := hclparse.NewParser()
		for _, path := range files {
			src, err := os.ReadFile(path)
			if err != nil {
				fmt.Fprintf(c.stderr, "ockamtop fmt: %v\n", err)
				result = errInvalid
				continue
			}
			if _, diags := schema.Parse(parser, path, src); diags.HasErrors() {
				writeDiagnostics(c.stderr, diags, parser.Files(), *compact)
				fmt.Fprintf(c.stderr, "ockamtop fmt: %s has syntax errors; not formatted\n", path)
				result = errInvalid
				continue
			}
			out := hclwrite.Format(src)
			if bytes.Equal(out, src) {
				continue
			}
			fmt.Fprintln(c.stdout, path)
			if *showDiff {
				_, _ = c.stdout.Write(diff.Diff("old/"+path, src, "new/"+path, out))
			}
			if *check {
				result = errInvalid
				continue
			}
			if *showDiff {
				continue // shown, not written
			}
			if err := writeFileAtomic(path, out); err != nil {
				fmt.Fprintf(c.stderr, "ockamtop fmt: %v\n", err)
				result = errInvalid
			}
		}
		return result
	},
}

// writeFileAtomic replaces path with data, keeping its mode, so that a
// reader never sees half a file.
func writeFileAtomic(path string, data []byte) error {
	mode := os.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	return writeFileAtomicMode(path, data, mode)
}

// writeFileAtomicMode replaces path with data, with mode whatever the
// umask, so that a reader never sees half a file.
func writeFileAtomicMode(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
