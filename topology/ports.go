package topology

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Sockets are compared by the addresses their hosts resolve to, not by
// their text: "localhost:17300" and "127.0.0.1:17300" are one socket, and
// an unspecified address (0.0.0.0, ::) takes the port on every address.

// Resolution runs at most once per host and file, within a budget for the
// whole file, so that a file naming hosts that do not answer is still
// planned quickly. A host that does not resolve is compared by its name.
const (
	lookupTimeout = 500 * time.Millisecond
	lookupBudget  = 2 * time.Second
)

// socket is a host:port of the file, with its host resolved.
type socket struct {
	text  string
	host  string
	port  string
	addrs []netip.Addr // nil: the host did not resolve
}

// resolver resolves hosts with the system resolver and remembers the answers.
type resolver struct {
	deadline time.Time
	cache    map[string][]netip.Addr
}

func newResolver() *resolver {
	return &resolver{deadline: time.Now().Add(lookupBudget), cache: map[string][]netip.Addr{}}
}

// socket parses and resolves hostport; ok is false for text that is no
// host:port.
func (r *resolver) socket(hostport string) (s socket, ok bool) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return socket{}, false
	}
	return socket{text: hostport, host: host, port: port, addrs: r.resolve(host)}, true
}

func (r *resolver) resolve(host string) []netip.Addr {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap().WithZone("")}
	}
	// localhost is the loopback address of both families, whatever the
	// hosts file says (RFC 6761).
	if h := strings.ToLower(host); h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return []netip.Addr{netip.IPv6Loopback(), netip.AddrFrom4([4]byte{127, 0, 0, 1})}
	}
	if addrs, ok := r.cache[host]; ok {
		return addrs
	}
	var addrs []netip.Addr
	if left := time.Until(r.deadline); left > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), min(lookupTimeout, left))
		names, _ := net.DefaultResolver.LookupHost(ctx, host)
		cancel()
		for _, n := range names {
			if a, err := netip.ParseAddr(n); err == nil {
				addrs = append(addrs, a.Unmap().WithZone(""))
			}
		}
	}
	r.cache[host] = addrs
	return addrs
}

// sameSocket reports whether binding a, or dialing it, is binding or
// dialing b too, and if so the address they share ("" for an unspecified
// address, or hosts compared by name).
func sameSocket(a, b socket) (bool, string) {
	if a.port != b.port {
		return false, ""
	}
	if unspecified(a) || unspecified(b) {
		return true, ""
	}
	if a.addrs == nil || b.addrs == nil {
		return strings.EqualFold(a.host, b.host), ""
	}
	for _, x := range a.addrs {
		if slices.Contains(b.addrs, x) {
			return true, x.String()
		}
	}
	return false, ""
}

func unspecified(s socket) bool {
	return s.host == "" || len(s.addrs) == 1 && s.addrs[0].IsUnspecified()
}

// checkPorts reports two sockets of the topology that would bind the same
// port: listeners and inlets. Port 0 never clashes, nor a UDP socket with a
// TCP one.
func (t *Topology) checkPorts() hcl.Diagnostics {
	type bind struct {
		what string
		s    socket
		rng  hcl.Range
		udp  bool
	}
	var binds []bind
	var diags hcl.Diagnostics
	add := func(what, hostport string, rng hcl.Range) {
		s, ok := t.resolver.socket(hostport)
		if !ok || s.port == "0" {
			return
		}
		udp := strings.HasPrefix(what, "udp_")
		for _, b := range binds {
			if b.udp != udp {
				continue
			}
			same, addr := sameSocket(b.s, s)
			if !same {
				continue
			}
			why := ""
			switch {
			case addr == "" || b.s.host == s.host:
			case b.s.host == addr:
				why = fmt.Sprintf(" %s is %s.", s.host, addr)
			case s.host == addr:
				why = fmt.Sprintf(" %s is %s.", b.s.host, addr)
			default:
				why = fmt.Sprintf(" %s and %s are both %s.", b.s.host, s.host, addr)
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Port clash",
				Detail: fmt.Sprintf("The %s binds %s, which the %s binds already (at %s).%s Each listener and inlet needs a port of its own.",
					what, hostport, b.what, b.rng, why),
				Subject: rng.Ptr(),
				Context: b.rng.Ptr(),
			})
			return
		}
		binds = append(binds, bind{what, s, rng, udp})
	}
	for _, n := range t.Nodes {
		// An isolated node's listener is in a namespace of its own.
		if l := n.Decl.TCPListener; l != nil && !n.Isolated() {
			add(fmt.Sprintf("tcp_listener of node %q", n.Name), l.Value, l.Range)
		}
		for _, l := range n.Decl.TCPListeners {
			if !n.Isolated() {
				add(fmt.Sprintf("tcp_listeners of node %q", n.Name), l.Value, l.Range)
			}
		}
		if l := n.Decl.UDPListener; l != nil {
			add(fmt.Sprintf("udp_listener of node %q", n.Name), l.Value, l.Range)
		}
		for _, in := range n.Decl.Inlets {
			add(fmt.Sprintf("tcp_inlet %q of node %q", in.Name, n.Name), in.From.Value, in.From.Range)
		}
		for _, in := range n.Decl.UDPInlets {
			add(fmt.Sprintf("udp_inlet %q of node %q", in.Name, n.Name), in.From.Value, in.From.Range)
		}
	}
	return diags
}
