package runtime

import (
	"sync"

	"github.com/ockamtop/ockamtop/runtime/routing"
)

// Buffers for frame bodies and portal chunks, reused so that a stream of
// data does not make the garbage collector run for every few megabytes.
// A buffer is given back only where its last user is known: after a
// connection has copied a frame out, after a portal stream has written a
// chunk to its socket. Everywhere else it is left to the garbage collector,
// which is always safe.
//
// Three sizes: one for Ockam-sized chunks and the frames around them, one
// for the chunks of a portal's large window (LargePayload), and a small
// one for an idle stream's first read.

// poolBufferSize holds a whole Ockam-sized portal chunk with its frame
// around it; largeBufferSize a large window's chunk with its frame.
const (
	poolBufferSize  = 64 << 10
	largeBufferSize = LargePayload + 2<<10
)

// LargePayload is the largest payload a pooled buffer holds whole, with
// the frame around it: a portal stream's largest chunk (portal.LargeChunk).
const LargePayload = 512 << 10

// SmallBufferSize is the size of GetSmallBuffer's buffers: what an idle
// portal stream's first read takes, with room for its headroom and a
// message number.
const SmallBufferSize = 4<<10 + 256

// PooledMin is the least size worth a pooled buffer (GetBuffer): a smaller
// payload would pin a buffer of twice its size or more while it waits in
// a queue. A transport reads a frame of this size or more into one: full
// portal chunks, not small messages that may sit in a mailbox. A queued
// chunk then pins at most twice its size.
const PooledMin = pooledFrameMin

const pooledFrameMin = 32 << 10

var (
	bufferPool = sync.Pool{New: func() any {
		b := make([]byte, poolBufferSize)
		return &b
	}}
	largePool = sync.Pool{New: func() any {
		b := make([]byte, largeBufferSize)
		return &b
	}}
	smallPool = sync.Pool{New: func() any {
		b := make([]byte, SmallBufferSize)
		return &b
	}}
)

// getBufferFor returns a pooled buffer that holds n bytes, or nil when n
// is too small to be worth one (pooledFrameMin) or larger than any.
func getBufferFor(n int) *[]byte {
	switch {
	case n < pooledFrameMin || n > largeBufferSize:
		return nil
	case n <= poolBufferSize:
		return bufferPool.Get().(*[]byte)
	default:
		return largePool.Get().(*[]byte)
	}
}

func putBuffer(b *[]byte) {
	if b == nil {
		return
	}
	switch cap(*b) {
	case poolBufferSize:
		*b = (*b)[:poolBufferSize]
		bufferPool.Put(b)
	case largeBufferSize:
		*b = (*b)[:largeBufferSize]
		largePool.Put(b)
	case SmallBufferSize:
		*b = (*b)[:SmallBufferSize]
		smallPool.Put(b)
	}
}

// The exported side of the buffers is for the parts of a node that move a
// payload without copying it (a secure channel seals and opens payloads
// where they are; a portal stream reads its socket into one, after room
// for what the parts on the way write in front of it): they take a
// message's buffer, or get one, and pass it on with the message whose
// payload it holds.

// GetBuffer returns a pooled buffer of at least n bytes (its length is
// its capacity), or nil when n is larger than any: the caller gives it
// back with PutBuffer, or sends it on with the message whose payload it
// holds (NewRouted, Node.Route).
func GetBuffer(n int) *[]byte {
	if n > largeBufferSize {
		return nil
	}
	return getBufferFor(max(n, pooledFrameMin))
}

// GetSmallBuffer returns a pooled buffer of SmallBufferSize bytes, which
// goes back and on as GetBuffer's do.
func GetSmallBuffer() *[]byte { return smallPool.Get().(*[]byte) }

// PutBuffer gives back a buffer from GetBuffer, GetSmallBuffer or
// Routed.TakeBuffer; nil is allowed. Neither the buffer nor a payload in
// it may be used after it.
func PutBuffer(b *[]byte) { putBuffer(b) }

// TakeBuffer takes from r the pooled buffer its payload lives in, whole,
// for a part that goes on using the payload where it is: the caller now
// owns it (see GetBuffer). It is nil when the payload is in no pooled
// buffer, or not all in memory.
func (r *Routed) TakeBuffer() *[]byte {
	if r.sp != nil {
		return nil
	}
	b := r.buf
	r.buf = nil
	return b
}

// NewRouted is a message a part of the node routes on (Node.Route, or
// Context.Forward from a worker), the one way to make one: it carries flow
// f (nil for a message of the node's own, as from local code); its
// payload lives in buf, when not nil, a buffer from GetBuffer or
// TakeBuffer that goes with the message; and when sp is set, the
// payload's middle is in sp's pipe, Payload being then its first bytes.
// Whoever consumes the message last gives buf and sp back (the connection
// that writes it); one that is dropped leaves them to the garbage
// collector.
func NewRouted(m routing.Message, f *Flow, buf *[]byte, sp *Spliced) *Routed {
	r := &Routed{Message: m, buf: buf, sp: sp}
	if f != nil {
		r.flow = &f.flow
	}
	return r
}
