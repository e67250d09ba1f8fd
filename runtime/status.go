package runtime

import (
	"sort"
)

// Status is a snapshot of a running topology, for `ockamtop status`.
type Status struct {
	Nodes []NodeStatus `json:"nodes"`
}

// NodeStatus is a snapshot of one node.
type NodeStatus struct {
	Name string `json:"name"`
	// Listener is the bound listener address, "" if none.
	Listener    string             `json:"listener"`
	Services    []string           `json:"services"`
	Connections []ConnectionStatus `json:"connections"`
	// Forwarders are the relays registered at this node: forwarder
	// address -> the connection it sends over.
	Forwarders map[string]string `json:"forwarders"`
	Relays     []RelayStatus     `json:"relays"`
}

// ConnectionStatus is a snapshot of one connection.
type ConnectionStatus struct {
	Address  string `json:"address"`
	Peer     string `json:"peer"`
	Outgoing bool   `json:"outgoing"`
}

// Status returns a snapshot of every node run here, in start order.
func (r *Running) Status() Status {
	st := Status{Nodes: []NodeStatus{}}
	r.mu.Lock()
	relays := append([]*Relay(nil), r.relays...)
	r.mu.Unlock()
	for _, tn := range r.topo.Order {
		n := r.Node(tn.Name)
		if n == nil {
			continue
		}
		ns := NodeStatus{Name: n.Name(), Listener: r.Listeners()[n.Name()], Forwarders: n.Forwarders(), Services: []string{}, Connections: []ConnectionStatus{}, Relays: []RelayStatus{}}
		conns := map[string]bool{}
		for _, c := range n.Connections() {
			conns[c.Address().Value] = true
			ns.Connections = append(ns.Connections, ConnectionStatus{Address: c.Address().Value, Peer: c.RemoteAddr(), Outgoing: c.Outgoing()})
		}
		sort.Slice(ns.Connections, func(i, j int) bool { return ns.Connections[i].Peer < ns.Connections[j].Peer })
		for _, w := range n.Workers() {
			if _, fwd := ns.Forwarders[w]; fwd {
				continue // listed as a forwarder
			}
			if w2 := n.lookup(w); w2 != nil && w2.service.Load() && !conns[w] {
				ns.Services = append(ns.Services, w)
			}
		}
		sort.Strings(ns.Services)
		for _, rel := range relays {
			if rel.node == n {
				ns.Relays = append(ns.Relays, rel.Status())
			}
		}
		st.Nodes = append(st.Nodes, ns)
	}
	return st
}
