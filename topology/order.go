package topology

import (
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/ockamtop/ockamtop/schema"
)

// startOrder orders the nodes so that every node starts after the nodes its
// relays dial (their listeners must be up first). Otherwise the file's order
// is kept. A cycle of relays is an error naming the cycle.
func (t *Topology) startOrder() ([]*Node, hcl.Diagnostics) {
	const (
		unvisited = iota
		visiting
		visited
	)
	state := map[*Node]int{}
	var order []*Node
	var diags hcl.Diagnostics
	var path []*Relay
	var visit func(n *Node)
	visit = func(n *Node) {
		switch state[n] {
		case visited:
			return
		case visiting:
			// path holds the relays from the cycle's start to here.
			start := 0
			for i, r := range path {
				if r.Owner == n {
					start = i
				}
			}
			names := []string{n.Name}
			for _, r := range path[start:] {
				names = append(names, r.At.Name)
			}
			last := path[len(path)-1]
			diags = append(diags, schema.ErrorAt(last.Decl.At.Range, "Cycle in start order",
				"Relays dial in a circle: %s. Each node must start after the node its relay dials, so one of these relays has to go.",
				strings.Join(names, " -> ")))
			return
		}
		state[n] = visiting
		for _, r := range n.Relays {
			path = append(path, r)
			visit(r.At)
			path = path[:len(path)-1]
		}
		state[n] = visited
		order = append(order, n)
	}
	for _, n := range t.Nodes {
		visit(n)
	}
	return order, diags
}

// orderString names nodes in order: "n2, n3, n1".
func orderString(nodes []*Node) string {
	names := make([]string, len(nodes))
	for i, n := range nodes {
		names[i] = n.Name
	}
	return strings.Join(names, ", ")
}
