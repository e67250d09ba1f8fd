package deploy

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/relay"
	"github.com/ockamtop/ockamtop/topology"
)

// relayUnit runs a relay: the node dials its relay node's listener and
// registers; a start waits for the first registration.
var relayUnit = unit{
	start: func(r *Running, ctx context.Context, n *runtime.Node, p topology.Part, _ net.Listener) (partRun, error) {
		tr := p.Model.(*topology.Relay)
		fail := func(err error) error {
			return startError(fmt.Sprintf("relay %q", tr.Name), tr.Owner, tr.Decl.DeclRange, err)
		}
		opts := r.opts.Relay
		opts.AtNode = tr.At.Name
		if opts.DialTimeout <= 0 {
			opts.DialTimeout = r.opts.TCP.DialTimeout // the node's dials' bound, as before the relay had its own
		}
		at, err := r.addressFrom(tr.Owner.Name, tr.At.Name)
		if err == nil && at == "" {
			err = fmt.Errorf("node %s does not listen", tr.At.Name)
		}
		var rel *relay.Relay
		if err == nil {
			rel, err = relay.Start(n, tr.Name, at, opts)
		}
		if err != nil {
			return nil, fail(err)
		}
		if err := r.waitRelay(ctx, tr, rel); err != nil {
			return relayRun{rel}, fail(err)
		}
		return relayRun{rel}, nil
	},
}

// relayRun is a running relay.
type relayRun struct{ relay *relay.Relay }

func (rr relayRun) state() string { return string(rr.relay.Status().State) }

func (rr relayRun) stop(*Running) { rr.relay.Close() }

// waitRelay waits for a relay's first registration. A relay at a node run
// elsewhere may come later: it keeps trying, and Start goes on.
func (r *Running) waitRelay(ctx context.Context, tr *topology.Relay, rel *relay.Relay) error {
	wait := time.NewTimer(r.opts.RelayWait)
	defer wait.Stop()
	select {
	case <-rel.Ready():
		r.progress(fmt.Sprintf("✔ relay %s at %s: %s", tr.Name, tr.At.Name, tr.RemoteAddress()))
		return nil
	case <-wait.C:
		st := rel.Status()
		if r.isLocal(tr.At.Name) {
			return fmt.Errorf("no registration at node %s within %s: %s", tr.At.Name, r.opts.RelayWait, st.LastError)
		}
		r.progress(fmt.Sprintf("… relay %s at %s: not up yet (%s), retrying", tr.Name, tr.At.Name, st.LastError))
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
