package runtime

import "sync"

// Buffers for frame bodies and portal chunks, reused so that a stream of
// data does not make the garbage collector run for every few megabytes.
// A buffer is given back only where its last user is known: after a
// connection has copied a frame out, after a portal stream has written a
// chunk to its socket. Everywhere else it is left to the garbage collector,
// which is always safe.
//
// Two sizes: one for Ockam-sized chunks and the frames around them, one
// for the chunks of a large window (chunkFor(LargeWindow)).

// poolBufferSize holds a whole Ockam-sized portal chunk with its frame
// around it; largeBufferSize a large window's chunk with its frame.
const (
	poolBufferSize  = 64 << 10
	largeBufferSize = LargeChunk + 2<<10
	// smallBufferSize holds what an idle stream's first read takes.
	// It leaves room for payloadHeadroom and a message number.
	smallBufferSize = 4<<10 + 256
)

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
		b := make([]byte, smallBufferSize)
		return &b
	}}
)

// getSmallBuffer returns a buffer of smallBufferSize.
func getSmallBuffer() *[]byte { return smallPool.Get().(*[]byte) }

// getBuffer returns a buffer of poolBufferSize.
func getBuffer() *[]byte { return bufferPool.Get().(*[]byte) }

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
	case smallBufferSize:
		*b = (*b)[:smallBufferSize]
		smallPool.Put(b)
	}
}
