package tcp

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/splice"
	"github.com/ockamtop/ockamtop/runtime/wire"
)

// A connection's read side: the handshake, then one goroutine reading
// frames (readLoop) and routing each on, with a large payload bound for a
// worker that moves it as it is read from the socket into a pipe
// (readSpliced).

// handshake sends our protocol version and checks the peer's.
func (c *connection) handshake(timeout time.Duration, br *bufio.Reader) error {
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
//
// Between frames, with nothing buffered, it waits for the next one holding
// no read buffer (splice.WaitReadable), and takes one from a pool once
// there is something to read: an idle connection (a relay's, between its
// checks) costs no 64 KiB buffer, and ten thousand of them no 640 MB that
// the collector would count as live.
func (c *connection) readLoop(br *bufio.Reader) {
	defer func() {
		c.reading.Store(false)
		putReader(br)
	}()
	c.in.frameWait = c.t.opts.FrameTimeout
	var bytesIn uint64 // added to c.bytesIn before the reader may block
	for {
		if bytesIn > 0 && !frameBuffered(br) {
			c.bytesIn.Add(bytesIn)
			bytesIn = 0
		}
		if br.Buffered() == 0 && c.raw != nil {
			putReader(br)
			br = nil
			c.reading.Store(false)
			if err := c.in.waitReadable(c.raw); err != nil {
				c.close(err)
				return
			}
			c.reading.Store(true)
			br = getReader(&c.in)
		}
		if c.smallReads {
			c.in.limit = headRead
		}
		c.in.idle = br.Buffered() == 0
		n, err := wire.PeekFrameLength(br)
		c.in.limit = 0
		var m *runtime.Routed
		consumed := false
		bad := c.badRun
		switch {
		case err != nil:
		case c.raw != nil && n >= splice.MinBytes:
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
		if c.badRun == bad {
			// A good frame ends a run of bad ones, and is the first
			// frame an accepted connection owed.
			c.badRun = 0
			if !c.in.firstDue.IsZero() {
				c.in.firstDue = time.Time{}
				c.greeted.Store(true)
			}
		}
		if m == nil {
			continue // dropped
		}
		if err := c.node.Route(context.Background(), m); err != nil {
			if c.node.Quiet() {
				continue
			}
			c.warns.Warn(c.log, "dropped a message from the network", "onward", m.Onward.Brief(), "return", m.Return.Brief(), "error", err)
		}
	}
}

// readFrame reads a frame's body of n bytes, and decodes it. A bad message
// is dropped with a warning (nil, nil).
func (c *connection) readFrame(br *bufio.Reader, n int) (*runtime.Routed, error) {
	body, buf, err := readBody(br, n)
	if err != nil {
		return nil, err
	}
	msg, err := wire.DecodeBodyVia(body, c.w.Address())
	if err == nil {
		err = runtime.CheckMessage(&msg)
	}
	if err != nil {
		runtime.PutBuffer(buf)
		return nil, c.dropBad(&msg, err)
	}
	if len(msg.Onward) == 0 {
		runtime.PutBuffer(buf)
		return nil, nil // Ockam's heartbeat: an empty frame
	}
	return runtime.NewRouted(msg, c.flow, buf, nil), nil
}

// badFrameRun is how many bad frames in a row close a connection. A peer
// that speaks the protocol sends a bad message now and then at most (a
// route to a transport we lack, say); a run this long is garbage, or a peer
// that means harm, and goes on while the connection does.
const badFrameRun = 64

// dropBad drops a frame that holds a bad message, with a rate-limited
// warning. It returns an error, to close the connection, when the frame
// ends a run of badFrameRun bad ones.
func (c *connection) dropBad(msg *routing.Message, err error) error {
	c.t.host.DroppedBadFrame()
	c.badRun++
	if c.badRun >= badFrameRun {
		return fmt.Errorf("%w: %d in a row, the last: %w", ErrBadFrames, c.badRun, err)
	}
	c.warns.Warn(c.log, "dropped a bad message from the network", "onward", msg.Onward.Brief(), "return", msg.Return.Brief(), "error", err)
	return nil
}

// headRead is how much the reader reads at once when the next frame is
// likely a large payload to splice: enough for its head, and little of the
// payload, which would otherwise be copied through memory.
const headRead = 512

// readSpliced reads a frame of n bytes whose payload is large and goes to
// a worker that moves it as it is (Node.SpliceTo): the payload's bytes go
// from the socket into a pipe. consumed is false, with nothing read, when
// the frame is not for splicing: the caller reads it as usual, and reports
// whatever is wrong with it.
func (c *connection) readSpliced(br *bufio.Reader, n int) (m *runtime.Routed, consumed bool, err error) {
	avail := min(br.Buffered(), n)
	prefix, _ := br.Peek(avail) // buffered: no read
	h, err := wire.DecodeHeadVia(prefix, c.w.Address())
	if err != nil || runtime.CheckMessage(&h.Message) != nil || len(h.Message.Onward) == 0 {
		return nil, false, nil
	}
	end := h.PayloadAt + h.PayloadLen
	buffered := min(avail-h.PayloadAt, h.PayloadLen)
	target := c.node.SpliceTo(h.Message.Onward)
	// For a socket (a portal stream), the payload's first and last bytes
	// that it reads (its header and number) stay in memory, and what was
	// read of the rest goes into the pipe; for a connection, what was read
	// stays in memory, ahead of the pipe, and the pipe takes all the rest.
	headLen, tail := buffered, 0
	if target.Mode == runtime.SpliceSocket {
		headLen, tail = target.Head, target.Tail
	}
	mid := h.PayloadLen - buffered - tail
	if end > n || buffered < headLen || mid < splice.MinBytes || target.Mode == runtime.SpliceNone {
		c.smallReads = end <= n && h.PayloadLen >= splice.MinBytes && target.Mode != runtime.SpliceNone
		return nil, false, nil
	}
	p := splice.GetPipe()
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
	full := p.Put(ahead) != nil
	_, _ = br.Discard(p.Held())
	if !full {
		if err := c.fillPipe(p, mid); err != nil {
			if !errors.Is(err, splice.ErrPipeFull) {
				p.Release()
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
			p.Release()
			return nil, true, fmt.Errorf("read frame body of %d bytes: %w", n, noEOF(err))
		}
	}
	if err := h.DecodeRest(after[tail:]); err != nil {
		p.Release()
		return nil, true, c.dropBad(&h.Message, err)
	}
	msg := h.Message
	msg.Payload = head
	return runtime.NewRouted(msg, c.flow, nil, runtime.NewSpliced(p, after[:tail:tail])), true, nil
}

// fillPipe is p.FillExactly(c.raw, n) under the frame's deadline, which
// the splice honours as a read does.
func (c *connection) fillPipe(p *splice.Pipe, n int) error {
	for {
		c.in.arm()
		held := p.Held()
		err := p.FillExactly(c.raw, n)
		c.in.total += uint64(p.Held() - held)
		n -= p.Held() - held
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		if err := c.in.expired(); err != nil {
			return err
		}
	}
}

// readRestInMemory finishes reading a frame whose payload did not all fit
// in the pipe: the payload is head, what the pipe holds, and the rest still
// to read; the message gets it all in memory.
func (c *connection) readRestInMemory(br *bufio.Reader, n int, h *wire.Head, head []byte, p *splice.Pipe) (*runtime.Routed, error) {
	defer p.Release()
	payload := make([]byte, h.PayloadLen)
	k := copy(payload, head)
	held := p.Held()
	if err := p.Take(payload[k : k+held]); err != nil {
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
		return nil, c.dropBad(&h.Message, err)
	}
	msg := h.Message
	msg.Payload = payload
	return runtime.NewRouted(msg, c.flow, nil, nil), nil
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// cappedReader is a connection's socket as its reader reads it: while limit
// is set, a read takes at most that many bytes; and a read waits for the
// peer no longer than the connection's deadlines allow.
//
// The deadlines are for a peer that holds a connection without using it:
// an accepted connection's first good frame must begin within firstWait
// of its version byte, and a frame begun must not stall, no byte coming
// for frameWait (a stall is seen within frameWait to twice that, so that a
// slow but moving frame of 16 MiB is never cut). After its first frame a
// connection may be idle for ever: a relay's or a quiet portal's is.
//
// A busy connection must not pay a deadline per frame: the socket's read
// deadline is set when a read needs one that is not set already, and left
// in place after; one that expires while the connection had no reason to
// time out (bytes came since it was set, or the connection is idle) is
// cleared and the read goes on. So a connection in full flow sets its
// deadline once each frameWait.
type cappedReader struct {
	conn  net.Conn
	limit int

	// idle is set by the reader between frames: the next read waits for
	// a frame to begin. A read that returns bytes clears it.
	idle bool
	// firstDue is when an accepted connection's first good frame must
	// have begun; zero once one has come, and on a connection we dialed.
	firstDue  time.Time
	firstWait time.Duration
	// frameWait bounds the wait for the next byte of a frame begun; zero
	// until the reader has its frames to read.
	frameWait time.Duration
	// armed is which deadline is set on conn.
	armed armedDeadline
	// total counts the bytes read; atArm is total when the frame deadline
	// was set.
	total, atArm uint64
}

type armedDeadline uint8

const (
	armedNone  armedDeadline = iota
	armedFirst               // firstDue
	armedFrame               // frameWait from when it was set
)

func (r *cappedReader) Read(p []byte) (int, error) {
	if r.limit > 0 && len(p) > r.limit {
		p = p[:r.limit]
	}
	if r.frameWait == 0 {
		return r.conn.Read(p) // the handshake, under a deadline of its own
	}
	for {
		r.arm()
		n, err := r.conn.Read(p)
		if n > 0 {
			r.total += uint64(n)
			r.idle = false
			return n, err
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		if err := r.expired(); err != nil {
			return 0, err
		}
	}
}

// arm sets the deadline that the next read needs, if it is not set.
func (r *cappedReader) arm() {
	switch {
	case r.idle && !r.firstDue.IsZero():
		if r.armed != armedFirst {
			_ = r.conn.SetReadDeadline(r.firstDue)
			r.armed = armedFirst
		}
	case !r.idle:
		if r.armed != armedFrame {
			_ = r.conn.SetReadDeadline(time.Now().Add(r.frameWait))
			r.armed, r.atArm = armedFrame, r.total
		}
	}
}

// expired takes a read deadline that passed: an error when the peer is
// late, nil when the read may go on (the deadline is cleared or is set
// again by the next arm).
func (r *cappedReader) expired() error {
	switch {
	case r.idle && !r.firstDue.IsZero():
		return fmt.Errorf("%w: no frame within %s of the version byte", ErrPeerTimeout, r.firstWait)
	case !r.idle && r.armed == armedFrame && r.total == r.atArm:
		return fmt.Errorf("%w: no byte for %s in the middle of a frame", ErrPeerTimeout, r.frameWait)
	}
	if r.idle {
		_ = r.conn.SetReadDeadline(time.Time{})
	}
	r.armed = armedNone
	return nil
}

// waitReadable waits until the socket has something to read, holding no
// buffer, under the deadline a read between frames has: the first frame's,
// on an accepted connection that owes one.
func (r *cappedReader) waitReadable(raw syscall.RawConn) error {
	r.idle = true
	for {
		r.arm()
		err := splice.WaitReadable(raw)
		if err == nil {
			return nil
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		if err := r.expired(); err != nil {
			return err
		}
	}
}

// readers are the connections' read buffers, taken while they read.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, ioBufferSize) }}

// getReader takes a read buffer for in.
func getReader(in io.Reader) *bufio.Reader {
	br := readers.Get().(*bufio.Reader)
	br.Reset(in)
	return br
}

// putReader gives br back, empty or not (what it holds is dropped); nil
// is none.
func putReader(br *bufio.Reader) {
	if br != nil {
		br.Reset(nil)
		readers.Put(br)
	}
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

// readBody reads a frame's body of n bytes, into a pooled buffer when it
// is large (runtime.PooledMin).
func readBody(br *bufio.Reader, n int) (body []byte, buf *[]byte, err error) {
	if n >= runtime.PooledMin {
		buf = runtime.GetBuffer(n)
	}
	if buf != nil {
		body = (*buf)[:n]
	} else {
		body = make([]byte, n)
	}
	if err := wire.ReadFrameBody(br, body); err != nil {
		runtime.PutBuffer(buf)
		return nil, nil, err
	}
	return body, buf, nil
}
