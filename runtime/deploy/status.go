package deploy

import (
	"slices"
	"strings"

	"github.com/ockamtop/ockamtop/runtime"
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
	Forwarders map[string]string     `json:"forwarders"`
	Relays     []runtime.RelayStatus `json:"relays"`
	Inlets     []InletStatus         `json:"inlets"`
	Outlets    []OutletStatus        `json:"outlets"`
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
	relays := slices.Clone(r.relays)
	inlets := slices.Clone(r.inlets)
	outlets := slices.Clone(r.outlets)
	r.mu.Unlock()
	listeners := r.Listeners()
	for _, tn := range r.topo.Order {
		n := r.Node(tn.Name)
		if n == nil {
			continue
		}
		ns := NodeStatus{Name: n.Name(), Listener: listeners[n.Name()], Forwarders: n.Forwarders(), Services: []string{}, Connections: []ConnectionStatus{}, Relays: []runtime.RelayStatus{}, Inlets: []InletStatus{}, Outlets: []OutletStatus{}}
		for _, c := range n.Connections() {
			ns.Connections = append(ns.Connections, ConnectionStatus{Address: c.Address().Value, Peer: c.RemoteAddr(), Outgoing: c.Outgoing()})
		}
		slices.SortFunc(ns.Connections, func(a, b ConnectionStatus) int { return strings.Compare(a.Peer, b.Peer) })
		outletHere := func(name string) bool {
			return slices.ContainsFunc(outlets, func(o *runningOutlet) bool { return o.node == ns.Name && o.outlet.Name() == name })
		}
		for _, w := range n.Services() {
			if _, fwd := ns.Forwarders[w]; !fwd && !outletHere(w) { // listed as forwarders and outlets
				ns.Services = append(ns.Services, w)
			}
		}
		slices.Sort(ns.Services)
		for _, rel := range relays {
			if rel.node == ns.Name {
				ns.Relays = append(ns.Relays, rel.relay.Status())
			}
		}
		for _, in := range inlets {
			if in.node == ns.Name {
				ns.Inlets = append(ns.Inlets, InletStatus{Name: in.inlet.Name(), Address: in.inlet.Addr(), Route: in.route, Streams: in.inlet.Streams()})
			}
		}
		for _, o := range outlets {
			if o.node == ns.Name {
				ns.Outlets = append(ns.Outlets, OutletStatus{Name: o.outlet.Name(), Target: o.outlet.Target(), Streams: o.outlet.Streams()})
			}
		}
		st.Nodes = append(st.Nodes, ns)
	}
	return st
}
