package runtime

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/wire"
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
// not cut every stream that shares the connection.

const ioBufferSize = 64 << 10

type tcpConnection struct {
	node *Node
	t    *tcpTransport
	conn net.Conn
	// raw is conn's descriptor, for splicing; nil if it has none.
	raw syscall.RawConn
	// in is conn as the reader reads it.
	in cappedReader
	// smallReads: the last frame read was one whose payload could be
	// spliced, so the reader reads the next one's head alone. Reader only.
	smallReads bool
	w          *worker
	flow       *flow
	outgoing   bool
	// peer is the "host:port" it was dialed as; empty for accepted ones.
	peer string
	log  hclog.Logger

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

	// repliers are the workers recorded as consumers of this connection's
	// flow, to be forgotten when it closes.
	repliers repliers

	// received counts the frames read: evidence that the peer is alive.
	// bytesIn counts their bytes (counters.go); the reader adds them
	// before it may block.
	received, bytesIn atomic.Uint64

	// drainMarker is a message that only drain queues: when the worker
	// reaches it, everything queued before it has been written.
	drainMarker *Routed
	drained     chan struct{} // closed when the worker reaches drainMarker
	// flushMarker is a message that only handleNow queues: the worker
	// writes what the socket did not take at once.
	flushMarker *Routed
	// draining is set by the first drain: the marker is queued once.
	draining atomic.Bool

	closeOnce sync.Once
	closed    chan struct{}
}

var _ Connection = (*tcpConnection)(nil)

// Address is the connection worker's local address.
func (c *tcpConnection) Address() routing.Address { return c.w.addr }

// Transport is TCP.
func (c *tcpConnection) Transport() routing.TransportType { return routing.TCP }

// RemoteAddr is the peer's socket address.
func (c *tcpConnection) RemoteAddr() string { return c.conn.RemoteAddr().String() }

// Outgoing reports whether this node dialed the connection.
func (c *tcpConnection) Outgoing() bool { return c.outgoing }

// Received counts the frames read from the peer.
func (c *tcpConnection) Received() uint64 { return c.received.Load() }

// Done is closed when the connection has closed.
func (c *tcpConnection) Done() <-chan struct{} { return c.closed }

// Close closes the connection at once.
func (c *tcpConnection) Close() { c.close(nil) }

// Counters returns a snapshot of the connection's traffic.
func (c *tcpConnection) Counters() ConnectionCounters {
	return ConnectionCounters{
		BytesIn: c.bytesIn.Load(), BytesOut: c.bytesOut.Load(),
		FramesIn: c.received.Load(), FramesOut: c.framesOut.Load(),
	}
}

// HandleMessage queues m as a frame for the socket. It runs on the worker
// goroutine; Flush writes the queue out once the mailbox is empty, so
// messages in flight share system calls.
func (c *tcpConnection) HandleMessage(_ *Context, m *Routed) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.handle(m)
}

// handleNow writes a small message on the sender's goroutine, when nothing
// is queued for the connection and nobody writes to it: that saves waking
// the worker's goroutine, at every hop of a request and its reply. handled
// is false when the connection is busy or stopped, or the message is large
// (the sender goes on reading while the worker writes): the message goes
// to the mailbox, behind what is there.
//
// The sender never waits on the socket: what it does not take at once is
// left for the worker, which a flushMarker wakes.
func (c *tcpConnection) handleNow(m *Routed) (handled bool, err error) {
	if m.sp != nil || len(m.Payload) >= directWriteMin || c.raw == nil || !c.wmu.TryLock() {
		return false, nil
	}
	// Something left by another sender (its flushMarker on the way) or
	// queued: behind it, in the mailbox.
	if len(c.out) > 0 || c.w.pending.Load() != 0 {
		c.wmu.Unlock()
		return false, nil
	}
	select {
	case <-c.w.done:
		c.wmu.Unlock()
		return false, nil
	default:
	}
	err = c.handle(m)
	all := c.flushNowLocked()
	c.wmu.Unlock()
	if !all {
		// A full socket: the worker writes the rest, waiting as it may
		// (a closing node drains it at its shutdown).
		_ = c.w.deliver(context.Background(), c.node.closing, c.flushMarker)
	}
	return true, err
}

// flushNowLocked writes what of the queue the socket takes at once, and
// reports whether that was all of it. Under wmu.
func (c *tcpConnection) flushNowLocked() bool {
	if len(c.out) == 0 {
		return true
	}
	n := writeNow(c.raw, c.out)
	c.bytesOut.Add(uint64(n))
	if n < len(c.out) {
		c.out = c.out[:copy(c.out, c.out[n:])]
		return false
	}
	c.framesOut.Add(c.unflushed)
	c.unflushed = 0
	c.out = c.out[:0]
	return true
}

// handle queues or writes m. Under wmu.
func (c *tcpConnection) handle(m *Routed) error {
	if m == c.drainMarker {
		c.flushLocked()
		close(c.drained)
		return nil
	}
	if m == c.flushMarker {
		c.flushLocked()
		return nil
	}
	c.repliers.record(c.node, c.flow, m.Return)
	msg := m.Message
	msg.Onward = m.Onward[1:] // pop our own address
	if m.sp != nil {
		return c.writeSpliced(m, &msg)
	}
	if len(msg.Payload) >= directWriteMin {
		return c.writeDirect(m, &msg)
	}
	start := len(c.out)
	var err error
	c.out, err = wire.AppendFrame(c.out, &msg)
	if err != nil {
		c.out = c.out[:start]
		return fmt.Errorf("send to %s: %w", c.conn.RemoteAddr(), err)
	}
	m.release() // the queue holds a copy of the payload
	c.unflushed++
	if len(c.out) >= ioBufferSize {
		c.flushLocked()
	}
	return nil
}

// directWriteMin is the payload size from which a frame is written with
// writev around the payload rather than copied into the queue.
const directWriteMin = 8 << 10

// writeDirect writes the queue and a frame with a large payload in one
// writev, without copying the payload.
func (c *tcpConnection) writeDirect(m *Routed, msg *routing.Message) error {
	start := len(c.out)
	out, at, err := wire.AppendFrameSplit(c.out, msg)
	if err != nil {
		c.out = out[:start]
		return fmt.Errorf("send to %s: %w", c.conn.RemoteAddr(), err)
	}
	bufs := net.Buffers{out[:at], msg.Payload, out[at:]}
	written, err := bufs.WriteTo(c.conn)
	m.release()
	c.out = out[:0]
	c.bytesOut.Add(uint64(written))
	c.framesOut.Add(c.unflushed + 1)
	c.unflushed = 0
	if err != nil {
		c.close(fmt.Errorf("write: %w", err))
	}
	return nil
}

// writeSpliced writes the queue and a frame whose payload is in a pipe:
// the frame's head and the payload's first bytes, then the pipe's bytes
// spliced into the socket; the payload's last bytes and the rest of the
// frame are queued, to go with the next write (the worker flushes when its
// mailbox is empty).
func (c *tcpConnection) writeSpliced(m *Routed, msg *routing.Message) error {
	start := len(c.out)
	out, at, err := wire.AppendFrameAround(c.out, msg, m.payloadLen())
	if err != nil {
		c.out = out[:start]
		m.release()
		return fmt.Errorf("send to %s: %w", c.conn.RemoteAddr(), err)
	}
	var rest []byte // after the payload: a tracing context, seldom
	if at < len(out) {
		rest = append(rest, out[at:]...)
	}
	// The payload's last bytes go into the pipe after the rest (a pipe
	// write of up to PIPE_BUF bytes is whole or nothing): a pipe write
	// costs less than a TCP segment of its own, and the frame then leaves
	// in one push.
	tail := m.sp.tail
	if len(tail) > 0 && m.sp.pipe.put(tail) == nil {
		tail = nil
	}
	end := append(tail, rest...) // written after the pipe
	head := append(out[:at], msg.Payload...)
	written, err := writeMore(c.raw, head)
	if err == nil {
		var k int
		k, err = m.sp.pipe.drainTo(c.raw, len(end) > 0)
		written += k
	}
	c.bytesOut.Add(uint64(written))
	c.framesOut.Add(c.unflushed)
	c.unflushed = 1 // this one, once its end is written
	c.out = append(head[:0], end...)
	if len(c.out) == 0 {
		c.framesOut.Add(1)
		c.unflushed = 0
	}
	m.release()
	if err != nil {
		c.close(fmt.Errorf("write: %w", err))
	}
	return nil
}

// Flush writes the queued frames.
func (c *tcpConnection) Flush() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.flushLocked()
}

func (c *tcpConnection) flushLocked() {
	if len(c.out) == 0 {
		return
	}
	written, err := c.conn.Write(c.out)
	c.bytesOut.Add(uint64(written))
	c.framesOut.Add(c.unflushed)
	c.unflushed = 0
	if cap(c.out) > 4*ioBufferSize {
		c.out = nil // do not keep a burst's buffer for ever
	} else {
		c.out = c.out[:0]
	}
	if err != nil {
		c.close(fmt.Errorf("write: %w", err))
	}
}

// drain waits, at most timeout, until the messages queued on the connection
// when it is called have been written.
func (c *tcpConnection) drain(timeout time.Duration) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	// A peer that reads nothing must not hold the node's shutdown.
	_ = c.conn.SetWriteDeadline(time.Now().Add(timeout))
	if c.draining.Swap(true) {
		// Drained by someone else already (a relay closing it, and the
		// node's shutdown): wait for that one.
		select {
		case <-c.drained:
		case <-c.closed:
		case <-t.C:
		}
		return
	}
	// Counted in pending as every queued message is: handleNow writes
	// on the spot only when nothing is queued.
	c.w.pending.Add(1)
	select {
	case c.w.mailbox <- c.drainMarker:
	case <-c.closed:
		c.w.pending.Add(-1)
		return
	case <-t.C:
		c.w.pending.Add(-1)
		return
	}
	select {
	case <-c.drained:
	case <-c.closed:
	case <-t.C:
	}
}

// handshake sends our protocol version and checks the peer's.
func (c *tcpConnection) handshake(timeout time.Duration, br *bufio.Reader) error {
	deadline := time.Now().Add(timeout)
	_ = c.conn.SetDeadline(deadline)
	defer c.conn.SetDeadline(time.Time{})
	if _, err := c.conn.Write([]byte{wire.ProtocolVersion}); err != nil {
		return fmt.Errorf("%w: send version: %w", ErrHandshake, err)
	}
	v, err := br.ReadByte()
	if err != nil {
		return fmt.Errorf("%w: read version: %w", ErrHandshake, err)
	}
	if v != wire.ProtocolVersion {
		return fmt.Errorf("%w: peer speaks protocol version %d, we speak %d", ErrHandshake, v, wire.ProtocolVersion)
	}
	return nil
}

// readLoop reads frames until the connection fails or closes.
func (c *tcpConnection) readLoop(br *bufio.Reader) {
	var bytesIn uint64 // added to c.bytesIn before the reader may block
	for {
		if bytesIn > 0 && !frameBuffered(br) {
			c.bytesIn.Add(bytesIn)
			bytesIn = 0
		}
		if c.smallReads {
			c.in.limit = headRead
		}
		n, err := wire.PeekFrameLength(br)
		c.in.limit = 0
		var m *Routed
		consumed := false
		switch {
		case err != nil:
		case c.raw != nil && n >= spliceMin:
			m, consumed, err = c.readSpliced(br, n)
		default:
			c.smallReads = false
		}
		if err == nil && !consumed {
			m, err = c.readFrame(br, n)
		}
		if err != nil {
			c.bytesIn.Add(bytesIn)
			if errors.Is(err, io.EOF) {
				err = nil // the peer closed between frames: a clean end
			}
			c.close(err)
			return
		}
		c.received.Add(1)
		bytesIn += uint64(n) + 4 // and the length prefix
		if m == nil {
			continue // dropped
		}
		if err := c.node.route(context.Background(), m); err != nil {
			if c.node.quiet() {
				continue
			}
			c.log.Warn("dropped a message from the network", "onward", m.Onward.Brief(), "return", m.Return.Brief(), "error", err)
		}
	}
}

// readFrame reads a frame's body of n bytes, and decodes it. A bad message
// is dropped with a warning (nil, nil).
func (c *tcpConnection) readFrame(br *bufio.Reader, n int) (*Routed, error) {
	body, buf, err := readBody(br, n)
	if err != nil {
		return nil, err
	}
	msg, err := wire.DecodeBodyVia(body, c.w.addr)
	if err == nil {
		err = checkMessage(&msg)
	}
	if err != nil {
		putBuffer(buf)
		c.dropBad(&msg, err)
		return nil, nil
	}
	if len(msg.Onward) == 0 {
		putBuffer(buf)
		return nil, nil // Ockam's heartbeat: an empty frame
	}
	return &Routed{Message: msg, flow: c.flow, buf: buf}, nil
}

func (c *tcpConnection) dropBad(msg *routing.Message, err error) {
	c.node.counters.dropped[dropBadFrame].Add(1)
	c.log.Warn("dropped a bad message from the network", "onward", msg.Onward.Brief(), "return", msg.Return.Brief(), "error", err)
}

// headRead is how much the reader reads at once when the next frame is
// likely a large payload to splice: enough for its head, and little of the
// payload, which would otherwise be copied through memory.
const headRead = 512

// splicedHead and splicedTail are how many of a spliced payload's first
// and last bytes a connection keeps in memory: a portal Payload's tag and
// length, and its message number.
const (
	splicedHead = payloadHeaderMax
	splicedTail = seqSize
)

// readSpliced reads a frame of n bytes whose payload is large and goes to
// a worker that moves it as it is (Node.splicesTo): the payload's bytes go
// from the socket into a pipe. consumed is false, with nothing read, when
// the frame is not for splicing: the caller reads it as usual, and reports
// whatever is wrong with it.
func (c *tcpConnection) readSpliced(br *bufio.Reader, n int) (m *Routed, consumed bool, err error) {
	avail := min(br.Buffered(), n)
	prefix, _ := br.Peek(avail) // buffered: no read
	h, err := wire.DecodeHeadVia(prefix, c.w.addr)
	if err != nil || checkMessage(&h.Message) != nil || len(h.Message.Onward) == 0 {
		return nil, false, nil
	}
	end := h.PayloadAt + h.PayloadLen
	buffered := min(avail-h.PayloadAt, h.PayloadLen)
	target := c.node.splicesTo(h.Message.Onward)
	// For a stream, the payload's first bytes (a portal header) and last
	// (its number) stay in memory, and what was read of the rest goes into
	// the pipe; for a connection, what was read stays in memory, ahead of
	// the pipe, and the pipe takes all the rest.
	headLen, tail := buffered, 0
	if target == spliceStream {
		headLen, tail = splicedHead, splicedTail
	}
	mid := h.PayloadLen - buffered - tail
	if end > n || buffered < headLen || mid < spliceMin || target == spliceNone {
		c.smallReads = end <= n && h.PayloadLen >= spliceMin && target != spliceNone
		return nil, false, nil
	}
	p := getPipe()
	if p == nil {
		return nil, false, nil
	}
	c.smallReads = true
	_, _ = br.Discard(h.PayloadAt)
	head := make([]byte, headLen)
	_, _ = io.ReadFull(br, head) // buffered
	// A pipe that takes less than the payload (it is small, or the data
	// came in many small pieces) leaves the rest to go through memory.
	ahead, _ := br.Peek(buffered - headLen)
	full := p.put(ahead) != nil
	_, _ = br.Discard(p.held)
	if !full {
		if err := p.fillExactly(c.raw, mid); err != nil {
			if !errors.Is(err, errPipeFull) {
				p.release()
				return nil, true, fmt.Errorf("read frame body of %d bytes: %w", n, err)
			}
			full = true
		}
	}
	if full {
		m, err := c.readRestInMemory(br, n, &h, head, p)
		return m, true, err
	}
	// The payload's last bytes and the rest of the frame, with the next
	// frame's head if it has come.
	var after []byte
	if tail+n-end > 0 {
		c.in.limit = headRead
		after = make([]byte, tail+n-end)
		_, err = io.ReadFull(br, after)
		c.in.limit = 0
		if err != nil {
			p.release()
			return nil, true, fmt.Errorf("read frame body of %d bytes: %w", n, noEOF(err))
		}
	}
	if err := h.DecodeRest(after[tail:]); err != nil {
		p.release()
		c.dropBad(&h.Message, err)
		return nil, true, nil
	}
	msg := h.Message
	msg.Payload = head
	return &Routed{Message: msg, flow: c.flow, sp: newSpliced(p, after[:tail:tail])}, true, nil
}

// readRestInMemory finishes reading a frame whose payload did not all fit
// in the pipe: the payload is head, what the pipe holds, and the rest still
// to read; the message gets it all in memory.
func (c *tcpConnection) readRestInMemory(br *bufio.Reader, n int, h *wire.Head, head []byte, p *pipe) (*Routed, error) {
	defer p.release()
	payload := make([]byte, h.PayloadLen)
	k := copy(payload, head)
	held := p.held
	if err := p.take(payload[k : k+held]); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(br, payload[k+held:]); err != nil {
		return nil, fmt.Errorf("read frame body of %d bytes: %w", n, noEOF(err))
	}
	after := make([]byte, n-h.PayloadAt-h.PayloadLen)
	if _, err := io.ReadFull(br, after); err != nil {
		return nil, fmt.Errorf("read frame body of %d bytes: %w", n, noEOF(err))
	}
	if err := h.DecodeRest(after); err != nil {
		c.dropBad(&h.Message, err)
		return nil, nil
	}
	msg := h.Message
	msg.Payload = payload
	return &Routed{Message: msg, flow: c.flow}, nil
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// cappedReader is a connection's socket as its reader reads it: while limit
// is set, a read takes at most that many bytes.
type cappedReader struct {
	conn  net.Conn
	limit int
}

func (r *cappedReader) Read(p []byte) (int, error) {
	if r.limit > 0 && len(p) > r.limit {
		p = p[:r.limit]
	}
	return r.conn.Read(p)
}

// frameBuffered reports whether br holds the whole next frame: reading it
// does not block.
func frameBuffered(br *bufio.Reader) bool {
	if br.Buffered() < 4 {
		return false
	}
	prefix, _ := br.Peek(4) // buffered: no read
	return uint64(br.Buffered()) >= 4+uint64(binary.BigEndian.Uint32(prefix))
}

// pooledFrameMin is the body size from which a frame is read into a pooled
// buffer: full portal chunks, not small messages that may sit in a mailbox.
// A queued chunk then pins at most twice its size.
const pooledFrameMin = 32 << 10

// readBody reads a frame's body of n bytes, into a pooled buffer when it
// is large.
func readBody(br *bufio.Reader, n int) (body []byte, buf *[]byte, err error) {
	if buf = getBufferFor(n); buf != nil {
		body = (*buf)[:n]
	} else {
		body = make([]byte, n)
	}
	if err := wire.ReadFrameBody(br, body); err != nil {
		putBuffer(buf)
		return nil, nil, err
	}
	return body, buf, nil
}

// close shuts the connection and removes its worker. reason is logged; nil
// means an orderly end.
func (c *tcpConnection) close(reason error) {
	c.closeOnce.Do(func() {
		_ = c.conn.Close()
		c.t.remove(c)
		_ = c.node.StopWorker(c.w.addr.Value)
		c.repliers.forget(c.flow)
		if reason != nil && !c.node.quiet() {
			c.log.Warn("connection closed", "reason", reason)
		} else {
			c.log.Debug("connection closed")
		}
		close(c.closed)
		c.node.connectionClosed(c.w.addr)
	})
}

// checkMessage refuses a message naming a transport type ockamtop does not
// know (such a peer does not speak our protocol), or with a route longer
// than routing.MaxRouteLength.
func checkMessage(m *routing.Message) error {
	if len(m.Onward) > routing.MaxRouteLength || len(m.Return) > routing.MaxRouteLength {
		return fmt.Errorf("route of %d/%d hops, the limit is %d", len(m.Onward), len(m.Return), routing.MaxRouteLength)
	}
	for _, r := range [2]routing.Route{m.Onward, m.Return} {
		for _, a := range r {
			if !a.Type.Known() {
				return fmt.Errorf("%w: address %s", ErrUnsupportedTransport, a)
			}
		}
	}
	return nil
}
