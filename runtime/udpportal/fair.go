package udpportal

import (
	"sync"

	"github.com/ockamtop/ockamtop/runtime"
)

// An inlet reads its socket on one goroutine and sends into the portal on
// another. Between them, each flow has a queue of its own, bounded in
// datagrams, and all the queues together are bounded in bytes; the sender
// takes one datagram from each flow that has any, in turn. The reader
// never waits for the route, so it drains the socket as fast as clients
// fill it, and a client that sends faster than the route carries fills
// only its own queue: its surplus is dropped there, while a polite
// client's datagram waits behind at most one datagram of each other flow.
// Were the reader to send, a flood would fill the socket's receive buffer,
// and the kernel would drop everybody's datagrams alike.

// datagram is one message ready to send: a Datagram framed in buf, a
// pooled buffer (runtime.GetBuffer) or nil for one the collector takes.
type datagram struct {
	buf     *[]byte
	payload []byte
	// n is the datagram's own length, the message's less its header.
	n int
}

// size is what the datagram holds of the inlet's budget: its buffer.
func (d datagram) size() int {
	if d.buf != nil {
		return cap(*d.buf)
	}
	return cap(d.payload)
}

func (d datagram) release() { runtime.PutBuffer(d.buf) }

// framed copies data into a buffer sized for it, after headroom, and
// frames it as a Datagram there: the message that takes it along the
// route, which the node's parts on the way move without copying it again.
func framed(data []byte) datagram {
	size := headroom + len(data)
	var b *[]byte
	switch {
	case size <= runtime.SmallBufferSize:
		b = runtime.GetSmallBuffer()
	case size <= 64<<10:
		b = runtime.GetBuffer(size)
	}
	var buf []byte
	if b != nil {
		buf = *b
	} else {
		buf = make([]byte, size)
	}
	copy(buf[headroom:], data)
	return datagram{buf: b, payload: frameDatagram(buf, len(data)), n: len(data)}
}

// fairQueue holds the datagrams of an inlet's flows.
type fairQueue struct {
	perFlow, maxBytes int
	// wake has a token when ready may have gained a flow.
	wake chan struct{}

	mu sync.Mutex
	// ready lists the flows with datagrams queued, in the order they take
	// their turns; bytes is what all the queues hold. Both guarded by mu,
	// as are the flows' queue, queued and gone.
	ready []*inletFlow
	bytes int
}

func newFairQueue(perFlow, maxBytes int) *fairQueue {
	return &fairQueue{perFlow: perFlow, maxBytes: maxBytes, wake: make(chan struct{}, 1)}
}

// push queues d for f; false when f's queue or the inlet's budget is
// full, or f is gone, and d was released.
func (q *fairQueue) push(f *inletFlow, d datagram) bool {
	q.mu.Lock()
	if f.gone || len(f.queue) >= q.perFlow || q.bytes+d.size() > q.maxBytes {
		q.mu.Unlock()
		d.release()
		return false
	}
	f.queue = append(f.queue, d)
	q.bytes += d.size()
	if !f.queued {
		f.queued = true
		q.ready = append(q.ready, f)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return true
}

// pop takes the next flow's oldest datagram, waiting for one until stop
// is closed (ok false).
func (q *fairQueue) pop(stop <-chan struct{}) (f *inletFlow, d datagram, ok bool) {
	for {
		q.mu.Lock()
		for len(q.ready) > 0 {
			f = q.ready[0]
			q.ready[0] = nil
			q.ready = q.ready[1:]
			if len(f.queue) == 0 { // gone meanwhile
				f.queued = false
				continue
			}
			d = f.queue[0]
			f.queue[0] = datagram{}
			f.queue = f.queue[1:]
			q.bytes -= d.size()
			if len(f.queue) > 0 {
				q.ready = append(q.ready, f) // its next turn, after the others'
			} else {
				f.queued = false
				f.queue = nil
			}
			q.mu.Unlock()
			return f, d, true
		}
		q.ready = nil // let the spent array go
		q.mu.Unlock()
		select {
		case <-q.wake:
		case <-stop:
			return nil, datagram{}, false
		}
	}
}

// forget marks f gone and releases what it has queued.
func (q *fairQueue) forget(f *inletFlow) {
	q.mu.Lock()
	f.gone = true
	queue := f.queue
	f.queue = nil
	for _, d := range queue {
		q.bytes -= d.size()
	}
	q.mu.Unlock()
	for _, d := range queue {
		d.release()
	}
}
