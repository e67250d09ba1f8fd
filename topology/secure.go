package topology

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/secure"
	"github.com/ockamtop/ockamtop/schema"
)

// HopSecure opens (or reuses) a secure channel from the node where the
// route starts to a listener: the rest of the route travels inside it.
const HopSecure HopKind = "secure"

// SecureListener is a secure channel listener of a node.
type SecureListener struct {
	Name string
	Node *Node
	// TrustAnyone is true when the block has no trust list.
	TrustAnyone bool
	// TrustNodes and TrustIdentifiers are the trust list's entries.
	TrustNodes       []*Node
	TrustIdentifiers []string
	Decl             *schema.SecureChannelListener
}

// Trusts reports whether the listener lets node n open a channel: by
// reference, or by the identifier of n's identity file.
func (l *SecureListener) Trusts(n *Node) bool {
	return l.TrustAnyone || slices.Contains(l.TrustNodes, n) ||
		(n.Identifier != "" && slices.Contains(l.TrustIdentifiers, n.Identifier))
}

// trustText lists the trust entries for people.
func (l *SecureListener) trustText() string {
	if l.TrustAnyone {
		return "anyone"
	}
	var out []string
	for _, n := range l.TrustNodes {
		out = append(out, "node."+n.Name)
	}
	out = append(out, l.TrustIdentifiers...)
	if len(out) == 0 {
		return "no one"
	}
	return strings.Join(out, ", ")
}

// resolveSecure reads the nodes' identity files and resolves the trust
// lists of their secure channel listeners.
func (t *Topology) resolveSecure() hcl.Diagnostics {
	var diags hcl.Diagnostics
	// Each file is read and verified once, however many nodes share it
	// (the nodes of an `ockam` session share the default identity).
	type loaded struct {
		id  *secure.Identity
		err error
	}
	files := map[string]loaded{}
	for _, n := range t.Nodes {
		if p := n.Decl.Identity; p != nil {
			n.Identity = p.Value
			if !filepath.IsAbs(n.Identity) {
				n.Identity = filepath.Join(filepath.Dir(p.Range.Filename), n.Identity)
			}
			l, ok := files[n.Identity]
			if !ok {
				l.id, l.err = secure.LoadIdentity(n.Identity)
				files[n.Identity] = l
			}
			id, err := l.id, l.err
			switch {
			case errors.Is(err, fs.ErrNotExist):
				diags = append(diags, schema.ErrorAt(p.Range, "Identity file not found",
					"Node %q has no identity file at %s. Create one with `ockamtop identity create %s`, or leave the attribute out to use the identity ockamtop keeps for the node.", n.Name, n.Identity, p.Value))
			case err != nil:
				diags = append(diags, schema.ErrorAt(p.Range, "Invalid identity file", "%s.", err))
			default:
				n.Identifier, n.LoadedIdentity = id.Identifier.String(), id
				if fi, err := os.Stat(n.Identity); err == nil && fi.Mode().Perm()&0o077 != 0 && id.HasSecret() {
					diags = append(diags, &hcl.Diagnostic{
						Severity: hcl.DiagWarning,
						Summary:  "Identity file readable by others",
						Detail: fmt.Sprintf("The identity file %s holds node %q's secret key, and its mode is %v: others on this host may read it. Make it private with `chmod 600 %s`.",
							n.Identity, n.Name, fi.Mode().Perm(), n.Identity),
						Subject: p.Range.Ptr(),
					})
				}
			}
		}
	}
	for _, n := range t.Nodes {
		n.SecureListeners = map[string]*SecureListener{}
		for _, d := range n.Decl.SecureChannelListeners {
			l := &SecureListener{Name: d.Name, Node: n, TrustAnyone: d.Trust == nil, Decl: d}
			for _, e := range d.Trust {
				if e.Node == nil {
					l.TrustIdentifiers = append(l.TrustIdentifiers, e.Identifier.Value)
					continue
				}
				tn := t.byName[e.Node.Name]
				if tn == nil {
					diags = append(diags, t.undeclaredNode(*e.Node))
					continue
				}
				l.TrustNodes = append(l.TrustNodes, tn)
			}
			n.SecureListeners[d.Name] = l
		}
	}
	return diags
}

// secure takes a /secure/NAME hop: a listener NAME must be where the route
// has arrived, and it must trust the node the route starts at.
func (w *walker) secure(seg routing.Segment, hop *Hop) *hcl.Diagnostic {
	n := w.at
	l := n.SecureListeners[seg.Name]
	if l == nil {
		names := slices.Sorted(maps.Keys(n.SecureListeners))
		detail := fmt.Sprintf("The route arrives at node %q, which has no secure_channel_listener %q.", n.Name, seg.Name)
		if len(names) == 0 {
			detail += fmt.Sprintf(" Declare one in node %q: secure_channel_listener %q {}.", n.Name, seg.Name)
		} else {
			detail += fmt.Sprintf(" It has %s.%s", strings.Join(quoted(names), ", "), schema.DidYouMean(seg.Name, names))
		}
		return w.fail(seg, "No secure channel listener", "%s", detail)
	}
	if !l.Trusts(w.start) {
		who := fmt.Sprintf("node %q", w.start.Name)
		if w.start.Identifier != "" {
			who += fmt.Sprintf(" (identifier %s)", w.start.Identifier)
		}
		return w.fail(seg, "Secure channel initiator not trusted",
			"The secure_channel_listener %q on node %q trusts %s; the channel would be opened by %s, which it refuses. Add node.%s to its trust list.",
			l.Name, n.Name, l.trustText(), who, w.start.Name)
	}
	// The nodes the channel crosses, between its two ends: since the
	// route started, or since the channel before this one ended.
	var through []string
	for i := len(w.hops) - 1; i >= 0 && w.hops[i].Kind != HopSecure; i-- {
		for _, name := range []string{w.hops[i].Node, w.hops[i].To} {
			if name != "" && name != w.start.Name && name != n.Name && !slices.Contains(through, name) {
				through = append(through, name)
			}
		}
	}
	slices.Reverse(through)
	hop.Node, hop.Kind, hop.Address, hop.To, hop.Ciphertext = w.start.Name, HopSecure, l.Name, n.Name, through
	w.hops = append(w.hops, *hop)
	// The responder routes what it decrypts on from its node, where the
	// listener's services are reachable.
	w.fromNetwork = true
	return nil
}

// describeSecure is Describe for a secure hop.
func (h Hop) describeSecure() string {
	s := fmt.Sprintf("%s -> %s  secure channel to listener %s", h.Node, h.To, h.Address)
	switch len(h.Ciphertext) {
	case 0:
		return s
	case 1:
		return s + "; node " + h.Ciphertext[0] + " sees ciphertext only"
	}
	return s + "; nodes " + strings.Join(h.Ciphertext, ", ") + " see ciphertext only"
}
