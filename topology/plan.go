package topology

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/ockamtop/ockamtop/schema"
)

// Plan is what apply would start, in order, with every route resolved hop
// by hop. It is the JSON of `ockamtop plan --json`.
type Plan struct {
	Order   []string     `json:"order"`
	Nodes   []PlanNode   `json:"nodes"`
	Relays  []PlanRelay  `json:"relays"`
	Outlets []PlanOutlet `json:"outlets"`
	Inlets  []PlanInlet  `json:"inlets"`
	Checks  []PlanCheck  `json:"checks"`
	// Networks are the isolated networks; absent when there are none.
	Networks []PlanNetwork `json:"networks,omitempty"`
}

// PlanNode is a node of the plan.
type PlanNode struct {
	Name string `json:"name"`
	// Listener is "" for a node that does not listen.
	Listener string `json:"listener"`
	// TCPListeners are the node's other TCP listeners (tcp_listeners);
	// absent when it has none.
	TCPListeners []string `json:"tcp_listeners,omitempty"`
	// UDPListener is "" for a node without a UDP listener.
	UDPListener string `json:"udp_listener,omitempty"`
	// Services maps service addresses to their types.
	Services map[string]string `json:"services"`
	Allow    []string          `json:"allow"`
	// Forwarders are the relay forwarders this node runs.
	Forwarders []string `json:"forwarders"`
	// Identity is the node's identity file, if it has one.
	Identity string `json:"identity,omitempty"`
	// Identifier is that file's identifier.
	Identifier string `json:"identifier,omitempty"`
	// SecureChannelListeners are the node's listeners.
	SecureChannelListeners []PlanSecureListener `json:"secure_channel_listeners,omitempty"`
	// Interfaces are the node's on its isolated networks; absent for a
	// node in the host's namespace.
	Interfaces []PlanInterface `json:"interfaces,omitempty"`
	// Execs are the processes started with the node.
	Execs []PlanExec `json:"execs,omitempty"`
}

// PlanSecureListener is a secure channel listener of the plan.
type PlanSecureListener struct {
	Name string `json:"name"`
	// Trust is nil when anyone may open a channel; otherwise the trusted
	// node names and identifiers.
	Trust []string `json:"trust"`
}

// PlanRelay is a relay of the plan.
type PlanRelay struct {
	Name          string `json:"name"`
	Node          string `json:"node"`
	At            string `json:"at"`
	Forwarder     string `json:"forwarder"`
	RemoteAddress string `json:"remote_address"`
}

// PlanOutlet is an outlet of the plan.
type PlanOutlet struct {
	Name    string `json:"name"`
	Node    string `json:"node"`
	Address string `json:"address"`
	Target  string `json:"to"`
	// Protocol is "udp" for a udp_outlet, absent for a tcp_outlet.
	Protocol string `json:"protocol,omitempty"`
}

// PlanInlet is an inlet of the plan.
type PlanInlet struct {
	Name  string `json:"name"`
	Node  string `json:"node"`
	From  string `json:"from"`
	Route string `json:"to"`
	Hops  []Hop  `json:"hops"`
	// Protocol is "udp" for a udp_inlet, absent for a tcp_inlet.
	Protocol string `json:"protocol,omitempty"`
}

// block is the inlet's block in the file.
func (in PlanInlet) block() string {
	if in.Protocol == "udp" {
		return schema.BlockUDPInlet
	}
	return schema.BlockInlet
}

// block is the outlet's block in the file.
func (o PlanOutlet) block() string {
	if o.Protocol == "udp" {
		return schema.BlockUDPOutlet
	}
	return schema.BlockOutlet
}

// PlanCheck is a check of the plan.
type PlanCheck struct {
	Name    string  `json:"name"`
	From    string  `json:"from"`
	Route   string  `json:"to"`
	Send    string  `json:"send"`
	Expect  *string `json:"expect"`
	Timeout string  `json:"timeout"`
	Hops    []Hop   `json:"hops"`
}

// Plan returns the plan of the topology.
func (t *Topology) Plan() *Plan {
	p := &Plan{
		Order: []string{}, Nodes: []PlanNode{}, Relays: []PlanRelay{},
		Outlets: []PlanOutlet{}, Inlets: []PlanInlet{}, Checks: []PlanCheck{},
	}
	for _, n := range t.Order {
		p.Order = append(p.Order, n.Name)
		// Not nil when empty: the JSON says [] rather than null.
		fw := slices.AppendSeq(make([]string, 0, len(n.Forwarders)), maps.Keys(n.Forwarders))
		slices.Sort(fw)
		allow := append([]string{}, n.Allow...)
		pn := PlanNode{Name: n.Name, Listener: n.Listener, TCPListeners: n.TCPListeners, UDPListener: n.UDPListener, Services: n.Services, Allow: allow, Forwarders: fw, Identity: n.Identity, Identifier: n.Identifier,
			Interfaces: planInterfaces(n), Execs: planExecs(n)}
		for _, name := range slices.Sorted(maps.Keys(n.SecureListeners)) {
			l := n.SecureListeners[name]
			pl := PlanSecureListener{Name: name}
			if !l.TrustAnyone {
				pl.Trust = []string{}
				for _, tn := range l.TrustNodes {
					pl.Trust = append(pl.Trust, "node."+tn.Name)
				}
				pl.Trust = append(pl.Trust, l.TrustIdentifiers...)
			}
			pn.SecureChannelListeners = append(pn.SecureChannelListeners, pl)
		}
		p.Nodes = append(p.Nodes, pn)
		for _, r := range n.Relays {
			p.Relays = append(p.Relays, PlanRelay{Name: r.Name, Node: n.Name, At: r.At.Name, Forwarder: r.Forwarder(), RemoteAddress: r.RemoteAddress()})
		}
		for _, o := range sortedOutlets(n) {
			po := PlanOutlet{Name: o.Name, Node: n.Name, Address: "/service/" + o.Name, Target: o.Target}
			if o.UDP {
				po.Protocol = "udp"
			}
			p.Outlets = append(p.Outlets, po)
		}
		for _, in := range n.Inlets {
			p.Inlets = append(p.Inlets, PlanInlet{Name: in.Name, Node: n.Name, From: in.From, Route: in.Route.String(), Hops: in.Hops})
		}
		for _, in := range n.UDPInlets {
			p.Inlets = append(p.Inlets, PlanInlet{Name: in.Name, Node: n.Name, From: in.From, Route: in.Route.String(), Hops: in.Hops, Protocol: "udp"})
		}
	}
	p.Networks = t.planNetworks()
	for _, c := range t.Checks {
		pc := PlanCheck{Name: c.Name, From: c.From.Name, Route: c.Route.String(), Send: c.Send, Timeout: c.Decl.Timeout.String(), Hops: c.Hops}
		if c.HasExpect {
			e := c.Expect
			pc.Expect = &e
		}
		p.Checks = append(p.Checks, pc)
	}
	return p
}

func sortedOutlets(n *Node) []*Outlet {
	return slices.SortedFunc(maps.Values(n.Outlets), func(a, b *Outlet) int { return strings.Compare(a.Name, b.Name) })
}

// WriteText writes the plan for people: nodes in start order, then checks,
// each route as a numbered list of hops.
func (t *Topology) WriteText(w io.Writer) error {
	p := t.Plan()
	var b strings.Builder
	fmt.Fprintf(&b, "Plan: %s.\n", t.Summary())
	fmt.Fprintf(&b, "Start order: %s.\n", orderString(t.Order))
	writeNetworks(&b, p.Networks)
	for _, n := range p.Nodes {
		fmt.Fprintf(&b, "\nnode %s\n", n.Name)
		writeInterfaces(&b, n)
		if n.Listener != "" {
			fmt.Fprintf(&b, "  listens on %s%s\n", n.Listener, listenerNote(t.Node(n.Name), n.Listener))
		}
		for _, l := range n.TCPListeners {
			fmt.Fprintf(&b, "  listens also on %s%s\n", l, listenerNote(t.Node(n.Name), l))
		}
		if n.UDPListener != "" {
			fmt.Fprintf(&b, "  listens on udp %s\n", n.UDPListener)
		}
		if n.Listener == "" && n.UDPListener == "" {
			fmt.Fprintf(&b, "  does not listen\n")
		}
		names := make([]string, 0, len(n.Services))
		for a, typ := range n.Services {
			if a != typ {
				a += " (" + typ + ")"
			}
			names = append(names, a)
		}
		slices.Sort(names)
		fmt.Fprintf(&b, "  services: %s\n", strings.Join(names, ", "))
		if len(n.Allow) > 0 {
			fmt.Fprintf(&b, "  allows: %s\n", strings.Join(n.Allow, ", "))
		}
		if n.Identity != "" {
			fmt.Fprintf(&b, "  identity %s (%s)\n", n.Identity, n.Identifier)
		}
		for _, l := range n.SecureChannelListeners {
			fmt.Fprintf(&b, "  secure_channel_listener %s, trusts %s\n", l.Name, t.Node(n.Name).SecureListeners[l.Name].trustText())
		}
		for _, f := range n.Forwarders {
			r := t.Node(n.Name).Forwarders[f]
			fmt.Fprintf(&b, "  forwarder %s -> node %s\n", f, r.Owner.Name)
		}
		for _, r := range p.Relays {
			if r.Node == n.Name {
				fmt.Fprintf(&b, "  relay %s at node %s, reachable as %s\n", r.Name, r.At, r.RemoteAddress)
			}
		}
		for _, o := range p.Outlets {
			if o.Node == n.Name {
				fmt.Fprintf(&b, "  %s %s -> %s\n", o.block(), o.Address, o.Target)
			}
		}
		writeExecs(&b, n)
		for _, in := range p.Inlets {
			if in.Node == n.Name {
				fmt.Fprintf(&b, "  %s %s on %s -> %s\n", in.block(), in.Name, in.From, in.Route)
				writeHops(&b, in.Hops)
			}
		}
	}
	for _, c := range p.Checks {
		fmt.Fprintf(&b, "\ncheck %q\n  from node %s: send %q", c.Name, c.From, c.Send)
		if c.Expect != nil {
			fmt.Fprintf(&b, ", expect %q", *c.Expect)
		}
		fmt.Fprintf(&b, " within %s\n  to %s\n", c.Timeout, c.Route)
		writeHops(&b, c.Hops)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeHops writes a walked route, one numbered line a hop.
func writeHops(b *strings.Builder, hops []Hop) {
	for i, h := range hops {
		fmt.Fprintf(b, "    %d. %s\n", i+1, h.Describe())
	}
}

// Describe says in one line what happens at the hop.
func (h Hop) Describe() string {
	switch h.Kind {
	case HopConnect:
		if h.Transport == "udp" {
			return fmt.Sprintf("%s -> %s  udp datagrams to %s", h.Node, h.To, h.Address)
		}
		if h.Network != "" {
			return fmt.Sprintf("%s -> %s  tcp connection to %s on %s", h.Node, h.To, h.Address, h.Network)
		}
		return fmt.Sprintf("%s -> %s  tcp connection to %s", h.Node, h.To, h.Address)
	case HopRelay:
		return fmt.Sprintf("%s -> %s  relay forwarder %s", h.Node, h.To, h.Address)
	case HopService:
		return fmt.Sprintf("%s  %s%s forwards", h.Node, h.Address, h.typeNote())
	case HopResponder:
		return fmt.Sprintf("%s  %s%s answers", h.Node, h.Address, h.typeNote())
	case HopOutlet:
		return fmt.Sprintf("%s  %s (tcp_outlet) -> %s", h.Node, h.Address, h.Type)
	case HopUDPOutlet:
		return fmt.Sprintf("%s  %s (udp_outlet) -> udp %s", h.Node, h.Address, h.Type)
	case HopAllowed:
		return fmt.Sprintf("%s  %s (allowed, not checked further)", h.Node, h.Address)
	case HopSecure:
		return h.describeSecure()
	case HopSocket:
		if h.Transport == "udp" {
			return fmt.Sprintf("%s -> udp %s  outside this file, not checked further", h.Node, h.Address)
		}
		return fmt.Sprintf("%s -> %s  outside this file, not checked further", h.Node, h.Address)
	}
	return fmt.Sprintf("%s  %s", h.Node, h.Address)
}

// Summary counts the parts of the topology: "3 nodes, 1 relay, ...".
func (t *Topology) Summary() string {
	s := fmt.Sprintf("%s, %s, %s, %s, %s", count(len(t.Nodes), "node"), count(len(t.Relays), "relay"),
		count(len(t.Outlets), "outlet"), count(len(t.Inlets)+len(t.UDPInlets), "inlet"), count(len(t.Checks), "check"))
	if len(t.Networks) > 0 {
		s += ", " + count(len(t.Networks), "network")
	}
	return s
}

// typeNote names a service's type when its address does not.
func (h Hop) typeNote() string {
	if h.Type == h.Address {
		return ""
	}
	return " (" + h.Type + ")"
}

func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
