package runtime

import (
	"fmt"
	"runtime"

	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/splice"
)

// A spliced payload is a large payload whose middle is in a pipe
// (runtime/splice), on its way from one socket to another:
//
//	payload = Routed.Payload (its first bytes) ‖ the pipe's bytes ‖ tail
//
// Only workers that move payloads without reading them take one as it is
// (Splicer): TCP connections (which write the frame around the pipe),
// portal streams (which move the pipe into their socket), and hops and
// forwarders (which only change routes). The router reads the pipe back
// into memory for any other worker (Materialize), so a secure channel, a
// UDP connection or an echo service sees an ordinary payload.

// Spliced is the part of a spliced payload that is not in Routed.Payload:
// its pipe, and its last bytes.
type Spliced struct {
	pipe *splice.Pipe
	// tail is the payload's last bytes, in memory: a portal message's
	// number.
	tail []byte
	// cleanup closes the pipe if the message is dropped unreleased (a
	// mailbox that closes with messages in it).
	cleanup runtime.Cleanup
}

// NewSpliced makes the spliced part of a payload, owning p: the payload's
// middle is what p holds, and tail its last bytes. Whoever has it last
// gives it back (Release); one dropped without is released when it is
// collected.
func NewSpliced(p *splice.Pipe, tail []byte) *Spliced {
	sp := &Spliced{pipe: p, tail: tail}
	sp.cleanup = runtime.AddCleanup(sp, func(p *splice.Pipe) { p.Release() }, p)
	return sp
}

// Pipe holds the payload's middle.
func (sp *Spliced) Pipe() *splice.Pipe { return sp.pipe }

// Tail is the payload's last bytes.
func (sp *Spliced) Tail() []byte { return sp.tail }

// SetTail replaces the payload's last bytes, before the message is sent.
func (sp *Spliced) SetTail(tail []byte) { sp.tail = tail }

// Release gives the pipe back, emptied or not.
func (sp *Spliced) Release() {
	sp.cleanup.Stop()
	sp.pipe.Release()
}

// PayloadLen is the whole payload's length, spliced part and all.
func (r *Routed) PayloadLen() int {
	if r.sp == nil {
		return len(r.Payload)
	}
	return len(r.Payload) + r.sp.pipe.Held() + len(r.sp.tail)
}

// Spliced is the spliced part of the message's payload, nil when the
// payload is all in memory: what a Splicer that took the message moves.
func (r *Routed) Spliced() *Spliced { return r.sp }

// TakeSpliced takes the spliced part from r, for a worker that moves it
// after HandleMessage has returned: the caller now releases it. It is nil
// when the payload is all in memory.
func (r *Routed) TakeSpliced() *Spliced {
	sp := r.sp
	r.sp = nil
	return sp
}

// dropSplice gives the message's pipe back, emptied or not.
func (r *Routed) dropSplice() {
	if r.sp != nil {
		r.sp.Release()
		r.sp = nil
	}
}

// Materialize reads a spliced payload back into memory: Payload is then
// all of it. A payload in memory already is left as it is.
func (r *Routed) Materialize() error {
	sp := r.sp
	if sp == nil {
		return nil
	}
	n := r.PayloadLen()
	var buf *[]byte
	var b []byte
	if buf = getBufferFor(n); buf != nil {
		b = (*buf)[:n]
	} else {
		b = make([]byte, n)
	}
	k := copy(b, r.Payload)
	held := sp.pipe.Held()
	err := sp.pipe.Take(b[k : k+held])
	copy(b[k+held:], sp.tail)
	r.dropSplice()
	putBuffer(r.buf)
	if err != nil {
		putBuffer(buf)
		r.buf = nil
		return fmt.Errorf("spliced payload: %w", err)
	}
	r.Payload, r.buf = b, buf
	return nil
}

// A Splicer is a worker that may take a spliced payload as it is. The
// router asks the worker what it does with one, and names no transport
// and no role: TCP connections, portal streams, hops and forwarders each
// answer for themselves.
type Splicer interface {
	// Splice says what becomes of a spliced payload routed along onward,
	// whose first address is the worker's.
	Splice(onward routing.Route) SpliceTarget
}

// SpliceMode is what a worker does with a spliced payload.
type SpliceMode int

const (
	// SpliceNone: the worker reads payloads; the router reads the pipe
	// back into memory before it delivers one.
	SpliceNone SpliceMode = iota
	// SpliceFrame: the worker writes the payload on as it is, in a frame
	// around the pipe, with whatever of it is in memory (a TCP
	// connection: on to the next node).
	SpliceFrame
	// SpliceSocket: the worker moves the pipe's bytes into a socket, and
	// reads the payload's first Head and last Tail bytes in memory (a
	// portal stream).
	SpliceSocket
	// SplicePass: the worker only changes the route, and the payload goes
	// on along Next (a hop, a forwarder).
	SplicePass
)

// SpliceTarget is what becomes of a spliced payload at a worker.
type SpliceTarget struct {
	Mode SpliceMode
	// Head and Tail are, for SpliceSocket, how many of the payload's first
	// and last bytes the worker reads in memory: the pipe holds the rest.
	Head, Tail int
	// Next is, for SplicePass, the route the payload goes on along.
	Next routing.Route
}

// takesSpliced reports whether w, the worker at the head of onward, moves
// a spliced payload as it is.
func takesSpliced(w Worker, onward routing.Route) bool {
	s, ok := w.(Splicer)
	return ok && s.Splice(onward).Mode != SpliceNone
}

// SpliceTo says where a message sent along onward would end up, past the
// hops and forwarders on this node: at a worker that moves its payload
// without reading it (SpliceFrame, SpliceSocket), and then reading the
// payload into a pipe rather than into memory saves copying it; or at one
// that reads it (SpliceNone). A TCP connection asks for every large frame
// it reads, a portal stream for every large read of its socket.
func (n *Node) SpliceTo(onward routing.Route) SpliceTarget {
	for range 8 {
		if len(onward) == 0 || !onward[0].IsLocal() {
			return SpliceTarget{}
		}
		w := n.lookup(onward[0].Value)
		if w == nil {
			return SpliceTarget{}
		}
		s, ok := w.impl.(Splicer)
		if !ok {
			return SpliceTarget{}
		}
		to := s.Splice(onward)
		if to.Mode != SplicePass {
			return to
		}
		onward = to.Next
	}
	return SpliceTarget{}
}
