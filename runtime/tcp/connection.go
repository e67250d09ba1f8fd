package tcp

import (
	"net"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/hashicorp/go-hclog"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/warnlimit"
)

// A TCP connection is two things on its node:
//
//   - a worker at a random 32-hex local address (its mailbox is the send
//     queue): a message routed to it has that address popped off its onward
//     route and is written to the socket as a frame;
//   - a reader goroutine: each frame read gets the connection's address
//     pushed onto its return route, so replies find their way back, and is
//     routed on with the connection's flow.
//
// A connection whose stream of frames breaks (handshake, a frame too large,
// EOF in the middle of one) is closed alone, with the reason logged; the node
// and its other connections go on. A frame that arrives whole but holds a bad
// message (undecodable, an unknown transport, a route over the limit) is
// dropped with a warning, and the connection goes on: one bad message must
// not cut every stream that shares the connection. But badFrameRun bad
// frames in a row, with no good one between, are a peer that does not speak
// the protocol: the connection is closed. Warnings about one connection's
// frames are rate-limited (warnlimit.Limit), so that a flood of them makes a
// handful of log lines.
//
// The worker's side, which writes, is connection_write.go; the reader's,
// connection_read.go.

const ioBufferSize = 64 << 10

type connection struct {
	node *runtime.Node
	t    *transport
	conn net.Conn
	// reading is whether its reader holds a read buffer (readLoop).
	reading atomic.Bool
	// raw is conn's descriptor, for splicing; nil if it has none.
	raw syscall.RawConn
	// in is conn as the reader reads it.
	in cappedReader
	// smallReads: the last frame read was one whose payload could be
	// spliced, so the reader reads the next one's head alone. Reader only.
	smallReads bool
	w          *runtime.ConnectionWorker
	flow       *runtime.Flow
	outgoing   bool
	// peer is the "host:port" it was dialed as; empty for accepted ones.
	peer string
	// listener is the listener that accepted it; nil for one we dialed.
	listener *Listener
	// greeted is set at the first good frame from the peer.
	greeted atomic.Bool
	log     hclog.Logger

	// wmu is held by whoever writes: the worker's goroutine, or a sender
	// writing on its own (handleNow).
	wmu sync.Mutex
	// out holds encoded frames not yet written; the worker goroutine
	// writes it when its mailbox is empty, or when it grows past
	// ioBufferSize. Guarded by wmu.
	out []byte
	// bytesOut and framesOut count what was written (counters.go): the
	// writer's, apart from the reader's counters; unflushed is the frames
	// queued in out, added to framesOut when they are written.
	bytesOut, framesOut atomic.Uint64
	unflushed           uint64 // worker goroutine only

	// warns rate-limits the warnings about the peer's frames.
	warns warnlimit.Limit
	// badRun counts the bad frames read since the last good one. Reader
	// only.
	badRun int

	// received counts the frames read: evidence that the peer is alive.
	// bytesIn counts their bytes (counters.go); the reader adds them
	// before it may block.
	received, bytesIn atomic.Uint64

	// drainMarker is a message that only drain queues: when the worker
	// reaches it, everything queued before it has been written.
	drainMarker *runtime.Routed
	drained     chan struct{} // closed when the worker reaches drainMarker
	// flushMarker is a message that only handleNow queues: the worker
	// writes what the socket did not take at once.
	flushMarker *runtime.Routed
	// draining is set by the first drain: the marker is queued once.
	draining atomic.Bool

	closeOnce sync.Once
	closed    chan struct{}
}

var (
	_ runtime.Connection = (*connection)(nil)
	_ runtime.Splicer    = (*connection)(nil)
)

// Address is the connection worker's local address.
func (c *connection) Address() routing.Address { return c.w.Address() }

// Transport is TCP.
func (c *connection) Transport() routing.TransportType { return routing.TCP }

// RemoteAddr is the peer's socket address.
func (c *connection) RemoteAddr() string { return c.conn.RemoteAddr().String() }

// Outgoing reports whether this node dialed the connection.
func (c *connection) Outgoing() bool { return c.outgoing }

// Received counts the frames read from the peer.
func (c *connection) Received() uint64 { return c.received.Load() }

// Done is closed when the connection has closed.
func (c *connection) Done() <-chan struct{} { return c.closed }

// Close closes the connection at once.
func (c *connection) Close() { c.close(nil) }

// Counters returns a snapshot of the connection's traffic.
func (c *connection) Counters() runtime.ConnectionCounters {
	return runtime.ConnectionCounters{
		BytesIn: c.bytesIn.Load(), BytesOut: c.bytesOut.Load(),
		FramesIn: c.received.Load(), FramesOut: c.framesOut.Load(),
	}
}

// close shuts the connection and removes its worker. reason is logged; nil
// means an orderly end.
func (c *connection) close(reason error) {
	c.closeOnce.Do(func() {
		_ = c.conn.Close()
		c.t.remove(c)
		c.w.Stop()
		c.flow.Close()
		var strangers *warnlimit.Limit
		if c.listener != nil {
			c.listener.open.Add(-1)
			if !c.greeted.Load() {
				strangers = &c.listener.strangers
			}
		}
		warnlimit.LogClosed(c.log, c.node.Quiet(), reason, c.warns.Flush(), strangers)
		close(c.closed)
		c.t.host.ConnectionClosed(c.w.Address())
	})
}
