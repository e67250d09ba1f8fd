package main

import (
	"encoding/json"
	"flag"
	"fmt"

	"github.com/hashicorp/hcl/v2"
)

var validateCommand = &command{
	name:    "validate",
	args:    "FILE|DIR",
	short:   "Check a topology: syntax, references, every route walked",
	summary: "Check a topology file: its syntax, its references, and that every route can be walked hop by hop.",
	run: func(c *cli, fs *flag.FlagSet, args []string) error {
		var ff fileFlags
		asJSON := fs.Bool("json", false, "print the diagnostics and whether the topology is valid as JSON, on stdout")
		path, err := c.parseFileArgs(fs, args, &ff)
		if err != nil {
			return err
		}
		if *asJSON {
			t, _, diags, err := c.loadDiagnostics(path, &ff)
			if err != nil {
				diags = hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Failed to read topology", Detail: err.Error()}}
			}
			if err := writeValidateJSON(c.stdout, diags); err != nil {
				return err
			}
			if t == nil {
				return errInvalid
			}
			return nil
		}
		t := c.load(path, &ff)
		if t == nil {
			return errInvalid
		}
		fmt.Fprintf(c.stdout, "%s is valid: %s.\n", path, t.Summary())
		return nil
	},
}

var planCommand = &command{
	name:    "plan",
	args:    "FILE|DIR",
	short:   "Show what apply would start, or change in a running topology",
	summary: "Show what apply would start, in order, with every route resolved hop by hop; while FILE runs, what apply would change.",
	run: func(c *cli, fs *flag.FlagSet, args []string) error {
		var ff fileFlags
		asJSON := fs.Bool("json", false, "print the plan as JSON")
		path, err := c.parseFileArgs(fs, args, &ff)
		if err != nil {
			return err
		}
		// FILE runs already: show the difference (reconcile.go).
		if handled, err := c.planRunning(path, &ff, *asJSON); handled {
			return err
		}
		t := c.load(path, &ff)
		if t == nil {
			return errInvalid
		}
		if *asJSON {
			enc := json.NewEncoder(c.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(t.Plan())
		}
		return t.WriteText(c.stdout)
	},
}

var graphCommand = &command{
	name:    "graph",
	args:    "FILE|DIR",
	short:   "Draw a topology as Graphviz dot or Mermaid",
	summary: "Draw the topology: nodes, relays, connections and portals, as Graphviz dot or Mermaid.",
	run: func(c *cli, fs *flag.FlagSet, args []string) error {
		var ff fileFlags
		format := fs.String("format", "dot", "output format: `dot` or mermaid")
		ff.validate = func() bool {
			if *format != "dot" && *format != "mermaid" {
				fmt.Fprintf(c.stderr, "ockamtop graph: unknown format %q (want dot or mermaid)\n", *format)
				return false
			}
			return true
		}
		t, _, err := c.parseAndLoad(fs, args, &ff)
		if err != nil {
			return err
		}
		if *format == "mermaid" {
			return t.WriteMermaid(c.stdout)
		}
		return t.WriteDot(c.stdout)
	},
}
