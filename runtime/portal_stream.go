package runtime

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/wire"
)

// portalStream is one TCP stream of a portal, at either end: the inlet's
// end holds the client's socket, the outlet's the target's. Its worker is
// inline (HandleMessage never blocks): received data is queued, at most a
// window of it thanks to credits, and written by a goroutine that exists
// only while there is something to write. An idle stream is one goroutine,
// its reader, blocked in Read on a small buffer.
type portalStream struct {
	node *Node
	addr routing.Address
	sock *net.TCPConn
	// raw is sock's descriptor, for splicing; nil if it has none.
	raw syscall.RawConn
	log hclog.Logger
	// set is the inlet's or outlet's streams, which hold this one while
	// it is open.
	set *streamSet
	// onDone runs once when the stream has closed, after its socket. Set
	// before the stream is known to anyone.
	onDone func()

	mu sync.Mutex
	// untrack unregisters the stream from its node's shutdown.
	untrack func() // guarded by mu
	// remote is the route to the other end's stream worker.
	remote routing.Route // guarded by mu
	// via is the first hop of the inlet's Ping, while its Pong is awaited:
	// if that connection closes, no Pong will come.
	via routing.Address // guarded by mu
	// credit is how many bytes we may still send; sendWindow the most it
	// may be, and chunk the largest Payload we send (the other end's
	// Window). window is how many bytes we take in flight (our Window).
	credit, sendWindow, chunk, window int // guarded by mu
	// queue holds received data not yet written to sock; queued counts it.
	queue  []chunk // guarded by mu
	queued int     // guarded by mu
	// writing is true while a writer goroutine runs.
	writing bool // guarded by mu
	// unacked counts bytes written to sock and not yet given back as
	// credit. Only the writer goroutine uses it; writers hand over under mu.
	unacked int
	// peerEOF: the other end half-closed; after the queue, shut our write
	// side. disconnect: it said Disconnect; after the queue, close.
	peerEOF, disconnect bool // guarded by mu
	// wroteEOF: our write side is shut. readEOF: our socket said EOF and we
	// told the other end.
	wroteEOF, readEOF bool // guarded by mu
	closed            bool // guarded by mu
	// tombstone: closed, but the worker stays a while to answer whatever
	// still comes (a late Pong) with Disconnect.
	tombstone bool // guarded by mu

	// pinged is set by the inlet when it sends its Ping: the other end
	// will exist, and must be told if this end goes.
	pinged atomic.Bool
	// grown: the reader has sent since it started, so its stack may have
	// grown; poked: the sweeper asked it to restart (readFrom).
	grown, poked atomic.Bool
	// large: counted by its set among the streams with a large window.
	// Guarded by the set's mu.
	large bool

	// sending orders what the stream sends, a lock held by putting into
	// it: a message's number is taken, and the message routed, under it,
	// so that the numbers leave in order. A channel, so that close can
	// give up on it after a while. HandleMessage never takes it (a message
	// routed inline may come back to this stream on the same goroutine).
	sending chan struct{}
	sent    uint16 // guarded by sending: the number of the next message sent
	// heard is the number of the next message expected from the other
	// end; broken is set when one did not come in order.
	heard  uint16 // guarded by mu
	broken bool   // guarded by mu

	// lastSent and lastHeard are UnixNano times, for keepalives.
	lastSent, lastHeard atomic.Int64

	creditCh    chan struct{} // signalled when credit grows
	established chan struct{} // closed when the other end is known (Pong)
	establish   sync.Once
	done        chan struct{} // closed when the stream has closed
}

// chunk is received stream data and the buffer it lives in, or the pipe
// that holds it.
type chunk struct {
	data []byte
	buf  *[]byte
	sp   *spliced
}

func (c chunk) len() int {
	if c.sp != nil {
		return c.sp.pipe.held
	}
	return len(c.data)
}

func (c chunk) release() {
	putBuffer(c.buf)
	if c.sp != nil {
		c.sp.release()
	}
}

// newPortalStream starts a stream over sock, in set. remote is the route
// to the other end when it is known already (at the outlet), nil when the
// other end's Pong will tell it (at the inlet). The stream is in set, and
// knows its remote, before anything can close it.
func newPortalStream(n *Node, sock *net.TCPConn, log hclog.Logger, set *streamSet, remote routing.Route, onDone func()) (*portalStream, error) {
	s := &portalStream{
		node:        n,
		sock:        sock,
		log:         log, // the stream's name is added when it logs: With costs memory per stream
		set:         set,
		onDone:      onDone,
		credit:      PortalWindow,
		sendWindow:  PortalWindow,
		chunk:       MaxPortalChunk,
		window:      PortalWindow,
		creditCh:    make(chan struct{}, 1),
		sending:     make(chan struct{}, 1),
		established: make(chan struct{}),
		done:        make(chan struct{}),
	}
	s.raw, _ = spliceable(sock)
	name := RandomAddress()
	s.addr = routing.LocalAddress(name)
	now := time.Now().UnixNano()
	s.lastSent.Store(now)
	s.lastHeard.Store(now)
	if remote != nil {
		s.setRemote(remote)
	}
	if !set.add(s) {
		return nil, ErrPartStopped
	}
	set.count.streams.Add(1)
	// Registered for the node's shutdown before it has a worker, so that
	// no shutdown can miss a stream that has one.
	untrack, ok := n.atClose(s.shutdown)
	if !ok {
		set.remove(s)
		return nil, ErrNodeClosed
	}
	s.mu.Lock()
	s.untrack = untrack
	s.mu.Unlock()
	if _, err := n.startInlineWorker(name, s); err != nil {
		untrack()
		set.remove(s)
		return nil, err
	}
	return s, nil
}

// setRemote fixes the route to the other end and lets data flow. Only the
// first call counts.
func (s *portalStream) setRemote(r routing.Route) {
	s.establish.Do(func() {
		s.mu.Lock()
		s.remote = r.Clone()
		s.mu.Unlock()
		close(s.established)
	})
}

func (s *portalStream) isEstablished() bool {
	select {
	case <-s.established:
		return true
	default:
		return false
	}
}

// HandleMessage takes a portal message from the other end. It never blocks.
func (s *portalStream) HandleMessage(_ *Context, m *Routed) error {
	// A message dropped on any path below gives its pipe back at once (a
	// queued one has handed it over already).
	defer m.dropSplice()
	s.lastHeard.Store(time.Now().UnixNano())
	pm, err := s.decode(m)
	s.mu.Lock()
	closed, tombstone, broken := s.closed, s.tombstone, s.broken
	var gap error
	if err == nil && pm.hasSeq && !closed && !broken {
		if pm.seq != s.heard {
			gap = fmt.Errorf("%w: message %d of the other end arrived when %d was due", errStreamBroken, pm.seq, s.heard)
			s.broken = true
		}
		s.heard++
	}
	s.mu.Unlock()
	if closed {
		if tombstone && (err != nil || pm.tag != portalDisconnect) {
			return s.node.route(context.Background(), &Routed{Message: routing.Message{
				Onward: m.Return, Return: routing.Route{s.addr}, Payload: encodePortal(portalDisconnect),
			}})
		}
		return nil
	}
	if broken {
		return nil // closing
	}
	if err != nil {
		s.closeLater(err)
		return err
	}
	if gap != nil {
		s.closeLater(gap)
		return nil
	}
	switch pm.tag {
	case portalPong:
		s.setRemote(m.Return) // a duplicate changes nothing
	case portalPayload:
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil
		}
		c := chunk{data: pm.data, buf: m.buf, sp: m.sp}
		if s.queued+c.len() > s.window {
			queued := s.queued
			s.mu.Unlock()
			s.closeLater(fmt.Errorf("peer sent beyond its credit (%d bytes queued)", queued))
			return nil
		}
		if c.len() > 0 && (c.sp != nil || len(c.data) <= writeNowMax) && s.idleWriterLocked() {
			// Nobody writing, nothing queued: write what the socket takes
			// at once, and save waking a writer.
			s.writing = true
			s.mu.Unlock()
			var n int
			if c.sp != nil {
				n = c.sp.pipe.drainNow(s.raw)
			} else {
				n = writeNow(s.raw, c.data)
				c.data = c.data[n:]
			}
			s.set.count.bytesOut.Add(uint64(n))
			s.mu.Lock()
			s.writing = false
			if s.closed {
				// Closed meanwhile: its queue has been given back, and
				// the rest of this chunk goes with it.
				c.release()
				c, m.buf, m.sp = chunk{}, nil, nil
			}
			s.unacked += n
			if credit := s.unacked; credit >= s.window/2 {
				s.unacked = 0
				s.node.goroutine(func() { s.send(encodeCredit(credit)) })
			}
			if c.len() == 0 {
				c.release()
				c, m.buf, m.sp = chunk{}, nil, nil
			}
		}
		if c.len() > 0 {
			s.queue = append(s.queue, c)
			s.queued += c.len()
			m.buf, m.sp = nil, nil // the writer gives them back
		}
		s.kickWriterLocked()
		s.mu.Unlock()
	case portalCredit:
		s.mu.Lock()
		// Never more than a window in flight, whatever a peer claims.
		s.credit = min(s.credit+int(min(pm.n, uint64(s.sendWindow))), s.sendWindow)
		s.mu.Unlock()
		s.creditGrew()
	case portalWindow:
		w := int(min(pm.n, LargeWindow))
		// An end that has not said its own window yet (the outlet's)
		// takes as much, and says so, if its set has room for one more
		// large window (maxLargeStreams); otherwise it keeps the default,
		// and the other end sends Ockam-sized chunks.
		s.mu.Lock()
		wants := w > s.window
		s.mu.Unlock()
		granted := wants && s.set.takeLarge(s)
		s.mu.Lock()
		if w > s.sendWindow {
			s.credit += w - s.sendWindow
			s.sendWindow, s.chunk = w, chunkFor(w)
		}
		answer := granted && w > s.window
		if answer {
			s.window = w
		}
		s.mu.Unlock()
		s.creditGrew()
		if answer {
			s.node.goroutine(func() { s.send(encodeWindow(w)) })
		}
	case portalHalfClose:
		s.mu.Lock()
		s.peerEOF = true
		s.kickWriterLocked()
		s.mu.Unlock()
	case portalDisconnect:
		// Write out what arrived before it, then close (Ockam ends a stream
		// with Disconnect right after its last data).
		s.mu.Lock()
		s.peerEOF, s.disconnect = true, true
		idle := !s.writing && len(s.queue) == 0
		s.kickWriterLocked()
		s.mu.Unlock()
		if idle {
			s.close(nil, false)
		}
	case portalKeepAlive:
		// Heard: that is all it is for.
	case portalBroken:
		s.close(fmt.Errorf("%w: the other end lost messages of this stream on the way", errStreamBroken), false)
	case portalPing:
		s.closeLater(errors.New("unexpected ping on an open stream"))
	}
	return nil
}

// creditGrew wakes a reader waiting for credit.
func (s *portalStream) creditGrew() {
	select {
	case s.creditCh <- struct{}{}:
	default:
	}
}

// announceWindow tells the other end that this end takes window bytes in
// flight (a Window message), and takes them from now on.
func (s *portalStream) announceWindow(window int) {
	window = min(window, LargeWindow)
	s.mu.Lock()
	if window <= s.window {
		s.mu.Unlock()
		return
	}
	s.window = window
	s.mu.Unlock()
	s.send(encodeWindow(window))
}

// errStreamBroken is a stream that lost, duplicated or reordered messages
// on the way, or whose other end went silent: what reached the socket is
// intact, but not all of it did. Its socket is reset, not closed, so that
// the client sees an error rather than a clean end.
var errStreamBroken = errors.New("portal stream broken")

// closeLater closes the stream, telling the other end, from a goroutine of
// its own: HandleMessage may run inside this stream's own send (a message
// routed inline coming back), which holds sending.
func (s *portalStream) closeLater(reason error) {
	s.mu.Lock()
	s.broken = true // nothing more is taken in
	s.mu.Unlock()
	s.node.goroutine(func() { s.close(reason, true) })
}

// writeNowMax is the most received data a stream writes on the spot
// (HandleMessage), as much as its socket takes at once: any chunk. A
// request or a reply then wakes no writer; and a chunk a secure channel
// has just decrypted on the same goroutine is copied into the socket
// while it is still in this core's cache (in alternating portalbench runs
// of the secure path, 4 each: 1.73 -> 1.62 CPU s/GiB, 884 -> 915 MB/s).
const writeNowMax = LargeChunk + 64

// idleWriterLocked reports whether nothing is being written or waits to
// be, and the socket is open for writing.
func (s *portalStream) idleWriterLocked() bool {
	return !s.writing && len(s.queue) == 0 && !s.closed && !s.wroteEOF && !s.peerEOF && s.raw != nil
}

// kickWriterLocked starts the writer if there is work and none runs.
func (s *portalStream) kickWriterLocked() {
	if s.writing || s.closed || (len(s.queue) == 0 && !s.peerEOF) || s.wroteEOF {
		return
	}
	s.writing = true
	s.node.goroutine(s.writeLoop)
}

// A stream gives written bytes back as credit in lumps of half its window,
// not each time the queue empties: a sender whose bytes have all been
// written but not yet acknowledged still has half a window of credit, so
// it never stalls for want of a small Credit, and a stream in full flow
// sends one Credit for every few chunks rather than one for each (each
// Credit costs a frame on every connection of the path).

// writeLoop writes the queue to the socket and gives the bytes back to the
// sender as credit.
func (s *portalStream) writeLoop() {
	for {
		s.mu.Lock()
		if s.closed {
			s.writing = false
			s.mu.Unlock()
			return
		}
		if len(s.queue) == 0 {
			s.writing = false
			shut := s.peerEOF && !s.wroteEOF
			if shut {
				s.wroteEOF = true
			}
			finished := (s.wroteEOF && s.readEOF) || s.disconnect
			s.mu.Unlock()
			if shut {
				_ = s.sock.CloseWrite()
			}
			if finished {
				s.close(nil, false)
			}
			return
		}
		c := s.queue[0]
		s.queue[0] = chunk{}
		s.queue = s.queue[1:]
		creditThreshold := s.window / 2
		s.mu.Unlock()

		size := c.len()
		var written int
		var err error
		if c.sp != nil {
			written, err = c.sp.pipe.drainTo(s.raw, false)
		} else {
			written, err = s.sock.Write(c.data)
		}
		s.set.count.bytesOut.Add(uint64(written))
		c.release()
		if err != nil {
			s.close(fmt.Errorf("write: %w", err), true)
			return
		}
		s.mu.Lock()
		s.queued -= size
		s.mu.Unlock()
		s.unacked += size
		if s.unacked >= creditThreshold {
			s.send(encodeCredit(s.unacked))
			s.unacked = 0
		}
	}
}

// readLoop reads the socket and sends its data to the other end, within
// the credit it has.
//
// An idle stream is this goroutine waiting, with no buffer, for its socket
// to be readable. Sending grows a goroutine's stack past its first 2 KiB
// (the route through hops and connections is deep), and a parked stack
// shrinks only at a collection, so a stream that goes quiet after sending
// would keep a grown stack for as long as it is open. So the sweeper of
// its inlet or outlet pokes a reader that has sent and then gone quiet for
// idleRestart (a read deadline in the past wakes it), and the reader hands
// over to a fresh goroutine, with a small stack, that waits for as long as
// it takes. A stream in flow is never poked, and its reader's wait costs
// nothing more than the wait itself.
func (s *portalStream) readLoop() { s.readFrom(1 << 10) }

// idleRestart is how long a reader that has sent stays quiet before its
// sweeper pokes it to restart on a fresh stack.
const idleRestart = time.Second

// readFrom is readLoop with size, the next read's size: it grows while
// reads fill it, so an idle stream stays small.
func (s *portalStream) readFrom(size int) {
	s.grown.Store(false)
	for {
		first, err := s.readIdle(size)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			_ = s.sock.SetReadDeadline(time.Time{})
			if s.poked.Swap(false) {
				s.set.restarts.Add(1)
				if !s.set.goroutine(s.node, func() { s.readFrom(size) }) {
					s.close(nil, true) // its inlet or outlet is stopping
				}
				return
			}
			continue
		}
		if !s.pump(&size, first, err) {
			return
		}
		s.grown.Store(true)
	}
}

// idleRead is what readIdle read: k bytes into buf[payloadHeadroom:], of n
// asked; done is false when it only waited.
type idleRead struct {
	buf    []byte
	pooled *[]byte
	n, k   int
	done   bool
}

// readIdle waits, holding no buffer, until the socket has something, and
// when the stream may send a small read's worth reads it into a small
// pooled buffer taken only once there is data: one system call where a
// wait and a read would take two. Otherwise it only waits, and pump reads.
func (s *portalStream) readIdle(size int) (idleRead, error) {
	s.mu.Lock()
	credit, chunk := s.credit, s.chunk
	s.mu.Unlock()
	n := min(size, credit, chunk)
	if n <= 0 || payloadHeadroom+n+seqSize > smallBufferSize || s.raw == nil {
		return idleRead{}, waitReadable(s.sock)
	}
	pooled, k, err := readReady(s.raw, payloadHeadroom, n)
	r := idleRead{pooled: pooled, n: n, k: k, done: pooled != nil}
	if pooled != nil {
		r.buf = (*pooled)[:payloadHeadroom+n]
	}
	return r, err
}

// pokeIfIdle asks the reader to restart on a fresh stack if it has sent
// and then been quiet for idle (readFrom).
func (s *portalStream) pokeIfIdle(now time.Time, idle time.Duration) {
	if !s.grown.Load() || s.poked.Load() || now.Sub(time.Unix(0, s.lastSent.Load())) < idle {
		return
	}
	s.poked.Store(true)
	_ = s.sock.SetReadDeadline(time.Unix(1, 0))
}

// pump reads and sends for as long as reads fill their buffer (more is
// likely waiting), then returns true to wait again; false when the stream
// is over. size is the next read's size.
func (s *portalStream) pump(size *int, first idleRead, firstErr error) bool {
	if first.done {
		s.mu.Lock()
		chunk := s.chunk
		s.mu.Unlock()
		if more, over := s.sendRead(first.buf, first.pooled, first.k, first.n, chunk, size, firstErr); over {
			return more
		}
	}
	for {
		s.mu.Lock()
		credit, closed, chunk := s.credit, s.closed, s.chunk
		s.mu.Unlock()
		if closed {
			return false
		}
		if credit <= 0 {
			s.set.count.creditStalls.Add(1)
			select {
			case <-s.creditCh:
			case <-s.done:
				return false
			}
			continue
		}
		n := min(*size, credit, chunk)
		if n >= spliceMin && s.raw != nil {
			// done with nothing read and no error: the pipe took nothing,
			// so the read goes through memory.
			if k, err, done := s.pumpSpliced(n); done && (k > 0 || err != nil) {
				if k > 0 && *size < chunk && k == n {
					*size *= 2
				}
				if more, over := s.afterRead(k, n, err); over {
					return more
				}
				continue
			}
		}
		var pooled *[]byte
		var buf []byte
		if pooled = getBufferFor(payloadHeadroom + n + seqSize); pooled != nil {
			// A stream in full flow: reuse buffers. An idle one keeps only
			// its small one.
			buf = (*pooled)[:payloadHeadroom+n]
		} else {
			buf = make([]byte, payloadHeadroom+n, payloadHeadroom+n+seqSize)
		}
		k, err := s.sock.Read(buf[payloadHeadroom:])
		if more, over := s.sendRead(buf, pooled, k, n, chunk, size, err); over {
			return more
		}
	}
}

// sendRead sends what a read of n bytes into buf[payloadHeadroom:] got, k
// bytes, and decides what pump does next (afterRead).
func (s *portalStream) sendRead(buf []byte, pooled *[]byte, k, n, chunk int, size *int, err error) (more, over bool) {
	if k == 0 {
		putBuffer(pooled)
	}
	if k > 0 {
		s.mu.Lock()
		s.credit -= k
		s.mu.Unlock()
		s.set.count.bytesIn.Add(uint64(k))
		if !s.sendBuf(framePayload(buf, k), pooled, nil) {
			return false, true
		}
		if k == n && *size < chunk {
			*size *= 2
		}
	}
	return s.afterRead(k, n, err)
}

// afterRead decides what pump does after a read of k bytes of n: over is
// true when it returns, with more.
func (s *portalStream) afterRead(k, n int, err error) (more, over bool) {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// A poke (pokeIfIdle) while the stream was busy after all.
		_ = s.sock.SetReadDeadline(time.Time{})
		s.poked.Store(false)
		err = nil
	}
	if err == nil {
		if k < n {
			return true, true // nothing more waiting, most likely
		}
		return false, false
	}
	if errors.Is(err, io.EOF) {
		s.mu.Lock()
		s.readEOF = true
		finished := s.wroteEOF
		s.mu.Unlock()
		s.send(encodePortal(portalHalfClose))
		if finished {
			s.close(nil, false)
		}
		return false, true
	}
	s.close(fmt.Errorf("read: %w", err), true)
	return false, true
}

// spliceMin is the least stream data worth moving through a pipe rather
// than memory: a stream reads into a pipe when it may send this much, and
// a connection splices a payload with at least this much past what it has
// read already.
const spliceMin = 16 << 10

// pumpSpliced reads up to n bytes of the socket into a pipe and sends them
// as a spliced Payload, when the way to the other end moves payloads
// without reading them (splicesTo). done is false when it did nothing:
// the caller reads through memory. k is the bytes sent; err the read's.
func (s *portalStream) pumpSpliced(n int) (k int, err error, done bool) {
	s.mu.Lock()
	remote := s.remote
	s.mu.Unlock()
	if s.node.splicesTo(remote) == spliceNone {
		return 0, nil, false
	}
	p := getPipe()
	if p == nil {
		return 0, nil, false
	}
	k, err = p.fillSome(s.raw, n)
	if k > 0 {
		s.mu.Lock()
		s.credit -= k
		s.mu.Unlock()
		s.set.count.bytesIn.Add(uint64(k))
	}
	if k < spliceMin {
		// Little came: it goes through memory, a pipe is not worth it.
		if k > 0 {
			buf := make([]byte, payloadHeadroom+k, payloadHeadroom+k+seqSize)
			if terr := p.take(buf[payloadHeadroom:]); terr != nil {
				p.release()
				s.close(terr, true)
				return k, terr, true
			}
			if !s.sendBuf(framePayload(buf, k), nil, nil) {
				p.release()
				return k, errStreamSendFailed, true
			}
		}
		p.release()
		return k, err, true
	}
	head := wire.AppendUvarint(make([]byte, 1, payloadHeaderMax), uint64(k))
	head[0] = byte(portalPayload)
	if !s.sendBuf(head, nil, newSpliced(p, make([]byte, 0, seqSize))) {
		return k, errStreamSendFailed, true
	}
	return k, err, true
}

// errStreamSendFailed ends pump after a send that closed the stream.
var errStreamSendFailed = errors.New("portal stream closed while sending")

// decode reads a portal message, spliced or not. A spliced Payload whose
// data is just the pipe's bytes stays in its pipe (pm.data is nil); any
// other spliced message is read back into memory first.
func (s *portalStream) decode(m *Routed) (portalMessage, error) {
	if m.sp == nil {
		return decodePortal(m.Payload)
	}
	if pm, ok := decodeSplicedPayload(m.Payload, m.sp); ok {
		return pm, nil
	}
	if err := m.materialize(); err != nil {
		return portalMessage{}, err
	}
	return decodePortal(m.Payload)
}

// keepAlive runs from its inlet's or outlet's sweeper: it says something to
// a quiet other end, and closes a stream whose other end has been silent
// too long (a node on the way died, and nobody else will tell).
func (s *portalStream) keepAlive(now time.Time, every, deadAfter time.Duration) {
	if !s.isEstablished() {
		return // the inlet's ping timeout covers this
	}
	if silent := now.Sub(time.Unix(0, s.lastHeard.Load())); silent > deadAfter {
		s.close(fmt.Errorf("%w: no word from the other end for %s", errStreamBroken, silent.Round(time.Second)), true)
		return
	}
	if now.Sub(time.Unix(0, s.lastSent.Load())) > every {
		s.send(encodePortal(portalKeepAlive))
	}
}

// send routes a portal message to the other end. It reports false, having
// closed the stream, when the route is broken.
func (s *portalStream) send(payload []byte) bool { return s.sendBuf(payload, nil, nil) }

// sendBuf sends a payload that lives in a pooled buffer, or whose data is
// in a pipe (sp: the payload is its head).
func (s *portalStream) sendBuf(payload []byte, buf *[]byte, sp *spliced) bool {
	s.mu.Lock()
	remote := s.remote
	s.mu.Unlock()
	s.lastSent.Store(time.Now().UnixNano())
	s.sending <- struct{}{}
	if numbered(payload) {
		if sp != nil {
			sp.tail = appendSeq(sp.tail, s.sent)
		} else {
			payload = appendSeq(payload, s.sent)
		}
		s.sent++
	}
	err := s.node.route(context.Background(), &Routed{Message: routing.Message{
		Onward: remote, Return: routing.Route{s.addr}, Payload: payload,
	}, buf: buf, sp: sp})
	<-s.sending
	if err != nil {
		s.close(fmt.Errorf("send to the other end: %w", err), false)
		return false
	}
	return true
}

// shutdownPongWait bounds how long a closing node waits for the Pong of a
// stream whose Ping is on its way, so that it can tell the outlet's new
// stream to go rather than leave it to its keepalive.
const shutdownPongWait = time.Second

// shutdown closes the stream because its node is closing, telling the
// other end; a stream still waiting for its Pong waits for it first (a
// little while), since only then does it know the other end's address.
func (s *portalStream) shutdown() {
	if s.pinged.Load() && !s.isEstablished() {
		t := time.NewTimer(shutdownPongWait)
		select {
		case <-s.established:
		case <-s.done:
		case <-t.C:
		}
		t.Stop()
	}
	s.close(nil, true)
}

// closeTombstone closes a stream that is still waiting for the other end:
// its worker stays for linger, answering a late Pong with Disconnect, so
// that the other end keeps no stream nobody will use.
func (s *portalStream) closeTombstone(linger time.Duration) {
	s.mu.Lock()
	s.tombstone = true
	s.mu.Unlock()
	s.close(nil, false)
	s.node.goroutine(func() {
		t := time.NewTimer(linger)
		defer t.Stop()
		select {
		case <-t.C:
		case <-s.node.closing:
		}
		_ = s.node.StopWorker(s.addr.Value)
	})
}

// close ends the stream once: the socket, the worker, and if tell, a
// Disconnect to the other end. reason nil is an orderly end.
func (s *portalStream) close(reason error, tell bool) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	tombstone := s.tombstone
	remote, untrack := s.remote, s.untrack
	for _, c := range s.queue {
		c.release()
	}
	s.queue, s.queued = nil, 0
	s.mu.Unlock()

	broken := errors.Is(reason, errStreamBroken)
	if tell && remote != nil {
		// A full connection queue is waited for, a while: the other end
		// must hear of it, even from a busy or closing node.
		tag := portalDisconnect
		if broken {
			tag = portalBroken
		}
		// A send stuck behind a full queue holds the stream's turn: past
		// the same while, the other end is left to its keepalive.
		ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
		select {
		case s.sending <- struct{}{}:
			payload := appendSeq(encodePortal(tag), s.sent)
			s.sent++
			_ = s.node.route(ctx, &Routed{Message: routing.Message{
				Onward: remote, Return: routing.Route{s.addr}, Payload: payload,
			}})
			<-s.sending
		case <-ctx.Done():
		}
		cancel()
	}
	if broken {
		_ = s.sock.SetLinger(0) // a reset: the client sees an error
	}
	_ = s.sock.Close()
	if !tombstone {
		_ = s.node.StopWorker(s.addr.Value)
	}
	if untrack != nil {
		untrack()
	}
	if reason != nil && !s.node.quiet() {
		s.log.Warn("portal stream closed", "stream", s.addr.Value, "reason", reason)
	} else {
		s.log.Debug("portal stream closed", "stream", s.addr.Value)
	}
	close(s.done)
	s.set.remove(s)
	if s.onDone != nil {
		s.onDone()
	}
}

// streamSet is an inlet's or outlet's open streams, with the sweeper that
// keeps them alive.
type streamSet struct {
	mu      sync.Mutex
	streams map[*portalStream]struct{} // guarded by mu
	// count is what the streams did (counters.go).
	count portalCounters
	// closed is set by closeAll: its inlet or outlet is stopped, and
	// takes no new stream.
	closed bool // guarded by mu
	// large counts the streams that took a large window (takeLarge).
	large int // guarded by mu
	// life is its inlet's or outlet's, which runs the streams' readers;
	// nil: the node's.
	life *partLife
	// idleRestart, when set, replaces the const of that name (tests), in
	// nanoseconds; restarts counts the readers restarted on a fresh stack.
	idleRestart atomic.Int64
	restarts    atomic.Uint64
}

// goroutine runs f as one of the set's inlet or outlet, which waits for it
// when it stops; false if it is stopping.
func (ss *streamSet) goroutine(n *Node, f func()) bool {
	if ss.life == nil {
		n.goroutine(f)
		return true
	}
	return ss.life.goroutine(n, f)
}

// add puts a new stream in the set; false if the set is closed.
func (ss *streamSet) add(s *portalStream) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.closed {
		return false
	}
	if ss.streams == nil {
		ss.streams = map[*portalStream]struct{}{}
	}
	ss.streams[s] = struct{}{}
	return true
}

// closeAll closes the set to new streams and ends the open ones, each
// telling its other end (a stream still waiting for its Pong waits for it
// a moment, as at a node's shutdown). It returns when all have closed.
func (ss *streamSet) closeAll() {
	ss.mu.Lock()
	ss.closed = true
	streams := make([]*portalStream, 0, len(ss.streams))
	for s := range ss.streams {
		streams = append(streams, s)
	}
	ss.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range streams {
		wg.Go(s.shutdown)
	}
	wg.Wait()
}

func (ss *streamSet) remove(s *portalStream) {
	ss.mu.Lock()
	if _, ok := ss.streams[s]; ok && s.large {
		ss.large--
	}
	delete(ss.streams, s)
	ss.mu.Unlock()
}

// takeLarge counts s among the streams with a large window, if fewer than
// maxLargeStreams are: false if there are that many already.
func (ss *streamSet) takeLarge(s *portalStream) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if s.large {
		return true
	}
	if _, ok := ss.streams[s]; !ok || ss.large >= maxLargeStreams {
		return false
	}
	ss.large++
	s.large = true
	return true
}

// maxLargeStreams bounds the streams of one inlet, or one outlet, that
// take a large window at once: what a node may hold for an inlet's streams stays
// maxLargeStreams x LargeWindow (128 MiB), plus PortalWindow for each
// stream past them, which share the default window.
const maxLargeStreams = 32

// Len counts the open streams.
func (ss *streamSet) Len() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.streams)
}

// KeepAlive is how long a portal stream may go without sending before it
// sends a KeepAlive; DeadAfter, how long without hearing anything before
// it gives the other end up.
type KeepAlive struct {
	Every, DeadAfter time.Duration
}

func (k KeepAlive) withDefaults() KeepAlive {
	if k.Every <= 0 {
		k.Every = 10 * time.Second
	}
	if k.DeadAfter <= 0 {
		k.DeadAfter = 3 * k.Every
	}
	return k
}

// pathClosed closes the streams whose route to the other end goes through
// the connection at addr, which has closed: nothing they send can arrive.
// Called for a connection about to close (connectionClosing), while it
// still carries, it closes them in order, telling the other ends.
func (ss *streamSet) pathClosed(addr routing.Address) {
	ss.mu.Lock()
	var broken []*portalStream
	for s := range ss.streams {
		s.mu.Lock()
		// Anywhere in the route: hops on this node (a hop service) may come
		// before the connection; addresses after it are other nodes'.
		if len(s.remote) > 0 && slices.Contains(s.remote, addr) || len(s.remote) == 0 && s.via == addr {
			broken = append(broken, s)
		}
		s.mu.Unlock()
	}
	ss.mu.Unlock()
	for _, s := range broken {
		if _, open := s.node.connection(addr.Value); open {
			s.close(nil, true)
			continue
		}
		s.close(fmt.Errorf("the connection %s on the way to the other end closed", addr.Value), false)
	}
}

// sweep runs keepalives until the node closes or stop is closed.
func (ss *streamSet) sweep(n *Node, k KeepAlive, stop <-chan struct{}) {
	t := time.NewTicker(min(k.Every/2, idleRestart))
	defer t.Stop()
	for {
		select {
		case <-n.closing:
			return
		case <-stop:
			return
		case now := <-t.C:
			ss.mu.Lock()
			streams := make([]*portalStream, 0, len(ss.streams))
			for s := range ss.streams {
				streams = append(streams, s)
			}
			ss.mu.Unlock()
			idle := cmp.Or(time.Duration(ss.idleRestart.Load()), idleRestart)
			for _, s := range streams {
				s.keepAlive(now, k.Every, k.DeadAfter)
				s.pokeIfIdle(now, idle)
			}
		}
	}
}
