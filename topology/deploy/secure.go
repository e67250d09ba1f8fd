package deploy

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/secure"
	"github.com/ockamtop/ockamtop/topology"
)

// secureOpenTimeout bounds how long a route waits for its secure channel
// (a handshake, or a retry of one whose message was lost).
const secureOpenTimeout = 10 * time.Second

// identityOf returns node name's identity: its identity file, or the one
// kept for it in StartOptions.IdentityDir (created there on first use, by
// whichever process of this host needs it first: one that runs the node,
// or one that trusts it), or, without an IdentityDir, one made for this
// process. Every call for a node returns the same identity. A node that
// runs on another host needs an identity file to be trusted by reference.
func (r *Running) identityOf(name string) (*secure.Identity, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if id := r.identities[name]; id != nil {
		return id, nil
	}
	tn := r.topo.Node(name)
	var id *secure.Identity
	var err error
	switch {
	case tn.Identity != "":
		id, err = secure.LoadIdentity(tn.Identity)
	case r.opts.IdentityDir == "":
		if !r.local[name] {
			return nil, fmt.Errorf("node %s runs elsewhere and has no identity file, so its identifier is not known here: give it one with identity = FILE", name)
		}
		id, err = secure.NewIdentity(time.Now())
	default:
		id, err = secure.LoadOrCreateIdentity(filepath.Join(r.opts.IdentityDir, name+".identity"), time.Now())
	}
	if err != nil {
		return nil, err
	}
	r.identities[name] = id
	return id, nil
}

// startSecureListeners starts the node's secure channel listeners, with
// their trust lists resolved to identifiers.
func (r *Running) startSecureListeners(_ context.Context, n *runtime.Node, tn *topology.Node) error {
	for _, name := range slices.Sorted(maps.Keys(tn.SecureListeners)) {
		l := tn.SecureListeners[name]
		var opts runtime.SecureChannelListenerOptions
		if !l.TrustAnyone {
			opts.Trust = []secure.Identifier{}
			for _, id := range l.TrustIdentifiers {
				i, err := secure.ParseIdentifier(id)
				if err != nil {
					return startError(fmt.Sprintf("secure_channel_listener %q", name), tn, l.Decl.DeclRange, err)
				}
				opts.Trust = append(opts.Trust, i)
			}
			for _, trusted := range l.TrustNodes {
				id, err := r.identityOf(trusted.Name)
				if err != nil {
					return startError(fmt.Sprintf("secure_channel_listener %q", name), tn, l.Decl.DeclRange, fmt.Errorf("trust node.%s: %w", trusted.Name, err))
				}
				opts.Trust = append(opts.Trust, id.Identifier)
			}
		}
		if err := n.StartSecureChannelListener(name, opts); err != nil {
			return startError(fmt.Sprintf("secure_channel_listener %q", name), tn, l.Decl.DeclRange, err)
		}
		r.progress(fmt.Sprintf("✔ secure_channel_listener /service/%s on %s", name, tn.Name))
	}
	return nil
}

// routeFrom turns m into a route from node n, opening (or reusing) the
// secure channels its /secure segments name.
func (r *Running) routeFrom(ctx context.Context, n *runtime.Node, m routing.MultiAddr, hops []topology.Hop) (routing.Route, error) {
	return m.RouteSecure(r.resolverAlong(m, hops), func(to routing.Route) (routing.Address, error) {
		octx, cancel := context.WithTimeout(ctx, secureOpenTimeout)
		defer cancel()
		return n.SecureChannel(octx, to)
	})
}
