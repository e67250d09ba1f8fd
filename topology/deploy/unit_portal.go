package deploy

import (
	"context"
	"fmt"
	"net"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/portal"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/topology"
)

// outletUnit runs a portal outlet; a new target is taken in place: open
// streams keep theirs.
var outletUnit = unit{
	start: func(r *Running, _ context.Context, n *runtime.Node, p topology.Part, _ net.Listener) (partRun, error) {
		to := p.Model.(*topology.Outlet)
		o, err := portal.StartOutlet(n, to.Name, to.Target, portal.OutletOptions{})
		if err != nil {
			return nil, startError(fmt.Sprintf("tcp_outlet %q", to.Name), to.Node, to.Decl.DeclRange, err)
		}
		r.progress(fmt.Sprintf("✔ tcp_outlet /service/%s on %s -> %s", to.Name, to.Node.Name, to.Target))
		return outletRun{o}, nil
	},
	change: func(r *Running, _ *runtime.Node, run partRun, _, new topology.Part) (func(), error) {
		o, to := run.(outletRun).outlet, new.Model.(*topology.Outlet)
		prev := o.Target()
		o.SetTarget(to.Target)
		r.progress(fmt.Sprintf("✔ tcp_outlet /service/%s on %s -> %s", to.Name, to.Node.Name, to.Target))
		return func() { o.SetTarget(prev) }, nil
	},
}

// outletRun is a running outlet.
type outletRun struct{ outlet *portal.Outlet }

func (o outletRun) state() string { return stateUp }

func (o outletRun) stop(*Running) { o.outlet.Stop() }

// inletUnit runs a portal inlet. A new route (or path, or window) and a
// new bound on its streams are taken in place: new connections take them,
// open streams keep theirs.
var inletUnit = unit{
	start: func(r *Running, _ context.Context, n *runtime.Node, p topology.Part, ln net.Listener) (partRun, error) {
		ti := p.Model.(*topology.Inlet)
		route := r.inletRoute(n, ti)
		opts := portal.InletOptions{MaxStreams: ti.Decl.MaxStreams, Window: inletWindow(ti)}
		var in *portal.Inlet
		var err error
		if ln != nil {
			in, err = portal.StartInletOn(n, ti.Name, ln, route, opts)
		} else {
			in, err = portal.StartInlet(n, ti.Name, ti.From, route, opts)
		}
		if err != nil {
			return nil, &StartError{Part: fmt.Sprintf("tcp_inlet %q of node %q", ti.Name, ti.Node.Name), Where: ti.Decl.From.Range.String(), Err: err}
		}
		r.progress(fmt.Sprintf("✔ tcp_inlet %s on %s listening on %s -> %s", ti.Name, ti.Node.Name, in.Addr(), ti.Route))
		return &inletRun{inlet: in, route: ti.Route.String()}, nil
	},
	change: func(r *Running, n *runtime.Node, run partRun, old, new topology.Part) (func(), error) {
		in := run.(*inletRun)
		set := func(ti *topology.Inlet) {
			in.inlet.SetRoute(r.inletRoute(n, ti), inletWindow(ti))
			in.inlet.SetMaxStreams(ti.Decl.MaxStreams)
			r.mu.Lock()
			in.route = ti.Route.String()
			r.mu.Unlock()
		}
		ti := new.Model.(*topology.Inlet)
		set(ti)
		r.progress(fmt.Sprintf("✔ tcp_inlet %s on %s listening on %s -> %s", ti.Name, ti.Node.Name, in.inlet.Addr(), ti.Route))
		return func() { set(old.Model.(*topology.Inlet)) }, nil
	},
	binds: func(p topology.Part) (string, string) {
		ti := p.Model.(*topology.Inlet)
		return ti.From, ti.Decl.From.Range.String()
	},
}

// inletRun is a running inlet and its route as the file writes it.
type inletRun struct {
	inlet *portal.Inlet
	route string // guarded by Running.mu
}

func (in *inletRun) state() string { return stateUp }

func (in *inletRun) stop(*Running) { in.inlet.Stop() }

func (in *inletRun) boundAddr() string { return in.inlet.Addr() }

// inletWindow is the window of an inlet's streams: large when its route is
// TCP between nodes of the file all the way to the outlet, Ockam's
// otherwise (portal.InletOptions.Window).
func inletWindow(ti *topology.Inlet) int {
	if ti.TCPOnly() {
		return portal.LargeWindow
	}
	return portal.DefaultWindow
}

// inletRoute is the route function of an inlet on node n: its route
// resolved anew for every connection, from the node each hop is at,
// through the secure channels it names, so that it follows a relay node's
// listener.
func (r *Running) inletRoute(n *runtime.Node, ti *topology.Inlet) func() (routing.Route, error) {
	m, hops := ti.Route, ti.Hops
	return func() (routing.Route, error) { return r.routeFrom(context.Background(), n, m, hops) }
}
