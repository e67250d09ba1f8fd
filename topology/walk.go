package topology

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/schema"
)

// HopKind says what happens to a message at one hop of a walked route.
type HopKind string

// The hop kinds, in the words of the seeds.
const (
	// HopConnect crosses to another node's listener: a TCP connection, or
	// UDP datagrams (Hop.Transport says which).
	HopConnect HopKind = "connect"
	// HopService is a hop worker: the message goes on, on the same node.
	HopService HopKind = "hop"
	// HopRelay is a relay's forwarder: the message goes on to the node
	// that registered the relay, over that node's own connection.
	HopRelay HopKind = "relay"
	// HopResponder is a service that answers: echo or uppercase.
	HopResponder HopKind = "responder"
	// HopOutlet is a TCP portal outlet.
	HopOutlet HopKind = "outlet"
	// HopUDPOutlet is a UDP portal outlet.
	HopUDPOutlet HopKind = "udp_outlet"
	// HopAllowed is an address the file allows but ockamtop does not run;
	// the walk cannot see past it.
	HopAllowed HopKind = "allowed"
	// HopSocket leaves the topology for a socket no node of the file
	// listens on; the walk cannot see past it.
	HopSocket HopKind = "socket"
)

// Hop is one step of a walked route.
type Hop struct {
	// Node is the node the message is at when it takes this hop.
	Node string  `json:"node"`
	Kind HopKind `json:"kind"`
	// Address is the local address the message goes to, or for connect
	// and socket hops the socket address dialed.
	Address string `json:"address"`
	// To is the node the message moves to (connect and relay hops).
	To string `json:"to,omitempty"`
	// Network is the isolated network a connect hop crosses.
	Network string `json:"network,omitempty"`
	// Type is the service type of service and responder hops, and the
	// target of outlet hops.
	Type string `json:"type,omitempty"`
	// Segment is the route text of this hop.
	Segment string `json:"segment"`
	// Ciphertext lists, for a secure hop, the nodes between the channel's
	// ends: they carry its messages and see ciphertext only.
	Ciphertext []string `json:"ciphertext,omitempty"`
	// Transport is "tcp" or "udp" for connect and socket hops: the
	// transport the message crosses.
	Transport string `json:"transport,omitempty"`
}

type purpose int

const (
	purposeCheck    purpose = iota // must end at a service that answers
	purposeInlet                   // must end at a tcp_outlet
	purposeUDPInlet                // must end at a udp_outlet
)

// walk parses a route and walks it from node from, hop by hop, as the
// runtime will. A hop that cannot be taken is an error pointing at its
// segment inside the route string.
func (t *Topology) walk(from *Node, route schema.String, p purpose) (routing.MultiAddr, []Hop, hcl.Diagnostics) {
	m, err := routing.ParseMultiAddr(route.Value)
	if err != nil {
		var me *routing.MultiAddrError
		rng := route.Range
		if errors.As(err, &me) {
			rng = route.SubRange(me.Start, me.End)
			if me.Start == me.End {
				rng = route.Range
			}
			return nil, nil, hcl.Diagnostics{schema.ErrorAt(rng, "Invalid route", "%s.", me.Reason)}
		}
		return nil, nil, hcl.Diagnostics{schema.ErrorAt(rng, "Invalid route", "%s.", err)}
	}
	if len(m) > routing.MaxRouteLength {
		return nil, nil, hcl.Diagnostics{schema.ErrorAt(route.Range, "Route too long",
			"This route has %d addresses; the runtime refuses a message whose onward route holds more than %d.",
			len(m), routing.MaxRouteLength)}
	}
	w := walker{t: t, at: from, start: from, route: route, m: m, p: p}
	hops, d := w.run()
	if d != nil {
		return m, hops, hcl.Diagnostics{d}
	}
	if n := returnLength(hops); n > routing.MaxRouteLength {
		return m, hops, hcl.Diagnostics{schema.ErrorAt(route.Range, "Route too long",
			"A message along this route builds a return route of %d addresses (its sender, then one for each hop service and each connection it crosses); the runtime refuses one of more than %d.",
			n, routing.MaxRouteLength)}
	}
	return m, hops, nil
}

// returnLength is the length of the return route a message has when it
// has walked hops: the runtime starts it with the sender's address, and
// each hop service and each connection the message crosses (a relay's
// forwarder sends over one) prepends an address; a UDP hop prepends two,
// its connection and the sender's UDP address.
func returnLength(hops []Hop) int {
	n := 1
	for _, h := range hops {
		switch h.Kind {
		case HopService, HopConnect, HopRelay:
			n++
			if h.Transport == "udp" {
				n++
			}
		}
	}
	return n
}

type walker struct {
	t  *Topology
	at *Node
	// start is the node the route starts at, which opens its secure
	// channels.
	start *Node
	route schema.String
	m     routing.MultiAddr
	p     purpose
	// fromNetwork is true once the message has crossed a connection: from
	// then on flow control applies, and the node may only dial declared
	// peers.
	fromNetwork bool
	hops        []Hop
}

func (w *walker) fail(seg routing.Segment, summary, detail string, args ...any) *hcl.Diagnostic {
	return schema.ErrorAt(w.route.SubRange(seg.Start, seg.End), summary, detail, args...)
}

func (w *walker) run() ([]Hop, *hcl.Diagnostic) {
	for i, seg := range w.m {
		last := i == len(w.m)-1
		hop := Hop{Node: w.at.Name, Segment: seg.String()}
		switch seg.Kind {
		case routing.Node:
			target := w.t.byName[seg.Name]
			if target == nil {
				return w.hops, w.fail(seg, "Unknown node in route",
					"No node %q is declared in the topology.%s", seg.Name, schema.DidYouMean(seg.Name, w.t.NodeNames()))
			}
			if d := w.connectNode(seg, target, &hop); d != nil {
				return w.hops, d
			}
		case routing.TCPSocket:
			target, listener := w.t.nodeListeningOn(seg.HostPort())
			if target != nil {
				if d := w.connectTo(seg, target, listener, &hop); d != nil {
					return w.hops, d
				}
				break
			}
			hop.Transport = "tcp"
			if w.fromNetwork {
				return w.hops, w.fail(seg, "Node will not dial for the network",
					"A message from the network reaches node %q and asks it to dial %s, which no node of this file listens on. A node dials only the nodes of its file for the network, so that it is no open proxy.",
					w.at.Name, seg.HostPort())
			}
			hop.Kind, hop.Address = HopSocket, seg.HostPort()
			w.hops = append(w.hops, hop)
			return w.hops, nil // outside the file: nothing more to check
		case routing.Secure:
			if d := w.secure(seg, &hop); d != nil {
				return w.hops, d
			}
		case routing.UDPSocket:
			if target := w.t.nodeListeningOnUDP(seg.HostPort()); target != nil {
				if d := w.connectUDP(seg, target, &hop); d != nil {
					return w.hops, d
				}
				break
			}
			if w.fromNetwork {
				return w.hops, w.fail(seg, "Node will not send for the network",
					"A message from the network reaches node %q and asks it to send datagrams to %s, where no node of this file has a udp_listener. A node sends only to the nodes of its file for the network, so that it is no open proxy.",
					w.at.Name, seg.HostPort())
			}
			hop.Kind, hop.Address, hop.Transport = HopSocket, seg.HostPort(), "udp"
			w.hops = append(w.hops, hop)
			return w.hops, nil // outside the file: nothing more to check
		case routing.Service, routing.Worker:
			done, d := w.local(seg, last, &hop)
			if d != nil || done {
				return w.hops, d
			}
		}
	}
	end := w.m[len(w.m)-1]
	switch {
	case w.p == purposeInlet || w.p == purposeUDPInlet:
		return w.hops, w.fail(end, "Route does not end at an outlet",
			"An inlet's route must end at a %s; this one ends %s.%s", w.p.outletBlock(), w.endsAt(), w.outletHint())
	default:
		return w.hops, w.fail(end, "Route does not end at a service",
			"A check's route must end at a service that answers, such as echo or uppercase; this one ends %s.", w.endsAt())
	}
}

func (w *walker) endsAt() string {
	if len(w.hops) == 0 {
		return "nowhere"
	}
	h := w.hops[len(w.hops)-1]
	switch h.Kind {
	case HopConnect, HopRelay:
		return fmt.Sprintf("at node %q, with no service after it", h.To)
	}
	return fmt.Sprintf("at %s %q on node %q, which forwards to the next address, and there is none", h.Kind, h.Address, h.Node)
}

// outletBlock is the block an inlet's route must end at.
func (p purpose) outletBlock() string {
	if p == purposeUDPInlet {
		return schema.BlockUDPOutlet
	}
	return schema.BlockOutlet
}

func (w *walker) outletHint() string {
	var names []string
	for name, o := range w.at.Outlets {
		if o.Block() == w.p.outletBlock() {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	// The first by name, so that the message does not change from run to run.
	return fmt.Sprintf(" Node %q has the %s %q.", w.at.Name, w.p.outletBlock(), slices.Min(names))
}

// connect moves the walk across a TCP connection to target's own
// listener, which /node/NAME dials.
func (w *walker) connect(seg routing.Segment, target *Node, hop *Hop) *hcl.Diagnostic {
	return w.connectTo(seg, target, target.Listener, hop)
}

// connectTo moves the walk across a TCP connection to target's listener
// at listener (as declared): its own, or one of its tcp_listeners that a
// route's /ip4/A/tcp/P names.
func (w *walker) connectTo(seg routing.Segment, target *Node, listener string, hop *Hop) *hcl.Diagnostic {
	if target.Listener == "" {
		detail := fmt.Sprintf("Node %q has no tcp_listener, so no connection can reach it.", target.Name)
		if target.UDPListener != "" {
			detail += fmt.Sprintf(" It has a udp_listener: write /node/%s/udp.", target.Name)
		}
		if len(target.Relays) > 0 {
			r := target.Relays[0]
			detail += fmt.Sprintf(" It is reachable through its relay at %s: %s.", r.At.Name, r.RemoteAddress())
		}
		return w.fail(seg, "Node does not listen", "%s", detail)
	}
	path, err := w.at.pathToListener(target, listener)
	if err != nil {
		return w.t.unreachable(w.route.SubRange(seg.Start, seg.End), w.at, target, err)
	}
	hop.Kind, hop.Address, hop.To, hop.Transport = HopConnect, path.Address, target.Name, "tcp"
	if path.Network != nil {
		hop.Network = path.Network.Name
	}
	if path.EngineNetwork != "" && path.EngineNetwork != DefaultEngineNetwork {
		hop.Network = path.EngineNetwork
	}
	w.hops = append(w.hops, *hop)
	w.at, w.fromNetwork = target, true
	return nil
}

// connectNode takes a /node/NAME hop. "/node/NAME/udp" crosses to NAME's
// udp_listener, "/node/NAME/tcp" and "/node/NAME" (Ockam's form) to its
// tcp_listener. A bare /node/NAME to a node that has a udp_listener is
// refused: the route must say which transport it takes, so that whoever
// reads it knows.
func (w *walker) connectNode(seg routing.Segment, target *Node, hop *Hop) *hcl.Diagnostic {
	switch {
	case seg.Proto == "udp" && target.UDPListener == "":
		detail := fmt.Sprintf("Node %q has no udp_listener.", target.Name)
		if target.Listener != "" {
			detail += fmt.Sprintf(" It has a tcp_listener: write /node/%s/tcp.", target.Name)
		}
		return w.fail(seg, "Node does not listen on UDP", "%s", detail)
	case seg.Proto == "udp":
		return w.connectUDP(seg, target, hop)
	case seg.Proto == "" && target.UDPListener != "" && target.Listener != "":
		return w.fail(seg, "Ambiguous hop",
			"Node %q listens on TCP (%s) and on UDP (%s); write /node/%s/tcp or /node/%s/udp, so that the route says which transport this hop takes.",
			target.Name, target.Listener, target.UDPListener, target.Name, target.Name)
	case seg.Proto == "" && target.UDPListener != "":
		return w.fail(seg, "Hop does not name its transport",
			"Node %q listens only on UDP; write /node/%s/udp. A bare /node/NAME is a TCP connection, as in Ockam, so that every hop of a route says its transport.",
			target.Name, target.Name)
	}
	return w.connect(seg, target, hop)
}

// connectUDP moves the walk across UDP to target's udp_listener.
func (w *walker) connectUDP(seg routing.Segment, target *Node, hop *Hop) *hcl.Diagnostic {
	hop.Kind, hop.Address, hop.To, hop.Transport = HopConnect, target.UDPListener, target.Name, "udp"
	if w.t.Engine {
		path, err := w.at.enginePath(target, target.UDPListener)
		if err != nil {
			return w.t.unreachable(w.route.SubRange(seg.Start, seg.End), w.at, target, err)
		}
		hop.Address = path.Address
	}
	w.hops = append(w.hops, *hop)
	w.at, w.fromNetwork = target, true
	return nil
}

// local takes a /service or /worker hop on the current node. done is true
// when the walk ends here.
func (w *walker) local(seg routing.Segment, last bool, hop *Hop) (done bool, d *hcl.Diagnostic) {
	name, n := seg.Name, w.at
	hop.Address = name
	if t, ok := n.Services[name]; ok {
		hop.Type = t
		if t == string(routing.Hop) {
			hop.Kind = HopService
			w.hops = append(w.hops, *hop)
			return false, nil
		}
		hop.Kind = HopResponder
		w.hops = append(w.hops, *hop)
		if !last {
			return true, w.fail(w.m[len(w.m)-1], "Route goes on after a service that answers",
				"Service %q on node %q answers every message itself; the rest of the route after it is never reached.", name, n.Name)
		}
		if w.p == purposeInlet || w.p == purposeUDPInlet {
			return true, w.fail(seg, "Route does not end at an outlet",
				"An inlet's route must end at a %s; %q on node %q is a service of type %s, which answers messages itself.%s", w.p.outletBlock(), name, n.Name, t, w.outletHint())
		}
		return true, nil
	}
	if r, ok := n.Forwarders[name]; ok {
		hop.Kind, hop.To = HopRelay, r.Owner.Name
		w.hops = append(w.hops, *hop)
		// The forwarder sends over the owner's own connection, which is
		// inbound at the owner: its services are reachable.
		w.at, w.fromNetwork = r.Owner, true
		return false, nil
	}
	if o, ok := n.Outlets[name]; ok {
		hop.Kind, hop.Type = HopOutlet, o.Target
		carries := "portal streams"
		if o.UDP {
			hop.Kind, carries = HopUDPOutlet, "datagrams"
		}
		w.hops = append(w.hops, *hop)
		if !last {
			return true, w.fail(w.m[len(w.m)-1], "Route goes on after an outlet",
				"The %s %q on node %q is the end of a portal; the rest of the route after it is never reached.", o.Block(), name, n.Name)
		}
		switch {
		case w.p == purposeCheck:
			return true, w.fail(seg, "Route does not end at a service",
				"A check's route must end at a service that answers, such as echo or uppercase; %q on node %q is a %s, which carries %s.", name, n.Name, o.Block(), carries)
		case o.Block() != w.p.outletBlock():
			return true, w.fail(seg, "Route ends at the wrong kind of outlet",
				"A %s's route must end at a %s; %q on node %q is a %s, which carries %s.%s",
				map[purpose]string{purposeInlet: schema.BlockInlet, purposeUDPInlet: schema.BlockUDPInlet}[w.p], w.p.outletBlock(), name, n.Name, o.Block(), carries, w.outletHint())
		}
		return true, nil
	}
	if _, ok := n.SecureListeners[name]; ok {
		return true, w.fail(seg, "Route to a secure channel listener",
			"%q on node %q is a secure_channel_listener, which takes handshakes only; write /secure/%s to open a channel to it and send the rest of the route through the channel.", name, n.Name, name)
	}
	if slices.Contains(n.Allow, name) {
		hop.Kind = HopAllowed
		w.hops = append(w.hops, *hop)
		return true, nil // not ours to run: nothing more to check
	}
	if routing.IsRelayService(name) {
		return true, w.fail(seg, "Route to the relay service",
			"%q on node %q takes relay registrations; declare a relay block instead of routing to it.", name, n.Name)
	}
	if seg.Kind == routing.Worker && len(name) == 32 && isHex(name) {
		return true, w.fail(seg, "Route through a connection worker",
			"/worker/%s names a connection that exists only while a node runs; in a file, write /node/NAME for the connection to node NAME.", name)
	}
	return true, w.fail(seg, "Unknown service in route",
		"Node %q has no address %q. It has %s.%s", n.Name, name, strings.Join(quoted(n.Addresses()), ", "),
		schema.DidYouMean(name, n.Addresses()))
}

// nodeListeningOn finds the node that takes TCP connections at hostport,
// and which of its listeners (as declared) does.
func (t *Topology) nodeListeningOn(hostport string) (*Node, string) {
	for _, n := range t.Nodes {
		if l := n.listenerAt(hostport); l != "" {
			return n, l
		}
	}
	return nil, ""
}

func (t *Topology) nodeListeningOnUDP(hostport string) *Node {
	for _, n := range t.Nodes {
		if n.UDPListener != "" && n.UDPListener == hostport {
			return n
		}
	}
	return nil
}

func quoted(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = fmt.Sprintf("%q", n)
	}
	return out
}

func isHex(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
