package runtime

import "sync"

// Buffers for frame bodies and portal chunks, reused so that a stream of
// data does not make the garbage collector run for every few megabytes.
// A buffer is given back only where its last user is known: after a
// connection has copied a frame out, after a portal stream has written a
// chunk to its socket. Everywhere else it is left to the garbage collector,
// which is always safe.

// poolBufferSize holds a whole portal chunk with its frame around it.
const poolBufferSize = 64 << 10

var bufferPool = sync.Pool{New: func() any {
	b := make([]byte, poolBufferSize)
	return &b
}}

func getBuffer() *[]byte { return bufferPool.Get().(*[]byte) }

func putBuffer(b *[]byte) {
	if b != nil && cap(*b) == poolBufferSize {
		*b = (*b)[:poolBufferSize]
		bufferPool.Put(b)
	}
}
