package topology

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/schema"
)

// A topology is made of parts: its nodes, each node's listeners and
// blocks, its checks and networks. Each kind of part is declared once, in
// Kinds: where the planner finds the parts of that kind, which of their
// attributes a running part takes in place, and what a part depends on.
// The diff of two plans (diff.go) is computed from that table and from
// what the file decoded (schema.Attributes), never field by field, and
// deploy runs each kind by one unit of its own; a test holds both to the
// table, so that a kind cannot be forgotten by either.

// PartKind is a kind of part of a topology, named as the file names its
// block or attribute.
type PartKind string

// The kinds of part.
const (
	PartNode           PartKind = schema.BlockNode
	PartService        PartKind = schema.BlockService
	PartSecureListener PartKind = schema.BlockSecureChannelListener
	PartListener       PartKind = schema.AttrTCPListener
	PartTCPListeners   PartKind = schema.AttrTCPListeners
	PartUDPListener    PartKind = schema.AttrUDPListener
	PartRelay          PartKind = schema.BlockRelay
	PartOutlet         PartKind = schema.BlockOutlet
	PartInlet          PartKind = schema.BlockInlet
	PartUDPOutlet      PartKind = schema.BlockUDPOutlet
	PartUDPInlet       PartKind = schema.BlockUDPInlet
	PartExec           PartKind = schema.BlockExec
	PartCheck          PartKind = schema.BlockCheck
	PartNetwork        PartKind = schema.BlockNetwork
)

// Part is one part of a topology.
type Part struct {
	Kind PartKind
	// Node is the node the part is on, a node's own name for a node; ""
	// for a check or a network.
	Node string
	// Name is the part's name: its label, its node's name for a node's
	// own listener, its address for one of its tcp_listeners.
	Name string
	// Decl is what the file decoded for the part (a *schema.Relay; for a
	// listener, its *schema.String): what a diff compares.
	Decl any
	// Model is the planner's model of the part (a *Relay, an *Inlet, a
	// *Node; for an exec, its *schema.Exec): what deploy starts.
	Model any
	// Where is the part's declaration.
	Where hcl.Range
}

// key identifies a part in its topology.
func (p Part) key() partKey { return partKey{p.Kind, p.Node, p.Name} }

// partKey identifies a part.
type partKey struct {
	kind       PartKind
	node, name string
}

// Kind is a kind of part.
type Kind struct {
	Name PartKind
	// InPlace lists the attributes a running part takes in place when they
	// change; a change of any other attribute replaces the part.
	InPlace []string
	// ofNode lists the parts of this kind on a node, in the order they
	// start; nil for a kind that is not a node's.
	ofNode func(n *Node) []Part
	// ofTopology lists the parts of a kind that is not a node's.
	ofTopology func(t *Topology) []Part
	// dependsOn lists the parts, in the new plan, that p depends on
	// besides its node: when one is replaced, p is replaced too.
	dependsOn func(t *Topology, p Part) []partKey
	// more lists what the plan knows of a part beyond its declaration and
	// a change of which changes the part (the identifier of a node's
	// identity file).
	more func(p Part) []schema.Attribute
}

// Kinds lists every kind of part: a node first, then its parts in the
// order they start (services and secure channel listeners before the
// listeners that make them reachable, relays after them, portals, the
// processes last), then the kinds that are not a node's.
var Kinds = []*Kind{
	{Name: PartNode, InPlace: []string{"allow"}, ofNode: nodeItself, more: nodeIdentifier},
	{Name: PartService, ofNode: services},
	{Name: PartSecureListener, ofNode: secureListeners, dependsOn: trustedNodes},
	{Name: PartListener, ofNode: listener(PartListener, func(d *schema.Node) *schema.String { return d.TCPListener })},
	{Name: PartTCPListeners, ofNode: moreTCPListeners},
	{Name: PartUDPListener, ofNode: listener(PartUDPListener, func(d *schema.Node) *schema.String { return d.UDPListener })},
	{Name: PartRelay, ofNode: relays, dependsOn: relayNodeListener},
	{Name: PartOutlet, InPlace: []string{"to"}, ofNode: outlets(false)},
	{Name: PartInlet, InPlace: []string{"to", "max_streams", "path", "window"}, ofNode: inlets, more: inletPath},
	{Name: PartUDPOutlet, InPlace: []string{"to"}, ofNode: outlets(true)},
	{Name: PartUDPInlet, InPlace: []string{"to", "max_flows", "idle_timeout", "path"}, ofNode: udpInlets, more: udpInletPath},
	{Name: PartExec, ofNode: execs},
	{Name: PartCheck, InPlace: []string{"from", "to", "send", "expect", "timeout"}, ofTopology: checks},
	// A running topology with networks takes no change at all
	// (deploy.ErrNetworksFixed): their namespaces are made once.
	{Name: PartNetwork, ofTopology: networks, more: plannedSubnet},
}

// KindOf returns the kind called name, or nil.
func KindOf(name PartKind) *Kind {
	for _, k := range Kinds {
		if k.Name == name {
			return k
		}
	}
	return nil
}

// OfNode reports whether parts of the kind belong to a node.
func (k *Kind) OfNode() bool { return k.ofNode != nil }

// Label names a part for people: "tcp_inlet web on n1".
func (k *Kind) Label(node, name string) string {
	switch k.Name {
	case PartNode, PartNetwork:
		return string(k.Name) + " " + name
	case PartListener, PartUDPListener:
		return fmt.Sprintf("%s of node %s", k.Name, node)
	case PartTCPListeners:
		return fmt.Sprintf("%s %s of node %s", k.Name, name, node)
	case PartCheck:
		return fmt.Sprintf("check %q", name)
	}
	return fmt.Sprintf("%s %s on %s", k.Name, name, node)
}

// Parts lists the parts of the topology in plan order: each node in
// start order with its parts, then the checks and the networks.
func (t *Topology) Parts() []Part {
	var out []Part
	for _, n := range t.Order {
		out = append(out, n.Parts()...)
	}
	for _, k := range Kinds {
		if k.ofTopology != nil {
			out = append(out, k.ofTopology(t)...)
		}
	}
	return out
}

// Parts lists the node and its parts, in the order they start.
func (n *Node) Parts() []Part {
	var out []Part
	for _, k := range Kinds {
		if k.ofNode != nil {
			out = append(out, k.ofNode(n)...)
		}
	}
	return out
}

// attribute is one attribute of a part as a plan compares it.
type attribute struct {
	schema.Attribute
	// derived is set for what the planner knows beyond the declaration.
	derived bool
}

// attributes is what a plan compares of a part: its declaration's
// attributes, each as the planner resolved it (more, by the same name:
// an identity file's path from the file's directory), and what the
// planner knows beyond them (more, by other names).
func (k *Kind) attributes(p Part) []attribute {
	var out []attribute
	for _, a := range schema.Attributes(p.Decl) {
		out = append(out, attribute{Attribute: a})
	}
	if k.more == nil {
		return out
	}
	for _, m := range k.more(p) {
		if i := slices.IndexFunc(out, func(a attribute) bool { return a.Name == m.Name }); i >= 0 {
			out[i].Value = m.Value
			continue
		}
		out = append(out, attribute{Attribute: m, derived: true})
	}
	return out
}

func nodeItself(n *Node) []Part {
	return []Part{{Kind: PartNode, Node: n.Name, Name: n.Name, Decl: n.Decl, Model: n, Where: n.Decl.DeclRange}}
}

// nodeIdentifier is the node's identity file as the planner found it:
// its path from the file's directory (so that "./a.identity" is
// "a.identity"), and its identifier (so that a file made anew at the same
// path changes the node).
func nodeIdentifier(p Part) []schema.Attribute {
	n := p.Model.(*Node)
	if n.Identity == "" {
		return nil
	}
	return []schema.Attribute{
		{Name: "identity", Value: strconv.Quote(n.Identity)},
		{Name: "identifier", Value: strconv.Quote(n.Identifier)},
	}
}

// services are the services the file declares, by name; the defaults
// every node runs are not parts of it.
func services(n *Node) []Part {
	var out []Part
	for _, s := range n.Decl.Services {
		if _, def := routing.DefaultServices[s.Name]; !def {
			out = append(out, Part{Kind: PartService, Node: n.Name, Name: s.Name, Decl: s, Model: s, Where: s.DeclRange})
		}
	}
	return sortedByName(out)
}

func secureListeners(n *Node) []Part {
	var out []Part
	for _, l := range n.SecureListeners {
		out = append(out, Part{Kind: PartSecureListener, Node: n.Name, Name: l.Name, Decl: l.Decl, Model: l, Where: l.Decl.DeclRange})
	}
	return sortedByName(out)
}

// trustedNodes: a listener holds the identifiers of the nodes it trusts,
// read when it starts.
func trustedNodes(_ *Topology, p Part) []partKey {
	var out []partKey
	for _, n := range p.Model.(*SecureListener).TrustNodes {
		out = append(out, partKey{PartNode, n.Name, n.Name})
	}
	return out
}

func listener(kind PartKind, attr func(*schema.Node) *schema.String) func(n *Node) []Part {
	return func(n *Node) []Part {
		a := attr(n.Decl)
		if a == nil {
			return nil
		}
		return []Part{{Kind: kind, Node: n.Name, Name: n.Name, Decl: a, Model: n, Where: a.Range}}
	}
}

// TCPListener is one of a node's tcp_listeners: the model of a part of
// kind tcp_listeners.
type TCPListener struct {
	Node *Node
	// Address is where it binds: as declared, or on every interface of
	// the node's container on an engine.
	Address string
}

// moreTCPListeners lists the node's tcp_listeners, each a part named by
// its address as the file gives it.
func moreTCPListeners(n *Node) []Part {
	out := make([]Part, 0, len(n.TCPListeners))
	for i := range n.Decl.TCPListeners {
		d := &n.Decl.TCPListeners[i]
		out = append(out, Part{Kind: PartTCPListeners, Node: n.Name, Name: d.Value, Decl: d, Model: &TCPListener{Node: n, Address: n.TCPListeners[i]}, Where: d.Range})
	}
	return out
}

func relays(n *Node) []Part {
	out := make([]Part, 0, len(n.Relays))
	for _, r := range n.Relays {
		out = append(out, Part{Kind: PartRelay, Node: n.Name, Name: r.Name, Decl: r.Decl, Model: r, Where: r.Decl.DeclRange})
	}
	return out
}

// relayNodeListener: a relay dials its relay node's listener.
func relayNodeListener(_ *Topology, p Part) []partKey {
	at := p.Model.(*Relay).At.Name
	return []partKey{{PartListener, at, at}}
}

// outlets lists a node's TCP outlets, or its UDP ones.
func outlets(udp bool) func(n *Node) []Part {
	kind := PartOutlet
	if udp {
		kind = PartUDPOutlet
	}
	return func(n *Node) []Part {
		var out []Part
		for _, o := range n.Outlets {
			if o.UDP == udp {
				out = append(out, Part{Kind: kind, Node: n.Name, Name: o.Name, Decl: o.Decl, Model: o, Where: o.Decl.DeclRange})
			}
		}
		return sortedByName(out)
	}
}

func udpInlets(n *Node) []Part {
	out := make([]Part, 0, len(n.UDPInlets))
	for _, in := range n.UDPInlets {
		out = append(out, Part{Kind: PartUDPInlet, Node: n.Name, Name: in.Name, Decl: in.Decl, Model: in, Where: in.Decl.DeclRange})
	}
	return out
}

func inlets(n *Node) []Part {
	out := make([]Part, 0, len(n.Inlets))
	for _, in := range n.Inlets {
		out = append(out, Part{Kind: PartInlet, Node: n.Name, Name: in.Name, Decl: in.Decl, Model: in, Where: in.Decl.DeclRange})
	}
	return out
}

func execs(n *Node) []Part {
	out := make([]Part, 0, len(n.Decl.Execs))
	for _, x := range n.Decl.Execs {
		out = append(out, Part{Kind: PartExec, Node: n.Name, Name: x.Name, Decl: x, Model: x, Where: x.DeclRange})
	}
	return out
}

func checks(t *Topology) []Part {
	out := make([]Part, 0, len(t.Checks))
	for _, c := range t.Checks {
		out = append(out, Part{Kind: PartCheck, Name: c.Name, Decl: c.Decl, Model: c, Where: c.Decl.DeclRange})
	}
	return out
}

func networks(t *Topology) []Part {
	out := make([]Part, 0, len(t.Networks))
	for _, nw := range t.Networks {
		out = append(out, Part{Kind: PartNetwork, Name: nw.Name, Decl: nw.Decl, Model: nw, Where: nw.Decl.DeclRange})
	}
	return out
}

// plannedSubnet is the network's subnet, the one the planner gave it when
// the file names none.
func plannedSubnet(p Part) []schema.Attribute {
	return []schema.Attribute{{Name: "subnet", Value: strconv.Quote(p.Model.(*Network).Subnet.String())}}
}

// inletPath is the inlet's route as walked, hop by hop, and the window its
// streams take from it: a change elsewhere in the file (an outlet gone, a
// hop over UDP) changes them though its "to" is the same.
func inletPath(p Part) []schema.Attribute {
	in := p.Model.(*Inlet)
	window := "default"
	if in.TCPOnly() {
		window = "large"
	}
	return []schema.Attribute{
		{Name: "path", Value: walkedPath(in.Hops)},
		{Name: "window", Value: window},
	}
}

// udpInletPath is the UDP inlet's route as walked: a change elsewhere in
// the file changes it though its "to" is the same.
func udpInletPath(p Part) []schema.Attribute {
	return []schema.Attribute{{Name: "path", Value: walkedPath(p.Model.(*UDPInlet).Hops)}}
}

// walkedPath is a walked route as a plan compares it, hop by hop.
func walkedPath(walked []Hop) string {
	hops := make([]string, len(walked))
	for i, h := range walked {
		hops[i] = fmt.Sprintf("%s %s at %s", h.Kind, h.Address, h.Node)
		if h.Kind == HopConnect {
			// Resolved anew for every connection: the listener's address
			// is not the inlet's.
			hops[i] = fmt.Sprintf("%s %s at %s", h.Kind, h.To, h.Node)
		}
		if h.Transport != "" {
			hops[i] += " over " + h.Transport
		}
	}
	return strconv.Quote(strings.Join(hops, ", "))
}

func sortedByName(parts []Part) []Part {
	slices.SortFunc(parts, func(a, b Part) int { return strings.Compare(a.Name, b.Name) })
	return parts
}
