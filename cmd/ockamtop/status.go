package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/ockamtop/ockamtop/runtime/deploy"
)

var statusCommand = &command{
	name:    "status",
	args:    "",
	summary: "Show the running topologies, apply by apply: nodes, listeners, connections, services, relays, portals.",
	run: func(c *cli, fs *flag.FlagSet, args []string) error {
		asJSON := fs.Bool("json", false, "print the status as JSON (an array, one element per apply)")
		node := fs.String("node", "", "show only node `NAME`")
		file := fs.String("file", "", "show only the applies of `FILE` (its path or its name)")
		if _, err := parseArgs(c, fs, args, 0, 0); err != nil {
			return err
		}
		a, err := c.findApplies(context.Background())
		if err != nil {
			return err
		}
		statuses := []controlStatus{}
		for _, r := range a.matching(*node, *file) {
			st := r.status
			if *node != "" {
				st.Nodes = slices.DeleteFunc(slices.Clone(st.Nodes), func(n deploy.NodeStatus) bool { return n.Name != *node })
			}
			statuses = append(statuses, st)
		}
		if *asJSON {
			enc := json.NewEncoder(c.stdout)
			enc.SetIndent("", "  ")
			_ = enc.Encode(statuses)
		} else {
			for i, st := range statuses {
				if i > 0 {
					fmt.Fprintln(c.stdout)
				}
				writeStatus(c.stdout, st)
			}
		}
		switch {
		case len(statuses) == 0 && (*node != "" || *file != ""):
			return c.errNoMatch("status", describe(*node, *file), a)
		case len(a.silent) > 0:
			c.reportSilent("status", a)
			return errInvalid
		case len(statuses) == 0 && !*asJSON:
			fmt.Fprintf(c.stdout, "no running topology (looked in %s)\n", a.dir)
		}
		return nil
	},
}

func writeStatus(w io.Writer, st controlStatus) {
	fmt.Fprintf(w, "topology %s (pid %d)\n", st.File, st.PID)
	for _, n := range st.Nodes {
		fmt.Fprintf(w, "\nnode %s\n", n.Name)
		if n.Listener != "" {
			fmt.Fprintf(w, "  listening on %s\n", n.Listener)
		}
		fmt.Fprintf(w, "  services: %s\n", strings.Join(n.Services, ", "))
		for _, cn := range n.Connections {
			dir := "accepted from"
			if cn.Outgoing {
				dir = "connected to"
			}
			fmt.Fprintf(w, "  connection /worker/%s %s %s\n", cn.Address, dir, cn.Peer)
		}
		for fwd, conn := range n.Forwarders {
			fmt.Fprintf(w, "  forwarder /service/%s over /worker/%s\n", fwd, conn)
		}
		for _, in := range n.Inlets {
			fmt.Fprintf(w, "  tcp_inlet %s on %s -> %s (%d streams)\n", in.Name, in.Address, in.Route, in.Streams)
		}
		for _, o := range n.Outlets {
			fmt.Fprintf(w, "  tcp_outlet /service/%s -> %s (%d streams)\n", o.Name, o.Target, o.Streams)
		}
		for _, r := range n.Relays {
			at := r.At
			if r.AtNode != "" {
				at = "node " + r.AtNode + " (" + r.At + ")"
			}
			fmt.Fprintf(w, "  relay %s at %s: %s", r.Name, at, r.State)
			if r.Forwarder != "" {
				fmt.Fprintf(w, ", remote address /service/%s", r.Forwarder)
			}
			if r.LastError != "" {
				fmt.Fprintf(w, " (last error: %s)", r.LastError)
			}
			fmt.Fprintln(w)
		}
	}
}
