package deploy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/topology"
)

// Reconciling a running topology with a new plan of its file, as
// Terraform applies a plan: the difference (topology.Compare) is applied
// part by part, and nothing else is touched. A part whose definition is
// the same keeps running: its connections, its relay registration, its
// open portal streams.
//
//  1. Reserve: every TCP socket the new plan binds (a listener, an inlet)
//     is bound first; a part replaced whose address is the same keeps the
//     port it has bound. One that cannot be bound (a port in use) fails
//     the reconcile before anything has changed. A port that a part (or a
//     node) being stopped holds is bound right after that part alone has
//     stopped (a listener that stops keeps the connections it accepted),
//     and before anything else changes. UDP listeners bind when they
//     start.
//  2. Stop, in reverse plan order, the parts removed or replaced: a
//     node's processes, inlets, outlets, relays, listeners, secure channel
//     listeners, services; whole nodes.
//  3. Start, in plan order, the parts added or replaced, and change in
//     place what changes in place (an inlet's route and its bound on
//     streams, an outlet's target, a node's allow list).
//  4. If a step fails, it is rolled back: the old plan comes back, the
//     parts started are stopped and the changes in place undone, last
//     first, then the parts stopped start again, in the old plan's start
//     order, on the addresses they had bound (a listener of port 0 gets
//     back its port). The error names the part and its declaration; a
//     *RollbackError says that the rollback failed too.

// ErrStopped is a Reconcile of a topology that has been stopped.
var ErrStopped = errors.New("the running topology has stopped")

// ReconcileOptions configure Reconcile.
type ReconcileOptions struct {
	// Progress receives one line per part stopped, started or changed,
	// besides the progress of Start; nil discards them.
	Progress func(line string)
}

// Topology returns the plan that runs.
func (r *Running) Topology() *topology.Topology { return r.topology() }

func (r *Running) topology() *topology.Topology {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.topo
}

// isLocal reports whether node name runs in this process.
func (r *Running) isLocal(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.local[name]
}

// Reconcile turns the running topology into t, of which local names the
// nodes run here, and returns the difference it applied. On an error the
// running topology is as it was before the call, and the error (a
// *StartError) names the part that failed and where it is declared;
// unless the rollback failed too, which a *RollbackError says. One
// Reconcile runs at a time.
func (r *Running) Reconcile(ctx context.Context, t *topology.Topology, local map[string]bool, o ReconcileOptions) (*topology.Diff, error) {
	r.reconciling.Lock()
	defer r.reconciling.Unlock()
	r.mu.Lock()
	old, oldLocal, stopped := r.topo, r.local, r.stopped
	r.mu.Unlock()
	d := topology.Compare(old, t)
	if stopped {
		return d, ErrStopped
	}
	if changesParts(d) && (len(old.Networks) > 0 || len(t.Networks) > 0) {
		// The reservations below bind in the host's namespace, and the
		// namespaces are made once, at Start.
		return d, ErrNetworksFixed
	}
	rc := &reconcile{
		r: r, ctx: ctx, old: old, new: t, oldLocal: oldLocal, newLocal: local,
		reserved: map[string]net.Listener{}, nodeStops: map[string]bool{}, stopped: map[string]bool{},
	}
	progress := r.progress
	if o.Progress != nil {
		r.progress = func(line string) {
			progress(line)
			o.Progress(line)
		}
		defer func() { r.progress = progress }()
	}
	if err := rc.run(d); err != nil {
		return d, err
	}
	return d, nil
}

// changesParts reports whether a difference changes what runs: anything
// but checks, which run anew and hold nothing.
func changesParts(d *topology.Diff) bool {
	return slices.ContainsFunc(d.Changes, func(c topology.Change) bool {
		return c.Action != topology.ActionUnchanged && c.Kind != topology.PartCheck
	})
}

// ErrNetworksFixed refuses to change a running topology that has (or
// would have) isolated networks: stop it and apply the file again.
var ErrNetworksFixed = errors.New("a running topology with networks cannot be changed yet; stop it ('ockamtop down') and apply the file again")

// reconcile is one run of Reconcile.
type reconcile struct {
	r                  *Running
	ctx                context.Context
	old, new           *topology.Topology
	oldLocal, newLocal map[string]bool
	// reserved are the sockets bound in step 1, by change key.
	reserved map[string]net.Listener
	// deferred are the binds that wait for a part being stopped.
	deferred []deferredBind
	// stopped are the changes whose part has stopped, by key.
	stopped map[string]bool
	// nodeStops are the local nodes that stop, removed or replaced: their
	// parts stop with them.
	nodeStops map[string]bool
	// undo reverts each start and each change in place, run last to
	// first on a failure; restarts start again, in the old plan's order,
	// the parts stopped (rollback).
	undo     []func() error
	restarts []restart
}

// key identifies a change's part.
func key(c topology.Change) string { return string(c.Kind) + "/" + c.Node + "/" + c.Name }

// nodeOf is the node a change's part belongs to.
func nodeOf(c topology.Change) string {
	if c.Kind == topology.PartNode {
		return c.Name
	}
	return c.Node
}

// runsHere reports whether the change is to a part of a node run here,
// before (a removal) or after it.
func (rc *reconcile) runsHere(c topology.Change) bool {
	if c.Kind == topology.PartCheck {
		return false
	}
	if c.Action == topology.ActionRemove {
		return rc.oldLocal[nodeOf(c)]
	}
	return rc.newLocal[nodeOf(c)]
}

// stops reports whether the change stops the part that runs.
func stops(c topology.Change) bool {
	return c.Action == topology.ActionRemove || c.Action == topology.ActionChange && c.Replace
}

// starts reports whether the change starts a part.
func starts(c topology.Change) bool {
	return c.Action == topology.ActionAdd || c.Action == topology.ActionChange && c.Replace
}

func (rc *reconcile) run(d *topology.Diff) error {
	var changes []topology.Change
	for _, c := range d.Changes {
		if c.Action == topology.ActionUnchanged {
			continue
		}
		if c.Kind == topology.PartNode && stops(c) && rc.oldLocal[c.Name] {
			rc.nodeStops[c.Name] = true
		}
		changes = append(changes, c)
	}
	if err := rc.reserve(changes); err != nil {
		return err
	}
	err := rc.apply(changes)
	for _, ln := range rc.reserved {
		_ = ln.Close() // unused: a failure came first
	}
	if err == nil {
		return nil
	}
	if uerr := rc.rollback(); uerr != nil {
		return &RollbackError{Err: err, Rollback: uerr}
	}
	return err
}

// rollback undoes what a failed reconcile did. The old plan comes back
// first, so that what starts again starts as it was planned; then what
// started stops and what changed in place changes back, last first; then
// what stopped starts again in the old plan's start order (a node before
// its parts, a relay node's listener before the relays that dial it),
// whatever the order it stopped in.
func (rc *reconcile) rollback() error {
	r := rc.r
	r.mu.Lock()
	r.topo, r.local = rc.old, rc.oldLocal
	r.mu.Unlock()
	var errs []error
	for i := len(rc.undo) - 1; i >= 0; i-- {
		if err := rc.undo[i](); err != nil {
			errs = append(errs, err)
		}
	}
	order := map[string]int{}
	for i, p := range rc.old.Parts() {
		c := topology.Change{Kind: p.Kind, Node: p.Node, Name: p.Name}
		if p.Kind == topology.PartNode {
			c.Node = "" // as a change names a node
		}
		order[key(c)] = i
	}
	slices.SortStableFunc(rc.restarts, func(a, b restart) int { return cmp.Compare(order[key(a.c)], order[key(b.c)]) })
	for _, rs := range rc.restarts {
		if err := rs.start(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// restart starts again a part that a reconcile stopped.
type restart struct {
	c     topology.Change
	start func() error
}

// RollbackError is a reconcile that failed, and whose rollback failed too:
// the running topology is not as it was.
type RollbackError struct {
	Err      error
	Rollback error
}

func (e *RollbackError) Error() string {
	return fmt.Sprintf("%v; and rolling back failed too: %v", e.Err, e.Rollback)
}

func (e *RollbackError) Unwrap() []error { return []error{e.Err, e.Rollback} }

// apply swaps the plan, then stops and starts the parts.
func (rc *reconcile) apply(changes []topology.Change) error {
	r := rc.r
	r.mu.Lock()
	r.topo, r.local = rc.new, rc.newLocal
	r.mu.Unlock()
	for _, db := range rc.deferred {
		if !rc.stopped[key(db.holder)] {
			if err := rc.stop(db.holder); err != nil {
				return err
			}
		}
		ln, err := runtime.Bind(db.addr)
		if err != nil {
			return db.fail(err)
		}
		rc.reserved[key(db.change)] = ln
	}
	for i := len(changes) - 1; i >= 0; i-- {
		c := changes[i]
		if !rc.runsHere(c) || !stops(c) || c.Kind != topology.PartNode && rc.nodeStops[c.Node] || rc.stopped[key(c)] {
			continue
		}
		if err := rc.stop(c); err != nil {
			return err
		}
	}
	for _, c := range changes {
		if (c.Kind == topology.PartListener || c.Kind == topology.PartUDPListener) && !rc.newLocal[c.Node] && !rc.oldLocal[c.Node] {
			rc.remoteListener(c)
			continue
		}
		if !rc.runsHere(c) || c.Action == topology.ActionRemove {
			continue
		}
		if err := rc.start(c); err != nil {
			return err
		}
	}
	return nil
}

// reserve binds the sockets of the parts that start and bind one.
func (rc *reconcile) reserve(changes []topology.Change) error {
	freed := rc.freedPorts(changes)
	for _, c := range changes {
		u, ok := units[c.Kind]
		if !rc.runsHere(c) || !starts(c) || !ok || u.binds == nil {
			continue
		}
		addr, where := u.binds(*c.New)
		if c.Old != nil {
			if was, _ := u.binds(*c.Old); was == addr {
				// Replaced, its address the same: it keeps the port it
				// has bound (a port 0 of the file stays what it became).
				addr = rc.bound(c, addr)
			}
		}
		fail := func(err error) error {
			return &StartError{Part: startLabel(c), Where: where, Err: fmt.Errorf("%s: listen on %s: %w", shortLabel(c), addr, err)}
		}
		ln, err := runtime.Bind(addr)
		if err != nil {
			if holder, ok := freed[port(addr)]; ok && port(addr) != 0 {
				rc.deferred = append(rc.deferred, deferredBind{change: c, holder: holder, addr: addr, fail: fail})
				continue
			}
			for _, l := range rc.reserved {
				_ = l.Close()
			}
			clear(rc.reserved)
			return fail(err)
		}
		rc.reserved[key(c)] = ln
	}
	return nil
}

// bound is the address the running part of a change has bound, or addr
// if it runs not or binds none.
func (rc *reconcile) bound(c topology.Change, addr string) string {
	r := rc.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if rn := r.nodes[c.Node]; rn != nil {
		if p := rn.part(c.Kind, c.Name); p != nil {
			if b := boundAddr(p.run); b != "" {
				return b
			}
		}
	}
	return addr
}

// startLabel names a change's part in a StartError: `node "n2"` for its
// listener, `tcp_inlet "web" of node "n1"`.
func startLabel(c topology.Change) string {
	switch c.Kind {
	case topology.PartNode, topology.PartListener, topology.PartUDPListener:
		return fmt.Sprintf("node %q", nodeOf(c))
	}
	return fmt.Sprintf("%s %q of node %q", c.Kind, c.Name, c.Node)
}

// shortLabel names a change's part in the error of its socket: "node
// n2", "inlet web".
func shortLabel(c topology.Change) string {
	switch c.Kind {
	case topology.PartNode, topology.PartListener, topology.PartUDPListener:
		return "node " + nodeOf(c)
	case topology.PartInlet:
		return "inlet " + c.Name
	case topology.PartUDPInlet:
		return "udp_inlet " + c.Name
	}
	return string(c.Kind) + " " + c.Name
}

// deferredBind is a socket to bind once the part that holds its port
// (holder) has stopped.
type deferredBind struct {
	change, holder topology.Change
	addr           string
	fail           func(error) error
}

// freedPorts maps the ports that the parts this reconcile stops hold to
// the change that stops each: a part's own, or a node's for all of its
// parts.
func (rc *reconcile) freedPorts(changes []topology.Change) map[int]topology.Change {
	r := rc.r
	out := map[int]topology.Change{}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range changes {
		rn := r.nodes[nodeOf(c)]
		if !rc.runsHere(c) || !stops(c) || rn == nil || c.Kind != topology.PartNode && rc.nodeStops[c.Node] {
			continue // a part of a node that stops: the node holds its ports
		}
		for _, p := range rn.parts {
			if c.Kind == topology.PartNode || p.kind == c.Kind && p.name == c.Name {
				if a := boundAddr(p.run); a != "" {
					out[port(a)] = c
				}
			}
		}
	}
	return out
}

// port is the port of "host:port", 0 if there is none.
func port(hostport string) int {
	_, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}

// take returns the socket reserved for a change, if any, and forgets it.
func (rc *reconcile) take(c topology.Change) net.Listener {
	ln := rc.reserved[key(c)]
	delete(rc.reserved, key(c))
	return ln
}

// remoteListener follows a node run elsewhere to its new listener
// address, TCP or UDP.
func (rc *reconcile) remoteListener(c topology.Change) {
	r := rc.r
	r.mu.Lock()
	rn := r.entry(c.Node)
	field, now := &rn.listener, ""
	tn := rc.new.Node(c.Node)
	if c.Kind == topology.PartUDPListener {
		field = &rn.udpListener
		if tn != nil {
			now = tn.UDPListener
		}
	} else if tn != nil {
		now = tn.Listener
	}
	prev := *field
	*field = now
	r.mu.Unlock()
	rc.undo = append(rc.undo, func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		*field = prev
		return nil
	})
}

// RunChecksOf runs the checks that a reconcile's difference adds or
// changes, whose node runs here, in file order.
func (r *Running) RunChecksOf(ctx context.Context, d *topology.Diff) []CheckResult {
	changed := map[string]bool{}
	for _, c := range d.Changes {
		if c.Kind == topology.PartCheck && (c.Action == topology.ActionAdd || c.Action == topology.ActionChange) {
			changed[c.Name] = true
		}
	}
	return r.runChecks(ctx, func(name string) bool { return changed[name] })
}
