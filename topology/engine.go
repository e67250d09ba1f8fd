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

// On a container engine (ockamtop export, apply --engine) each node runs
// in a container of its own, named after the node, and the file's
// addresses are read the way such a container sees them:
//
//   - a listener binds its port on all the container's interfaces
//     (0.0.0.0:PORT), and other nodes dial it by the node's name
//     (n2:7000): the engine's DNS answers with the node's address on a
//     network they share;
//   - an inlet binds its port on all the container's interfaces, and the
//     engine publishes it on the host;
//   - a network is the engine's network: nodes reach each other only over
//     one they share, and nodes without networks share one, the default;
//   - an outlet's target at 127.0.0.1 (or localhost) is inside the node's
//     own container: one of its exec processes must serve it.
//
// So the ports of a file run on an engine must be fixed, and each node
// binds them in its own container: two nodes may use the same port, but
// two inlets may not, since both are published on the host.

// DefaultEngineNetwork is the engine network of the nodes without
// networks.
const DefaultEngineNetwork = "default"

// allInterfaces is hostport's port on every interface: where a node binds
// in its container.
func allInterfaces(hostport string) string {
	_, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport // reported by the schema
	}
	return net.JoinHostPort("0.0.0.0", port)
}

// EngineNetworks are the names of the engine networks the node is on.
func (n *Node) EngineNetworks() []string {
	if len(n.Decl.Networks) == 0 {
		return []string{DefaultEngineNetwork}
	}
	out := make([]string, len(n.Decl.Networks))
	for i, ref := range n.Decl.Networks {
		out[i] = ref.Name
	}
	return out
}

// enginePath is PathTo on an engine: to's name, with its listener's port,
// over the first engine network of n's that to is on too.
func (n *Node) enginePath(to *Node, listener string) (Path, error) {
	_, port, err := net.SplitHostPort(listener)
	if err != nil {
		return Path{}, err
	}
	theirs := to.EngineNetworks()
	for _, mine := range n.EngineNetworks() {
		if slices.Contains(theirs, mine) {
			return Path{Address: net.JoinHostPort(to.Name, port), EngineNetwork: mine}, nil
		}
	}
	return Path{}, fmt.Errorf("%s is on %s, %s is on %s; reach %s through a node on both, or a relay",
		n.Name, strings.Join(n.EngineNetworks(), " and "), to.Name, strings.Join(theirs, " and "), to.Name)
}

// UDPPathTo says how n reaches to's udp_listener: on an engine, by to's
// name over a network they share; else at the listener's address.
func (n *Node) UDPPathTo(to *Node) (Path, error) {
	if n.engine {
		return n.enginePath(to, to.UDPListener)
	}
	return Path{Address: to.UDPListener}, nil
}

// checkEngine refuses what a container engine cannot run: a port picked
// at run time (peers dial a fixed one, and the engine publishes a fixed
// one), an outlet to the container's own loopback that nothing of the
// node serves, two inlets published on one port, and two sockets of one
// node on one port.
func (t *Topology) checkEngine() hcl.Diagnostics {
	var diags hcl.Diagnostics
	published := map[string]string{} // port -> the inlet that has it, and where
	for _, n := range t.Nodes {
		bound := map[string]string{} // "tcp/PORT" -> what binds it in the container
		bind := func(what, proto string, a *schema.String) {
			_, port, err := net.SplitHostPort(a.Value)
			if err != nil {
				return // reported by the schema
			}
			if port == "0" {
				diags = append(diags, schema.ErrorAt(a.Range, "Port picked at run time",
					"On a container engine other nodes and the host reach the %s at a fixed port; give it one (the file keeps its own addresses for local runs only through variables: --var).", what))
				return
			}
			key := proto + "/" + port
			if other, ok := bound[key]; ok {
				diags = append(diags, schema.ErrorAt(a.Range, "Port clash",
					"The %s binds %s port %s in node %q's container, which the %s binds already.", what, proto, port, n.Name, other))
				return
			}
			bound[key] = what
		}
		if l := n.Decl.TCPListener; l != nil {
			bind(fmt.Sprintf("tcp_listener of node %q", n.Name), "tcp", l)
		}
		for i := range n.Decl.TCPListeners {
			l := &n.Decl.TCPListeners[i]
			bind(fmt.Sprintf("tcp_listeners of node %q", n.Name), "tcp", l)
		}
		if l := n.Decl.UDPListener; l != nil {
			bind(fmt.Sprintf("udp_listener of node %q", n.Name), "udp", l)
		}
		for _, in := range n.Decl.Inlets {
			what := fmt.Sprintf("tcp_inlet %q of node %q", in.Name, n.Name)
			bind(what, "tcp", &in.From)
			if _, port, err := net.SplitHostPort(in.From.Value); err == nil && port != "0" {
				if other, ok := published[port]; ok {
					diags = append(diags, schema.ErrorAt(in.From.Range, "Port published twice",
						"The engine publishes the %s on the host's port %s, which the %s has already.", what, port, other))
				} else {
					published[port] = fmt.Sprintf("%s (%s)", what, in.From.Range)
				}
			}
		}
		for _, in := range n.Decl.UDPInlets {
			diags = append(diags, schema.ErrorAt(in.DeclRange, "UDP portal on a container engine",
				"The exports publish TCP ports only, so the udp_inlet %q of node %q would listen where no client reaches it; run this topology with `ockamtop apply`, or leave the udp_inlet out of the export.", in.Name, n.Name))
		}
		for _, o := range n.Decl.Outlets {
			if !loopback(o.To.Value) || n.servesInContainer(o.To.Value) {
				continue
			}
			diags = append(diags, schema.ErrorAt(o.To.Range, "Outlet target outside the container",
				"On a container engine, %s is node %q's own container, where nothing of the topology serves it: give node %q an exec that does (with wait_for = %q), or dial the target by its name (such as \"web:80\").",
				o.To.Value, n.Name, n.Name, o.To.Value))
		}
	}
	return diags
}

// loopback reports whether hostport is on the loopback interface.
func loopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// servesInContainer reports whether one of the node's exec processes
// serves hostport (its wait_for is on that port), in the node's container.
func (n *Node) servesInContainer(hostport string) bool {
	_, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	for _, e := range n.Decl.Execs {
		if e.WaitFor == nil {
			continue
		}
		if _, p, err := net.SplitHostPort(e.WaitFor.Value); err == nil && p == port {
			return true
		}
	}
	return false
}
