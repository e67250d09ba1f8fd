package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/topology"
)

// The steps of a reconcile, part by part: how each kind of part stops,
// starts and changes in place, and how each step is undone.

// errNotRunning is a part the plan says runs here, and does not: the
// running topology and its plan disagree.
var errNotRunning = errors.New("not running here")

// stop stops the running part of a change that removes or replaces it.
func (rc *reconcile) stop(c topology.Change) error {
	r := rc.r
	if r.Node(nodeOf(c)) == nil {
		return &StartError{Part: c.Label(), Where: c.Where, Err: errNotRunning}
	}
	switch c.Kind {
	case topology.PartNode:
		tn := rc.old.Node(c.Name)
		pinned := rc.pinned(tn)
		rc.stopNode(c.Name)
		rc.undo = append(rc.undo, func() error { return r.startNode(context.WithoutCancel(rc.ctx), pinned) })
	case topology.PartListener:
		r.mu.Lock()
		l := r.listening[c.Node]
		delete(r.listening, c.Node)
		delete(r.listeners, c.Node)
		r.mu.Unlock()
		if l == nil {
			return nil
		}
		bound := l.Addr()
		_ = l.Close()
		tn := *rc.old.Node(c.Node)
		tn.Listener = bound // back on the port it had
		rc.undo = append(rc.undo, func() error { return r.startListenerOn(r.Node(c.Node), &tn, nil) })
	case topology.PartService:
		if err := r.Node(c.Node).StopWorker(c.Name); err != nil {
			return &StartError{Part: c.Label(), Where: c.Where, Err: err}
		}
		tn := rc.old.Node(c.Node)
		rc.undo = append(rc.undo, func() error { return r.startService(r.Node(c.Node), tn, c.Name) })
	case topology.PartRelay:
		r.stopRelay(c.Node, c.Name)
		tr := relayOf(rc.old, c)
		rc.undo = append(rc.undo, func() error {
			return r.startRelay(context.WithoutCancel(rc.ctx), r.Node(c.Node), tr.Owner, tr)
		})
	case topology.PartOutlet:
		r.stopOutlet(c.Node, c.Name)
		to := rc.old.Node(c.Node).Outlets[c.Name]
		rc.undo = append(rc.undo, func() error { return r.startOutlet(r.Node(c.Node), to) })
	case topology.PartInlet:
		bound := r.stopInlet(c.Node, c.Name)
		ti := *newInlet(rc.old, c)
		if bound != "" {
			ti.From = bound // back on the port it had
		}
		rc.undo = append(rc.undo, func() error { return r.startInletOn(r.Node(c.Node), &ti, nil) })
	}
	rc.stopped[key(c)] = true
	r.progress(fmt.Sprintf("✔ stopped %s", c.Label()))
	return nil
}

// start starts or changes in place the part of a change that adds or
// changes it.
func (rc *reconcile) start(c topology.Change) error {
	r := rc.r
	if c.Action != topology.ActionAdd || c.Kind != topology.PartNode {
		if r.Node(nodeOf(c)) == nil {
			return &StartError{Part: c.Label(), Where: c.Where, Err: errNotRunning}
		}
	}
	switch c.Kind {
	case topology.PartNode:
		tn := rc.new.Node(c.Name)
		if c.Action == topology.ActionAdd {
			if _, err := r.newNode(tn); err != nil {
				return err
			}
			rc.undo = append(rc.undo, func() error { rc.stopNode(c.Name); return nil })
			if tn.Listener == "" {
				r.progress(fmt.Sprintf("✔ node %s", tn.Name))
			}
			return nil
		}
		rc.allow(r.Node(c.Name), rc.old.Node(c.Name).Allow, tn.Allow)
	case topology.PartListener:
		if !starts(c) {
			return nil
		}
		if err := r.startListenerOn(r.Node(c.Node), rc.new.Node(c.Node), rc.take(c)); err != nil {
			return err
		}
		rc.undo = append(rc.undo, func() error {
			r.mu.Lock()
			l := r.listening[c.Node]
			delete(r.listening, c.Node)
			delete(r.listeners, c.Node)
			r.mu.Unlock()
			if l != nil {
				_ = l.Close()
			}
			return nil
		})
	case topology.PartService:
		if err := r.startService(r.Node(c.Node), rc.new.Node(c.Node), c.Name); err != nil {
			return err
		}
		rc.undo = append(rc.undo, func() error { return r.Node(c.Node).StopWorker(c.Name) })
		r.progress(fmt.Sprintf("✔ service %s on %s", c.Name, c.Node))
	case topology.PartRelay:
		tr := relayOf(rc.new, c)
		err := r.startRelay(rc.ctx, r.Node(c.Node), tr.Owner, tr)
		// A relay that failed to register is running all the same:
		// the undo stops it.
		rc.undo = append(rc.undo, func() error { r.stopRelay(c.Node, c.Name); return nil })
		if err != nil {
			return err
		}
	case topology.PartOutlet:
		to := rc.new.Node(c.Node).Outlets[c.Name]
		if c.Action == topology.ActionAdd {
			if err := r.startOutlet(r.Node(c.Node), to); err != nil {
				return err
			}
			rc.undo = append(rc.undo, func() error { r.stopOutlet(c.Node, c.Name); return nil })
			return nil
		}
		o := r.outlet(c.Node, c.Name)
		if o == nil {
			return &StartError{Part: c.Label(), Where: c.Where, Err: errNotRunning}
		}
		prev := o.Target()
		o.SetTarget(to.Target)
		rc.undo = append(rc.undo, func() error { o.SetTarget(prev); return nil })
		r.progress(fmt.Sprintf("✔ tcp_outlet /service/%s on %s -> %s", c.Name, c.Node, to.Target))
	case topology.PartInlet:
		ti := newInlet(rc.new, c)
		if starts(c) {
			if err := r.startInletOn(r.Node(c.Node), ti, rc.take(c)); err != nil {
				return err
			}
			rc.undo = append(rc.undo, func() error { r.stopInlet(c.Node, c.Name); return nil })
			return nil
		}
		// Only the route changed: new connections take it, open streams
		// keep theirs.
		oi := newInlet(rc.old, c)
		in := r.setInletRoute(c.Node, c.Name, ti)
		if in == nil {
			return &StartError{Part: c.Label(), Where: c.Where, Err: errNotRunning}
		}
		rc.undo = append(rc.undo, func() error { r.setInletRoute(c.Node, c.Name, oi); return nil })
		r.progress(fmt.Sprintf("✔ tcp_inlet %s on %s listening on %s -> %s", ti.Name, c.Node, in.Addr(), ti.Route))
	}
	return nil
}

// allow changes a node's allowed addresses in place.
func (rc *reconcile) allow(n *runtime.Node, old, new []string) {
	set := func(add, remove []string) {
		for _, a := range remove {
			if !slices.Contains(add, a) {
				n.Disallow(a)
			}
		}
		for _, a := range add {
			n.Allow(a)
		}
	}
	set(new, old)
	rc.undo = append(rc.undo, func() error { set(old, new); return nil })
	rc.r.progress(fmt.Sprintf("✔ node %s allows %v", n.Name(), new))
}

// pinned is a copy of a running node's plan whose listener and inlets are
// on the ports they have bound, for starting it again as it was.
func (rc *reconcile) pinned(tn *topology.Node) *topology.Node {
	r := rc.r
	cp := *tn
	r.mu.Lock()
	if l := r.listening[tn.Name]; l != nil {
		cp.Listener = l.Addr()
	}
	cp.Inlets = nil
	for _, ti := range tn.Inlets {
		in := *ti
		for _, ri := range r.inlets {
			if ri.node == tn.Name && ri.inlet.Name() == ti.Name {
				in.From = ri.inlet.Addr()
			}
		}
		cp.Inlets = append(cp.Inlets, &in)
	}
	r.mu.Unlock()
	return &cp
}

// stopNode closes a node run here and forgets it and its parts.
func (rc *reconcile) stopNode(name string) {
	r := rc.r
	r.mu.Lock()
	n := r.nodes[name]
	delete(r.nodes, name)
	delete(r.listening, name)
	delete(r.listeners, name)
	mine := func(node string) bool { return node == name }
	r.relays = slices.DeleteFunc(r.relays, func(x *runningRelay) bool { return mine(x.node) })
	r.inlets = slices.DeleteFunc(r.inlets, func(x *runningInlet) bool { return mine(x.node) })
	r.outlets = slices.DeleteFunc(r.outlets, func(x *runningOutlet) bool { return mine(x.node) })
	r.mu.Unlock()
	if n != nil {
		n.Close()
	}
}

// stopRelay stops a relay and forgets it.
func (r *Running) stopRelay(node, name string) {
	r.mu.Lock()
	var found *runtime.Relay
	r.relays = slices.DeleteFunc(r.relays, func(x *runningRelay) bool {
		if x.node == node && x.relay.Status().Name == name {
			found = x.relay
			return true
		}
		return false
	})
	r.mu.Unlock()
	if found != nil {
		found.Close()
	}
}

// stopOutlet stops an outlet and forgets it.
func (r *Running) stopOutlet(node, name string) {
	r.mu.Lock()
	var found *runtime.Outlet
	r.outlets = slices.DeleteFunc(r.outlets, func(x *runningOutlet) bool {
		if x.node == node && x.outlet.Name() == name {
			found = x.outlet
			return true
		}
		return false
	})
	r.mu.Unlock()
	if found != nil {
		found.Stop()
	}
}

// stopInlet stops an inlet and forgets it. It returns the address the
// inlet had bound, "" if there was no such inlet.
func (r *Running) stopInlet(node, name string) string {
	r.mu.Lock()
	var found *runtime.Inlet
	r.inlets = slices.DeleteFunc(r.inlets, func(x *runningInlet) bool {
		if x.node == node && x.inlet.Name() == name {
			found = x.inlet
			return true
		}
		return false
	})
	r.mu.Unlock()
	if found == nil {
		return ""
	}
	bound := found.Addr()
	found.Stop()
	return bound
}

// outlet returns a running outlet.
func (r *Running) outlet(node, name string) *runtime.Outlet {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, o := range r.outlets {
		if o.node == node && o.outlet.Name() == name {
			return o.outlet
		}
	}
	return nil
}

// setInletRoute gives a running inlet the route of ti, for its new
// connections, and returns it.
func (r *Running) setInletRoute(node, name string, ti *topology.Inlet) *runtime.Inlet {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, in := range r.inlets {
		if in.node == node && in.inlet.Name() == name {
			in.inlet.SetRoute(r.inletRoute(r.nodes[node], ti), inletWindow(ti))
			// A new record: Status reads the old one without the lock.
			r.inlets[i] = &runningInlet{node: node, route: ti.Route.String(), inlet: in.inlet}
			return in.inlet
		}
	}
	return nil
}
