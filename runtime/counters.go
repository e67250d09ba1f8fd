package runtime

import (
	"errors"
	"sync/atomic"
)

// Counters: what a node and its connections have done, kept as plain
// atomics on the structs that do the work, so that counting costs the data
// path an uncontended atomic add and nothing else: no lock, no map lookup,
// no label. Whoever wants them (the Prometheus collector of
// topology/observe) reads snapshots when it is asked, off the data path; the
// node library itself depends on no metrics library.

// Why a node dropped a message: the values of DropReasons.
const (
	dropNoWorker = iota
	dropFlowControl
	dropBadFrame
	dropWorkerStopped
	dropNodeClosed
	dropDialDenied
	dropUnsupportedTransport
	dropEmptyRoute
	dropUnreachable
	numDropReasons
)

// DropReasons names why a message was dropped, in the order of
// NodeCounters.Dropped:
//
//   - no_worker: no worker at the local address the route names;
//   - flow_control: the worker is not a consumer of the message's flow;
//   - bad_frame: a whole frame from the network that holds no valid message;
//   - worker_stopped, node_closed: the worker or node went while it waited;
//   - dial_denied: a message from the network asked to dial a peer the node
//     may not dial;
//   - unsupported_transport: an address of a transport the node lacks;
//   - empty_route: nowhere to go;
//   - unreachable: the next hop could not be reached (a failed dial, a
//     full mailbox until the sender gave up).
var DropReasons = [numDropReasons]string{
	"no_worker", "flow_control", "bad_frame", "worker_stopped", "node_closed",
	"dial_denied", "unsupported_transport", "empty_route", "unreachable",
}

// nodeCounters are a node's routing counters.
type nodeCounters struct {
	routed      atomic.Uint64
	dropped     [numDropReasons]atomic.Uint64
	connsOpened atomic.Uint64
}

// drop counts a message route failed to deliver, by the reason err gives.
func (c *nodeCounters) drop(err error) {
	reason := dropUnreachable
	switch {
	case errors.Is(err, ErrNoSuchAddress):
		reason = dropNoWorker
	case errors.Is(err, ErrFlowDenied):
		reason = dropFlowControl
	case errors.Is(err, ErrWorkerStopped):
		reason = dropWorkerStopped
	case errors.Is(err, ErrNodeClosed):
		reason = dropNodeClosed
	case errors.Is(err, ErrDialDenied):
		reason = dropDialDenied
	case errors.Is(err, ErrUnsupportedTransport):
		reason = dropUnsupportedTransport
	case errors.Is(err, ErrEmptyOnwardRoute):
		reason = dropEmptyRoute
	}
	c.dropped[reason].Add(1)
}

// NodeCounters is a snapshot of a node's routing counters.
type NodeCounters struct {
	// Routed counts messages delivered to a worker of the node: each local
	// hop of a message counts once.
	Routed uint64
	// Dropped counts the messages the node could not deliver, by reason,
	// in the order of DropReasons.
	Dropped [numDropReasons]uint64
	// ConnectionsOpened counts the connections made or accepted, of every
	// transport that counts them.
	ConnectionsOpened uint64
}

// Counters returns a snapshot of the node's routing counters.
func (n *Node) Counters() NodeCounters {
	out := NodeCounters{Routed: n.counters.routed.Load(), ConnectionsOpened: n.counters.connsOpened.Load()}
	for i := range out.Dropped {
		out.Dropped[i] = n.counters.dropped[i].Load()
	}
	return out
}

// ConnectionCounters is a snapshot of a connection's traffic. Bytes count
// frames as they are on the wire, with their length prefix.
type ConnectionCounters struct {
	BytesIn, BytesOut   uint64
	FramesIn, FramesOut uint64
}

// CountedConnection is a connection that counts its traffic. TCP
// connections do; a transport that does not is still listed, without
// traffic figures.
type CountedConnection interface {
	Connection
	Counters() ConnectionCounters
}
