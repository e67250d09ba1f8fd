package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/ockamtop/ockamtop/topology/deploy"
)

var statusCommand = &command{
	name:    "status",
	args:    "",
	short:   "Show the running topologies and their parts",
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

// writeStatus shows one apply: a table of its nodes, then each node with
// its listener, services, connections and the forwarders it runs for other
// nodes' relays, then tables of the relays, inlets and outlets.
func writeStatus(w io.Writer, st controlStatus) {
	fmt.Fprintf(w, "topology %s (pid %d)\n", st.File, st.PID)
	writeNodeTable(w, st)
	for _, n := range st.Nodes {
		fmt.Fprintf(w, "\nnode %s\n", n.Name)
		if n.Listener != "" {
			fmt.Fprintf(w, "  listening on %s\n", n.Listener)
		}
		for _, l := range n.TCPListeners {
			fmt.Fprintf(w, "  listening also on %s\n", l.Address)
		}
		if n.UDPListener != "" {
			fmt.Fprintf(w, "  listening on udp %s\n", n.UDPListener)
		}
		writeIsolation(w, n)
		fmt.Fprintf(w, "  services: %s\n", strings.Join(n.Services, ", "))
		if n.Identifier != "" {
			fmt.Fprintf(w, "  identifier %s\n", n.Identifier)
		}
		for _, cn := range n.Connections {
			dir := "accepted from"
			if cn.Outgoing {
				dir = "connected to"
			}
			if cn.Transport == "udp" {
				dir = "udp peer"
			}
			fmt.Fprintf(w, "  connection /worker/%s %s %s\n", cn.Address, dir, cn.Peer)
		}
		for _, fwd := range slices.Sorted(maps.Keys(n.Forwarders)) {
			fmt.Fprintf(w, "  forwarder /service/%s over /worker/%s\n", fwd, n.Forwarders[fwd])
		}
	}
	table(w, []string{"RELAY", "NODE", "AT", "STATE", "ROUND TRIP", "REMOTE ADDRESS", "LAST ERROR"}, func(row func(...string)) {
		for _, n := range st.Nodes {
			for _, r := range n.Relays {
				at, remote := r.At, "/service/"+r.Forwarder
				if r.AtNode != "" {
					at = fmt.Sprintf("node %s (%s)", r.AtNode, r.At)
					remote = fmt.Sprintf("/node/%s/service/%s", r.AtNode, r.Forwarder)
				}
				if r.Forwarder == "" {
					remote = ""
				}
				row(r.Name, n.Name, at, string(r.State), r.RoundTrip, remote, r.LastError)
			}
		}
	})
	table(w, []string{"SECURE CHANNEL", "NODE", "ROLE", "PEER", "ROUTE"}, func(row func(...string)) {
		for _, n := range st.Nodes {
			for _, sc := range n.SecureChannels {
				role := "responder"
				if sc.Initiator {
					role = "initiator"
				}
				row("/worker/"+sc.Encryptor, n.Name, role, sc.Peer, sc.Route)
			}
		}
	})
	table(w, []string{"TCP INLET", "NODE", "LISTENING ON", "ROUTE", "STREAMS"}, func(row func(...string)) {
		for _, n := range st.Nodes {
			for _, in := range n.Inlets {
				row(in.Name, n.Name, in.Address, in.Route, strconv.Itoa(in.Streams))
			}
		}
	})
	table(w, []string{"TCP OUTLET", "NODE", "ADDRESS", "TARGET", "STREAMS"}, func(row func(...string)) {
		for _, n := range st.Nodes {
			for _, o := range n.Outlets {
				row(o.Name, n.Name, "/service/"+o.Name, o.Target, strconv.Itoa(o.Streams))
			}
		}
	})
	table(w, []string{"UDP INLET", "NODE", "LISTENING ON", "ROUTE", "FLOWS", "IDLE TIMEOUT", "DROPPED"}, func(row func(...string)) {
		for _, n := range st.Nodes {
			for _, in := range n.UDPInlets {
				row(in.Name, n.Name, in.Address, in.Route, strconv.Itoa(in.Flows), in.IdleTimeout, strconv.FormatUint(in.Dropped, 10))
			}
		}
	})
	table(w, []string{"UDP OUTLET", "NODE", "ADDRESS", "TARGET", "FLOWS"}, func(row func(...string)) {
		for _, n := range st.Nodes {
			for _, o := range n.UDPOutlets {
				row(o.Name, n.Name, "/service/"+o.Name, o.Target, strconv.Itoa(o.Flows))
			}
		}
	})
}

// table writes a blank line, a header and aligned rows, or nothing when
// rows adds none. An empty cell shows as "-".
func table(w io.Writer, header []string, rows func(row func(...string))) {
	var lines [][]string
	rows(func(cells ...string) {
		for i, c := range cells {
			if c == "" {
				cells[i] = "-"
			}
		}
		lines = append(lines, cells)
	})
	if len(lines) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, l := range append([][]string{header}, lines...) {
		fmt.Fprintln(tw, strings.Join(l, "\t"))
	}
	_ = tw.Flush()
}

// writeNodeTable shows the nodes at a glance: listener, connections,
// forwarders run for other nodes' relays, portal ends, and the streams
// open through them. (The relays have a table of their own.)
func writeNodeTable(w io.Writer, st controlStatus) {
	table(w, []string{"NODE", "LISTENING ON", "CONNECTIONS", "FORWARDERS", "INLETS", "OUTLETS", "OPEN STREAMS"}, func(row func(...string)) {
		for _, n := range st.Nodes {
			streams := 0
			for _, in := range n.Inlets {
				streams += in.Streams
			}
			for _, o := range n.Outlets {
				streams += o.Streams
			}
			listening := n.Listener
			if len(n.TCPListeners) > 0 {
				listening += fmt.Sprintf(" (+%d)", len(n.TCPListeners))
			}
			row(n.Name, listening, strconv.Itoa(len(n.Connections)), strconv.Itoa(len(n.Forwarders)),
				strconv.Itoa(len(n.Inlets)+len(n.UDPInlets)), strconv.Itoa(len(n.Outlets)+len(n.UDPOutlets)), strconv.Itoa(streams))
		}
	})
}
