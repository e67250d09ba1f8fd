package topology

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// checkPortalLoops refuses portals that feed themselves: an inlet whose
// route ends at an outlet whose target is that inlet again, directly or
// through other portals (inlet A -> outlet X -> inlet B -> outlet Y ->
// inlet A). At run time one connection to such an inlet opens another, and
// another, until the process runs out of file descriptors. Targets and
// inlets are compared by resolved address, as ports are.
func (t *Topology) checkPortalLoops() hcl.Diagnostics {
	const (
		unvisited = iota
		visiting
		visited
	)
	state := map[*Inlet]int{}
	// path holds the inlets from the start of the walk to here, each with
	// the outlet its route ends at.
	type step struct {
		in  *Inlet
		out *Outlet
	}
	var path []step
	var diags hcl.Diagnostics
	var visit func(in *Inlet)
	visit = func(in *Inlet) {
		state[in] = visiting
		// An isolated node's outlet dials from its own namespace, where
		// no inlet (they bind in the host's) is.
		if o := t.outletOf(in); o != nil && !o.Node.Isolated() {
			path = append(path, step{in, o})
			for _, next := range t.inletsAt(o.Target) {
				switch state[next] {
				case unvisited:
					visit(next)
				case visiting:
					start := 0
					for i, s := range path {
						if s.in == next {
							start = i
						}
					}
					var names []string
					for _, s := range path[start:] {
						names = append(names, "inlet "+s.in.Node.Name+"."+s.in.Name, "outlet "+s.out.Node.Name+"."+s.out.Name)
					}
					names = append(names, "inlet "+next.Node.Name+"."+next.Name)
					diags = append(diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Portal loop",
						Detail: fmt.Sprintf("The tcp_outlet %q of node %q dials %s, where the tcp_inlet %q of node %q listens, and that inlet's route leads back to this outlet: %s. Each connection would open another until the process runs out of file descriptors; point the outlet at the service it stands for.",
							o.Name, o.Node.Name, o.Target, next.Name, next.Node.Name, strings.Join(names, " -> ")),
						Subject: o.Decl.To.Range.Ptr(),
						Context: next.Decl.From.Range.Ptr(),
					})
				}
			}
			path = path[:len(path)-1]
		}
		state[in] = visited
	}
	for _, in := range t.Inlets {
		if state[in] == unvisited {
			visit(in)
		}
	}
	return diags
}

// outletOf is the outlet an inlet's route ends at, or nil.
func (t *Topology) outletOf(in *Inlet) *Outlet {
	if len(in.Hops) == 0 {
		return nil
	}
	h := in.Hops[len(in.Hops)-1]
	if h.Kind != HopOutlet {
		return nil
	}
	return t.byName[h.Node].Outlets[h.Address]
}

// inletsAt lists the inlets that a connection to target reaches.
func (t *Topology) inletsAt(target string) []*Inlet {
	to, ok := t.resolver.socket(target)
	if !ok {
		return nil
	}
	var out []*Inlet
	for _, in := range t.Inlets {
		from, ok := t.resolver.socket(in.From)
		if !ok || from.port == "0" {
			continue // its port is known only at run time
		}
		if dialReaches(to, from) {
			out = append(out, in)
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
