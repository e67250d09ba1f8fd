package runtime

import (
	"context"

	"github.com/ockamtop/ockamtop/runtime/routing"
)

// Host is the node as its transports see it: what a transport needs of the
// node beyond its exported API, given to the transport alone when the node
// makes it (NewTransport). A transport starts its connections' workers
// through it, routes what it reads with Node.Route, and tells the node of
// what it opened, dropped and closed.
type Host struct {
	n *Node
}

// Node is the node the transport belongs to.
func (h *Host) Node() *Node { return h.n }

// StartConnection starts c's worker at the local address name: a worker
// that accepts every flow (it only carries a message to the next node,
// which applies its own flow control) and that Node.Services does not
// list. With inline, its HandleMessage runs on the sender's goroutine and
// must not block; else it has a mailbox, and c may also be a nowHandler
// (HandleNow) and a Flush-er, as worker.go says.
func (h *Host) StartConnection(name string, c interface {
	Worker
	Connection
}, inline bool) (*ConnectionWorker, error) {
	w, err := h.n.addWorker(name, c, false, inline)
	if err != nil {
		return nil, err
	}
	return &ConnectionWorker{w: w, n: h.n}, nil
}

// ConnectionOpened counts a connection made or accepted
// (NodeCounters.ConnectionsOpened).
func (h *Host) ConnectionOpened() { h.n.counters.connsOpened.Add(1) }

// DroppedBadFrame counts a whole frame from the network that held no valid
// message (DropReasons' bad_frame).
func (h *Host) DroppedBadFrame() { h.n.counters.dropped[dropBadFrame].Add(1) }

// ConnectionClosed tells the node's parts that the connection at addr has
// closed (Transports.OnConnectionClosed). A transport calls it once per
// connection, after its worker has stopped.
func (h *Host) ConnectionClosed(addr routing.Address) { h.n.transports.events.closed(addr) }

// ConnectionWorker is a connection's worker as its transport holds it.
type ConnectionWorker struct {
	w *worker
	n *Node
}

// Address is the worker's local address.
func (cw *ConnectionWorker) Address() routing.Address { return cw.w.addr }

// Idle reports whether nothing is queued in the worker's mailbox (nor
// being handled): a sender may then write on its own (HandleNow) without
// overtaking a message.
func (cw *ConnectionWorker) Idle() bool { return cw.w.pending.Load() == 0 }

// Stopped reports whether the worker has stopped.
func (cw *ConnectionWorker) Stopped() bool { return cw.w.stopped.Load() }

// Queue puts m into the worker's mailbox, behind what is there, waiting
// while it is full until ctx is done or the worker stops: a connection
// queues its own markers this way (a flush, a drain). The node's shutdown
// does not end the wait: a drain at the shutdown still queues its marker.
func (cw *ConnectionWorker) Queue(ctx context.Context, m *Routed) error {
	return cw.w.deliver(ctx, nil, m)
}

// Stop stops the worker; what is in its mailbox is dropped.
func (cw *ConnectionWorker) Stop() { _ = cw.n.StopWorker(cw.w.addr.Value) }
