package portal

import (
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/nodetest"
	"github.com/ockamtop/ockamtop/runtime/routing"
)

// creditPeer plays the other end of one stream: it sends Payloads within
// the credit the stream gave it, and counts what the stream gives (its
// Windows and Credits).
type creditPeer struct {
	t    *testing.T
	n    *runtime.Node
	s    *portalStream
	from *collector
	// seq numbers what the peer sends; sent counts its Payloads' bytes,
	// granted what the stream let it send in all, window the stream's
	// last Window.
	seq                   uint16
	sent, granted, window int
}

// newCreditPeer starts a stream in set whose socket's other end reads and
// counts everything, and a peer for it.
func newCreditPeer(t *testing.T, set *streamSet) (*creditPeer, *atomic.Int64) {
	t.Helper()
	n, _ := nodetest.Node(t, "n", runtime.Options{})
	from := &collector{ch: make(chan []byte, 1024)}
	if err := n.StartWorker("peer", from); err != nil {
		t.Fatal(err)
	}
	client, server := nodetest.TCPPair(t)
	var read atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1<<20)
		for {
			k, err := client.Read(buf)
			read.Add(int64(k))
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { client.Close(); <-done })
	s, err := newPortalStream(n, server, n.Logger(), set, nodetest.Local("peer"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return &creditPeer{t: t, n: n, s: s, from: from, granted: DefaultWindow, window: DefaultWindow}, &read
}

// hear takes in what the stream has said so far.
func (p *creditPeer) hear() {
	p.t.Helper()
	for {
		select {
		case b := <-p.from.ch:
			m, err := decodePortal(b)
			if err != nil {
				p.t.Fatalf("stream sent %x: %v", b, err)
			}
			switch m.tag {
			case portalWindow:
				if int(m.n) <= p.window {
					p.t.Fatalf("Window %d after %d: windows only grow", m.n, p.window)
				}
				p.granted += int(m.n) - p.window
				p.window = int(m.n)
			case portalCredit:
				p.granted += int(m.n)
			default:
				p.t.Fatalf("stream sent tag %#x", m.tag)
			}
			if out := p.granted - p.sent; out > p.window {
				p.t.Fatalf("the stream gave %d bytes of credit, past its window %d", out, p.window)
			}
		default:
			return
		}
	}
}

// settled reports, having heard what the stream said, whether the stream
// has written all the peer sent, and the peer has heard every grant the
// stream decided: the peer's credit is then what the stream has out.
func (p *creditPeer) settled(read *atomic.Int64) bool {
	p.hear()
	p.s.mu.Lock()
	out := p.s.out
	p.s.mu.Unlock()
	return read.Load() == int64(p.sent) && p.credit() == out
}

// credit is what the peer may still send.
func (p *creditPeer) credit() int { return p.granted - p.sent }

// send sends k bytes in Payloads of at most LargeChunk.
func (p *creditPeer) send(k int) {
	p.t.Helper()
	if err := p.trySend(k); err != nil {
		p.t.Fatal(err)
	}
}

// trySend is send, up to the first Payload that finds no stream.
func (p *creditPeer) trySend(k int) error {
	for k > 0 {
		c := min(k, LargeChunk)
		err := p.n.Send(p.t.Context(), routing.Message{
			Onward: routing.Route{p.s.addr}, Return: nodetest.Local("peer"),
			Payload: appendSeq(payloadMessage(make([]byte, c)), p.seq),
		})
		if err != nil {
			return err
		}
		p.seq++
		p.sent += c
		k -= c
	}
	return nil
}

// limits reads the stream's window and limit.
func (p *creditPeer) limits() (window, limit int) {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	return p.s.window, p.s.limit
}

// A stream whose share of its set's budget shrinks gives back less credit
// than it writes, until what its other end has outstanding is down to its
// new limit; when its share grows again, it gives back more. Its window
// (what it said) never shrinks, and a peer that keeps to its credit is
// never taken for one that sent past it.
func TestStreamCreditWithheld(t *testing.T) {
	t.Parallel()
	set := &streamSet{}
	p, read := newCreditPeer(t, set)
	p.s.askWindow(LargeWindow)
	nodetest.WaitFor(t, "the large Window", func() bool { p.hear(); return p.window == LargeWindow })
	if p.credit() != LargeWindow {
		t.Fatalf("alone: credit %d, want the large window %d", p.credit(), LargeWindow)
	}

	// 63 more streams ask for a large window: the share is 1/64th.
	for range 63 {
		set.budget.join()
	}
	limit := DefaultWindow + largeBudget/64
	p.send(p.credit())
	nodetest.WaitFor(t, "the stream to write what it was sent", func() bool { return p.settled(read) })
	if w, l := p.limits(); w != LargeWindow || l != limit {
		t.Fatalf("64 streams: window %d, limit %d; want %d and %d", w, l, LargeWindow, limit)
	}
	if c := p.credit(); c <= 0 || c > limit {
		t.Fatalf("64 streams: the peer has %d of credit, want some, at most the limit %d", c, limit)
	}
	// In flow, the peer never has more than the limit.
	for range 4 {
		p.send(p.credit())
		nodetest.WaitFor(t, "the stream to write what it was sent", func() bool { return p.settled(read) })
		if c := p.credit(); c <= 0 || c > limit {
			t.Fatalf("64 streams, in flow: the peer has %d of credit, want at most %d", c, limit)
		}
	}

	// The others leave: it takes its large window again as it writes.
	for range 63 {
		set.budget.leave(0)
	}
	nodetest.WaitFor(t, "the peer's credit to grow back to the large window", func() bool {
		if p.settled(read) && p.credit() == LargeWindow {
			return true
		}
		if c := p.credit(); c > 0 {
			p.send(min(c, LargeChunk))
		}
		return false
	})
	if w, l := p.limits(); w != LargeWindow || l != LargeWindow {
		t.Fatalf("alone again: window %d, limit %d; want the large window", w, l)
	}
	held, wanting := set.budget.holding()
	if held != largeExtra || wanting != 1 {
		t.Fatalf("budget holds %d for %d streams, want %d for 1", held, wanting, largeExtra)
	}
	p.s.close(nil, false)
	if held, wanting := set.budget.holding(); held != 0 || wanting != 0 {
		t.Fatalf("closed: budget holds %d for %d streams, want nothing", held, wanting)
	}
}

// A stream that joins a set whose budget others hold starts with the
// default window, and grows, with a larger Window, as the budget frees.
func TestStreamCreditLateJoiner(t *testing.T) {
	t.Parallel()
	set := &streamSet{}
	for range maxLargeStreams {
		set.budget.join()
		set.budget.settle(0, largeExtra, -DefaultWindow)
	}
	p, read := newCreditPeer(t, set)
	p.s.askWindow(LargeWindow)
	if w, l := p.limits(); w != DefaultWindow || l != DefaultWindow {
		t.Fatalf("budget all held: window %d, limit %d; want the default", w, l)
	}
	// The others come down to their share (what they had out was
	// written): the newcomer takes its share at its next lump of credit.
	share := largeBudget / (maxLargeStreams + 1)
	for range maxLargeStreams {
		set.budget.settle(largeExtra, largeExtra, -DefaultWindow)
	}
	nodetest.WaitFor(t, "a larger Window", func() bool {
		if p.settled(read) && p.window == DefaultWindow+share {
			return true
		}
		if c := p.credit(); c > 0 {
			p.send(min(c, DefaultChunk))
		}
		return false
	})
	if _, l := p.limits(); l != DefaultWindow+share {
		t.Fatalf("limit %d, want %d", l, DefaultWindow+share)
	}
}

// A peer that sends past the stream's limit (here, a shrunk limit, below
// the window it was once told) while the socket takes nothing closes the
// stream: what a node queues for a stream stays within its limit.
func TestStreamCreditOverrun(t *testing.T) {
	t.Parallel()
	set := &streamSet{}
	n, logs := nodetest.Node(t, "n", runtime.Options{})
	if err := n.StartWorker("peer", &collector{ch: make(chan []byte, 1024)}); err != nil {
		t.Fatal(err)
	}
	client, server := nodetest.TCPPair(t)
	_ = server.SetWriteBuffer(64 << 10) // the socket takes little unread
	s, err := newPortalStream(n, server, n.Logger(), set, nodetest.Local("peer"), nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &creditPeer{t: t, n: n, s: s, from: &collector{}, granted: DefaultWindow, window: DefaultWindow}
	s.askWindow(LargeWindow)
	for range 63 {
		set.budget.join()
	}
	// What a shrunk limit lets through is not refused: the peer was
	// given the whole window, and has all of it out until the stream
	// writes.
	p.send(LargeWindow)
	_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(client, make([]byte, LargeWindow)); err != nil {
		t.Fatalf("reading the first window: %v", err)
	}
	// Now the limit is the share, and the client reads no more: a peer
	// that sends past the limit is cut off.
	nodetest.WaitFor(t, "the limit to come down to the share", func() bool {
		_, l := p.limits()
		return l == DefaultWindow+largeBudget/64
	})
	_ = p.trySend(2 * LargeWindow) // the stream goes on the way
	nodetest.WaitFor(t, "the stream to close", func() bool {
		select {
		case <-s.done:
			return true
		default:
			return false
		}
	})
	if !strings.Contains(logs.String(), "beyond its credit") {
		t.Fatalf("closed, but not for sending beyond its credit:\n%s", logs.String())
	}
}
