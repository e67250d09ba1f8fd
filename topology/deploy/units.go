package deploy

import (
	"context"
	"net"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/topology"
)

// Each kind of part a node has (topology.Kinds) runs by one unit: how it
// starts, how it takes a change in place, what socket it binds. Start
// starts a node's parts by their units, in the kinds' order; Reconcile
// stops, starts and changes parts by the same units. A kind the planner
// declares and no unit runs fails a test (TestEveryKindHasAUnit), not a
// reconcile in silence.

// unit runs one kind of part.
type unit struct {
	// start starts part p on node n, on ln when the kind binds a socket
	// and one was bound for it already (nil: it binds its own). A part
	// that runs though it failed (a relay not registered yet) is
	// returned with the error.
	start func(r *Running, ctx context.Context, n *runtime.Node, p topology.Part, ln net.Listener) (partRun, error)
	// change makes in place a change of the attributes the kind takes in
	// place (topology.Kind.InPlace), and returns how to undo it; nil for
	// a kind that takes none.
	change func(r *Running, n *runtime.Node, run partRun, old, new topology.Part) (undo func(), err error)
	// binds is the TCP socket address the part binds, for a reconcile to
	// reserve before it changes anything; nil for a kind that binds none.
	binds func(p topology.Part) (addr string, where string)
}

// units are the units of the kinds of part a node has, but the node.
var units = map[topology.PartKind]unit{
	topology.PartService:        serviceUnit,
	topology.PartSecureListener: secureListenerUnit,
	topology.PartListener:       listenerUnit,
	topology.PartTCPListeners:   tcpListenersUnit,
	topology.PartUDPListener:    udpListenerUnit,
	topology.PartRelay:          relayUnit,
	topology.PartOutlet:         outletUnit,
	topology.PartInlet:          inletUnit,
	topology.PartUDPOutlet:      udpOutletUnit,
	topology.PartUDPInlet:       udpInletUnit,
	topology.PartExec:           execUnit,
}

// partRun is a part that runs.
type partRun interface {
	// state says how the part is: "up", or what else ("connecting" for a
	// relay not registered, "exited" for a process that ended).
	state() string
	// stop stops the part and waits for it.
	stop(r *Running)
}

// stateUp is the state of a part that runs as it should.
const stateUp = "up"

// boundPart is a part that holds a socket.
type boundPart interface {
	boundAddr() string
}

// boundAddr is the address a running part has bound, "" if none.
func boundAddr(run partRun) string {
	if b, ok := run.(boundPart); ok {
		return b.boundAddr()
	}
	return ""
}

// workerRun is a part that is a worker of its node: a service, a secure
// channel listener.
type workerRun struct {
	node *runtime.Node
	name string
}

func (w workerRun) state() string { return stateUp }

func (w workerRun) stop(*Running) { _ = w.node.StopWorker(w.name) }
