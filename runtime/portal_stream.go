package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/ockamtop/ockamtop/runtime/routing"
)

// portalStream is one TCP stream of a portal, at either end: the inlet's
// end holds the client's socket, the outlet's the target's. Its worker is
// inline (HandleMessage never blocks): received data is queued, at most a
// window of it thanks to credits, and written by a goroutine that exists
// only while there is something to write. An idle stream is one goroutine,
// its reader, blocked in Read on a small buffer.
// chunk is received stream data and the buffer it lives in.
type chunk struct {
	data []byte
	buf  *[]byte
}

type portalStream struct {
	node *Node
	addr routing.Address
	sock *net.TCPConn
	log  hclog.Logger
	// onDone runs once when the stream has closed, after its socket.
	onDone func()
	// untrack unregisters the stream from its node's shutdown.
	untrack func()

	mu sync.Mutex
	// remote is the route to the other end's stream worker.
	remote routing.Route // guarded by mu
	// credit is how many bytes we may still send.
	credit int // guarded by mu
	// queue holds received data not yet written to sock; queued counts it.
	queue  []chunk // guarded by mu
	queued int     // guarded by mu
	// writing is true while a writer goroutine runs.
	writing bool // guarded by mu
	// peerEOF: the other end half-closed; after the queue, shut our write side.
	peerEOF bool // guarded by mu
	// wroteEOF: our write side is shut. readEOF: our socket said EOF and we
	// told the other end.
	wroteEOF, readEOF bool // guarded by mu
	closed            bool // guarded by mu

	creditCh    chan struct{} // signalled when credit grows
	established chan struct{} // closed when the other end is known (Pong)
	done        chan struct{} // closed when the stream has closed
}

func newPortalStream(n *Node, sock *net.TCPConn, log hclog.Logger) (*portalStream, error) {
	s := &portalStream{
		node:        n,
		sock:        sock,
		credit:      PortalWindow,
		creditCh:    make(chan struct{}, 1),
		established: make(chan struct{}),
		done:        make(chan struct{}),
	}
	name := RandomAddress()
	s.addr = routing.LocalAddress(name)
	s.log = log // the stream's name is added when it logs: With costs memory per stream
	if _, err := n.startInlineWorker(name, s); err != nil {
		return nil, err
	}
	untrack, ok := n.atClose(func() { s.close(nil, false) })
	if !ok {
		_ = n.StopWorker(name)
		return nil, ErrNodeClosed
	}
	s.untrack = untrack
	return s, nil
}

// setRemote fixes the route to the other end and lets data flow.
func (s *portalStream) setRemote(r routing.Route) {
	s.mu.Lock()
	s.remote = r.Clone()
	s.mu.Unlock()
	close(s.established)
}

// HandleMessage takes a portal message from the other end. It never blocks.
func (s *portalStream) HandleMessage(_ *Context, m *Routed) error {
	pm, err := decodePortal(m.Payload)
	if err != nil {
		s.close(err, true)
		return err
	}
	switch pm.tag {
	case portalPong:
		select {
		case <-s.established:
			return nil // a duplicate: the first one counts
		default:
		}
		s.setRemote(m.Return)
	case portalPayload:
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil
		}
		if s.queued+len(pm.data) > PortalWindow {
			s.mu.Unlock()
			s.close(fmt.Errorf("peer sent beyond its credit (%d bytes queued)", s.queued), true)
			return nil
		}
		if len(pm.data) > 0 {
			s.queue = append(s.queue, chunk{pm.data, m.buf})
			s.queued += len(pm.data)
			m.buf = nil // the writer gives it back
		}
		s.kickWriterLocked()
		s.mu.Unlock()
	case portalCredit:
		s.mu.Lock()
		s.credit += int(min(pm.n, PortalWindow))
		s.mu.Unlock()
		select {
		case s.creditCh <- struct{}{}:
		default:
		}
	case portalHalfClose:
		s.mu.Lock()
		s.peerEOF = true
		s.kickWriterLocked()
		s.mu.Unlock()
	case portalDisconnect:
		s.close(nil, false)
	case portalPing:
		s.close(errors.New("unexpected ping on an open stream"), true)
	}
	return nil
}

// kickWriterLocked starts the writer if there is work and none runs.
func (s *portalStream) kickWriterLocked() {
	if s.writing || s.closed || (len(s.queue) == 0 && !s.peerEOF) || s.wroteEOF {
		return
	}
	s.writing = true
	s.node.goroutine(s.writeLoop)
}

// writeLoop writes the queue to the socket and gives the bytes back to the
// sender as credit.
func (s *portalStream) writeLoop() {
	var unacked int
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
			finished := s.wroteEOF && s.readEOF
			peerDone := s.peerEOF
			s.mu.Unlock()
			if unacked > 0 && !peerDone { // a peer that has finished sending needs no credit
				s.send(encodeCredit(unacked))
			}
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
		s.mu.Unlock()

		_, err := s.sock.Write(c.data)
		putBuffer(c.buf)
		if err != nil {
			s.close(fmt.Errorf("write: %w", err), true)
			return
		}
		s.mu.Lock()
		s.queued -= len(c.data)
		s.mu.Unlock()
		unacked += len(c.data)
		if unacked >= PortalWindow/4 {
			s.send(encodeCredit(unacked))
			unacked = 0
		}
	}
}

// readLoop reads the socket and sends its data to the other end, within
// the credit it has.
func (s *portalStream) readLoop() {
	size := 1 << 10 // grows while reads fill it, so an idle stream stays small
	for {
		s.mu.Lock()
		credit, closed := s.credit, s.closed
		s.mu.Unlock()
		if closed {
			return
		}
		if credit <= 0 {
			select {
			case <-s.creditCh:
			case <-s.done:
				return
			}
			continue
		}
		n := min(size, credit, MaxPortalChunk)
		var pooled *[]byte
		var buf []byte
		if n >= 16<<10 {
			// A stream in full flow: reuse buffers. An idle one keeps only
			// its small one.
			pooled = getBuffer()
			buf = (*pooled)[:payloadHeadroom+n]
		} else {
			buf = make([]byte, payloadHeadroom+n)
		}
		k, err := s.sock.Read(buf[payloadHeadroom:])
		if k == 0 {
			putBuffer(pooled)
		}
		if k > 0 {
			s.mu.Lock()
			s.credit -= k
			s.mu.Unlock()
			if !s.sendBuf(framePayload(buf, k), pooled) {
				return
			}
			if k == n && size < MaxPortalChunk {
				size *= 2
			}
		}
		if err == nil {
			continue
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
			return
		}
		s.close(fmt.Errorf("read: %w", err), true)
		return
	}
}

// send routes a portal message to the other end. It reports false, having
// closed the stream, when the route is broken.
func (s *portalStream) send(payload []byte) bool { return s.sendBuf(payload, nil) }

// sendBuf sends a payload that lives in a pooled buffer.
func (s *portalStream) sendBuf(payload []byte, buf *[]byte) bool {
	s.mu.Lock()
	remote := s.remote
	s.mu.Unlock()
	err := s.node.route(context.Background(), &Routed{Message: routing.Message{
		Onward: remote, Return: routing.Route{s.addr}, Payload: payload,
	}, buf: buf})
	if err != nil {
		s.close(fmt.Errorf("send to the other end: %w", err), false)
		return false
	}
	return true
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
	remote := s.remote
	for _, c := range s.queue {
		putBuffer(c.buf)
	}
	s.queue, s.queued = nil, 0
	s.mu.Unlock()

	if tell && remote != nil {
		_ = s.node.route(context.Background(), &Routed{Message: routing.Message{
			Onward: remote, Return: routing.Route{s.addr}, Payload: encodePortal(portalDisconnect),
		}})
	}
	_ = s.sock.Close()
	_ = s.node.StopWorker(s.addr.Value)
	s.untrack()
	if reason != nil && !s.node.isClosed() {
		s.log.Warn("portal stream closed", "stream", s.addr.Value, "reason", reason)
	} else {
		s.log.Debug("portal stream closed", "stream", s.addr.Value)
	}
	close(s.done)
	if s.onDone != nil {
		s.onDone()
	}
}
