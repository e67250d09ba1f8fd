package portal

import (
	"cmp"
	"sync"
)

// windowBudget is what an inlet's or outlet's streams may take in flight
// above their default windows, shared: each stream that asks for a large
// window (a Window message) gets an equal share of it, and holds no more
// than its share once its other end has sent what it already had credit
// for.
//
// A stream's window, once said, only grows (a Window message can only add
// credit), so a share is not a window: the stream keeps what the other
// end may have outstanding (its limit, streamCredit) at DefaultWindow
// plus its share by giving back less credit than it wrote while the
// share is smaller than what is out, and more once the share grows
// again. Credit is incremental, so no message says so: the other end
// just hears of fewer written bytes for a while.
//
// The budget is held, not merely shared out: a stream's extra covers
// what it has out, and a stream takes more only from what the others do
// not hold. So a node never holds more for a set's streams than
// DefaultWindow each plus largeBudget, however they come and go, and
// whatever a peer sends (a Payload past the limit closes its stream).
// Streams that start together take all of the budget first come, first
// served, then even out within half a window of data each: a stream over
// its share gives back less, and one under it takes what is freed.
type windowBudget struct {
	mu sync.Mutex
	// held is the sum of the streams' extra; wanting counts the streams
	// that asked for a large window.
	held, wanting int // guarded by mu
	// size, when set, replaces largeBudget (tests: setSize). Guarded by
	// mu.
	size int
}

// largeBudget is the most a set's streams hold above their default
// windows, together: as much as maxLargeStreams streams with a large
// window, so that a node holds for an inlet's or outlet's streams at most
// DefaultWindow each plus 120 MiB, as when the first maxLargeStreams
// streams took a large window and the others kept the default.
const largeBudget = maxLargeStreams * (LargeWindow - DefaultWindow)

// maxLargeStreams is how many streams of one inlet, or one outlet, may
// have a large window at once, all of it in flight: more share
// largeBudget.
const maxLargeStreams = 32

// join counts one more stream that asks for a large window.
func (b *windowBudget) join() {
	b.mu.Lock()
	b.wanting++
	b.mu.Unlock()
}

// leave takes a stream out of the budget, with the extra it held.
func (b *windowBudget) leave(extra int) {
	b.mu.Lock()
	b.wanting--
	b.held -= extra
	b.mu.Unlock()
}

// total is the budget: largeBudget, unless a test set another size. b.mu
// is held.
func (b *windowBudget) total() int { return cmp.Or(b.size, largeBudget) }

// setSize replaces largeBudget with size (tests).
func (b *windowBudget) setSize(size int) {
	b.mu.Lock()
	b.size = size
	b.mu.Unlock()
}

// shareLocked is what each stream that asks for a large window may hold
// above its default one, while as many as now do. b.mu is held.
func (b *windowBudget) shareLocked() int {
	return b.total() / max(b.wanting, 1)
}

// settle moves a stream's extra towards its share, at most want: down as
// far as out allows (how much of what the other end may have outstanding
// is above the default window), up as far as the budget has room. It
// returns the stream's new extra.
func (b *windowBudget) settle(extra, want, out int) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	target := min(want, b.shareLocked())
	next := extra
	switch {
	case extra > target:
		next = max(target, out) // out <= extra
	case extra < target:
		next = extra + max(0, min(target-extra, b.total()-b.held))
	}
	b.held += next - extra
	return next
}

// holding reports the extra held by the set's streams and how many ask
// for it (tests).
func (b *windowBudget) holding() (held, wanting int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.held, b.wanting
}
