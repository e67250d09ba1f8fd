package portal

import (
	"errors"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/splice"
	"github.com/ockamtop/ockamtop/runtime/wire"
)

// streamReader is what a stream's reader and its sweeper share about the
// reader's stack (readLoop): atomics, no lock.
type streamReader struct {
	// grown: the reader has sent since it started, so its stack may have
	// grown; poked: the sweeper asked it to restart (readFrom).
	grown, poked atomic.Bool
}

// readLoop reads the socket and sends its data to the other end, within
// the credit it has.
//
// A quiet stream is this goroutine waiting, with no buffer, for its
// socket to be readable. Sending grows a goroutine's stack past its first
// 2 KiB (the route through hops and connections is deep), and a waiting
// stack shrinks only at a collection; and even a small stack is most of
// what an idle stream costs. So the sweeper of its inlet or outlet pokes a
// reader that has been quiet for idleRestart (a read deadline in the past
// wakes it), and the reader parks the stream (stream_park_linux.go): it
// ends, and the socket waits with no goroutine until it has something.
// Where a stream cannot park, a reader that has sent hands over to a
// fresh goroutine, with a small stack, that waits for as long as it
// takes. A stream in flow is never poked, and its reader's wait costs
// nothing more than the wait itself.
func (s *portalStream) readLoop() { s.readFrom(1 << 10) }

// idleRestart is how long a reader stays quiet before its sweeper pokes
// it to park, or to restart on a fresh stack.
const idleRestart = time.Second

// readFrom is readLoop with size, the next read's size: it grows while
// reads fill it, so an idle stream stays small.
func (s *portalStream) readFrom(size int) {
	s.grown.Store(false)
	for {
		first, err := s.readIdle(size)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			_ = s.sock.SetReadDeadline(time.Time{})
			if s.poked.Load() {
				s.set.restarts.Add(1)
				if s.set.park(s.node, s) {
					return // poked stays set while it is parked
				}
				s.poked.Store(false)
				if !s.set.goroutine(s.node, func() { s.readFrom(size) }) {
					s.close(nil, true) // its inlet or outlet is stopping
				}
				return
			}
			continue
		}
		if err != nil && !first.done {
			// The wait took the socket's error (a reset): the read that
			// would follow sees a clean end.
			s.close(socketError("read", err), true)
			return
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
	credit, chunk := s.credit, chunkFor(s.sendWindow)
	s.mu.Unlock()
	n := min(size, credit, chunk)
	if n <= 0 || payloadHeadroom+n+seqSize > runtime.SmallBufferSize || s.raw == nil {
		return idleRead{}, waitReadable(s.sock)
	}
	pooled, k, err := readReady(s.raw, payloadHeadroom, n)
	r := idleRead{pooled: pooled, n: n, k: k, done: pooled != nil}
	if pooled != nil {
		r.buf = (*pooled)[:payloadHeadroom+n]
	}
	return r, err
}

// pokeIfIdle asks the reader, quiet for idle, to park (park: its set
// parks streams) or, if it has sent, to restart on a fresh stack
// (readFrom). A parked stream is poked already.
func (s *portalStream) pokeIfIdle(now time.Time, idle time.Duration, park bool) {
	if !(s.grown.Load() || park && s.raw != nil) || s.poked.Load() || now.Sub(time.Unix(0, s.lastSent.Load())) < idle {
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
		chunk := chunkFor(s.sendWindow)
		s.mu.Unlock()
		if more, over := s.sendRead(first.buf, first.pooled, first.k, first.n, chunk, size, firstErr); over {
			return more
		}
	}
	for {
		s.mu.Lock()
		credit, closed, chunk := s.credit, s.closed, chunkFor(s.sendWindow)
		var grew <-chan struct{}
		if credit <= 0 {
			grew = s.creditWaitLocked()
		}
		s.mu.Unlock()
		if closed {
			return false
		}
		if credit <= 0 {
			s.set.count.creditStalls.Add(1)
			select {
			case <-grew:
			case <-s.done:
				return false
			}
			continue
		}
		n := min(*size, credit, chunk)
		if n >= splice.MinBytes && s.raw != nil {
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
		if need := payloadHeadroom + n + seqSize; need >= runtime.PooledMin {
			pooled = runtime.GetBuffer(need)
		}
		if pooled != nil {
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
		runtime.PutBuffer(pooled)
	}
	if k > 0 {
		s.spend(k)
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
	s.close(socketError("read", err), true)
	return false, true
}

// pumpSpliced reads up to n bytes of the socket into a pipe and sends them
// as a spliced Payload, when the way to the other end moves payloads
// without reading them (Node.SpliceTo). done is false when it did nothing:
// the caller reads through memory. k is the bytes sent; err the read's.
func (s *portalStream) pumpSpliced(n int) (k int, err error, done bool) {
	s.mu.Lock()
	remote := s.remote
	s.mu.Unlock()
	if s.node.SpliceTo(remote).Mode == runtime.SpliceNone {
		return 0, nil, false
	}
	p := splice.GetPipe()
	if p == nil {
		return 0, nil, false
	}
	k, err = p.Fill(s.raw, n)
	if k > 0 {
		s.spend(k)
		s.set.count.bytesIn.Add(uint64(k))
	}
	if k < splice.MinBytes {
		// Little came: it goes through memory, a pipe is not worth it.
		if k > 0 {
			buf := make([]byte, payloadHeadroom+k, payloadHeadroom+k+seqSize)
			if terr := p.Take(buf[payloadHeadroom:]); terr != nil {
				p.Release()
				s.close(terr, true)
				return k, terr, true
			}
			if !s.sendBuf(framePayload(buf, k), nil, nil) {
				p.Release()
				return k, errStreamSendFailed, true
			}
		}
		p.Release()
		return k, err, true
	}
	head := wire.AppendUvarint(make([]byte, 1, payloadHeaderMax), uint64(k))
	head[0] = byte(portalPayload)
	if !s.sendBuf(head, nil, runtime.NewSpliced(p, make([]byte, 0, seqSize))) {
		return k, errStreamSendFailed, true
	}
	return k, err, true
}

// errStreamSendFailed ends pump after a send that closed the stream.
var errStreamSendFailed = errors.New("portal stream closed while sending")
