package deploy

import (
	"slices"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/portal"
	"github.com/ockamtop/ockamtop/runtime/relay"
	"github.com/ockamtop/ockamtop/runtime/securechannel"
	"github.com/ockamtop/ockamtop/runtime/udpportal"
)

// PartStates lists, for each node run here, its parts of every kind and
// how each is, in the order they started.
func (r *Running) PartStates() map[string][]PartStatus {
	out := map[string][]PartStatus{}
	r.mu.Lock()
	var names []string
	for name, rn := range r.nodes {
		if rn.node != nil {
			names = append(names, name)
		}
	}
	r.mu.Unlock()
	for _, name := range names {
		out[name] = []PartStatus{}
		// A part's state is read without r.mu: a relay's takes its own lock.
		for _, p := range r.partsOf(name) {
			out[name] = append(out[name], PartStatus{Kind: string(p.kind), Name: p.name, State: p.run.state()})
		}
	}
	return out
}

// partsOf is a copy of the running parts of node name.
func (r *Running) partsOf(name string) []runningPart {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []runningPart
	if rn := r.nodes[name]; rn != nil {
		for _, p := range rn.parts {
			out = append(out, *p)
		}
	}
	return out
}

// inletRouteText is a running inlet's route as the file writes it.
func (r *Running) inletRouteText(in *inletRun) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return in.route
}

// udpInletRouteText is a running UDP inlet's route as the file writes it.
func (r *Running) udpInletRouteText(in *udpInletRun) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return in.route
}

// Parts is what runs here, for observers that read the parts' counters
// and state (topology/observe): the nodes in start order, and the relays,
// inlets and outlets with the node each is on.
type Parts struct {
	Nodes []*runtime.Node
	// SecureChannels are each node's secure channels, by node name.
	SecureChannels map[string]*securechannel.Channels
	Relays         []RelayPart
	Inlets         []InletPart
	Outlets        []OutletPart
	UDPInlets      []UDPInletPart
	UDPOutlets     []UDPOutletPart
}

// UDPInletPart is a UDP inlet, its node and its route as the file writes
// it.
type UDPInletPart struct {
	Node  string
	Route string
	Inlet *udpportal.Inlet
}

// UDPOutletPart is a UDP outlet and its node.
type UDPOutletPart struct {
	Node   string
	Outlet *udpportal.Outlet
}

// RelayPart is a relay and the node that registers it.
type RelayPart struct {
	Node  string
	Relay *relay.Relay
}

// InletPart is an inlet, its node and its route as the file writes it.
type InletPart struct {
	Node  string
	Route string
	Inlet *portal.Inlet
}

// OutletPart is an outlet and its node.
type OutletPart struct {
	Node   string
	Outlet *portal.Outlet
}

// Parts lists what runs here.
func (r *Running) Parts() Parts {
	var p Parts
	t := r.topology()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, tn := range t.Order {
		rn := r.nodes[tn.Name]
		if rn == nil || rn.node == nil {
			continue
		}
		p.Nodes = append(p.Nodes, rn.node)
		if rn.channels != nil {
			if p.SecureChannels == nil {
				p.SecureChannels = map[string]*securechannel.Channels{}
			}
			p.SecureChannels[tn.Name] = rn.channels
		}
		for _, part := range rn.parts {
			switch run := part.run.(type) {
			case relayRun:
				p.Relays = append(p.Relays, RelayPart{Node: tn.Name, Relay: run.relay})
			case *inletRun:
				p.Inlets = append(p.Inlets, InletPart{Node: tn.Name, Route: run.route, Inlet: run.inlet})
			case outletRun:
				p.Outlets = append(p.Outlets, OutletPart{Node: tn.Name, Outlet: run.outlet})
			case *udpInletRun:
				p.UDPInlets = append(p.UDPInlets, UDPInletPart{Node: tn.Name, Route: run.route, Inlet: run.inlet})
			case udpOutletRun:
				p.UDPOutlets = append(p.UDPOutlets, UDPOutletPart{Node: tn.Name, Outlet: run.outlet})
			}
		}
	}
	return p
}

// CheckResults are the results of the last RunChecks, nil before it.
func (r *Running) CheckResults() []CheckResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.checks)
}

// ListenerOf is node name's listener address: the bound one for a node
// run here, the file's for one run elsewhere; "" if it does not listen.
func (r *Running) ListenerOf(name string) string { return r.listenerOf(name) }

// TCPListenersOf are node name's other TCP listeners (tcp_listeners): the
// bound addresses for a node run here, the file's for one run elsewhere.
func (r *Running) TCPListenersOf(name string) []string {
	if !r.isLocal(name) {
		if tn := r.topology().Node(name); tn != nil {
			return tn.TCPListeners
		}
		return nil
	}
	var out []string
	for _, l := range r.tcpListenersBound(name) {
		out = append(out, l.bound)
	}
	return out
}
