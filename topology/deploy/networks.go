package deploy

import (
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/netns"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/topology"
)

// Isolated networks at run time: before any node starts, Start makes a
// switch (a namespace with a bridge per network) and a namespace per
// isolated node, plugged into its networks with the planner's addresses.
// The node's listener, its dials and its outlets' dials are made in its
// namespace (runtime.SocketsIn); its inlets bind in the host's. Stop, or a
// failed Start, closes them last, after the nodes and their processes;
// the process's end, however it ends, frees them too (see runtime/netns).

// PrivilegeError says that the file has networks and this process may not
// make them. Start returns it before it starts anything.
type PrivilegeError struct {
	// Networks names the file's networks, for the message.
	Networks []string
	Err      error
}

func (e *PrivilegeError) Error() string {
	return fmt.Sprintf("networks (%s) need Linux network namespaces, which need CAP_SYS_ADMIN and CAP_NET_ADMIN (run apply as root): %v",
		strings.Join(e.Networks, ", "), e.Err)
}

func (e *PrivilegeError) Unwrap() error { return e.Err }

// isolation is the namespaces of a running topology.
type isolation struct {
	sw *netns.Switch
	// nss are the isolated nodes' namespaces, by node name.
	nss map[string]*netns.Namespace
}

// needsIsolation lists the networks of the nodes run here, whose
// namespaces this process makes: none on a container engine, whose
// networks they are.
func needsIsolation(t *topology.Topology, local map[string]bool) []string {
	if t.Engine {
		return nil
	}
	var out []string
	for _, nw := range t.Networks {
		if slices.ContainsFunc(nw.Nodes, func(n *topology.Node) bool { return local[n.Name] }) {
			out = append(out, nw.Name)
		}
	}
	return out
}

// startIsolation makes the switch and the isolated nodes' namespaces. On
// an error, what it made is freed.
func startIsolation(t *topology.Topology, local map[string]bool, networks []string) (iso *isolation, err error) {
	sw, err := netns.NewSwitch()
	if err != nil {
		return nil, &StartError{Part: "networks", Where: t.Network(networks[0]).Decl.DeclRange.String(), Err: err}
	}
	iso = &isolation{sw: sw, nss: map[string]*netns.Namespace{}}
	defer func() {
		if err != nil {
			iso.close()
			iso = nil
		}
	}()
	for _, name := range networks {
		nw := t.Network(name)
		if err := sw.AddNetwork(name); err != nil {
			return nil, &StartError{Part: fmt.Sprintf("network %q", name), Where: nw.Decl.DeclRange.String(), Err: err}
		}
	}
	for _, n := range t.Nodes {
		if !local[n.Name] || !n.Isolated() {
			continue
		}
		fail := func(err error) error {
			return &StartError{Part: fmt.Sprintf("networks of node %q", n.Name), Where: n.Decl.NetworksRange.String(), Err: err}
		}
		ns, err := netns.New()
		if err != nil {
			return nil, fail(err)
		}
		iso.nss[n.Name] = ns
		if err := ns.Prepare(); err != nil {
			return nil, fail(err)
		}
		for _, i := range n.Interfaces {
			if err := sw.Plug(ns, i.Network.Name, i.Name, i.Address); err != nil {
				return nil, fail(err)
			}
		}
	}
	return iso, nil
}

// close frees the namespaces: the kernel takes their interfaces with
// them once nothing holds them.
func (iso *isolation) close() {
	if iso == nil {
		return
	}
	for _, ns := range iso.nss {
		ns.Close()
	}
	iso.sw.Close()
}

// namespace is node's namespace, nil for a node in the host's.
func (iso *isolation) namespace(node string) *netns.Namespace {
	if iso == nil {
		return nil
	}
	return iso.nss[node]
}

// sockets makes node's sockets: in its namespace, or else as base makes
// them (nil: the host's).
func (iso *isolation) sockets(node string, base runtime.Sockets) runtime.Sockets {
	if ns := iso.namespace(node); ns != nil {
		return runtime.SocketsIn(ns.Do)
	}
	if base != nil {
		return base
	}
	return runtime.HostSockets{}
}

// NamespaceInfo describes an isolated node's namespace while it runs.
type NamespaceInfo struct {
	// Path names it while the apply runs: nsenter --net=PATH.
	Path string `json:"path"`
	// Inode is its identity (net:[INODE]).
	Inode uint64 `json:"inode"`
	// Addresses are the node's, "198.18.0.2/24 on office".
	Addresses []string `json:"addresses"`
}

// Namespaces describes the namespaces of the isolated nodes run here, and
// the switch's (under the name "").
func (r *Running) Namespaces() map[string]NamespaceInfo {
	out := map[string]NamespaceInfo{}
	if r.iso == nil {
		return out
	}
	for name, ns := range r.iso.nss {
		info := NamespaceInfo{Path: ns.Path(), Inode: ns.Inode(), Addresses: []string{}}
		for _, i := range r.topology().Node(name).Interfaces {
			info.Addresses = append(info.Addresses, fmt.Sprintf("%s on %s", i.Address, i.Network.Name))
		}
		out[name] = info
	}
	sw := r.iso.sw.Namespace()
	out[""] = NamespaceInfo{Path: sw.Path(), Inode: sw.Inode(), Addresses: []string{}}
	return out
}

// addressFrom is node to's listener as node from dials it: over a network
// they share, at to's address there, with the port it bound.
func (r *Running) addressFrom(from, to string) (string, error) {
	bound := r.listenerOf(to)
	t := r.topology()
	fn, tn := t.Node(from), t.Node(to)
	if fn == nil || tn == nil || !t.Engine && !fn.Isolated() && !tn.Isolated() {
		return bound, nil // the host's namespace, as before networks
	}
	path, err := fn.PathTo(tn)
	if err != nil {
		return "", err
	}
	return withPort(path.Address, bound)
}

// withPort is hostport with the port of bound, the listener's bound
// address (the plan's port may be 0).
func withPort(hostport, bound string) (string, error) {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", err
	}
	_, port, err := net.SplitHostPort(bound)
	if err != nil {
		return "", fmt.Errorf("listener %q: %w", bound, err)
	}
	return net.JoinHostPort(host, port), nil
}

// isolatedListeners lists the sockets where the isolated nodes' listeners
// take connections: each of their addresses, with the bound port.
func (r *Running) isolatedListeners() []string {
	var out []string
	for _, n := range r.topology().Nodes {
		if !n.Isolated() || n.Listener == "" {
			continue
		}
		bound := r.listenerOf(n.Name)
		for _, i := range n.Interfaces {
			if a, ok := n.ListenerOn(i); ok {
				if a, err := withPort(a, bound); err == nil {
					out = append(out, a)
				}
			}
		}
		// Its tcp_listeners: a network's run is fixed, so each has the
		// port its file gives it or, for port 0, the one it bound.
		for _, l := range r.tcpListenersBound(n.Name) {
			for _, i := range n.Interfaces {
				if a, ok := topology.ListenerOnInterface(l.declared, i); ok {
					if a, err := withPort(a, l.bound); err == nil {
						out = append(out, a)
					}
				}
			}
		}
	}
	return out
}

// routeAlong turns a walked route into addresses: each /node/X is X's
// listener as seen from the node the message is at when it takes that
// hop, which the walk knows (hops[i] is segment i's).
func (r *Running) routeAlong(m routing.MultiAddr, hops []topology.Hop) (routing.Route, error) {
	return m.Route(r.resolverAlong(m, hops))
}

// resolverAlong resolves each /node/X of m from the node the walk says the
// message is at there.
func (r *Running) resolverAlong(m routing.MultiAddr, hops []topology.Hop) routing.NodeResolver {
	var froms []string
	for i, s := range m {
		if s.Kind == routing.Node {
			from := ""
			if i < len(hops) {
				from = hops[i].Node
			}
			froms = append(froms, from)
		}
	}
	k := 0
	return func(name string, t routing.TransportType) (routing.Address, error) {
		from := ""
		if k < len(froms) {
			from = froms[k]
		}
		k++
		return r.resolveNode(from, name, t)
	}
}
