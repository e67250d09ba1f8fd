package runtime

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/splice"
	"github.com/ockamtop/ockamtop/runtime/wire"
)

// A connection's write side: its worker queues frames in out and writes
// them when its mailbox is empty (Flush), a sender writes a small frame on
// the spot when the connection is idle (handleNow), a large payload is
// written around rather than copied (writeDirect, writeSpliced), and drain
// waits for what was queued before a close.

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
	n := splice.WriteNow(c.raw, c.out)
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
	if len(tail) > 0 && m.sp.pipe.Put(tail) == nil {
		tail = nil
	}
	end := append(tail, rest...) // written after the pipe
	head := append(out[:at], msg.Payload...)
	written, err := splice.WriteMore(c.raw, head)
	if err == nil {
		var k int
		k, err = m.sp.pipe.Drain(c.raw, len(end) > 0)
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

// Splice takes a spliced payload as it is, to write its frame around the
// pipe (writeSpliced), when the socket has a descriptor to splice into.
func (c *tcpConnection) Splice(routing.Route) SpliceTarget {
	if c.raw != nil {
		return SpliceTarget{Mode: SpliceFrame}
	}
	return SpliceTarget{}
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
