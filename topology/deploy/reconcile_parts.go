package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/topology"
)

// The steps of a reconcile, part by part: a part stops, starts and
// changes in place by its kind's unit (units.go), and each step is undone
// the same way.

// errNotRunning is a part the plan says runs here, and does not: the
// running topology and its plan disagree.
var errNotRunning = errors.New("not running here")

// stop stops the running part of a change that removes or replaces it.
func (rc *reconcile) stop(c topology.Change) error {
	r := rc.r
	if r.Node(nodeOf(c)) == nil {
		return &StartError{Part: c.Label(), Where: c.Where, Err: errNotRunning}
	}
	if c.Kind == topology.PartNode {
		tn := rc.pinned(rc.old.Node(c.Name))
		rc.stopNode(c.Name)
		rc.restarts = append(rc.restarts, restart{c, func() error { return r.startNode(context.WithoutCancel(rc.ctx), tn) }})
	} else {
		bound := r.stopPart(c.Node, c.Kind, c.Name)
		old := pin(*c.Old, bound) // back on the port it had
		rc.restarts = append(rc.restarts, restart{c, func() error {
			n := r.Node(c.Node)
			if n == nil {
				return &StartError{Part: c.Label(), Where: c.Where, Err: errNotRunning}
			}
			return r.startPart(context.WithoutCancel(rc.ctx), n, old, nil)
		}})
	}
	rc.stopped[key(c)] = true
	r.progress(fmt.Sprintf("✔ stopped %s", c.Label()))
	return nil
}

// start starts or changes in place the part of a change that adds or
// changes it.
func (rc *reconcile) start(c topology.Change) error {
	r := rc.r
	if c.Kind == topology.PartNode {
		return rc.startNode(c)
	}
	n := r.Node(c.Node)
	if n == nil {
		return &StartError{Part: c.Label(), Where: c.Where, Err: errNotRunning}
	}
	u := units[c.Kind]
	if starts(c) {
		if err := r.startPart(rc.ctx, n, *c.New, rc.take(c)); err != nil {
			// A part that failed to come up may run all the same (a
			// relay not registered yet): the undo stops it.
			rc.undo = append(rc.undo, func() error { r.stopPart(c.Node, c.Kind, c.Name); return nil })
			return err
		}
		rc.undo = append(rc.undo, func() error { r.stopPart(c.Node, c.Kind, c.Name); return nil })
		if c.Kind == topology.PartService {
			r.progress(fmt.Sprintf("✔ service %s on %s", c.Name, c.Node))
		}
		return nil
	}
	r.mu.Lock()
	var running *runningPart
	if rn := r.nodes[c.Node]; rn != nil {
		running = rn.part(c.Kind, c.Name)
	}
	r.mu.Unlock()
	if running == nil || u.change == nil {
		return &StartError{Part: c.Label(), Where: c.Where, Err: errNotRunning}
	}
	undo, err := u.change(r, n, running.run, *c.Old, *c.New)
	if err != nil {
		return &StartError{Part: c.Label(), Where: c.Where, Err: err}
	}
	rc.undo = append(rc.undo, func() error { undo(); return nil })
	return nil
}

// startNode starts a node that the plan adds or replaces, bare: its parts
// start by their own changes. A node that stays takes its new allow list
// in place.
func (rc *reconcile) startNode(c topology.Change) error {
	r := rc.r
	tn := rc.new.Node(c.Name)
	if !starts(c) {
		if r.Node(c.Name) == nil {
			return &StartError{Part: c.Label(), Where: c.Where, Err: errNotRunning}
		}
		rc.allow(r.Node(c.Name), rc.old.Node(c.Name).Allow, tn.Allow)
		return nil
	}
	if _, err := r.newNode(tn); err != nil {
		return err
	}
	rc.undo = append(rc.undo, func() error { rc.stopNode(c.Name); return nil })
	if tn.Listener == "" && tn.UDPListener == "" {
		r.progress(fmt.Sprintf("✔ node %s", tn.Name))
	}
	return nil
}

// pin is a part as it ran: a listener or an inlet on the address it had
// bound, so that starting it again binds the same port.
func pin(p topology.Part, bound string) topology.Part {
	if bound == "" {
		return p
	}
	switch m := p.Model.(type) {
	case *topology.Node:
		cp := *m
		if p.Kind == topology.PartUDPListener {
			cp.UDPListener = bound
		} else {
			cp.Listener = bound
		}
		p.Model = &cp
	case *topology.Inlet:
		cp := *m
		cp.From = bound
		p.Model = &cp
	case *topology.TCPListener:
		cp := *m
		cp.Address = bound
		p.Model = &cp
	}
	return p
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
	if rn := r.nodes[tn.Name]; rn != nil && rn.part(topology.PartListener, tn.Name) != nil {
		cp.Listener = rn.listener
	}
	if rn := r.nodes[tn.Name]; rn != nil && rn.part(topology.PartUDPListener, tn.Name) != nil {
		cp.UDPListener = rn.udpListener
	}
	cp.TCPListeners = slices.Clone(tn.TCPListeners)
	for i, d := range tn.Decl.TCPListeners {
		if rn := r.nodes[tn.Name]; rn != nil && i < len(cp.TCPListeners) {
			if p := rn.part(topology.PartTCPListeners, d.Value); p != nil {
				cp.TCPListeners[i] = boundAddr(p.run)
			}
		}
	}
	cp.Inlets = nil
	for _, ti := range tn.Inlets {
		in := *ti
		if rn := r.nodes[tn.Name]; rn != nil {
			if p := rn.part(topology.PartInlet, ti.Name); p != nil {
				in.From = boundAddr(p.run)
			}
		}
		cp.Inlets = append(cp.Inlets, &in)
	}
	cp.UDPInlets = nil
	for _, ti := range tn.UDPInlets {
		in := *ti
		if rn := r.nodes[tn.Name]; rn != nil {
			if p := rn.part(topology.PartUDPInlet, ti.Name); p != nil {
				in.From = boundAddr(p.run)
			}
		}
		cp.UDPInlets = append(cp.UDPInlets, &in)
	}
	r.mu.Unlock()
	return &cp
}

// stopNode stops a node run here, its processes first, and forgets it and
// its parts.
func (rc *reconcile) stopNode(name string) {
	r := rc.r
	r.mu.Lock()
	rn := r.nodes[name]
	var n *runtime.Node
	var execs []*runningExec
	if rn != nil {
		n = rn.node
		execs = r.execsLocked(name)
		// Its identity stays: started again, it is the same node.
		rn.node, rn.channels, rn.parts, rn.listener, rn.udpListener = nil, nil, nil, "", ""
	}
	r.mu.Unlock()
	r.stopExecs(execs)
	if n != nil {
		n.Close()
	}
}
