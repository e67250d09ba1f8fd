package topology

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/hashicorp/hcl/v2"
)

// checkPorts reports two sockets of the topology that would bind the same
// port: listeners and inlets. Port 0 never clashes.
func (t *Topology) checkPorts() hcl.Diagnostics {
	type bind struct {
		what string
		host string
		port string
		rng  hcl.Range
	}
	var binds []bind
	var diags hcl.Diagnostics
	add := func(what, hostport string, rng hcl.Range) {
		host, port, err := net.SplitHostPort(hostport)
		if err != nil || port == "0" {
			return
		}
		for _, b := range binds {
			if b.port == port && (b.host == host || unspecified(b.host) || unspecified(host)) {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Port clash",
					Detail:   fmt.Sprintf("The %s binds %s, which the %s binds already (at %s). Each listener and inlet needs a port of its own.", what, hostport, b.what, b.rng),
					Subject:  rng.Ptr(),
					Context:  b.rng.Ptr(),
				})
				return
			}
		}
		binds = append(binds, bind{what, host, port, rng})
	}
	for _, n := range t.Nodes {
		if l := n.Decl.TCPListener; l != nil {
			add(fmt.Sprintf("tcp_listener of node %q", n.Name), l.Value, l.Range)
		}
		for _, in := range n.Decl.Inlets {
			add(fmt.Sprintf("tcp_inlet %q of node %q", in.Name, n.Name), in.From.Value, in.From.Range)
		}
	}
	return diags
}

func unspecified(host string) bool {
	a, err := netip.ParseAddr(host)
	return host == "" || err == nil && a.IsUnspecified()
}
