package runtime

// What the package's external tests see of its inside.

// FlowsConsumed counts the connection flows the worker at name consumes;
// -1 when no worker runs there.
func FlowsConsumed(n *Node, name string) int {
	w := n.lookup(name)
	if w == nil {
		return -1
	}
	return w.flows.len()
}
