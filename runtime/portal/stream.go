package portal

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/splice"
)

// portalStream is one TCP stream of a portal, at either end: the inlet's
// end holds the client's socket, the outlet's the target's. Its worker is
// inline (HandleMessage never blocks): received data is queued, at most a
// window of it thanks to credits, and written by a goroutine that exists
// only while there is something to write. A stream that has just gone
// quiet is one goroutine, its reader, waiting for its socket with no
// buffer; one quiet for a second is no goroutine: its socket waits in its
// set's epoll instance (stream_park_linux.go).
//
// The stream's jobs each have a file: the messages it takes and its close
// here; its flow control (stream_credit.go); its read side, from the
// socket to the other end (stream_read.go); its write side, from the other
// end to the socket (stream_write.go); and the set of an inlet's or
// outlet's streams, with their keepalives (stream_set.go).
type portalStream struct {
	node *runtime.Node
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

	// mu guards the fields below marked so, and those of streamCredit and
	// streamWriter: a Payload is checked against the limit, and written
	// or queued, under one lock.
	mu sync.Mutex
	// untrack unregisters the stream from its node's shutdown.
	untrack func() // guarded by mu
	// remote is the route to the other end's stream worker.
	remote routing.Route // guarded by mu
	// via is the first hop of the inlet's Ping, while its Pong is awaited:
	// if that connection closes, no Pong will come.
	via routing.Address // guarded by mu
	streamCredit
	streamWriter
	// heard is the number of the next message expected from the other
	// end; broken is set when one did not come in order.
	heard  uint16 // guarded by mu
	broken bool   // guarded by mu
	// readEOF: our socket said EOF and we told the other end.
	readEOF bool // guarded by mu
	closed  bool // guarded by mu
	// tombstone: closed, but the worker stays a while to answer whatever
	// still comes (a late Pong) with Disconnect.
	tombstone bool // guarded by mu

	// pinged is set by the inlet when it sends its Ping: the other end
	// will exist, and must be told if this end goes.
	pinged atomic.Bool
	streamReader

	// sending orders what the stream sends, a lock held by putting into
	// it: a message's number is taken, and the message routed, under it,
	// so that the numbers leave in order. A channel, so that close can
	// give up on it after a while. HandleMessage never takes it (a message
	// routed inline may come back to this stream on the same goroutine).
	sending chan struct{}
	sent    uint16 // guarded by sending: the number of the next message sent
	// parkKey is the stream's key among its set's parked streams, 0 when
	// it is not parked (stream_park_linux.go). Guarded by the parker's mu.
	parkKey uint32

	// lastSent and lastHeard are UnixNano times, for keepalives.
	lastSent, lastHeard atomic.Int64

	established chan struct{} // closed when the other end is known (Pong)
	establish   sync.Once
	done        chan struct{} // closed when the stream has closed
}

var (
	_ runtime.Worker  = (*portalStream)(nil)
	_ runtime.Inliner = (*portalStream)(nil)
	_ runtime.Splicer = (*portalStream)(nil)
)

// newPortalStream starts a stream over sock, in set. remote is the route
// to the other end when it is known already (at the outlet), nil when the
// other end's Pong will tell it (at the inlet). The stream is in set, and
// knows its remote, before anything can close it.
func newPortalStream(n *runtime.Node, sock *net.TCPConn, log hclog.Logger, set *streamSet, remote routing.Route, onDone func()) (*portalStream, error) {
	s := &portalStream{
		node:         n,
		sock:         sock,
		log:          log, // the stream's name is added when it logs: With costs memory per stream
		set:          set,
		onDone:       onDone,
		streamCredit: newStreamCredit(),
		sending:      make(chan struct{}, 1),
		done:         make(chan struct{}),
	}
	s.raw, _ = splice.Spliceable(sock)
	name := runtime.RandomAddress()
	s.addr = routing.LocalAddress(name)
	now := time.Now().UnixNano()
	s.lastSent.Store(now)
	s.lastHeard.Store(now)
	if remote != nil {
		// Known from the start (the outlet's): nobody waits for it.
		s.remote = remote.Clone()
		s.established = establishedAlready
		s.establish.Do(func() {})
	} else {
		s.established = make(chan struct{})
	}
	if !set.add(s) {
		return nil, ErrStopped
	}
	set.count.streams.Add(1)
	// Registered for the node's shutdown before it has a worker, so that
	// no shutdown can miss a stream that has one.
	untrack, ok := n.AtClose(s.shutdown)
	if !ok {
		set.remove(s)
		return nil, runtime.ErrNodeClosed
	}
	s.mu.Lock()
	s.untrack = untrack
	s.mu.Unlock()
	if err := n.StartWorker(name, s); err != nil {
		untrack()
		set.remove(s)
		return nil, err
	}
	return s, nil
}

// establishedAlready is the established channel of the streams whose
// other end is known when they start: closed once, and shared, which
// saves each of them a channel (an outlet's idle streams are many).
var establishedAlready = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

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

// Inline says the stream's worker runs on its sender's goroutine, with no
// mailbox: HandleMessage never blocks, and an idle stream costs no
// goroutine for it.
func (*portalStream) Inline() bool { return true }

// HandleMessage takes a portal message from the other end. It never blocks.
func (s *portalStream) HandleMessage(_ *runtime.Context, m *runtime.Routed) error {
	// A message dropped on any path below gives its pipe back at once (a
	// queued one has handed it over already).
	defer dropSpliced(m)
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
			return s.node.Send(context.Background(), routing.Message{
				Onward: m.Return, Return: routing.Route{s.addr}, Payload: encodePortal(portalDisconnect),
			})
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
		s.onPayload(m, pm.data)
	case portalCredit:
		s.onCredit(pm.n)
	case portalWindow:
		s.onWindow(pm.n)
	case portalHalfClose:
		s.mu.Lock()
		s.peerEOF = true
		s.kickWriterLocked()
		s.mu.Unlock()
	case portalDisconnect:
		if !s.isEstablished() {
			// Before its Pong: the outlet refused the stream (its target is
			// unreachable). The client sees an error, as it would dialing
			// the target itself, not an empty whole stream: no writer is
			// told of an end, which would shut the socket's write side
			// before the reset.
			s.mu.Lock()
			s.disconnect = true
			s.mu.Unlock()
			s.close(errStreamRefused, false)
			break
		}
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

// dropSpliced gives the pipe of a message the stream did not take back at
// once, rather than when a collection finds it.
func dropSpliced(m *runtime.Routed) {
	if sp := m.TakeSpliced(); sp != nil {
		sp.Release()
	}
}

// errStreamBroken is a stream that lost, duplicated or reordered messages
// on the way, or whose other end went silent: what reached the socket is
// intact, but not all of it did. Its socket is reset, not closed, so that
// the client sees an error rather than a clean end.
var errStreamBroken = errors.New("portal stream broken")

// errStreamRefused is a stream its outlet refused: its socket is reset,
// and the inlet says why (the stream's own log line is at debug level).
var errStreamRefused = errors.New("portal stream refused by the outlet")

// socketError is the reason a stream closes for an error of its socket. A
// reset (the client or the target reset its connection, or went away in a
// way that makes a write fail) is passed on as one, Broken, so that the
// other end's socket is reset too, as it would be without the portal: a
// response cut by a reset never looks complete.
func socketError(op string, err error) error {
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return fmt.Errorf("%w: %s: %v", errStreamBroken, op, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// closeLater closes the stream, telling the other end, from a goroutine of
// its own: HandleMessage may run inside this stream's own send (a message
// routed inline coming back), which holds sending.
func (s *portalStream) closeLater(reason error) {
	s.mu.Lock()
	s.broken = true // nothing more is taken in
	s.mu.Unlock()
	s.node.Go(func() { s.close(reason, true) })
}

// decode reads a portal message, spliced or not. A spliced Payload whose
// data is just the pipe's bytes stays in its pipe (pm.data is nil); any
// other spliced message is read back into memory first.
func (s *portalStream) decode(m *runtime.Routed) (portalMessage, error) {
	sp := m.Spliced()
	if sp == nil {
		return decodePortal(m.Payload)
	}
	if pm, ok := decodeSplicedPayload(m.Payload, sp); ok {
		return pm, nil
	}
	if err := m.Materialize(); err != nil {
		return portalMessage{}, err
	}
	return decodePortal(m.Payload)
}

// send routes a portal message to the other end. It reports false, having
// closed the stream, when the route is broken.
func (s *portalStream) send(payload []byte) bool { return s.sendBuf(payload, nil, nil) }

// sendBuf sends a payload that lives in a pooled buffer, or whose data is
// in a pipe (sp: the payload is its head).
func (s *portalStream) sendBuf(payload []byte, buf *[]byte, sp *runtime.Spliced) bool {
	s.mu.Lock()
	remote := s.remote
	s.mu.Unlock()
	s.sending <- struct{}{}
	err := s.routeTurn(remote, payload, buf, sp)
	<-s.sending
	if err != nil {
		s.close(fmt.Errorf("send to the other end: %w", err), false)
		return false
	}
	return true
}

// routeTurn numbers a message, if it is one of those numbered, and routes
// it to remote: the caller holds the stream's turn to send (sending).
func (s *portalStream) routeTurn(remote routing.Route, payload []byte, buf *[]byte, sp *runtime.Spliced) error {
	s.lastSent.Store(time.Now().UnixNano())
	if numbered(payload) {
		if sp != nil {
			sp.SetTail(appendSeq(sp.Tail(), s.sent))
		} else {
			payload = appendSeq(payload, s.sent)
		}
		s.sent++
	}
	return s.node.Route(context.Background(), runtime.NewRouted(routing.Message{
		Onward: remote, Return: routing.Route{s.addr}, Payload: payload,
	}, nil, buf, sp))
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
	s.node.Go(func() {
		t := time.NewTimer(linger)
		defer t.Stop()
		select {
		case <-t.C:
		case <-s.node.Context().Done():
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
	s.leaveBudgetLocked()
	tombstone := s.tombstone
	remote, untrack := s.remote, s.untrack
	for _, c := range s.queue {
		c.release()
	}
	s.queue, s.queued = nil, 0
	s.mu.Unlock()

	refused := errors.Is(reason, errStreamRefused)
	broken := errors.Is(reason, errStreamBroken) || refused
	if tell && remote != nil {
		// A full connection queue is waited for, a while: the other end
		// must hear of it, even from a busy or closing node.
		tag := portalDisconnect
		if broken {
			tag = portalBroken
		}
		// A send stuck behind a full queue holds the stream's turn: past
		// the same while, the other end is left to its keepalive.
		ctx, cancel := context.WithTimeout(context.Background(), runtime.DrainTimeout)
		select {
		case s.sending <- struct{}{}:
			payload := appendSeq(encodePortal(tag), s.sent)
			s.sent++
			_ = s.node.Send(ctx, routing.Message{
				Onward: remote, Return: routing.Route{s.addr}, Payload: payload,
			})
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
	if reason != nil && !refused && !s.node.Quiet() {
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
