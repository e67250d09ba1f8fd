package topology

import (
	"fmt"
	"net"

	"github.com/hashicorp/hcl/v2"

	"github.com/ockamtop/ockamtop/schema"
)

// UnknownNodeSummary is the summary of Subset's error for a name the
// file does not declare: a command line's mistake, not the file's.
const UnknownNodeSummary = "Unknown node"

// Subset checks that the nodes named can run without the others in this
// process, as `apply --node` does to deploy one node per host: every other
// node they reach must have a fixed listener port, since its real port is
// known only to the process that runs it.
func (t *Topology) Subset(names []string) (map[string]bool, hcl.Diagnostics) {
	local := map[string]bool{}
	var diags hcl.Diagnostics
	for _, name := range names {
		if t.byName[name] == nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  UnknownNodeSummary,
				Detail:   fmt.Sprintf("--node %s: the file declares no node %q.%s", name, name, schema.DidYouMean(name, t.NodeNames())),
			})
			continue
		}
		local[name] = true
	}
	if len(names) == 0 {
		for _, n := range t.Nodes {
			local[n.Name] = true
		}
		return local, diags
	}
	need := func(remote *Node, rng hcl.Range, why string, transport ...string) {
		if local[remote.Name] {
			return
		}
		listener, attr := remote.Listener, "tcp_listener"
		if len(transport) > 0 && transport[0] == "udp" {
			listener, attr = remote.UDPListener, "udp_listener"
		}
		if _, port, err := net.SplitHostPort(listener); err == nil && port != "0" {
			return
		}
		diags = append(diags, schema.ErrorAt(rng, "Remote node without a fixed port",
			"Node %q is not run here, and %s; it must have a %s with a fixed port, not port 0, so that this process knows where to find it.",
			remote.Name, why, attr))
	}
	for _, n := range t.Nodes {
		if !local[n.Name] {
			continue
		}
		for _, r := range n.Relays {
			need(r.At, r.Decl.At.Range, fmt.Sprintf("relay %q of node %q dials it", r.Name, n.Name))
		}
		for _, in := range n.Inlets {
			for _, h := range in.Hops {
				if h.Kind == HopConnect {
					need(t.byName[h.To], in.Decl.To.Range, fmt.Sprintf("the route of tcp_inlet %q connects to it", in.Name), h.Transport)
				}
			}
		}
		for _, in := range n.UDPInlets {
			for _, h := range in.Hops {
				if h.Kind == HopConnect {
					need(t.byName[h.To], in.Decl.To.Range, fmt.Sprintf("the route of udp_inlet %q connects to it", in.Name), h.Transport)
				}
			}
		}
	}
	diags = append(diags, t.checkSubsetNetworks(local)...)
	for _, c := range t.Checks {
		if !local[c.From.Name] {
			continue
		}
		for _, h := range c.Hops {
			if h.Kind == HopConnect {
				need(t.byName[h.To], c.Decl.To.Range, fmt.Sprintf("the route of check %q connects to it", c.Name), h.Transport)
			}
		}
	}
	return local, diags
}
