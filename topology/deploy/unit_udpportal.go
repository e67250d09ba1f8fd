package deploy

import (
	"context"
	"fmt"
	"net"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/udpportal"
	"github.com/ockamtop/ockamtop/topology"
)

// udpOutletUnit runs a UDP portal outlet; a new target is taken in place:
// open flows keep theirs.
var udpOutletUnit = unit{
	start: func(r *Running, _ context.Context, n *runtime.Node, p topology.Part, _ net.Listener) (partRun, error) {
		to := p.Model.(*topology.Outlet)
		o, err := udpportal.StartOutlet(n, to.Name, to.Target, udpportal.OutletOptions{})
		if err != nil {
			return nil, startError(fmt.Sprintf("udp_outlet %q", to.Name), to.Node, to.Decl.DeclRange, err)
		}
		r.progress(fmt.Sprintf("✔ udp_outlet /service/%s on %s -> udp %s", to.Name, to.Node.Name, to.Target))
		return udpOutletRun{o}, nil
	},
	change: func(r *Running, _ *runtime.Node, run partRun, _, new topology.Part) (func(), error) {
		o, to := run.(udpOutletRun).outlet, new.Model.(*topology.Outlet)
		prev := o.Target()
		o.SetTarget(to.Target)
		r.progress(fmt.Sprintf("✔ udp_outlet /service/%s on %s -> udp %s", to.Name, to.Node.Name, to.Target))
		return func() { o.SetTarget(prev) }, nil
	},
}

// udpOutletRun is a running UDP outlet.
type udpOutletRun struct{ outlet *udpportal.Outlet }

func (o udpOutletRun) state() string { return stateUp }

func (o udpOutletRun) stop(*Running) { o.outlet.Stop() }

// udpInletUnit runs a UDP portal inlet. A new route (or path), flow limit
// and idle timeout are taken in place: new flows take the route, open
// flows keep theirs. It binds its own socket (a UDP one, which a
// reconcile does not reserve as it does a TCP inlet's).
var udpInletUnit = unit{
	start: func(r *Running, _ context.Context, n *runtime.Node, p topology.Part, _ net.Listener) (partRun, error) {
		ti := p.Model.(*topology.UDPInlet)
		opts := udpportal.InletOptions{MaxFlows: ti.Decl.MaxFlows, IdleTimeout: ti.Decl.IdleTimeout}
		in, err := udpportal.StartInlet(n, ti.Name, ti.From, r.udpInletRoute(n, ti), opts)
		if err != nil {
			return nil, &StartError{Part: fmt.Sprintf("udp_inlet %q of node %q", ti.Name, ti.Node.Name), Where: ti.Decl.From.Range.String(), Err: err}
		}
		r.progress(fmt.Sprintf("✔ udp_inlet %s on %s listening on udp %s -> %s", ti.Name, ti.Node.Name, in.Addr(), ti.Route))
		return &udpInletRun{inlet: in, route: ti.Route.String()}, nil
	},
	change: func(r *Running, n *runtime.Node, run partRun, old, new topology.Part) (func(), error) {
		in := run.(*udpInletRun)
		set := func(ti *topology.UDPInlet) {
			in.inlet.SetRoute(r.udpInletRoute(n, ti))
			in.inlet.SetMaxFlows(ti.Decl.MaxFlows)
			in.inlet.SetIdleTimeout(ti.Decl.IdleTimeout)
			r.mu.Lock()
			in.route = ti.Route.String()
			r.mu.Unlock()
		}
		ti := new.Model.(*topology.UDPInlet)
		set(ti)
		r.progress(fmt.Sprintf("✔ udp_inlet %s on %s listening on udp %s -> %s", ti.Name, ti.Node.Name, in.inlet.Addr(), ti.Route))
		return func() { set(old.Model.(*topology.UDPInlet)) }, nil
	},
}

// udpInletRun is a running UDP inlet and its route as the file writes it.
type udpInletRun struct {
	inlet *udpportal.Inlet
	route string // guarded by Running.mu
}

func (in *udpInletRun) state() string { return stateUp }

func (in *udpInletRun) stop(*Running) { in.inlet.Stop() }

func (in *udpInletRun) boundAddr() string { return in.inlet.Addr() }

// udpInletRoute is the route function of a UDP inlet on node n, resolved
// anew for every flow as a TCP inlet's is for every connection.
func (r *Running) udpInletRoute(n *runtime.Node, ti *topology.UDPInlet) func() (routing.Route, error) {
	m, hops := ti.Route, ti.Hops
	return func() (routing.Route, error) { return r.routeFrom(context.Background(), n, m, hops) }
}
