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
// Only workers that move payloads without reading them take one as it is:
// TCP connections (which write the frame around the pipe), portal streams
// (which move the pipe into their socket), and hops and forwarders (which
// only change routes). The router reads the pipe back into memory for any
// other worker (materialize), so a secure channel, a UDP connection or an
// echo service sees an ordinary payload.
type spliced struct {
	pipe *splice.Pipe
	// tail is the payload's last bytes, in memory: a portal message's
	// number.
	tail []byte
	// cleanup closes the pipe if the message is dropped unreleased (a
	// mailbox that closes with messages in it).
	cleanup runtime.Cleanup
}

// newSpliced makes the spliced part of a payload, owning p.
func newSpliced(p *splice.Pipe, tail []byte) *spliced {
	sp := &spliced{pipe: p, tail: tail}
	sp.cleanup = runtime.AddCleanup(sp, func(p *splice.Pipe) { p.Release() }, p)
	return sp
}

// payloadLen is the whole payload's length.
func (r *Routed) payloadLen() int {
	if r.sp == nil {
		return len(r.Payload)
	}
	return len(r.Payload) + r.sp.pipe.Held() + len(r.sp.tail)
}

// release gives the pipe back, emptied or not.
func (sp *spliced) release() {
	sp.cleanup.Stop()
	sp.pipe.Release()
}

// dropSplice gives the message's pipe back, emptied or not.
func (r *Routed) dropSplice() {
	if r.sp != nil {
		r.sp.release()
		r.sp = nil
	}
}

// materialize reads a spliced payload back into memory.
func (r *Routed) materialize() error {
	sp := r.sp
	if sp == nil {
		return nil
	}
	n := r.payloadLen()
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

// A splicer is a worker that may take a spliced payload as it is. The
// router asks the worker what it does with one, and names no transport:
// TCP connections, portal streams, hops and forwarders each answer for
// themselves.
type splicer interface {
	// splice says what becomes of a spliced payload routed along onward,
	// whose first address is the worker's: it goes into the worker's
	// socket (spliceConnection, spliceStream); on along next, the worker
	// only changing the route (splicePass); or it would be read
	// (spliceNone).
	splice(onward routing.Route) (to spliceTarget, next routing.Route)
}

// takesSpliced reports whether w, the worker at the head of onward, moves
// a spliced payload as it is.
func takesSpliced(w Worker, onward routing.Route) bool {
	s, ok := w.(splicer)
	if !ok {
		return false
	}
	to, _ := s.splice(onward)
	return to != spliceNone
}

// spliceTarget is where a spliced payload would go on a node.
type spliceTarget int

const (
	spliceNone       spliceTarget = iota // a worker that reads payloads
	spliceConnection                     // a TCP connection: on to the next node
	spliceStream                         // a portal stream: into its socket
	splicePass                           // a hop or forwarder: on along the route it gives
)

// splicesTo says whether a message sent along onward would reach a worker
// that moves its payload without reading it, past the hops and forwarders
// on this node: then reading the payload into a pipe rather than into
// memory saves copying it. A stream, which checks the message's number,
// needs the payload's last bytes in memory; a connection does not.
func (n *Node) splicesTo(onward routing.Route) spliceTarget {
	for range 8 {
		if len(onward) == 0 || !onward[0].IsLocal() {
			return spliceNone
		}
		w := n.lookup(onward[0].Value)
		if w == nil {
			return spliceNone
		}
		s, ok := w.impl.(splicer)
		if !ok {
			return spliceNone
		}
		to, next := s.splice(onward)
		if to != splicePass {
			return to
		}
		onward = next
	}
	return spliceNone
}
