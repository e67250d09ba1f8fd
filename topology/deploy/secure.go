package deploy

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/secure"
	"github.com/ockamtop/ockamtop/runtime/securechannel"
	"github.com/ockamtop/ockamtop/topology"
)

// secureOpenTimeout bounds how long a route waits for its secure channel
// (a handshake, or a retry of one whose message was lost).
const secureOpenTimeout = 10 * time.Second

// identityOf returns node name's identity: its identity file's, as the
// planner read it, or the one kept for it in StartOptions.IdentityDir
// (created there on first use, by whichever process of this host needs it
// first: one that runs the node, or one that trusts it), or, without an
// IdentityDir, one made for this process. Every call for a node returns
// the same identity while its plan is the same. A node that runs on
// another host needs an identity file to be trusted by reference.
func (r *Running) identityOf(name string) (*secure.Identity, error) {
	r.mu.Lock()
	tn := r.topo.Node(name)
	if tn == nil {
		r.mu.Unlock()
		return nil, fmt.Errorf("no node %q in the topology", name)
	}
	if tn.Identity != "" {
		r.mu.Unlock()
		return tn.LoadedIdentity, nil
	}
	if id := r.entry(name).identity; id != nil {
		r.mu.Unlock()
		return id, nil
	}
	local, dir := r.local[name], r.opts.IdentityDir
	r.mu.Unlock()
	// Made or read without the lock: the nodes' dials wait on it.
	var id *secure.Identity
	var err error
	switch {
	case dir == "":
		if !local {
			return nil, fmt.Errorf("node %s runs elsewhere and has no identity file, so its identifier is not known here: give it one with identity = FILE", name)
		}
		id, err = secure.NewIdentity(time.Now())
	default:
		id, err = secure.LoadOrCreateIdentity(filepath.Join(dir, name+".identity"), time.Now())
	}
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rn := r.entry(name)
	if rn.identity == nil { // the first of two callers at once wins
		rn.identity = id
	}
	return rn.identity, nil
}

// secureListenerUnit runs a secure channel listener, with its trust list
// resolved to identifiers when it starts.
var secureListenerUnit = unit{
	start: func(r *Running, _ context.Context, n *runtime.Node, p topology.Part, _ net.Listener) (partRun, error) {
		l := p.Model.(*topology.SecureListener)
		fail := func(err error) error {
			return startError(fmt.Sprintf("secure_channel_listener %q", l.Name), l.Node, l.Decl.DeclRange, err)
		}
		var opts securechannel.ListenerOptions
		if !l.TrustAnyone {
			opts.Trust = []secure.Identifier{}
			for _, id := range l.TrustIdentifiers {
				i, err := secure.ParseIdentifier(id)
				if err != nil {
					return nil, fail(err)
				}
				opts.Trust = append(opts.Trust, i)
			}
			for _, trusted := range l.TrustNodes {
				id, err := r.identityOf(trusted.Name)
				if err != nil {
					return nil, fail(fmt.Errorf("trust node.%s: %w", trusted.Name, err))
				}
				opts.Trust = append(opts.Trust, id.Identifier)
			}
		}
		sc, err := r.channelsOf(n)
		if err != nil {
			return nil, fail(err)
		}
		if err := sc.Listen(l.Name, opts); err != nil {
			return nil, fail(err)
		}
		r.progress(fmt.Sprintf("✔ secure_channel_listener /service/%s on %s", l.Name, l.Node.Name))
		return workerRun{node: n, name: l.Name}, nil
	},
}

// channelsOf returns the secure channels of node n, run here;
// runtime.ErrNodeClosed once n has stopped.
func (r *Running) channelsOf(n *runtime.Node) (*securechannel.Channels, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rn := r.nodes[n.Name()]; rn != nil && rn.node == n {
		return rn.channels, nil
	}
	return nil, fmt.Errorf("secure channels of node %s: %w", n.Name(), runtime.ErrNodeClosed)
}

// routeFrom turns m into a route from node n, opening (or reusing) the
// secure channels its /secure segments name.
func (r *Running) routeFrom(ctx context.Context, n *runtime.Node, m routing.MultiAddr, hops []topology.Hop) (routing.Route, error) {
	return m.RouteSecure(r.resolverAlong(m, hops), func(to routing.Route) (routing.Address, error) {
		sc, err := r.channelsOf(n)
		if err != nil {
			return routing.Address{}, err
		}
		octx, cancel := context.WithTimeout(ctx, secureOpenTimeout)
		defer cancel()
		return sc.Open(octx, to)
	})
}
