package topology

import (
	"fmt"
	"strings"
)

// PlanNetwork is an isolated network of the plan.
type PlanNetwork struct {
	Name   string   `json:"name"`
	Subnet string   `json:"subnet"`
	Nodes  []string `json:"nodes"`
}

// PlanInterface is a node's interface on an isolated network.
type PlanInterface struct {
	Network   string `json:"network"`
	Interface string `json:"interface"`
	// Address is the node's address with the network's prefix length.
	Address string `json:"address"`
}

// PlanExec is a process started with a node.
type PlanExec struct {
	Name    string   `json:"name"`
	Command []string `json:"command"`
	WaitFor string   `json:"wait_for,omitempty"`
	Timeout string   `json:"timeout,omitempty"`
}

func (t *Topology) planNetworks() []PlanNetwork {
	var out []PlanNetwork
	for _, nw := range t.Networks {
		pn := PlanNetwork{Name: nw.Name, Subnet: nw.Subnet.String(), Nodes: []string{}}
		for _, n := range nw.Nodes {
			pn.Nodes = append(pn.Nodes, n.Name)
		}
		out = append(out, pn)
	}
	return out
}

func planInterfaces(n *Node) []PlanInterface {
	var out []PlanInterface
	for _, i := range n.Interfaces {
		out = append(out, PlanInterface{Network: i.Network.Name, Interface: i.Name, Address: i.Address.String()})
	}
	return out
}

func planExecs(n *Node) []PlanExec {
	var out []PlanExec
	for _, x := range n.Decl.Execs {
		pe := PlanExec{Name: x.Name}
		for _, a := range x.Command {
			pe.Command = append(pe.Command, a.Value)
		}
		if x.WaitFor != nil {
			pe.WaitFor, pe.Timeout = x.WaitFor.Value, x.Timeout.String()
		}
		out = append(out, pe)
	}
	return out
}

// writeNetworks lists the networks after the start order.
func writeNetworks(b *strings.Builder, nws []PlanNetwork) {
	if len(nws) == 0 {
		return
	}
	parts := make([]string, len(nws))
	for i, nw := range nws {
		parts[i] = fmt.Sprintf("%s %s", nw.Name, nw.Subnet)
	}
	fmt.Fprintf(b, "Networks: %s.\n", strings.Join(parts, ", "))
}

// writeInterfaces writes where a node lives: its namespace's interfaces.
func writeInterfaces(b *strings.Builder, n PlanNode) {
	for _, i := range n.Interfaces {
		fmt.Fprintf(b, "  on %s: %s (interface %s)\n", i.Network, i.Address, i.Interface)
	}
}

// listenerNote says where an isolated node's listener l is reached from.
func listenerNote(n *Node, l string) string {
	var at []string
	for _, i := range n.Interfaces {
		if a, ok := ListenerOnInterface(l, i); ok {
			at = append(at, fmt.Sprintf("%s on %s", a, i.Network.Name))
		}
	}
	if len(at) == 0 {
		return ""
	}
	return ": " + strings.Join(at, ", ")
}

// writeExecs writes the processes a node starts.
func writeExecs(b *strings.Builder, n PlanNode) {
	for _, x := range n.Execs {
		fmt.Fprintf(b, "  exec %s: %s", x.Name, strings.Join(x.Command, " "))
		if x.WaitFor != "" {
			fmt.Fprintf(b, " (waits for %s, %s at most)", x.WaitFor, x.Timeout)
		}
		b.WriteString("\n")
	}
}
