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
	Inlets     []InletStatus     `json:"inlets"`
	Outlets    []OutletStatus    `json:"outlets"`
}

// InletStatus is a snapshot of a TCP inlet.
type InletStatus struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Route   string `json:"to"`
	Streams int    `json:"streams"`
}

// OutletStatus is a snapshot of a TCP outlet.
type OutletStatus struct {
	Name    string `json:"name"`
	Target  string `json:"to"`
	Streams int    `json:"streams"`
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
	inlets := append([]*runningInlet(nil), r.inlets...)
	outlets := append([]*runningOutlet(nil), r.outlets...)
	r.mu.Unlock()
	for _, tn := range r.topo.Order {
		n := r.Node(tn.Name)
		if n == nil {
			continue
		}
		ns := NodeStatus{Name: n.Name(), Listener: r.Listeners()[n.Name()], Forwarders: n.Forwarders(), Services: []string{}, Connections: []ConnectionStatus{}, Relays: []RelayStatus{}, Inlets: []InletStatus{}, Outlets: []OutletStatus{}}
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
			if _, outlet := w2outlet(outlets, ns.Name, w); outlet {
				continue // listed as an outlet
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
		for _, in := range inlets {
			if in.node == ns.Name {
				ns.Inlets = append(ns.Inlets, InletStatus{Name: in.name, Address: in.Addr(), Route: in.route, Streams: in.Streams()})
			}
		}
		for _, o := range outlets {
			if o.node == ns.Name {
				ns.Outlets = append(ns.Outlets, OutletStatus{Name: o.name, Target: o.target, Streams: o.Streams()})
			}
		}
		st.Nodes = append(st.Nodes, ns)
	}
	return st
}

func w2outlet(outlets []*runningOutlet, node, name string) (*runningOutlet, bool) {
	for _, o := range outlets {
		if o.node == node && o.name == name {
			return o, true
		}
	}
	return nil, false
}
