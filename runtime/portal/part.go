package portal

import (
	"context"
	"sync"

	"github.com/ockamtop/ockamtop/runtime"
)

// A part is an inlet or an outlet that can be stopped on its own while its
// node runs on, as a reconcile does when the file removes or replaces it.
// Its goroutines run on the node's wait group, so that the node's Close
// joins them as before, and on the part's, so that Stop joins them too.

// partLife tracks a part's goroutines and its end.
type partLife struct {
	// ctx is cancelled when the part stops, and stop is its Done: loops
	// that run until the node closes also end then.
	ctx    context.Context
	cancel context.CancelFunc
	stop   <-chan struct{}
	wg     sync.WaitGroup

	mu      sync.Mutex
	stopped bool // guarded by mu: no new goroutine from then on
	// unhook unregisters the part's hooks on the node; guarded by mu.
	unhook []func()
}

func newPartLife() *partLife {
	p := &partLife{}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.stop = p.ctx.Done()
	return p
}

// goroutine runs f on a goroutine that both the node and the part join.
// Once the part has stopped it runs nothing and returns false.
func (p *partLife) goroutine(n *runtime.Node, f func()) bool {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return false
	}
	p.wg.Add(1)
	p.mu.Unlock()
	n.Go(func() {
		defer p.wg.Done()
		f()
	})
	return true
}

// hook keeps a function that unregisters something the part registered
// on its node, for end to call.
func (p *partLife) hook(unhook func()) {
	p.mu.Lock()
	p.unhook = append(p.unhook, unhook)
	p.mu.Unlock()
}

// end marks the part stopped, closes stop and unregisters its hooks. It
// reports false if the part had stopped already.
func (p *partLife) end() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return false
	}
	p.stopped = true
	p.cancel()
	for _, f := range p.unhook {
		f()
	}
	return true
}

// wait waits for the part's goroutines.
func (p *partLife) wait() { p.wg.Wait() }
