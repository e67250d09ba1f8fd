package portal

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/routing"
)

// streamSet is an inlet's or outlet's open streams, with the sweeper that
// keeps them alive.
type streamSet struct {
	mu      sync.Mutex
	streams map[*portalStream]struct{} // guarded by mu
	// count is what the streams did (counters.go).
	count streamCounters
	// closed is set by closeAll: its inlet or outlet is stopped, and
	// takes no new stream.
	closed bool // guarded by mu
	// budget is what the streams take in flight above their default
	// windows, shared.
	budget windowBudget
	// parker holds the idle streams that wait with no goroutine, made at
	// the first; parkDone is set when the sweeper ends, or the parker
	// could not be made: no stream parks from then on.
	parker   *parker // guarded by mu
	parkDone bool    // guarded by mu
	// life is its inlet's or outlet's, which runs the streams' readers;
	// nil: the node's.
	life *partLife
	// idleRestart, when set, replaces the const of that name (tests), in
	// nanoseconds; restarts counts the readers parked, or restarted on a
	// fresh stack.
	idleRestart atomic.Int64
	restarts    atomic.Uint64
}

// goroutine runs f as one of the set's inlet or outlet, which waits for it
// when it stops; false if it is stopping.
func (ss *streamSet) goroutine(n *runtime.Node, f func()) bool {
	if ss.life == nil {
		n.Go(f)
		return true
	}
	return ss.life.goroutine(n, f)
}

// add puts a new stream in the set; false if the set is closed.
func (ss *streamSet) add(s *portalStream) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.closed {
		return false
	}
	if ss.streams == nil {
		ss.streams = map[*portalStream]struct{}{}
	}
	ss.streams[s] = struct{}{}
	return true
}

// closeAll closes the set to new streams and ends the open ones, each
// telling its other end (a stream still waiting for its Pong waits for it
// a moment, as at a node's shutdown). It returns when all have closed.
func (ss *streamSet) closeAll() {
	ss.mu.Lock()
	ss.closed = true
	streams := make([]*portalStream, 0, len(ss.streams))
	for s := range ss.streams {
		streams = append(streams, s)
	}
	ss.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range streams {
		wg.Go(s.shutdown)
	}
	wg.Wait()
}

func (ss *streamSet) remove(s *portalStream) {
	ss.mu.Lock()
	delete(ss.streams, s)
	if ss.parker != nil {
		ss.parker.unpark(s)
	}
	ss.mu.Unlock()
}

// park has s wait for its socket with no goroutine (stream_park_linux.go):
// false if it cannot, and its reader goes on. Only a set with a sweeper
// (an inlet's or an outlet's) parks streams, since only its sweeper pokes
// idle readers, and it ends the parker when it ends.
func (ss *streamSet) park(n *runtime.Node, s *portalStream) bool {
	if s.raw == nil || ss.life == nil {
		return false
	}
	ss.mu.Lock()
	if ss.parkDone || ss.closed {
		ss.mu.Unlock()
		return false
	}
	p := ss.parker
	if p == nil {
		var err error
		if p, err = newParker(); err != nil {
			ss.parkDone = true
			ss.mu.Unlock()
			return false
		}
		run := func() {
			p.run(func(s *portalStream) { ss.wake(n, s) })
			ss.parkerEnded(n, p)
		}
		if !ss.goroutine(n, run) {
			p.close()
			ss.parkDone = true
			ss.mu.Unlock()
			return false
		}
		ss.parker = p
	}
	ss.mu.Unlock()
	return p.park(s)
}

// wake starts the reader of a parked stream whose socket has something.
// A set that is stopping starts none: it closes its streams.
func (ss *streamSet) wake(n *runtime.Node, s *portalStream) {
	s.poked.Store(false)
	ss.goroutine(n, s.readLoop)
}

// parkerEnded wakes the streams still parked once the parker has ended:
// from then on none parks, and each has a reader waiting as before. A
// set that is stopping, or whose node is closing, wakes none: its streams
// are being closed.
func (ss *streamSet) parkerEnded(n *runtime.Node, p *parker) {
	ss.mu.Lock()
	ss.parkDone = true
	ss.mu.Unlock()
	streams := p.takeAll()
	if n.Context().Err() != nil {
		return
	}
	for _, s := range streams {
		ss.wake(n, s)
	}
}

// canPark reports whether idle streams park (the sweeper asks at each
// tick).
func (ss *streamSet) canPark() bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return parkSupported && ss.life != nil && !ss.parkDone && !ss.closed
}

// stopParking ends the parker as the sweeper ends (its node is closing,
// or its inlet or outlet stopping, and the streams with it).
func (ss *streamSet) stopParking() {
	ss.mu.Lock()
	ss.parkDone = true
	p := ss.parker
	ss.mu.Unlock()
	if p != nil {
		p.close()
	}
}

// Len counts the open streams.
func (ss *streamSet) Len() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.streams)
}

// pathClosed closes the streams whose route to the other end goes through
// the connection at addr, which has closed: nothing they send can arrive.
// Called for a connection about to close (connectionEvents.closing), while
// it still carries, it closes them in order, telling the other ends.
func (ss *streamSet) pathClosed(addr routing.Address) {
	ss.mu.Lock()
	var broken []*portalStream
	for s := range ss.streams {
		s.mu.Lock()
		// Anywhere in the route: hops on this node (a hop service) may come
		// before the connection; addresses after it are other nodes'.
		if len(s.remote) > 0 && slices.Contains(s.remote, addr) || len(s.remote) == 0 && s.via == addr {
			broken = append(broken, s)
		}
		s.mu.Unlock()
	}
	ss.mu.Unlock()
	// A stream cut on its way is broken, not ended: its socket is reset,
	// and the other end's too when it can still be told, so that no
	// client takes the data that came for the whole of it.
	for _, s := range broken {
		if _, open := s.node.Transports().Connection(addr.Value); open {
			s.close(fmt.Errorf("%w: the connection %s on the way to the other end is closing", errStreamBroken, addr.Value), true)
			continue
		}
		s.close(fmt.Errorf("%w: the connection %s on the way to the other end closed", errStreamBroken, addr.Value), false)
	}
}

// sweep runs keepalives until the node closes or stop is closed.
func (ss *streamSet) sweep(n *runtime.Node, k runtime.KeepAlive, stop <-chan struct{}) {
	t := time.NewTicker(min(k.Every/2, idleRestart))
	defer t.Stop()
	defer ss.stopParking()
	for {
		select {
		case <-n.Context().Done():
			return
		case <-stop:
			return
		case now := <-t.C:
			ss.mu.Lock()
			streams := make([]*portalStream, 0, len(ss.streams))
			for s := range ss.streams {
				streams = append(streams, s)
			}
			ss.mu.Unlock()
			idle := cmp.Or(time.Duration(ss.idleRestart.Load()), idleRestart)
			park := ss.canPark()
			for _, s := range streams {
				s.keepAlive(now, k.Every, k.DeadAfter)
				s.pokeIfIdle(now, idle, park)
			}
		}
	}
}

// keepAlive runs from its inlet's or outlet's sweeper: it says something to
// a quiet other end, and closes a stream whose other end has been silent
// too long (a node on the way died, and nobody else will tell).
func (s *portalStream) keepAlive(now time.Time, every, deadAfter time.Duration) {
	if !s.isEstablished() {
		return // the inlet's ping timeout covers this
	}
	if silent := now.Sub(time.Unix(0, s.lastHeard.Load())); silent > deadAfter {
		s.close(fmt.Errorf("%w: no word from the other end for %s", errStreamBroken, silent.Round(time.Second)), true)
		return
	}
	if now.Sub(time.Unix(0, s.lastSent.Load())) > every {
		s.send(encodePortal(portalKeepAlive))
	}
}
