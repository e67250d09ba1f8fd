package topology

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/ockamtop/ockamtop/schema"
)

// checkPortalLoops refuses portals that feed themselves: an inlet whose
// route ends at an outlet whose target is that inlet again, directly or
// through other portals (inlet A -> outlet X -> inlet B -> outlet Y ->
// inlet A). At run time one connection to such an inlet opens another, and
// another, until the process runs out of file descriptors; one datagram
// to such a UDP inlet goes round for ever, a flow more each time round.
// Targets and inlets are compared by resolved address, as ports are; TCP
// portals and UDP portals apart, since a TCP target is no UDP inlet.
func (t *Topology) checkPortalLoops() hcl.Diagnostics {
	var tcp, udp []portalEnd
	for _, in := range t.Inlets {
		tcp = append(tcp, portalEnd{in.Name, in.Node, in.From, in.Decl.From.Range, in.Hops, schema.BlockInlet})
	}
	for _, in := range t.UDPInlets {
		udp = append(udp, portalEnd{in.Name, in.Node, in.From, in.Decl.From.Range, in.Hops, schema.BlockUDPInlet})
	}
	return append(t.portalLoops(tcp), t.portalLoops(udp)...)
}

// loopDetail is a portal loop's diagnostic detail, for a TCP or a UDP
// portal.
var loopDetail = map[bool]string{
	false: "The %s %q of node %q dials %s, where the %s %q of node %q listens, and that inlet's route leads back to this outlet: %s. Each connection would open another until the process runs out of file descriptors; point the outlet at the service it stands for.",
	true:  "The %s %q of node %q sends to %s, where the %s %q of node %q listens, and that inlet's route leads back to this outlet: %s. Each datagram would go round for ever, a flow more each time, until the inlet holds its most flows; point the outlet at the service it stands for.",
}

// portalEnd is an inlet, TCP or UDP, as the loop check sees it.
type portalEnd struct {
	name     string
	node     *Node
	from     string
	fromDecl hcl.Range
	hops     []Hop
	block    string
}

func (t *Topology) portalLoops(inlets []portalEnd) hcl.Diagnostics {
	const (
		unvisited = iota
		visiting
		visited
	)
	state := make([]int, len(inlets))
	// path holds the inlets from the start of the walk to here, each with
	// the outlet its route ends at.
	type step struct {
		in  int
		out *Outlet
	}
	var path []step
	var diags hcl.Diagnostics
	var visit func(i int)
	visit = func(i int) {
		state[i] = visiting
		// An isolated node's outlet dials from its own namespace, where
		// no inlet (they bind in the host's) is.
		if o := t.outletOf(inlets[i].hops); o != nil && !o.Node.Isolated() {
			path = append(path, step{i, o})
			for _, next := range t.inletsAt(inlets, o.Target) {
				switch state[next] {
				case unvisited:
					visit(next)
				case visiting:
					start := 0
					for k, s := range path {
						if s.in == next {
							start = k
						}
					}
					var names []string
					for _, s := range path[start:] {
						in := inlets[s.in]
						names = append(names, "inlet "+in.node.Name+"."+in.name, "outlet "+s.out.Node.Name+"."+s.out.Name)
					}
					nx := inlets[next]
					names = append(names, "inlet "+nx.node.Name+"."+nx.name)
					diags = append(diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Portal loop",
						Detail: fmt.Sprintf(loopDetail[o.UDP],
							o.Block(), o.Name, o.Node.Name, o.Target, nx.block, nx.name, nx.node.Name, strings.Join(names, " -> ")),
						Subject: o.Decl.To.Range.Ptr(),
						Context: nx.fromDecl.Ptr(),
					})
				}
			}
			path = path[:len(path)-1]
		}
		state[i] = visited
	}
	for i := range inlets {
		if state[i] == unvisited {
			visit(i)
		}
	}
	return diags
}

// outletOf is the outlet a walked inlet route ends at, or nil.
func (t *Topology) outletOf(hops []Hop) *Outlet {
	if len(hops) == 0 {
		return nil
	}
	h := hops[len(hops)-1]
	if h.Kind != HopOutlet && h.Kind != HopUDPOutlet {
		return nil
	}
	return t.byName[h.Node].Outlets[h.Address]
}

// inletsAt lists the inlets (indexes into inlets) that a connection or a
// datagram to target reaches.
func (t *Topology) inletsAt(inlets []portalEnd, target string) []int {
	to, ok := t.resolver.socket(target)
	if !ok {
		return nil
	}
	var out []int
	for i, in := range inlets {
		from, ok := t.resolver.socket(in.from)
		if !ok || from.port == "0" {
			continue // its port is known only at run time
		}
		if dialReaches(to, from) {
			out = append(out, i)
		}
	}
	return out
}

// dialReaches reports whether a connection to target reaches a socket
// bound at bind. A bind to every address (0.0.0.0, ::) is reached by a dial
// to this host only, which the planner knows by its loopback and
// unspecified addresses; a dial to another IP is not a loop.
func dialReaches(target, bind socket) bool {
	if target.port != bind.port {
		return false
	}
	if unspecified(bind) && !unspecified(target) {
		if target.addrs == nil {
			return strings.EqualFold(target.host, "localhost")
		}
		return slices.ContainsFunc(target.addrs, func(a netip.Addr) bool { return a.IsLoopback() || a.IsUnspecified() })
	}
	same, _ := sameSocket(target, bind)
	return same
}
