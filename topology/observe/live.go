package observe

import (
	"slices"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/portal"
	"github.com/ockamtop/ockamtop/runtime/relay"
	"github.com/ockamtop/ockamtop/topology"
	"github.com/ockamtop/ockamtop/topology/deploy"
)

// The live graph: the model of `ockamtop graph` (topology.Graph), each
// part with its state now and the bytes it has carried, which the page
// turns into rates between two polls.

// Edge and end states.
const (
	// StateUp: the relay is registered, the forwarder runs, the
	// connection is open, the portal end is serving.
	StateUp = "up"
	// StateDown: it should be and is not (a relay not registered, a
	// forwarder gone).
	StateDown = "down"
	// StateIdle: a connection that routes open on demand and no route has
	// needed yet (or it closed since).
	StateIdle = "idle"
	// StateUnknown: neither end runs in this process.
	StateUnknown = "unknown"
)

// Live is the topology's graph with the state of its parts.
type Live struct {
	// Time is when it was read, in Unix milliseconds.
	Time  int64      `json:"time"`
	Nodes []LiveNode `json:"nodes"`
	Edges []LiveEdge `json:"edges"`
	Ends  []LiveEnd  `json:"ends"`
}

// LiveNode is a node; Local says whether it runs in this process.
type LiveNode struct {
	topology.GraphNode
	Local bool `json:"local"`
}

// LiveEdge is an edge with its state and the bytes its connection carried
// both ways, while it is open.
type LiveEdge struct {
	topology.GraphEdge
	State string `json:"state"`
	Bytes uint64 `json:"bytes"`
	// RoundTrip is a relay's last check round trip ("1.2ms").
	RoundTrip string `json:"round_trip,omitempty"`
}

// LiveEnd is a portal end with its state, open streams and bytes both ways.
type LiveEnd struct {
	topology.GraphEnd
	State string `json:"state"`
	// Streams is a TCP end's open streams, a UDP end's open flows.
	Streams int    `json:"streams"`
	Bytes   uint64 `json:"bytes"`
}

// LiveGraph reads the live graph of run.
func LiveGraph(run *deploy.Running) Live {
	g := run.Topology().Graph()
	parts := run.Parts()
	nodes := map[string]*runtime.Node{}
	for _, n := range parts.Nodes {
		nodes[n.Name()] = n
	}
	live := Live{Time: time.Now().UnixMilli(), Nodes: []LiveNode{}, Edges: []LiveEdge{}, Ends: []LiveEnd{}}
	for _, n := range g.Nodes {
		if nodes[n.Name] != nil {
			n.Listener = run.ListenerOf(n.Name) // the bound ports
			n.TCPListeners = run.TCPListenersOf(n.Name)
		}
		live.Nodes = append(live.Nodes, LiveNode{GraphNode: n, Local: nodes[n.Name] != nil})
	}
	for _, e := range g.Edges {
		le := LiveEdge{GraphEdge: e, State: StateUnknown}
		switch e.Kind {
		case topology.EdgeRelay:
			relayState(&le, run, parts, nodes)
		case topology.EdgeForward:
			if n := nodes[e.From]; n != nil {
				forwarderState(&le, n, e.Name)
			}
		case topology.EdgeConnection:
			if n := nodes[e.From]; n != nil {
				le.State = StateIdle
				if c := connectionTo(n, append([]string{run.ListenerOf(e.To)}, run.TCPListenersOf(e.To)...)); c != nil {
					le.State, le.Bytes = StateUp, traffic(c)
				}
			}
		}
		live.Edges = append(live.Edges, le)
	}
	for _, e := range g.Ends {
		end := LiveEnd{GraphEnd: e, State: StateUnknown}
		var pc *portal.Counters
		switch {
		case e.UDP && e.Inlet:
			for _, in := range parts.UDPInlets {
				if in.Node == e.Node && in.Inlet.Name() == e.Name {
					c := in.Inlet.Counters()
					pc = &portal.Counters{StreamsOpen: c.FlowsOpen, BytesIn: c.BytesIn, BytesOut: c.BytesOut}
					end.Label = "udp_inlet " + e.Name + "\n" + in.Inlet.Addr() // the bound port
				}
			}
		case e.UDP:
			for _, o := range parts.UDPOutlets {
				if o.Node == e.Node && o.Outlet.Name() == e.Name {
					c := o.Outlet.Counters()
					pc = &portal.Counters{StreamsOpen: c.FlowsOpen, BytesIn: c.BytesIn, BytesOut: c.BytesOut}
				}
			}
		case e.Inlet:
			for _, in := range parts.Inlets {
				if in.Node == e.Node && in.Inlet.Name() == e.Name {
					c := in.Inlet.Counters()
					pc = &c
					end.Label = "tcp_inlet " + e.Name + "\n" + in.Inlet.Addr() // the bound port
				}
			}
		default:
			for _, o := range parts.Outlets {
				if o.Node == e.Node && o.Outlet.Name() == e.Name {
					c := o.Outlet.Counters()
					pc = &c
				}
			}
		}
		if pc != nil {
			end.State, end.Streams, end.Bytes = StateUp, pc.StreamsOpen, pc.BytesIn+pc.BytesOut
		}
		live.Ends = append(live.Ends, end)
	}
	return live
}

// relayState reads a relay edge from the relay's node if it runs here,
// else from the relay node's forwarder.
func relayState(le *LiveEdge, run *deploy.Running, parts deploy.Parts, nodes map[string]*runtime.Node) {
	for _, rp := range parts.Relays {
		if rp.Node != le.From || rp.Relay.Status().Name != le.Name {
			continue
		}
		st := rp.Relay.Status()
		le.State = StateDown
		if st.State == relay.Up {
			le.State = StateUp
		}
		le.RoundTrip = lastRoundTrip(rp.Relay.Counters().LastRoundTrip)
		if n := nodes[le.From]; n != nil && st.Connection != "" {
			for _, c := range n.Transports().Connections() {
				if c.Address().Value == st.Connection {
					le.Bytes = traffic(c)
				}
			}
		}
		return
	}
	if n := nodes[le.To]; n != nil {
		for _, tr := range run.Topology().Relays {
			if tr.Owner.Name == le.From && tr.Name == le.Name {
				forwarderState(le, n, tr.Forwarder())
			}
		}
	}
}

// forwarderState is up while node n runs the forwarder, with the traffic
// of the relay's connection it sends over.
func forwarderState(le *LiveEdge, n *runtime.Node, forwarder string) {
	le.State = StateDown
	conn, ok := n.Forwarders()[forwarder]
	if !ok {
		return
	}
	le.State = StateUp
	for _, c := range n.Transports().Connections() {
		if c.Address().Value == conn {
			le.Bytes = traffic(c)
		}
	}
}

// connectionTo is n's open outgoing connection to a listener at one of
// addrs (a node's own, or one of its tcp_listeners).
func connectionTo(n *runtime.Node, addrs []string) runtime.Connection {
	for _, c := range n.Transports().Connections() {
		if c.Outgoing() && c.RemoteAddr() != "" && slices.Contains(addrs, c.RemoteAddr()) {
			return c
		}
	}
	return nil
}

// traffic is the bytes a connection carried both ways, if it counts them.
func traffic(c runtime.Connection) uint64 {
	cc, ok := c.(runtime.CountedConnection)
	if !ok {
		return 0
	}
	s := cc.Counters()
	return s.BytesIn + s.BytesOut
}
