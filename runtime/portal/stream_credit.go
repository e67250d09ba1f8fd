package portal

// streamCredit is a stream's flow control, both ways: how much it may
// still send (the other end's Credit and Window messages), and how much it
// takes in flight and gives back as written (ours). Its int fields are
// guarded by the stream's mu, since a Payload is checked against the
// window and queued under one lock; the others say who owns them.
type streamCredit struct {
	// credit is how many bytes we may still send; sendWindow the most it
	// may be, and chunk the largest Payload we send (the other end's
	// Window). window is how many bytes we take in flight (our Window).
	credit, sendWindow, chunk, window int
	// unacked counts bytes written to sock and not yet given back as
	// credit. Only the writer uses it (the writer goroutine, or a Payload
	// written on the spot): writers hand over under mu.
	unacked int
	// large: counted by its set among the streams with a large window.
	// Guarded by the set's mu.
	large bool
	// creditCh is signalled when credit grows.
	creditCh chan struct{}
}

// newStreamCredit is the flow control of a new stream: the default window
// both ways, until a Window message says more.
func newStreamCredit() streamCredit {
	return streamCredit{
		credit:     DefaultWindow,
		sendWindow: DefaultWindow,
		chunk:      DefaultChunk,
		window:     DefaultWindow,
		creditCh:   make(chan struct{}, 1),
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
	s.mu.Unlock()
	s.creditGrew()
}

// onWindow takes a Window of n bytes from the other end: it sends up to
// that much in flight from now on.
func (s *portalStream) onWindow(n uint64) {
	w := int(min(n, LargeWindow))
	// An end that has not said its own window yet (the outlet's) takes as
	// much, and says so, if its set has room for one more large window
	// (maxLargeStreams); otherwise it keeps the default, and the other end
	// sends Ockam-sized chunks.
	s.mu.Lock()
	wants := w > s.window
	s.mu.Unlock()
	granted := wants && s.set.takeLarge(s)
	s.mu.Lock()
	if w > s.sendWindow {
		s.credit += w - s.sendWindow
		s.sendWindow, s.chunk = w, chunkFor(w)
	}
	answer := granted && w > s.window
	if answer {
		s.window = w
	}
	s.mu.Unlock()
	s.creditGrew()
	if answer {
		s.node.Go(func() { s.send(encodeWindow(w)) })
	}
}

// creditGrew wakes a reader waiting for credit.
func (s *portalStream) creditGrew() {
	select {
	case s.creditCh <- struct{}{}:
	default:
	}
}

// announceWindow tells the other end that this end takes window bytes in
// flight (a Window message), and takes them from now on.
func (s *portalStream) announceWindow(window int) {
	window = min(window, LargeWindow)
	s.mu.Lock()
	if window <= s.window {
		s.mu.Unlock()
		return
	}
	s.window = window
	s.mu.Unlock()
	s.send(encodeWindow(window))
}

// A stream gives written bytes back as credit in lumps of half its window,
// not each time the queue empties: a sender whose bytes have all been
// written but not yet acknowledged still has half a window of credit, so
// it never stalls for want of a small Credit, and a stream in full flow
// sends one Credit for every few chunks rather than one for each (each
// Credit costs a frame on every connection of the path).

// written counts n bytes written to the socket. Once threshold (half the
// window) has gathered, give is true and credit is all of it, to be sent
// back as a Credit. Writer only.
func (c *streamCredit) written(n, threshold int) (credit int, give bool) {
	c.unacked += n
	if c.unacked < threshold {
		return 0, false
	}
	credit, c.unacked = c.unacked, 0
	return credit, true
}
