package udpportal

import (
	"context"
	"maps"
	"slices"
	"sync"

	"github.com/ockamtop/ockamtop/runtime"
)

// life tracks an inlet's or outlet's goroutines and its end. Its
// goroutines run on the node's wait group, so that the node's Close joins
// them, and on the part's, so that Stop joins them too: a reconcile stops
// one part while its node runs on.
type life struct {
	// ctx is cancelled when the part stops.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	stopped bool     // guarded by mu: no new goroutine from then on
	unhook  []func() // guarded by mu: undo what the part registered on its node
}

func newLife() *life {
	l := &life{}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	return l
}

// goroutine runs f on a goroutine that both the node and the part join;
// once the part has stopped it runs nothing and returns false.
func (l *life) goroutine(n *runtime.Node, f func()) bool {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return false
	}
	l.wg.Add(1)
	l.mu.Unlock()
	n.Go(func() {
		defer l.wg.Done()
		f()
	})
	return true
}

// hook keeps a function that unregisters something the part registered
// on its node, for end to call.
func (l *life) hook(unhook func()) {
	l.mu.Lock()
	l.unhook = append(l.unhook, unhook)
	l.mu.Unlock()
}

// end marks the part stopped, cancels ctx and runs the unhooks; false if
// it had ended already.
func (l *life) end() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return false
	}
	l.stopped = true
	l.cancel()
	for _, f := range l.unhook {
		f()
	}
	return true
}

// wait waits for the part's goroutines.
func (l *life) wait() { l.wg.Wait() }

// takeAll empties flows, guarded by mu, and returns what it held: a part
// that stops ends its flows outside the lock.
func takeAll[K comparable, F any](mu *sync.Mutex, flows map[K]F) []F {
	mu.Lock()
	defer mu.Unlock()
	out := slices.Collect(maps.Values(flows))
	clear(flows)
	return out
}

// A used flow says when a datagram last went either way, in Unix
// nanoseconds.
type used interface{ lastUsed() int64 }

// takeIdle takes out of flows, under mu, the flows last used before
// cutoff (Unix nanoseconds), and returns them: the caller ends each.
func takeIdle[K comparable, F used](mu *sync.Mutex, flows map[K]F, cutoff int64) []F {
	mu.Lock()
	defer mu.Unlock()
	var idle []F
	for k, f := range flows {
		if f.lastUsed() < cutoff {
			delete(flows, k)
			idle = append(idle, f)
		}
	}
	return idle
}
