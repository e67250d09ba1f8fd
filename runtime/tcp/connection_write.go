package tcp

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
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
func (c *connection) HandleMessage(_ *runtime.Context, m *runtime.Routed) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.handle(m)
}

// HandleNow writes a small message on the sender's goroutine, when nothing
// is queued for the connection and nobody writes to it: that saves waking
// the worker's goroutine, at every hop of a request and its reply. handled
// is false when the connection is busy or stopped, or the message is large
// (the sender goes on reading while the worker writes): the message goes
// to the mailbox, behind what is there.
//
// The sender never waits on the socket: what it does not take at once is
// left for the worker, which a flushMarker wakes.
func (c *connection) HandleNow(m *runtime.Routed) (handled bool, err error) {
	if m.Spliced() != nil || len(m.Payload) >= directWriteMin || c.raw == nil || !c.wmu.TryLock() {
		return false, nil
	}
	// Something left by another sender (its flushMarker on the way) or
	// queued: behind it, in the mailbox.
	if len(c.out) > 0 || !c.w.Idle() || c.w.Stopped() {
		c.wmu.Unlock()
		return false, nil
	}
	err = c.handle(m)
	all := c.flushNowLocked()
	c.wmu.Unlock()
	if !all {
		// A full socket: the worker writes the rest, waiting as it may
		// (a closing node drains it at its shutdown).
		_ = c.w.Queue(c.node.Context(), c.flushMarker)
	}
	return true, err
}

// flushNowLocked writes what of the queue the socket takes at once, and
// reports whether that was all of it. Under wmu.
func (c *connection) flushNowLocked() bool {
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
func (c *connection) handle(m *runtime.Routed) error {
	if m == c.drainMarker {
		c.flushLocked()
		close(c.drained)
		return nil
	}
	if m == c.flushMarker {
		c.flushLocked()
		return nil
	}
	c.flow.ExpectReplies(m.Return)
	msg := m.Message
	msg.Onward = m.Onward[1:] // pop our own address
	if m.Spliced() != nil {
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
	m.Release() // the queue holds a copy of the payload
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
func (c *connection) writeDirect(m *runtime.Routed, msg *routing.Message) error {
	start := len(c.out)
	out, at, err := wire.AppendFrameSplit(c.out, msg)
	if err != nil {
		c.out = out[:start]
		return fmt.Errorf("send to %s: %w", c.conn.RemoteAddr(), err)
	}
	bufs := net.Buffers{out[:at], msg.Payload, out[at:]}
	written, err := bufs.WriteTo(c.conn)
	m.Release()
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
func (c *connection) writeSpliced(m *runtime.Routed, msg *routing.Message) error {
	start := len(c.out)
	out, at, err := wire.AppendFrameAround(c.out, msg, m.PayloadLen())
	if err != nil {
		c.out = out[:start]
		m.Release()
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
	sp := m.Spliced()
	tail := sp.Tail()
	if len(tail) > 0 && sp.Pipe().Put(tail) == nil {
		tail = nil
	}
	end := append(tail, rest...) // written after the pipe
	head := append(out[:at], msg.Payload...)
	written, err := splice.WriteMore(c.raw, head)
	if err == nil {
		var k int
		k, err = sp.Pipe().Drain(c.raw, len(end) > 0)
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
	m.Release()
	if err != nil {
		c.close(fmt.Errorf("write: %w", err))
	}
	return nil
}

// Splice takes a spliced payload as it is, to write its frame around the
// pipe (writeSpliced), when the socket has a descriptor to splice into.
func (c *connection) Splice(routing.Route) runtime.SpliceTarget {
	if c.raw != nil {
		return runtime.SpliceTarget{Mode: runtime.SpliceFrame}
	}
	return runtime.SpliceTarget{}
}

// Flush writes the queued frames.
func (c *connection) Flush() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.flushLocked()
}

func (c *connection) flushLocked() {
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

// Drain waits, at most timeout, until the messages queued on the connection
// when it is called have been written.
func (c *connection) Drain(timeout time.Duration) {
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
	// Counted as every queued message is: HandleNow writes on the spot
	// only when nothing is queued.
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	err := c.w.Queue(ctx, c.drainMarker)
	cancel()
	if err != nil {
		return // closed, or the time is up
	}
	select {
	case <-c.drained:
	case <-c.closed:
	case <-t.C:
	}
}
