package deploy

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ockamtop/ockamtop/runtime/relay"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/securechannel"
	"github.com/ockamtop/ockamtop/topology"
)

// Status is a snapshot of a running topology, for `ockamtop status`.
type Status struct {
	Nodes []NodeStatus `json:"nodes"`
}

// NodeStatus is a snapshot of one node.
type NodeStatus struct {
	Name string `json:"name"`
	// Listener is the bound listener address, "" if none.
	Listener string `json:"listener"`
	// TCPListeners are the node's other TCP listeners (tcp_listeners)
	// that run, their bound addresses; absent when it has none.
	TCPListeners []TCPListenerStatus `json:"tcp_listeners,omitempty"`
	// UDPListener is the bound UDP listener address, "" if none.
	UDPListener string   `json:"udp_listener,omitempty"`
	Services    []string `json:"services"`
	// Allow are the extra addresses the network may reach.
	Allow       []string           `json:"allow,omitempty"`
	Connections []ConnectionStatus `json:"connections"`
	// Forwarders are the relays registered at this node: forwarder
	// address -> the connection it sends over.
	Forwarders map[string]string `json:"forwarders"`
	Relays     []RelayStatus     `json:"relays"`
	Inlets     []InletStatus     `json:"inlets"`
	Outlets    []OutletStatus    `json:"outlets"`
	// UDPInlets and UDPOutlets are the UDP portals' ends.
	UDPInlets  []UDPInletStatus  `json:"udp_inlets,omitempty"`
	UDPOutlets []UDPOutletStatus `json:"udp_outlets,omitempty"`
	// Identifier is the node's identity's identifier.
	Identifier string `json:"identifier"`
	// SecureChannels are the node's open secure channels, both sides.
	SecureChannels []securechannel.Info `json:"secure_channels"`
	// Namespace is the node's network namespace; nil for a node in the
	// host's.
	Namespace *NamespaceInfo `json:"namespace,omitempty"`
	// Execs are the node's processes.
	Execs []ExecStatus `json:"execs,omitempty"`
	// Parts are the node's parts that run, of every kind, in the order
	// they started.
	Parts []PartStatus `json:"parts"`
}

// PartStatus is a part of a node that runs, and how it is.
type PartStatus struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	// State is "up", or what else ("connecting", "exited").
	State string `json:"state"`
}

// TCPListenerStatus is one of a node's tcp_listeners: its address as the
// file gives it, and as bound (the real port of a port 0).
type TCPListenerStatus struct {
	Declared string `json:"declared"`
	Address  string `json:"address"`
}

// RelayStatus is a snapshot of a relay this node registered, with the
// round trip through it when MeasureRelays measured one.
type RelayStatus struct {
	relay.Status
	// RoundTrip is the time an echo took from the node, through the
	// relay node's forwarder and back ("1.2ms"); "" if unknown.
	RoundTrip string `json:"round_trip,omitempty"`
}

// InletStatus is a snapshot of a TCP inlet.
type InletStatus struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Route   string `json:"to"`
	Streams int    `json:"streams"`
	// MaxStreams is the most streams it holds open at once.
	MaxStreams int `json:"max_streams"`
}

// OutletStatus is a snapshot of a TCP outlet.
type OutletStatus struct {
	Name    string `json:"name"`
	Target  string `json:"to"`
	Streams int    `json:"streams"`
}

// UDPInletStatus is a snapshot of a UDP inlet.
type UDPInletStatus struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Route   string `json:"to"`
	Flows   int    `json:"flows"`
	// MaxFlows is the most flows it holds at once; IdleTimeout ends a
	// flow ("2m0s").
	MaxFlows    int    `json:"max_flows"`
	IdleTimeout string `json:"idle_timeout"`
	// Dropped counts the datagrams it lost (full queues, a route down).
	Dropped uint64 `json:"dropped"`
}

// UDPOutletStatus is a snapshot of a UDP outlet.
type UDPOutletStatus struct {
	Name   string `json:"name"`
	Target string `json:"to"`
	Flows  int    `json:"flows"`
}

// ConnectionStatus is a snapshot of one connection.
type ConnectionStatus struct {
	Address  string `json:"address"`
	Peer     string `json:"peer"`
	Outgoing bool   `json:"outgoing"`
	// Transport is "udp" for a UDP peer, "" for a TCP connection.
	Transport string `json:"transport,omitempty"`
}

// Status returns a snapshot of every node run here, in start order.
func (r *Running) Status() Status {
	st := Status{Nodes: []NodeStatus{}}
	listeners := r.Listeners()
	udpListeners := r.UDPListeners()
	for _, tn := range r.topology().Order {
		n := r.Node(tn.Name)
		if n == nil {
			continue
		}
		ns := NodeStatus{Name: n.Name(), Listener: listeners[n.Name()], UDPListener: udpListeners[n.Name()], Forwarders: n.Forwarders(), Services: []string{}, Connections: []ConnectionStatus{}, Relays: []RelayStatus{}, Inlets: []InletStatus{}, Outlets: []OutletStatus{}}
		ns.SecureChannels = []securechannel.Info{}
		if sc, err := r.channelsOf(n); err == nil {
			if id, err := sc.Identifier(); err == nil {
				ns.Identifier = id.String()
			}
			ns.SecureChannels = sc.List()
		}
		ns.Allow = n.Allowed()
		for _, c := range n.Transports().Connections() {
			cs := ConnectionStatus{Address: c.Address().Value, Peer: c.RemoteAddr(), Outgoing: c.Outgoing()}
			if c.Transport() == routing.UDP {
				cs.Transport = "udp"
			}
			ns.Connections = append(ns.Connections, cs)
		}
		slices.SortFunc(ns.Connections, func(a, b ConnectionStatus) int { return strings.Compare(a.Peer, b.Peer) })
		parts := r.partsOf(tn.Name)
		ns.Parts = []PartStatus{}
		for _, p := range parts {
			ns.Parts = append(ns.Parts, PartStatus{Kind: string(p.kind), Name: p.name, State: p.run.state()})
			switch run := p.run.(type) {
			case *tcpListenersRun:
				ns.TCPListeners = append(ns.TCPListeners, TCPListenerStatus{Declared: p.name, Address: run.boundAddr()})
			case relayRun:
				ns.Relays = append(ns.Relays, RelayStatus{Status: run.relay.Status()})
			case *inletRun:
				ns.Inlets = append(ns.Inlets, InletStatus{Name: run.inlet.Name(), Address: run.inlet.Addr(), Route: r.inletRouteText(run), Streams: run.inlet.Streams(), MaxStreams: run.inlet.MaxStreams()})
			case outletRun:
				ns.Outlets = append(ns.Outlets, OutletStatus{Name: run.outlet.Name(), Target: run.outlet.Target(), Streams: run.outlet.Streams()})
			case *udpInletRun:
				ns.UDPInlets = append(ns.UDPInlets, UDPInletStatus{Name: run.inlet.Name(), Address: run.inlet.Addr(), Route: r.udpInletRouteText(run),
					Flows: run.inlet.Flows(), MaxFlows: run.inlet.MaxFlows(), IdleTimeout: run.inlet.IdleTimeout().String(), Dropped: run.inlet.Counters().Dropped})
			case udpOutletRun:
				ns.UDPOutlets = append(ns.UDPOutlets, UDPOutletStatus{Name: run.outlet.Name(), Target: run.outlet.Target(), Flows: run.outlet.Flows()})
			}
		}
		outletHere := func(name string) bool {
			return slices.ContainsFunc(parts, func(p runningPart) bool {
				return (p.kind == topology.PartOutlet || p.kind == topology.PartUDPOutlet) && p.name == name
			})
		}
		decryptor := func(name string) bool {
			return slices.ContainsFunc(ns.SecureChannels, func(c securechannel.Info) bool { return c.Decryptor == name })
		}
		for _, w := range n.Services() {
			// Forwarders, outlets and secure channels are listed as such.
			if _, fwd := ns.Forwarders[w]; !fwd && !outletHere(w) && !decryptor(w) {
				ns.Services = append(ns.Services, w)
			}
		}
		slices.Sort(ns.Services)
		r.isolationStatus(&ns)
		st.Nodes = append(st.Nodes, ns)
	}
	return st
}

// relayProbeWait bounds how long MeasureRelays waits for an echo.
const relayProbeWait = 500 * time.Millisecond

// MeasureRelays fills in the round trip of every relay of st that is up:
// an echo from its node, to the relay node's forwarder and back over the
// relay's connection. The relays are measured at once; one that does not
// answer within relayProbeWait is left unknown.
func (r *Running) MeasureRelays(ctx context.Context, st *Status) {
	var wg sync.WaitGroup
	for i := range st.Nodes {
		ns := &st.Nodes[i]
		n := r.Node(ns.Name)
		for j := range ns.Relays {
			rs := &ns.Relays[j]
			if n == nil || rs.State != relay.Up || rs.Forwarder == "" || rs.Connection == "" {
				continue
			}
			// Over the relay's own connection: a route to its address would
			// dial a new one.
			route := routing.Route{routing.LocalAddress(rs.Connection), routing.LocalAddress(rs.Forwarder), routing.LocalAddress(routing.EchoService)}
			wg.Go(func() {
				pctx, cancel := context.WithTimeout(ctx, relayProbeWait)
				defer cancel()
				start := time.Now()
				if _, err := n.SendAndReceive(pctx, route, probePayload); err == nil {
					rs.RoundTrip = roundTrip(time.Since(start))
				}
			})
		}
	}
	wg.Wait()
}

// roundTrip shows a duration to two or three significant digits.
func roundTrip(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}
