package main

import (
	"encoding/json"
	"flag"
	"fmt"
)

var validateCommand = &command{
	name:    "validate",
	args:    "FILE",
	summary: "Check a topology file: its syntax, its references, and that every route can be walked hop by hop.",
	run: func(c *cli, fs *flag.FlagSet, args []string) int {
		var ff fileFlags
		t, path, code := c.parseAndLoad(fs, args, &ff)
		if t == nil {
			return code
		}
		fmt.Fprintf(c.stdout, "%s is valid: %s.\n", path, t.Summary())
		return exitOK
	},
}

var planCommand = &command{
	name:    "plan",
	args:    "FILE",
	summary: "Show what apply would start, in order, with every route resolved hop by hop.",
	run: func(c *cli, fs *flag.FlagSet, args []string) int {
		var ff fileFlags
		asJSON := fs.Bool("json", false, "print the plan as JSON")
		t, _, code := c.parseAndLoad(fs, args, &ff)
		if t == nil {
			return code
		}
		if *asJSON {
			enc := json.NewEncoder(c.stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(t.Plan()); err != nil {
				fmt.Fprintf(c.stderr, "ockamtop: %v\n", err)
				return exitInvalid
			}
			return exitOK
		}
		if err := t.WriteText(c.stdout); err != nil {
			fmt.Fprintf(c.stderr, "ockamtop: %v\n", err)
			return exitInvalid
		}
		return exitOK
	},
}

var graphCommand = &command{
	name:    "graph",
	args:    "FILE",
	summary: "Draw the topology: nodes, relays, connections and portals, as Graphviz dot or Mermaid.",
	run: func(c *cli, fs *flag.FlagSet, args []string) int {
		var ff fileFlags
		format := fs.String("format", "dot", "output format: `dot` or mermaid")
		ff.validate = func() bool {
			if *format != "dot" && *format != "mermaid" {
				fmt.Fprintf(c.stderr, "ockamtop graph: unknown format %q (want dot or mermaid)\n", *format)
				return false
			}
			return true
		}
		t, _, code := c.parseAndLoad(fs, args, &ff)
		if t == nil {
			return code
		}
		var err error
		if *format == "mermaid" {
			err = t.WriteMermaid(c.stdout)
		} else {
			err = t.WriteDot(c.stdout)
		}
		if err != nil {
			fmt.Fprintf(c.stderr, "ockamtop: %v\n", err)
			return exitInvalid
		}
		return exitOK
	},
}
