// Package topology is the planner: it builds a model of a decoded topology
// file, resolves its references, walks every route in it hop by hop as the
// runtime would, and orders the start. A file that passes here is one the
// runtime can start; what could still fail is the outside world (a port in
// use, a peer that does not answer).
package topology

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/secure"
	"github.com/ockamtop/ockamtop/schema"
)

// Topology is the model of a valid topology file.
type Topology struct {
	// Nodes in the order of the file.
	Nodes   []*Node
	Relays  []*Relay
	Outlets []*Outlet
	Inlets  []*Inlet
	// UDPInlets are the UDP portals' inlets; their outlets are in Outlets.
	UDPInlets []*UDPInlet
	Checks    []*Check
	// Networks are the isolated networks, in file order.
	Networks []*Network
	// Order is the start order of the nodes: a relay's node after the node
	// it dials.
	Order []*Node
	// Engine is whether the topology is planned for a container engine:
	// each node in a container of its own (engine.go).
	Engine   bool
	byName   map[string]*Node
	resolver *resolver
}

// Node is a node of the topology.
type Node struct {
	Name string
	// Listener is the declared listener address, "" if the node does not
	// listen. Its port may be 0: the runtime binds one.
	Listener string
	// TCPListeners are the node's other TCP listeners (tcp_listeners), in
	// file order: each takes connections as Listener does, and a route
	// that names one's /ip4/A/tcp/P dials it.
	TCPListeners []string
	// UDPListener is the declared UDP listener address, "" if none.
	UDPListener string
	// Services maps the node's service addresses to their types (echo,
	// uppercase, hop), the defaults included.
	Services map[string]string
	// Allow lists the extra addresses the network may reach.
	Allow []string
	// Relays are the relays this node registers at other nodes.
	Relays []*Relay
	// Forwarders are the relays registered at this node, by forwarder
	// address.
	Forwarders map[string]*Relay
	// Outlets are the node's outlets, TCP and UDP, by name: they share
	// the node's local addresses.
	Outlets   map[string]*Outlet
	Inlets    []*Inlet
	UDPInlets []*UDPInlet
	// SecureListeners are the node's secure channel listeners, by name.
	SecureListeners map[string]*SecureListener
	// Identity is the path of the node's identity file, "" for the one
	// ockamtop keeps for it; Identifier is that file's identifier.
	Identity   string
	Identifier string
	// LoadedIdentity is the identity file's content, read once, here:
	// deploy starts the node with it. Nil without an identity file.
	LoadedIdentity *secure.Identity
	// Interfaces are the node's on its networks, in the order of its
	// networks; none for a node in the host's namespace.
	Interfaces []*Interface
	Decl       *schema.Node
	// engine is the topology's Engine, for PathTo.
	engine bool
}

// Relay is a relay: Owner dials At and registers Name; At then forwards
// /service/forward_to_NAME to Owner.
type Relay struct {
	Name  string
	Owner *Node
	At    *Node
	Decl  *schema.Relay
}

// Forwarder is the relay's forwarder address at its relay node.
func (r *Relay) Forwarder() string { return routing.Forwarder(r.Name) }

// RemoteAddress is where the relay makes its owner reachable, as a route
// from anywhere that can reach the relay node.
func (r *Relay) RemoteAddress() string {
	return "/node/" + r.At.Name + "/service/" + r.Forwarder()
}

// Outlet is a TCP portal outlet, or with UDP a UDP portal's.
type Outlet struct {
	Name   string
	Node   *Node
	Target string
	Decl   *schema.Outlet
	UDP    bool
}

// Block is the outlet's block: tcp_outlet or udp_outlet.
func (o *Outlet) Block() string {
	if o.UDP {
		return schema.BlockUDPOutlet
	}
	return schema.BlockOutlet
}

// UDPInlet is a UDP portal inlet: its route ends at a udp_outlet.
type UDPInlet struct {
	Name  string
	Node  *Node
	From  string
	Route routing.MultiAddr
	Hops  []Hop
	Decl  *schema.UDPInlet
}

// Inlet is a TCP portal inlet.
type Inlet struct {
	Name  string
	Node  *Node
	From  string
	Route routing.MultiAddr
	Hops  []Hop
	Decl  *schema.Inlet
}

// TCPOnly reports whether the inlet's route, as walked, crosses only TCP
// connections between nodes of the file and ends at an outlet of the file:
// its streams may then move data in large chunks, which a UDP hop (whose
// reassembly is bounded) or a peer outside the file might not take.
func (i *Inlet) TCPOnly() bool {
	if len(i.Hops) == 0 || i.Hops[len(i.Hops)-1].Kind != HopOutlet {
		return false
	}
	for _, h := range i.Hops {
		if h.Kind == HopAllowed || h.Kind == HopSocket || h.Transport == "udp" {
			return false
		}
	}
	return true
}

// Check is a message the topology must answer as expected.
type Check struct {
	Name      string
	From      *Node
	Route     routing.MultiAddr
	Hops      []Hop
	Send      string
	Expect    string
	HasExpect bool
	Decl      *schema.Check
}

// Node returns the node called name, or nil.
func (t *Topology) Node(name string) *Node { return t.byName[name] }

// NodeNames lists the node names in file order.
func (t *Topology) NodeNames() []string {
	names := make([]string, len(t.Nodes))
	for i, n := range t.Nodes {
		names[i] = n.Name
	}
	return names
}

// Addresses lists the local addresses the network can reach on the node,
// sorted: its services, forwarders, outlets and allowed names, and the relay
// service.
func (n *Node) Addresses() []string {
	out := slices.Collect(maps.Keys(n.Services))
	out = slices.AppendSeq(out, maps.Keys(n.Forwarders))
	out = slices.AppendSeq(out, maps.Keys(n.Outlets))
	out = append(out, n.Allow...)
	out = slices.AppendSeq(out, maps.Keys(n.SecureListeners))
	out = append(out, routing.RelayService, routing.StaticRelayService)
	slices.Sort(out)
	return out
}

// Load parses, decodes and plans a topology file. The parser it returns
// holds the file, for diagnostics to show snippets of. The topology is nil
// when there are errors.
func Load(filename string, src []byte, o schema.Overrides) (*Topology, *hclparse.Parser, hcl.Diagnostics) {
	return LoadFiles([]schema.Source{{Filename: filename, Bytes: src}}, o)
}

// LoadFiles parses, decodes and plans the files of one topology (a
// directory's .hcl files): their blocks may refer to each other. Every
// file is parsed, so that the syntax errors of all are reported at once.
func LoadFiles(srcs []schema.Source, o schema.Overrides) (*Topology, *hclparse.Parser, hcl.Diagnostics) {
	p := hclparse.NewParser()
	var diags hcl.Diagnostics
	files := make([]*hcl.File, 0, len(srcs))
	for _, s := range srcs {
		f, d := schema.Parse(p, s.Filename, s.Bytes)
		diags = append(diags, d...)
		files = append(files, f)
	}
	if diags.HasErrors() {
		return nil, p, diags
	}
	file, diags := schema.DecodeFiles(files, o)
	if diags.HasErrors() {
		return nil, p, sortDiagnostics(diags)
	}
	t, more := Build(file)
	diags = sortDiagnostics(append(diags, more...))
	if diags.HasErrors() {
		return nil, p, diags
	}
	if len(t.Nodes) == 0 {
		diags = append(diags, noNodes(srcs))
	}
	return t, p, diags
}

// NoNodesSummary is the summary of the warning a topology without nodes
// gets: it is valid, but there is nothing to start, and the commands that
// start nodes refuse it.
const NoNodesSummary = "No nodes"

// noNodes is the warning for a topology without nodes, at the start of its
// file when it is one file.
func noNodes(srcs []schema.Source) *hcl.Diagnostic {
	d := &hcl.Diagnostic{
		Severity: hcl.DiagWarning,
		Summary:  NoNodesSummary,
		Detail:   "The topology declares no node, so there is nothing to start: apply and check refuse it. Declare one with node \"NAME\" {}.",
	}
	if len(srcs) == 1 {
		d.Subject = &hcl.Range{Filename: srcs[0].Filename, Start: hcl.InitialPos, End: hcl.InitialPos}
	}
	return d
}

// wellKnown says what holds a well-known address every node has, or "".
func wellKnown(name string) string {
	if t, ok := routing.DefaultServices[name]; ok {
		return fmt.Sprintf("the %s service", t)
	}
	if routing.IsRelayService(name) {
		return "the relay service"
	}
	return ""
}

// Build makes the model of a decoded file and validates it: references,
// port clashes, every route, portal loops, and the start order.
func Build(f *schema.File) (*Topology, hcl.Diagnostics) {
	t := &Topology{byName: map[string]*Node{}, resolver: newResolver(), Engine: f.Engine}
	var diags hcl.Diagnostics
	for _, d := range f.Nodes {
		n := &Node{
			Name:       d.Name,
			Services:   defaultServices(),
			Forwarders: map[string]*Relay{},
			Outlets:    map[string]*Outlet{},
			Decl:       d,
			engine:     f.Engine,
		}
		if d.TCPListener != nil {
			n.Listener = d.TCPListener.Value
		}
		for _, l := range d.TCPListeners {
			n.TCPListeners = append(n.TCPListeners, l.Value)
		}
		if d.UDPListener != nil {
			n.UDPListener = d.UDPListener.Value
		}
		if t.Engine {
			n.Listener, n.UDPListener = allInterfaces(n.Listener), allInterfaces(n.UDPListener)
			for i, l := range n.TCPListeners {
				n.TCPListeners[i] = allInterfaces(l)
			}
		}
		for _, a := range d.Allow {
			n.Allow = append(n.Allow, a.Value)
		}
		for _, s := range d.Services {
			if def, ok := routing.DefaultServices[s.Name]; ok && string(def) != s.Type {
				// Every node runs it already, as what it is.
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Default service redefined",
					Detail:   fmt.Sprintf("Every node runs the %s service at %q already; a service of type %s needs another name.", def, s.Name, s.Type),
					Subject:  s.TypeRange.Ptr(),
				})
				continue
			}
			n.Services[s.Name] = s.Type
		}
		addOutlet := func(o *schema.Outlet, udp bool) {
			out := &Outlet{Name: o.Name, Node: n, Target: o.To.Value, Decl: o, UDP: udp}
			if taken := wellKnown(o.Name); taken != "" {
				diags = append(diags, schema.ErrorAt(o.NameRange, "Outlet name taken",
					"Every node has %s at %q; this %s needs another name.", taken, o.Name, out.Block()))
				return
			}
			n.Outlets[o.Name] = out
			t.Outlets = append(t.Outlets, out)
		}
		for _, o := range d.Outlets {
			addOutlet(o, false)
		}
		for _, o := range d.UDPOutlets {
			addOutlet(o, true)
		}
		t.Nodes = append(t.Nodes, n)
		t.byName[n.Name] = n
	}
	diags = append(diags, t.buildNetworks(f)...)
	diags = append(diags, t.resolveRelays()...)
	diags = append(diags, t.resolveSecure()...)
	diags = append(diags, t.checkRelayNetworks()...)
	if t.Engine {
		diags = append(diags, t.checkEngine()...)
	} else {
		diags = append(diags, t.checkPorts()...)
	}
	for _, n := range t.Nodes {
		for _, d := range n.Decl.Inlets {
			in := &Inlet{Name: d.Name, Node: n, From: d.From.Value, Decl: d}
			if t.Engine {
				in.From = allInterfaces(in.From)
			}
			var wd hcl.Diagnostics
			in.Route, in.Hops, wd = t.walk(n, d.To, purposeInlet)
			diags = append(diags, wd...)
			n.Inlets = append(n.Inlets, in)
			t.Inlets = append(t.Inlets, in)
		}
		for _, d := range n.Decl.UDPInlets {
			in := &UDPInlet{Name: d.Name, Node: n, From: d.From.Value, Decl: d}
			if t.Engine {
				in.From = allInterfaces(in.From)
			}
			var wd hcl.Diagnostics
			in.Route, in.Hops, wd = t.walk(n, d.To, purposeUDPInlet)
			diags = append(diags, wd...)
			n.UDPInlets = append(n.UDPInlets, in)
			t.UDPInlets = append(t.UDPInlets, in)
		}
	}
	diags = append(diags, t.checkPortalLoops()...)
	for _, d := range f.Checks {
		c := &Check{Name: d.Name, Send: d.Send.Value, Decl: d}
		if d.Expect != nil {
			c.Expect, c.HasExpect = d.Expect.Value, true
		}
		c.From = t.byName[d.From.Name]
		if c.From == nil {
			diags = append(diags, t.undeclaredNode(d.From))
		} else {
			var wd hcl.Diagnostics
			c.Route, c.Hops, wd = t.walk(c.From, d.To, purposeCheck)
			diags = append(diags, wd...)
		}
		t.Checks = append(t.Checks, c)
	}
	order, od := t.startOrder()
	t.Order = order
	diags = append(diags, od...)
	return t, diags
}

// resolveRelays links each relay to the node it registers at.
func (t *Topology) resolveRelays() hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, n := range t.Nodes {
		for _, d := range n.Decl.Relays {
			at := t.byName[d.At.Name]
			if at == nil {
				diags = append(diags, t.undeclaredNode(d.At))
				continue
			}
			switch {
			case at == n:
				diags = append(diags, schema.ErrorAt(d.At.Range, "Relay at its own node",
					"Node %q cannot relay through itself: a relay is at another node, one that listens and that %q can reach.", n.Name, n.Name))
				continue
			case at.Listener == "":
				udp := ""
				if at.UDPListener != "" {
					udp = " (a relay runs over TCP; its udp_listener does not serve relays)"
				}
				diags = append(diags, schema.ErrorAt(d.At.Range, "Relay at a node that does not listen",
					"Relay %q on node %q dials node %q, but node %q has no tcp_listener%s. Give node %q a tcp_listener, or relay at a node that has one.",
					d.Name, n.Name, at.Name, at.Name, udp, at.Name))
				continue
			}
			r := &Relay{Name: d.Name, Owner: n, At: at, Decl: d}
			if prev, ok := at.Forwarders[r.Forwarder()]; ok {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate relay name",
					Detail: fmt.Sprintf("Node %q already relays %q for node %q (at %s); two relays at one node need different names.",
						at.Name, r.Name, prev.Owner.Name, prev.Decl.DeclRange),
					Subject: d.NameRange.Ptr(),
					Context: prev.Decl.NameRange.Ptr(),
				})
				continue
			}
			if _, taken := at.Services[r.Forwarder()]; taken {
				diags = append(diags, schema.ErrorAt(d.NameRange, "Relay name collides with a service",
					"Node %q has a service %q already, the address relay %q needs.", at.Name, r.Forwarder(), r.Name))
				continue
			}
			if _, taken := at.Outlets[r.Forwarder()]; taken {
				diags = append(diags, schema.ErrorAt(d.NameRange, "Relay name collides with a service",
					"Node %q has a tcp_outlet %q already, the address relay %q needs.", at.Name, r.Forwarder(), r.Name))
				continue
			}
			at.Forwarders[r.Forwarder()] = r
			n.Relays = append(n.Relays, r)
			t.Relays = append(t.Relays, r)
		}
	}
	return diags
}

func (t *Topology) undeclaredNode(ref schema.Ref) *hcl.Diagnostic {
	detail := fmt.Sprintf("No node %q is declared in the topology.", ref.Name)
	if s := schema.Suggest(ref.Name, t.NodeNames()); s != "" {
		detail += fmt.Sprintf(" Did you mean node.%s?", s)
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Reference to undeclared node",
		Detail:   detail,
		Subject:  ref.Range.Ptr(),
	}
}

// sortDiagnostics orders diagnostics by file position, those without a
// position first, keeping the order of equals.
func sortDiagnostics(diags hcl.Diagnostics) hcl.Diagnostics {
	slices.SortStableFunc(diags, func(x, y *hcl.Diagnostic) int {
		a, b := x.Subject, y.Subject
		switch {
		case a == nil || b == nil:
			return cmp.Compare(boolInt(a != nil), boolInt(b != nil))
		case a.Filename != b.Filename:
			return strings.Compare(a.Filename, b.Filename)
		}
		return cmp.Compare(a.Start.Byte, b.Start.Byte)
	})
	return diags
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// defaultServices maps the services every node runs to their types.
func defaultServices() map[string]string {
	out := make(map[string]string, len(routing.DefaultServices))
	for addr, t := range routing.DefaultServices {
		out[addr] = string(t)
	}
	return out
}
