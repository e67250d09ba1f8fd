package portal

import "fmt"

// streamCredit is a stream's flow control, both ways: how much it may
// still send (the other end's Credit and Window messages), and how much it
// lets the other end have in flight (ours). Its int fields are guarded by
// the stream's mu, since a Payload is checked against the limit and
// queued under one lock.
type streamCredit struct {
	// credit is how many bytes we may still send; sendWindow the most it
	// may be (the other end's Window), whose chunkFor is the largest
	// Payload we send.
	credit, sendWindow int

	// window is how many bytes we have said we take in flight (our
	// Window): it only grows. limit is how many the other end may have
	// outstanding now, at most window: its credit, what is on the way and
	// what we have queued. out is how many it does: every byte it was
	// given (DefaultWindow, the Windows' growth and our Credits) less
	// those we wrote to the socket. out never passes limit, and limit
	// comes down to a smaller share only as far as out allows.
	window, limit, out int
	// want is how far above DefaultWindow this end would take in flight
	// (0: it asked its set's budget for nothing). What limit is above
	// DefaultWindow is the part of the budget it holds (its extra).
	want int
	// pendWindow and pendCredit are a Window (0: none) and a Credit
	// decided and not yet sent (sendGrants).
	pendWindow, pendCredit int
	// creditCh is signalled when credit grows; made by the reader the
	// first time it waits for credit (an idle stream never does).
	creditCh chan struct{}
}

// newStreamCredit is the flow control of a new stream: the default window
// both ways, until a Window message says more.
func newStreamCredit() streamCredit {
	return streamCredit{
		credit:     DefaultWindow,
		sendWindow: DefaultWindow,
		window:     DefaultWindow,
		limit:      DefaultWindow,
		out:        DefaultWindow,
	}
}

// spend takes k bytes just read, and about to be sent, off the credit.
func (s *portalStream) spend(k int) {
	s.mu.Lock()
	s.credit -= k
	s.mu.Unlock()
}

// onCredit takes a Credit of n bytes from the other end.
func (s *portalStream) onCredit(n uint64) {
	s.mu.Lock()
	// Never more than a window in flight, whatever a peer claims.
	s.credit = min(s.credit+int(min(n, uint64(s.sendWindow))), s.sendWindow)
	s.creditGrewLocked()
	s.mu.Unlock()
}

// onWindow takes a Window of n bytes from the other end: it sends up to
// that much in flight from now on. An end that has not asked for a large
// window itself (the outlet's) asks its set's budget for as much, and
// says what it got; if the budget has no room, it keeps the default, and
// the other end sends Ockam-sized chunks.
func (s *portalStream) onWindow(n uint64) {
	w := int(min(n, LargeWindow))
	s.mu.Lock()
	if w > s.sendWindow {
		s.credit += w - s.sendWindow
		s.sendWindow = w
		s.creditGrewLocked()
	}
	grants := s.wantLocked(w)
	s.mu.Unlock()
	if grants {
		s.node.Go(s.sendGrants)
	}
}

// creditGrewLocked wakes a reader waiting for credit. s.mu is held.
func (s *portalStream) creditGrewLocked() {
	if s.creditCh == nil {
		return // no reader has waited yet
	}
	select {
	case s.creditCh <- struct{}{}:
	default:
	}
}

// creditWaitLocked is the channel a reader with no credit waits on. s.mu
// is held: a Credit that comes after the reader saw none signals it.
func (s *portalStream) creditWaitLocked() <-chan struct{} {
	if s.creditCh == nil {
		s.creditCh = make(chan struct{}, 1)
	}
	return s.creditCh
}

// askWindow has the stream take up to window bytes in flight, as much as
// its share of its set's budget allows, and tell the other end (a Window
// message).
func (s *portalStream) askWindow(window int) {
	s.mu.Lock()
	grants := s.wantLocked(window)
	s.mu.Unlock()
	if grants {
		s.sendGrants()
	}
}

// wantLocked has the stream ask its set's budget for a window of w bytes,
// if it asked for less so far, and settles its limit at once: true if
// there is a Window or a Credit to send. s.mu is held.
func (s *portalStream) wantLocked(w int) bool {
	want := min(w, LargeWindow) - DefaultWindow
	if s.closed || want <= s.want {
		return false
	}
	if s.want == 0 {
		s.set.budget.join()
	}
	s.want = want
	return s.settleLocked(true)
}

// leaveBudgetLocked gives back what the stream holds of its set's budget,
// once it has closed: nothing more comes in. s.mu is held.
func (s *portalStream) leaveBudgetLocked() {
	if s.want == 0 {
		return
	}
	s.set.budget.leave(s.limit - DefaultWindow)
	s.want = 0
}

// A stream gives written bytes back as credit in lumps of half its limit,
// not each time the queue empties: a sender whose bytes have all been
// written but not yet acknowledged still has half a limit of credit, so
// it never stalls for want of a small Credit, and a stream in full flow
// sends one Credit for every few chunks rather than one for each (each
// Credit costs a frame on every connection of the path). When a lump is
// due, the stream settles its share of its set's budget first: a stream
// over its share gives back less (or nothing) and its limit comes down
// with what is out; one under it takes what the budget has free, and if
// its limit passes its window, says a larger Window.

// wroteLocked counts n bytes written to the socket: true if there is a
// Window or a Credit to send (sendGrants). s.mu is held.
func (s *portalStream) wroteLocked(n int) bool {
	s.out -= n
	return s.settleLocked(false)
}

// settleLocked brings the stream's limit to its share of the budget, as
// far as out allows, and decides what to give back (pendWindow,
// pendCredit): once half the limit is free, or at once with force (the
// stream asked for more). True if there is something to send. s.mu is
// held.
func (s *portalStream) settleLocked(force bool) bool {
	if s.closed || !force && s.out > s.limit/2 {
		return false
	}
	if s.want > 0 {
		s.limit = DefaultWindow + s.set.budget.settle(s.limit-DefaultWindow, s.want, s.out-DefaultWindow)
	}
	if s.limit > s.window {
		// A Window gives the other end the difference as credit.
		s.out += s.limit - s.window
		s.window = s.limit
		s.pendWindow = s.window
	}
	if give := s.limit - s.out; give > 0 && (s.out <= s.limit/2 || s.pendWindow > 0) {
		s.pendCredit += give
		s.out = s.limit
	}
	return s.pendWindow > 0 || s.pendCredit > 0
}

// sendGrants sends the Window and the Credit decided (settleLocked), in
// the order they were decided: what is pending is taken, and sent, while
// the stream's turn to send is held, so that no Credit decided after a
// Window can overtake it (the other end caps its credit at the window it
// knows). The Window goes first for the same reason.
func (s *portalStream) sendGrants() {
	s.sending <- struct{}{}
	s.mu.Lock()
	window, credit, remote := s.pendWindow, s.pendCredit, s.remote
	s.pendWindow, s.pendCredit = 0, 0
	if s.closed {
		window, credit = 0, 0 // the other end has been told, or will be
	}
	s.mu.Unlock()
	var err error
	if window > 0 {
		err = s.routeTurn(remote, encodeWindow(window), nil, nil)
	}
	if credit > 0 && err == nil {
		err = s.routeTurn(remote, encodeCredit(credit), nil, nil)
	}
	<-s.sending
	if err != nil {
		s.close(fmt.Errorf("send to the other end: %w", err), false)
	}
}
