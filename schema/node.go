package schema

import (
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/ockamtop/ockamtop/runtime/routing"
)

// Node is a `node "NAME" { ... }` block.
type Node struct {
	Name      string
	NameRange hcl.Range
	DeclRange hcl.Range
	// TCPListener is the listener's socket address; nil when the node does
	// not listen.
	TCPListener *String `hcl:"tcp_listener,part"`
	// TCPListeners are the node's other TCP listeners, each a part of its
	// own named by its socket address (Ockam's `tcp-listener create`):
	// they accept connections as the node's own does, and /node/NAME
	// dials TCPListener.
	TCPListeners []String `hcl:"tcp_listeners,part"`
	// UDPListener is the UDP listener's socket address; nil when the node
	// has none.
	UDPListener *String `hcl:"udp_listener,part"`
	// Allow names more local addresses that the network may reach.
	Allow    []String   `hcl:"allow"`
	Services []*Service `hcl:"service,part"`
	Relays   []*Relay   `hcl:"relay,part"`
	Outlets  []*Outlet  `hcl:"tcp_outlet,part"`
	Inlets   []*Inlet   `hcl:"tcp_inlet,part"`
	// UDPOutlets and UDPInlets are the node's UDP portals' ends.
	UDPOutlets []*Outlet   `hcl:"udp_outlet,part"`
	UDPInlets  []*UDPInlet `hcl:"udp_inlet,part"`
	// Identity is the path of the node's identity file, nil when the node
	// uses the one kept for it under $OCKAMTOP_HOME.
	Identity *String `hcl:"identity"`
	// SecureChannelListeners are the node's secure channel listeners.
	SecureChannelListeners []*SecureChannelListener `hcl:"secure_channel_listener,part"`
	// Networks are the networks the node is on (network.NAME); none: the
	// node lives in the host's network namespace.
	Networks      []Ref `hcl:"networks"`
	NetworksRange hcl.Range
	// Execs are the processes started with the node.
	Execs []*Exec `hcl:"exec,part"`
}

// Service is a `service "NAME" { type = "hop" }` block: a worker started at
// /service/NAME. The type defaults to the name.
type Service struct {
	Name      string
	Type      string `hcl:"type"`
	NameRange hcl.Range
	TypeRange hcl.Range
	DeclRange hcl.Range
}

// Relay is a `relay "NAME" { at = node.X }` block: the node dials X and
// registers NAME, becoming reachable at X as /service/forward_to_NAME.
type Relay struct {
	Name      string
	At        Ref `hcl:"at"`
	NameRange hcl.Range
	DeclRange hcl.Range
}

// Outlet is a `tcp_outlet "NAME" { to = "host:port" }` block: portal
// traffic to /service/NAME goes to the TCP service at To. A
// `udp_outlet` block decodes to one too: datagrams to /service/NAME go to
// the UDP service at To.
type Outlet struct {
	Name      string
	To        String `hcl:"to"`
	NameRange hcl.Range
	DeclRange hcl.Range
}

// Inlet is a `tcp_inlet "NAME" { from = "host:port"  to = ROUTE }` block:
// TCP connections accepted at From are carried along the route To.
type Inlet struct {
	Name string
	From String `hcl:"from"`
	To   String `hcl:"to"`
	// MaxStreams bounds the streams open at once; 0 means the runtime's
	// default.
	MaxStreams int `hcl:"max_streams"`
	NameRange  hcl.Range
	DeclRange  hcl.Range
}

// UDPInlet is a `udp_inlet "NAME" { from = "host:port"  to = ROUTE }`
// block: each client address that sends datagrams to From is a flow,
// carried along the route To to a udp_outlet.
type UDPInlet struct {
	Name string
	From String `hcl:"from"`
	To   String `hcl:"to"`
	// MaxFlows bounds the flows held at once; 0 means the runtime's
	// default.
	MaxFlows int `hcl:"max_flows"`
	// IdleTimeout ends a flow that carried nothing for that long; 0 means
	// the runtime's default.
	IdleTimeout time.Duration `hcl:"idle_timeout"`
	NameRange   hcl.Range
	DeclRange   hcl.Range
}

// MaxInletStreams is the most max_streams may say: each stream holds two
// file descriptors.
const MaxInletStreams = 1 << 20

var nodeSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: AttrTCPListener},
		{Name: AttrTCPListeners},
		{Name: AttrUDPListener},
		{Name: "allow"},
		{Name: "identity"},
		{Name: "networks"},
	},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: BlockService, LabelNames: []string{"name"}},
		{Type: BlockRelay, LabelNames: []string{"name"}},
		{Type: BlockOutlet, LabelNames: []string{"name"}},
		{Type: BlockInlet, LabelNames: []string{"name"}},
		{Type: BlockUDPOutlet, LabelNames: []string{"name"}},
		{Type: BlockUDPInlet, LabelNames: []string{"name"}},
		{Type: BlockSecureChannelListener, LabelNames: []string{"name"}},
		{Type: BlockExec, LabelNames: []string{"name"}},
	},
}

var serviceSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "type"}}}
var relaySchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "at", Required: true}}}
var outletSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "to", Required: true}}}
var inletSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "from", Required: true},
	{Name: "to", Required: true},
	{Name: "max_streams"},
}}

var udpInletSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "from", Required: true},
	{Name: "to", Required: true},
	{Name: "max_flows"},
	{Name: "idle_timeout"},
}}

func decodeNode(b *hcl.Block, ev *evaluator) (*Node, hcl.Diagnostics) {
	n := &Node{Name: b.Labels[0], NameRange: b.LabelRanges[0], DeclRange: b.DefRange}
	diags := validName("node", n.Name, n.NameRange)
	if len(n.Name) > routing.MaxNodeName {
		diags = append(diags, ErrorAt(n.NameRange, "Name too long",
			"A node name is at most %d bytes (it names the node's identity file, among others); this one is %d.", routing.MaxNodeName, len(n.Name)))
	}
	content, d := b.Body.Content(nodeSchema)
	diags = append(diags, d...)

	if attr, ok := content.Attributes["tcp_listener"]; ok {
		s, d := ev.socket(attr, true)
		diags = append(diags, d...)
		if !d.HasErrors() {
			n.TCPListener = &s
		}
	}
	if attr, ok := content.Attributes[AttrTCPListeners]; ok {
		l, d := decodeTCPListeners(n, attr, ev)
		diags = append(diags, d...)
		n.TCPListeners = l
	}
	if attr, ok := content.Attributes["udp_listener"]; ok {
		s, d := ev.socket(attr, true)
		diags = append(diags, d...)
		if !d.HasErrors() {
			n.UDPListener = &s
		}
	}
	if attr, ok := content.Attributes["allow"]; ok {
		list, d := ev.strings(attr)
		diags = append(diags, d...)
		for _, s := range list {
			if s.Known() {
				diags = append(diags, localName("allowed address", s.Value, s.Range)...)
			}
		}
		n.Allow = list
	}
	if attr, ok := content.Attributes["identity"]; ok {
		s, d := ev.str(attr)
		diags = append(diags, d...)
		if !d.HasErrors() && s.Known() {
			if s.Value == "" {
				diags = append(diags, ErrorAt(s.Range, "Empty identity path",
					"The attribute \"identity\" names an identity file, such as \"n1.identity\"; create one with `ockamtop identity create FILE`, or leave the attribute out to use the identity ockamtop keeps for the node."))
			} else {
				n.Identity = &s
			}
		}
	}
	if attr, ok := content.Attributes["networks"]; ok {
		refs, d := refList(attr, "network")
		diags = append(diags, d...)
		n.Networks, n.NetworksRange = refs, attr.Expr.Range()
	}

	// Services, outlets (TCP and UDP) and relays' forwarders share the
	// node's local address space; inlets have names of their own, the
	// TCP ones and the UDP ones apart (a DNS server listens on both).
	addrs := map[string]hcl.Range{}
	claim := func(kind, name string, rng hcl.Range) bool {
		if first, ok := addrs[name]; ok {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate address on node",
				Detail:   fmt.Sprintf("Node %q already has an address %q, declared at %s; this %s needs another name.", n.Name, name, first, kind),
				Subject:  rng.Ptr(),
				Context:  first.Ptr(),
			})
			return false
		}
		addrs[name] = rng
		return true
	}
	inlets := map[string]hcl.Range{}
	udpInlets := map[string]hcl.Range{}
	execs := map[string]hcl.Range{}
	relays := map[string]*Relay{}
	for _, blk := range content.Blocks {
		name, nameRange := blk.Labels[0], blk.LabelRanges[0]
		switch blk.Type {
		case "service":
			s, d := decodeService(blk, ev)
			diags = append(diags, d...)
			if s != nil && claim("service", s.Name, nameRange) {
				n.Services = append(n.Services, s)
			}
		case "relay":
			r, d := decodeRelay(blk)
			diags = append(diags, d...)
			if r == nil {
				continue
			}
			if prev, ok := relays[name]; ok {
				diags = append(diags, duplicate("relay", name, prev.DeclRange, nameRange))
				continue
			}
			relays[name] = r
			n.Relays = append(n.Relays, r)
		case BlockOutlet:
			o, d := decodeOutlet(blk, ev)
			diags = append(diags, d...)
			if o != nil && claim(BlockOutlet, o.Name, nameRange) {
				n.Outlets = append(n.Outlets, o)
			}
		case BlockUDPOutlet:
			o, d := decodeOutlet(blk, ev)
			diags = append(diags, d...)
			if o != nil && claim(BlockUDPOutlet, o.Name, nameRange) {
				n.UDPOutlets = append(n.UDPOutlets, o)
			}
		case BlockUDPInlet:
			in, d := decodeUDPInlet(blk, ev)
			diags = append(diags, d...)
			if in == nil {
				continue
			}
			if first, ok := udpInlets[name]; ok {
				diags = append(diags, duplicate(BlockUDPInlet, name, first, nameRange))
				continue
			}
			udpInlets[name] = blk.DefRange
			n.UDPInlets = append(n.UDPInlets, in)
		case "tcp_inlet":
			in, d := decodeInlet(blk, ev)
			diags = append(diags, d...)
			if in == nil {
				continue
			}
			if first, ok := inlets[name]; ok {
				diags = append(diags, duplicate("tcp_inlet", name, first, nameRange))
				continue
			}
			inlets[name] = blk.DefRange
			n.Inlets = append(n.Inlets, in)
		case "secure_channel_listener":
			l, d := decodeSecureChannelListener(blk, ev)
			diags = append(diags, d...)
			if l != nil && claim("secure_channel_listener", l.Name, nameRange) {
				n.SecureChannelListeners = append(n.SecureChannelListeners, l)
			}
		case "exec":
			x, d := decodeExec(blk, ev)
			diags = append(diags, d...)
			if x == nil {
				continue
			}
			if first, ok := execs[name]; ok {
				diags = append(diags, duplicate("exec", name, first, nameRange))
				continue
			}
			execs[name] = blk.DefRange
			n.Execs = append(n.Execs, x)
		}
	}
	return n, diags
}

func decodeService(b *hcl.Block, ev *evaluator) (*Service, hcl.Diagnostics) {
	s := &Service{Name: b.Labels[0], Type: b.Labels[0], NameRange: b.LabelRanges[0], TypeRange: b.LabelRanges[0], DeclRange: b.DefRange}
	diags := localName("service", s.Name, s.NameRange)
	content, d := b.Body.Content(serviceSchema)
	diags = append(diags, d...)
	if attr, ok := content.Attributes["type"]; ok {
		t, d := ev.str(attr)
		diags = append(diags, d...)
		if d.HasErrors() || !t.Known() {
			return nil, diags
		}
		s.Type, s.TypeRange = t.Value, t.Range
	}
	serviceTypes := make([]string, len(routing.ServiceTypes))
	for i, t := range routing.ServiceTypes {
		serviceTypes[i] = string(t)
	}
	if !slices.Contains(serviceTypes, s.Type) {
		detail := fmt.Sprintf("There is no service type %q. Service types: %s.", s.Type, quoteList(serviceTypes))
		if s.TypeRange == s.NameRange {
			detail += fmt.Sprintf(" To give a service a name of its own, set its type: service %q { type = \"hop\" }.", s.Name)
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unknown service type",
			Detail:   detail + DidYouMean(s.Type, serviceTypes),
			Subject:  s.TypeRange.Ptr(),
		})
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return s, diags
}

func decodeRelay(b *hcl.Block) (*Relay, hcl.Diagnostics) {
	r := &Relay{Name: b.Labels[0], NameRange: b.LabelRanges[0], DeclRange: b.DefRange}
	diags := relayName(r.Name, r.NameRange)
	content, d := b.Body.Content(relaySchema)
	diags = append(diags, d...)
	if attr, ok := content.Attributes["at"]; ok {
		at, d := ref(attr, "node")
		diags = append(diags, d...)
		r.At = at
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return r, diags
}

func decodeOutlet(b *hcl.Block, ev *evaluator) (*Outlet, hcl.Diagnostics) {
	o := &Outlet{Name: b.Labels[0], NameRange: b.LabelRanges[0], DeclRange: b.DefRange}
	diags := localName(b.Type, o.Name, o.NameRange)
	content, d := b.Body.Content(outletSchema)
	diags = append(diags, d...)
	if attr, ok := content.Attributes["to"]; ok {
		var d hcl.Diagnostics
		o.To, d = ev.socket(attr, false)
		diags = append(diags, d...)
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return o, diags
}

func decodeInlet(b *hcl.Block, ev *evaluator) (*Inlet, hcl.Diagnostics) {
	in := &Inlet{Name: b.Labels[0], NameRange: b.LabelRanges[0], DeclRange: b.DefRange}
	diags := localName("tcp_inlet", in.Name, in.NameRange)
	content, d := b.Body.Content(inletSchema)
	diags = append(diags, d...)
	diags = append(diags, decodeInletEnds(content, ev, &in.From, &in.To)...)
	if attr, ok := content.Attributes["max_streams"]; ok {
		var d hcl.Diagnostics
		in.MaxStreams, d = ev.whole(attr, 1, MaxInletStreams)
		diags = append(diags, d...)
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return in, diags
}

// decodeInletEnds decodes an inlet's from (the socket address it listens
// on, port 0 allowed) and to (the route), a TCP inlet's or a UDP one's.
func decodeInletEnds(content *hcl.BodyContent, ev *evaluator, from, to *String) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if attr, ok := content.Attributes["from"]; ok {
		var d hcl.Diagnostics
		*from, d = ev.socket(attr, true)
		diags = append(diags, d...)
	}
	if attr, ok := content.Attributes["to"]; ok {
		var d hcl.Diagnostics
		*to, d = ev.str(attr)
		diags = append(diags, d...)
	}
	return diags
}

// localName checks a name used as a local worker address, with the rule
// the runtime uses.
func localName(kind, name string, rng hcl.Range) hcl.Diagnostics {
	if err := routing.ValidLocalName(name); err != nil {
		return hcl.Diagnostics{ErrorAt(rng, "Invalid name",
			"A %s name is a local address: printable, without spaces, '/' or '#'; %q is not one: %s.", kind, name, err)}
	}
	return nil
}

// relayName checks a relay name with the rule of the relay service that
// will take its registration.
func relayName(name string, rng hcl.Range) hcl.Diagnostics {
	if err := routing.ValidRelayName(name); err != nil {
		return hcl.Diagnostics{ErrorAt(rng, "Invalid name",
			"A relay name is what the relay service registers: printable ASCII without spaces, '/' or '#', at most %d bytes; %q is not one: %s.", routing.MaxRelayName, name, err)}
	}
	return nil
}

func decodeUDPInlet(b *hcl.Block, ev *evaluator) (*UDPInlet, hcl.Diagnostics) {
	in := &UDPInlet{Name: b.Labels[0], NameRange: b.LabelRanges[0], DeclRange: b.DefRange}
	diags := localName(BlockUDPInlet, in.Name, in.NameRange)
	content, d := b.Body.Content(udpInletSchema)
	diags = append(diags, d...)
	diags = append(diags, decodeInletEnds(content, ev, &in.From, &in.To)...)
	if attr, ok := content.Attributes["max_flows"]; ok {
		var d hcl.Diagnostics
		in.MaxFlows, d = ev.whole(attr, 1, MaxInletStreams)
		diags = append(diags, d...)
	}
	if attr, ok := content.Attributes["idle_timeout"]; ok {
		var d hcl.Diagnostics
		in.IdleTimeout, d = ev.duration(attr)
		diags = append(diags, d...)
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return in, diags
}
