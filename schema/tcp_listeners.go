package schema

import (
	"fmt"
	"net"

	"github.com/hashicorp/hcl/v2"
)

// decodeTCPListeners decodes a node's `tcp_listeners = ["HOST:PORT",
// ...]`: the listeners it has besides its own tcp_listener, as Ockam's
// `tcp-listener create` adds them to a node. Each is a part named by its
// address, so an address given twice, or the node's own again, is
// refused; so is a node with tcp_listeners and no tcp_listener, since
// /node/NAME dials the node's own.
func decodeTCPListeners(n *Node, attr *hcl.Attribute, ev *evaluator) ([]String, hcl.Diagnostics) {
	list, diags := ev.strings(attr)
	if diags.HasErrors() {
		return nil, diags
	}
	if n.TCPListener == nil && len(list) > 0 {
		diags = append(diags, ErrorAt(attr.NameRange, "Listeners without the node's own",
			"Node %q has tcp_listeners but no tcp_listener: /node/%s dials the node's own listener, tcp_listener. Give the first address as tcp_listener = %q and the others here.",
			n.Name, n.Name, firstAddress(list)))
	}
	seen := map[string]hcl.Range{}
	if n.TCPListener != nil {
		seen[n.TCPListener.Value] = n.TCPListener.Range
	}
	var out []String
	for _, s := range list {
		if !s.Known() {
			continue
		}
		d := checkSocket(s, attr.Name, true)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		if prev, ok := seen[s.Value]; ok {
			detail := fmt.Sprintf("Node %q listens on %s already, declared at %s; each of its listeners needs an address of its own.", n.Name, s.Value, prev)
			if _, port, _ := net.SplitHostPort(s.Value); port == "0" {
				detail += " A listener is named by its address, so two on one host at port 0 need fixed ports."
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate listener address",
				Detail:   detail,
				Subject:  s.Range.Ptr(),
				Context:  prev.Ptr(),
			})
			continue
		}
		seen[s.Value] = s.Range
		out = append(out, s)
	}
	return out, diags
}

// firstAddress is the first known socket address of list, or an example.
func firstAddress(list []String) string {
	for _, s := range list {
		if s.Known() {
			if _, _, err := net.SplitHostPort(s.Value); err == nil {
				return s.Value
			}
		}
	}
	return "127.0.0.1:7000"
}
