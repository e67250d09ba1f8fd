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

// WorkerNames lists the local addresses of the running workers, as the
// router holds them.
func WorkerNames(n *Node) []string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make([]string, 0, len(n.workers))
	for name := range n.workers {
		out = append(out, name)
	}
	return out
}
