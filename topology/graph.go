package topology

import (
	"fmt"
	"io"
	"strings"
)

// A graph of the topology: nodes, relays (the registering node dials the
// relay node), the connections and forwarders that the file's routes use,
// and the portals' ends.

type graphEdge struct {
	from, to, label string
	style           string // "solid", "dashed" (relay registration), "dotted" (forwarding), "bold" (secure channel)
	// name is the relay's name (dashed), the forwarder's address (dotted)
	// or the listener's (bold); "" for a connection.
	name string
}

type graphEnd struct {
	id, label string
	node      string
	inlet     bool
	name      string // the inlet's or outlet's name
	udp       bool   // a UDP portal's end
}

func (t *Topology) graph() (edges []graphEdge, ends []graphEnd) {
	seen := map[graphEdge]bool{}
	add := func(e graphEdge) {
		if !seen[e] {
			seen[e] = true
			edges = append(edges, e)
		}
	}
	for _, r := range t.Relays {
		add(graphEdge{r.Owner.Name, r.At.Name, "relay " + r.Name + ": " + r.RemoteAddress(), "dashed", r.Name})
	}
	routeEdges := func(hops []Hop) {
		for _, h := range hops {
			switch h.Kind {
			case HopConnect:
				label := h.Transport
				if h.Network != "" {
					label += " on " + h.Network
				}
				add(graphEdge{h.Node, h.To, label, "solid", ""})
			case HopRelay:
				add(graphEdge{h.Node, h.To, h.Address, "dotted", h.Address})
			case HopSecure:
				add(graphEdge{h.Node, h.To, "secure channel " + h.Address, "bold", h.Address})
			}
		}
	}
	for _, in := range t.Inlets {
		routeEdges(in.Hops)
		ends = append(ends, graphEnd{id: "inlet_" + in.Node.Name + "_" + in.Name, label: "tcp_inlet " + in.Name + "\n" + in.From, node: in.Node.Name, inlet: true, name: in.Name})
	}
	for _, in := range t.UDPInlets {
		routeEdges(in.Hops)
		ends = append(ends, graphEnd{id: "udp_inlet_" + in.Node.Name + "_" + in.Name, label: "udp_inlet " + in.Name + "\n" + in.From, node: in.Node.Name, inlet: true, name: in.Name, udp: true})
	}
	for _, c := range t.Checks {
		routeEdges(c.Hops)
	}
	for _, o := range t.Outlets {
		ends = append(ends, graphEnd{id: "outlet_" + o.Node.Name + "_" + o.Name, label: o.Block() + " " + o.Name + "\n" + o.Target, node: o.Node.Name, name: o.Name, udp: o.UDP})
	}
	return edges, ends
}

func (n *Node) graphLabel() string {
	label := n.Name
	for _, l := range n.AllTCPListeners() {
		label += "\n" + l
	}
	if n.UDPListener != "" {
		label += "\nudp " + n.UDPListener
	}
	return label
}

// WriteDot writes the topology as a Graphviz digraph.
func (t *Topology) WriteDot(w io.Writer) error {
	var b strings.Builder
	b.WriteString("digraph topology {\n  rankdir=LR;\n  node [shape=box];\n")
	for _, n := range t.Nodes {
		fmt.Fprintf(&b, "  %q [label=%s];\n", n.Name, dotString(n.graphLabel()))
	}
	edges, ends := t.graph()
	for _, e := range ends {
		fmt.Fprintf(&b, "  %q [shape=ellipse, label=%s];\n", e.id, dotString(e.label))
		if e.inlet {
			fmt.Fprintf(&b, "  %q -> %q;\n", e.id, e.node)
		} else {
			fmt.Fprintf(&b, "  %q -> %q;\n", e.node, e.id)
		}
	}
	for _, e := range edges {
		fmt.Fprintf(&b, "  %q -> %q [label=%q, style=%s];\n", e.from, e.to, e.label, e.style)
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func dotString(s string) string {
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, `"`, `\"`), "\n", `\n`) + `"`
}

// WriteMermaid writes the topology as a Mermaid flowchart.
func (t *Topology) WriteMermaid(w io.Writer) error {
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	id := func(s string) string { return strings.NewReplacer("-", "_", ".", "_").Replace(s) }
	for _, n := range t.Nodes {
		fmt.Fprintf(&b, "  %s[%s]\n", id("node_"+n.Name), mermaidString(n.graphLabel()))
	}
	edges, ends := t.graph()
	for _, e := range ends {
		fmt.Fprintf(&b, "  %s([%s])\n", id(e.id), mermaidString(e.label))
		if e.inlet {
			fmt.Fprintf(&b, "  %s --> %s\n", id(e.id), id("node_"+e.node))
		} else {
			fmt.Fprintf(&b, "  %s --> %s\n", id("node_"+e.node), id(e.id))
		}
	}
	for _, e := range edges {
		arrow := "-->"
		switch e.style {
		case "bold":
			arrow = "==>"
		case "solid":
		default:
			arrow = "-.->"
		}
		fmt.Fprintf(&b, "  %s %s|%s| %s\n", id("node_"+e.from), arrow, mermaidString(e.label), id("node_"+e.to))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mermaidString(s string) string {
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, `"`, "#quot;"), "\n", "<br>") + `"`
}
