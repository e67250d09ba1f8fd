package topology

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/ockamtop/ockamtop/schema"
)

// Isolated networks. A node with `networks` lives in a network namespace
// of its own, with an interface on each of its networks; a node without
// lives in the host's namespace, as every node did before networks. A
// node reaches another's listener only over a network they share (or, two
// nodes without networks, over the host's): /node/X from A is X's address
// on the first network of A's list that X is on too. The planner proves
// every connection of the file possible before anything starts, so that
// "n3 is reachable only through n2" is true on the machine and said by
// validate.

// DefaultSubnets is where networks without a subnet get theirs: the
// /24s of 198.18.0.0/15, in order, skipping those the file's subnets
// overlap. RFC 2544 sets the range aside for testing networks.
var DefaultSubnets = netip.MustParsePrefix("198.18.0.0/15")

// defaultSubnetBits is the size of a default subnet: a /24.
const defaultSubnetBits = 24

// maxIfname is the longest interface name Linux takes (IFNAMSIZ - 1).
const maxIfname = 15

// Network is an isolated network of the topology.
type Network struct {
	Name   string
	Subnet netip.Prefix
	// Nodes on it, in file order.
	Nodes []*Node
	Decl  *schema.Network
}

// Interface is a node's interface on one of its networks.
type Interface struct {
	Network *Network
	// Name is the interface's name in the node's namespace: the network's
	// name when it fits, else ethN.
	Name string
	// Address is the node's address, with the network's prefix length.
	Address netip.Prefix
}

// Isolated reports whether the node lives in a network namespace of its
// own.
func (n *Node) Isolated() bool { return len(n.Interfaces) > 0 }

// Network returns the network called name, or nil.
func (t *Topology) Network(name string) *Network {
	for _, nw := range t.Networks {
		if nw.Name == name {
			return nw
		}
	}
	return nil
}

// buildNetworks makes the file's networks, gives each a subnet, and each
// node on it an interface with an address (in the order of the nodes in
// the file, from the subnet's first host address).
func (t *Topology) buildNetworks(f *schema.File) hcl.Diagnostics {
	var diags hcl.Diagnostics
	byName := map[string]*Network{}
	var taken []*Network // those with a subnet, to keep the defaults off them
	for _, d := range f.Networks {
		nw := &Network{Name: d.Name, Decl: d}
		if d.Subnet != nil {
			nw.Subnet = *d.Subnet
			for _, other := range taken {
				if other.Subnet.Overlaps(nw.Subnet) {
					diags = append(diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Overlapping subnets",
						Detail: fmt.Sprintf("Network %q has the subnet %s, which overlaps network %q's %s (at %s). Networks need subnets of their own.",
							nw.Name, nw.Subnet, other.Name, other.Subnet, other.Decl.SubnetRange),
						Subject: d.SubnetRange.Ptr(),
						Context: other.Decl.SubnetRange.Ptr(),
					})
					break
				}
			}
			taken = append(taken, nw)
		}
		byName[nw.Name] = nw
		t.Networks = append(t.Networks, nw)
	}
	next := netip.PrefixFrom(DefaultSubnets.Addr(), defaultSubnetBits)
	for _, nw := range t.Networks {
		if nw.Decl.Subnet != nil {
			continue
		}
		for ; DefaultSubnets.Contains(next.Addr()); next = nextPrefix(next) {
			if !slices.ContainsFunc(taken, func(o *Network) bool { return o.Subnet.Overlaps(next) }) {
				break
			}
		}
		if !DefaultSubnets.Contains(next.Addr()) {
			diags = append(diags, schema.ErrorAt(nw.Decl.DeclRange, "No subnet left",
				"The /24s of %s are all taken; give network %q a subnet.", DefaultSubnets, nw.Name))
			continue
		}
		nw.Subnet = next
		next = nextPrefix(next)
	}
	names := make([]string, len(t.Networks))
	for i, nw := range t.Networks {
		names[i] = nw.Name
	}
	for _, n := range t.Nodes {
		for _, ref := range n.Decl.Networks {
			nw := byName[ref.Name]
			if nw == nil {
				diags = append(diags, schema.ErrorAt(ref.Range, "Reference to undeclared network",
					"No network %q is declared in the topology; add a network %q {} block.%s", ref.Name, ref.Name, schema.DidYouMean(ref.Name, names)))
				continue
			}
			nw.Nodes = append(nw.Nodes, n)
			if t.Engine {
				continue // the engine's network: no namespace, no address of ours
			}
			n.Interfaces = append(n.Interfaces, &Interface{Network: nw})
		}
		nameInterfaces(n.Interfaces)
	}
	for _, nw := range t.Networks {
		if !nw.Subnet.IsValid() || t.Engine {
			continue
		}
		hosts := uint64(1)<<(32-nw.Subnet.Bits()) - 2 // less the network and broadcast addresses
		if uint64(len(nw.Nodes)) > hosts {
			diags = append(diags, schema.ErrorAt(nw.Decl.DeclRange, "Network too small",
				"Network %q has %d nodes, and its subnet %s has room for %d.", nw.Name, len(nw.Nodes), nw.Subnet, hosts))
			continue
		}
		a := nw.Subnet.Addr()
		for _, n := range nw.Nodes {
			a = a.Next()
			for _, i := range n.Interfaces {
				if i.Network == nw {
					i.Address = netip.PrefixFrom(a, nw.Subnet.Bits())
				}
			}
		}
	}
	for _, n := range t.Nodes {
		diags = append(diags, t.checkIsolatedListener(n)...)
	}
	return diags
}

// nextPrefix is the prefix of the same size right after p.
func nextPrefix(p netip.Prefix) netip.Prefix {
	a := p.Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v += 1 << (32 - p.Bits())
	if v == 0 { // wrapped past 255.255.255.255
		return netip.Prefix{}
	}
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), p.Bits())
}

// nameInterfaces names a node's interfaces after their networks, or ethN
// for a name too long for Linux (or one that is taken).
func nameInterfaces(ifs []*Interface) {
	used := map[string]bool{"lo": true}
	for _, i := range ifs {
		if len(i.Network.Name) <= maxIfname && !used[i.Network.Name] {
			i.Name = i.Network.Name
			used[i.Name] = true
		}
	}
	k := 0
	for _, i := range ifs {
		for i.Name == "" {
			if name := fmt.Sprintf("eth%d", k); !used[name] {
				i.Name = name
				used[name] = true
			}
			k++
		}
	}
}

// checkIsolatedListener refuses a listener that no other node could reach:
// an isolated node listens on all its addresses (0.0.0.0:PORT) or on its
// address on one network.
func (t *Topology) checkIsolatedListener(n *Node) hcl.Diagnostics {
	if !n.Isolated() {
		return nil
	}
	var diags hcl.Diagnostics
	for _, l := range n.declaredTCPListeners() {
		host, _, err := net.SplitHostPort(l.Value)
		if err != nil {
			continue // reported by the schema
		}
		a, err := netip.ParseAddr(host)
		if err == nil && (a.IsUnspecified() || slices.ContainsFunc(n.Interfaces, func(i *Interface) bool { return i.Address.Addr() == a })) {
			continue
		}
		diags = append(diags, schema.ErrorAt(l.Range, "Listener outside the node's networks",
			"Node %q lives in a network namespace of its own, where its addresses are %s; on %s, no other node could reach it. Listen on 0.0.0.0:PORT (each of its addresses) or on one of them.",
			n.Name, strings.Join(n.addressList(), ", "), host))
	}
	return diags
}

// addressList lists the node's addresses, "198.18.0.2 (office)".
func (n *Node) addressList() []string {
	var out []string
	for _, i := range n.Interfaces {
		out = append(out, fmt.Sprintf("%s (%s)", i.Address.Addr(), i.Network.Name))
	}
	return out
}

// listensOn reports whether an isolated node's listener l takes
// connections at hostport: one of its addresses, with the listener's
// fixed port.
func (n *Node) listensOn(l, hostport string) bool {
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil || !n.Isolated() || l == "" {
		return false
	}
	for _, i := range n.Interfaces {
		if a, ok := ListenerOnInterface(l, i); ok && a == ap.String() {
			return true
		}
	}
	return false
}

// ListenerOn is where other nodes on interface i's network reach the
// node's listener: its address there and the listener's port (which may
// be 0 in the plan: the runtime binds one). ok is false when the listener
// is bound to another of its addresses.
func (n *Node) ListenerOn(i *Interface) (hostport string, ok bool) {
	return ListenerOnInterface(n.Listener, i)
}

// ListenerOnInterface is where other nodes on interface i's network reach the
// listener bound at l.
func ListenerOnInterface(l string, i *Interface) (hostport string, ok bool) {
	host, port, err := net.SplitHostPort(l)
	if err != nil {
		return "", false
	}
	if a, err := netip.ParseAddr(host); err != nil || !a.IsUnspecified() && a != i.Address.Addr() {
		return "", false
	}
	return net.JoinHostPort(i.Address.Addr().String(), port), true
}

// Path is how node from reaches node to's listener.
type Path struct {
	// Address is the socket from dials: to's listener as seen from from.
	Address string
	// Network is the network they share; nil for two nodes in the host's
	// namespace.
	Network *Network
	// EngineNetwork is the engine network they share, on a container
	// engine (engine.go); "" otherwise.
	EngineNetwork string
}

// PathTo says how n reaches to's listener, or why it cannot: they share no
// network (a node without networks is on the host's).
func (n *Node) PathTo(to *Node) (Path, error) {
	return n.pathToListener(to, to.Listener)
}

// pathToListener says how n reaches to's listener bound at l (its own or
// one of its tcp_listeners), or why it cannot.
func (n *Node) pathToListener(to *Node, l string) (Path, error) {
	if n.engine {
		return n.enginePath(to, l)
	}
	if !n.Isolated() && !to.Isolated() {
		return Path{Address: l}, nil
	}
	for _, mine := range n.Interfaces {
		for _, theirs := range to.Interfaces {
			if mine.Network != theirs.Network {
				continue
			}
			if a, ok := ListenerOnInterface(l, theirs); ok {
				return Path{Address: a, Network: theirs.Network}, nil
			}
		}
	}
	return Path{}, fmt.Errorf("%s is on %s, %s is on %s; reach %s through a node on both, or a relay",
		n.Name, n.networkList(), to.Name, to.networkList(), to.Name)
}

// networkList names the node's networks: "office and factory", or "the
// host's network" for a node without.
func (n *Node) networkList() string {
	if !n.Isolated() {
		return "the host's network"
	}
	names := make([]string, len(n.Interfaces))
	for i, f := range n.Interfaces {
		names[i] = f.Network.Name
	}
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// bridgeBetween names a node, other than from and to, that listens on a
// network of each: the middle of a bridge from -> it -> to. "" if none.
func (t *Topology) bridgeBetween(from, to *Node) string {
	for _, mid := range t.Nodes {
		if mid == from || mid == to || mid.Listener == "" {
			continue
		}
		if _, err := from.PathTo(mid); err != nil {
			continue
		}
		if _, err := mid.PathTo(to); err == nil {
			return mid.Name
		}
	}
	return ""
}

// unreachable is the diagnostic for a connection between nodes that share
// no network, at rng.
func (t *Topology) unreachable(rng hcl.Range, from, to *Node, err error) *hcl.Diagnostic {
	detail := err.Error() + "."
	if mid := t.bridgeBetween(from, to); mid != "" {
		detail += fmt.Sprintf(" Node %q is on both: /node/%s/node/%s.", mid, mid, to.Name)
	}
	return schema.ErrorAt(rng, "Nodes share no network", "%s", detail)
}

// checkRelayNetworks refuses a relay whose node cannot reach the node it
// registers at.
func (t *Topology) checkRelayNetworks() hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, r := range t.Relays {
		if _, err := r.Owner.PathTo(r.At); err != nil {
			diags = append(diags, t.unreachable(r.Decl.At.Range, r.Owner, r.At, err))
		}
	}
	return diags
}

// checkSubsetNetworks refuses running, in this process, part of the nodes
// of a network: each process makes its own namespaces, so the nodes of a
// network must all run in one.
func (t *Topology) checkSubsetNetworks(local map[string]bool) hcl.Diagnostics {
	if t.Engine {
		return nil // the engine's networks span its containers
	}
	var diags hcl.Diagnostics
	for _, nw := range t.Networks {
		var here, there []string
		for _, n := range nw.Nodes {
			if local[n.Name] {
				here = append(here, n.Name)
			} else {
				there = append(there, n.Name)
			}
		}
		if len(here) > 0 && len(there) > 0 {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Network split across processes",
				Detail: fmt.Sprintf("--node runs %s here but not %s, all on network %q: a network lives in one process's namespaces, so its nodes run together (add --node for each).",
					strings.Join(here, ", "), strings.Join(there, ", "), nw.Name),
				Subject: nw.Decl.DeclRange.Ptr(),
			})
		}
	}
	return diags
}
