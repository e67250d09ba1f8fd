package topology

import "github.com/ockamtop/ockamtop/schema"

// A node has its own TCP listener (tcp_listener), which /node/NAME dials,
// and may have more (tcp_listeners), as an Ockam node has the one `node
// create --tcp-listener-address` made and those `tcp-listener create`
// added. Each takes connections as the node's own does: a route that
// names one by its socket address (/ip4/A/tcp/P) dials that one.

// AllTCPListeners lists where the node takes TCP connections, as
// declared: its own listener first, then its tcp_listeners. Empty for a
// node that does not listen on TCP.
func (n *Node) AllTCPListeners() []string {
	if n.Listener == "" {
		return nil
	}
	return append([]string{n.Listener}, n.TCPListeners...)
}

// declaredTCPListeners are the file's declarations of the node's TCP
// listeners, its own first.
func (n *Node) declaredTCPListeners() []*schema.String {
	var out []*schema.String
	if n.Decl.TCPListener != nil {
		out = append(out, n.Decl.TCPListener)
	}
	for i := range n.Decl.TCPListeners {
		out = append(out, &n.Decl.TCPListeners[i])
	}
	return out
}

// listenerAt is which of the node's TCP listeners (as declared) takes
// connections at hostport, "" if none does. An isolated node is reached
// at its addresses, not at its listener's text (0.0.0.0:7000).
func (n *Node) listenerAt(hostport string) string {
	for _, l := range n.AllTCPListeners() {
		if !n.Isolated() && l == hostport || n.listensOn(l, hostport) {
			return l
		}
	}
	return ""
}
