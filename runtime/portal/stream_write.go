package portal

import (
	"fmt"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/splice"
)

// streamWriter is a stream's write side: what the other end sent that is
// still to be written to the socket, and how the write side ends. Its
// fields are guarded by the stream's mu.
type streamWriter struct {
	// queue holds received data not yet written to sock; queued counts it.
	queue  []chunk
	queued int
	// writing is true while a writer goroutine runs, or while a Payload
	// is written on the spot (onPayload).
	writing bool
	// peerEOF: the other end half-closed; after the queue, shut our write
	// side. disconnect: it said Disconnect; after the queue, close.
	peerEOF, disconnect bool
	// wroteEOF: our write side is shut.
	wroteEOF bool
}

// chunk is received stream data and the buffer it lives in, or the pipe
// that holds it.
type chunk struct {
	data []byte
	buf  *[]byte
	sp   *runtime.Spliced
}

func (c chunk) len() int {
	if c.sp != nil {
		return c.sp.Pipe().Held()
	}
	return len(c.data)
}

// release gives the chunk's buffer and pipe back, once its data is written
// or will never be.
func (c chunk) release() {
	runtime.PutBuffer(c.buf)
	if c.sp != nil {
		c.sp.Release()
	}
}

// drop gives back the pipe of a chunk not taken in at once, and leaves its
// buffer to the garbage collector: only a buffer whose data has been
// written is known to be done with (runtime/buffers.go).
func (c chunk) drop() {
	if c.sp != nil {
		c.sp.Release()
	}
}

// onPayload takes a Payload of data from the other end, whose buffer or
// pipe m holds: within the limit, it is written at once when the socket
// takes it and nothing is queued, else queued for the writer. The chunk
// takes m's buffer and pipe from it: the stream gives them back once
// written, or drops them.
func (s *portalStream) onPayload(m *runtime.Routed, data []byte) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	c := chunk{data: data, buf: m.TakeBuffer(), sp: m.TakeSpliced()}
	if s.queued+c.len() > s.limit {
		queued := s.queued
		s.mu.Unlock()
		c.drop()
		s.closeLater(fmt.Errorf("peer sent beyond its credit (%d bytes queued)", queued))
		return
	}
	if c.len() > 0 && (c.sp != nil || len(c.data) <= writeNowMax) && s.idleWriterLocked() {
		// Nobody writing, nothing queued: write what the socket takes
		// at once, and save waking a writer.
		s.writing = true
		s.mu.Unlock()
		var n int
		if c.sp != nil {
			n = c.sp.Pipe().DrainNow(s.raw)
		} else {
			n = splice.WriteNow(s.raw, c.data)
			c.data = c.data[n:]
		}
		s.set.count.bytesOut.Add(uint64(n))
		s.mu.Lock()
		s.writing = false
		if s.closed {
			// Closed meanwhile: its queue has been given back, and
			// the rest of this chunk goes with it.
			c.release()
			c = chunk{}
		}
		if s.wroteLocked(n) {
			s.node.Go(s.sendGrants)
		}
		if c.len() == 0 {
			c.release()
			c = chunk{}
		}
	}
	if c.len() > 0 {
		s.queue = append(s.queue, c) // the writer gives it back
		s.queued += c.len()
	} else {
		c.drop()
	}
	s.kickWriterLocked()
	s.mu.Unlock()
}

// Splice takes a spliced Payload as it is: its pipe is drained into the
// stream's socket.
func (s *portalStream) Splice(routing.Route) runtime.SpliceTarget {
	return runtime.SpliceTarget{Mode: runtime.SpliceSocket, Head: payloadHeaderMax, Tail: seqSize}
}

// writeNowMax is the most received data a stream writes on the spot
// (onPayload), as much as its socket takes at once: any chunk. A
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
	s.node.Go(s.writeLoop)
}

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
		s.mu.Unlock()

		size := c.len()
		var written int
		var err error
		if c.sp != nil {
			written, err = c.sp.Pipe().Drain(s.raw, false)
		} else {
			written, err = s.sock.Write(c.data)
		}
		s.set.count.bytesOut.Add(uint64(written))
		c.release()
		if err != nil {
			s.close(socketError("write", err), true)
			return
		}
		s.mu.Lock()
		s.queued -= size
		grants := s.wroteLocked(size)
		s.mu.Unlock()
		if grants {
			s.sendGrants()
		}
	}
}
