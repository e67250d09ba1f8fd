package runtime

import (
	"github.com/ockamtop/ockamtop/runtime/routing"

	"sync"
	"sync/atomic"
)

// Flow control is default deny, as in Ockam: a message that arrived from the
// network carries the flow of the connection it came through, and may only be
// delivered to a worker that is a consumer of that flow.
//
//   - A node's listener flow (inbound) admits the node's services: echo,
//     uppercase, hop, the relay service and its forwarders, outlets, and
//     whatever the topology allows. Connections accepted by a listener, and
//     outgoing connections that carry a relay, are inbound.
//   - Every connection also has a flow of its own. When a message leaves
//     through a connection, the local workers at the head of its return
//     route become consumers of that connection's flow, so the replies to
//     what a worker sent reach it, and nothing else does.
//   - Connection workers accept every flow: they only carry a message to
//     the next node, which applies its own flow control.
//   - Workers that forward a message (hop, forwarders) keep its flow, so a
//     network peer cannot reach a private worker by bouncing off a service.
//   - Messages sent by local code carry no flow and reach any worker.

// flow is what a message from the network carries: the connection it
// arrived on.
type flow struct {
	// id is the connection's own flow, its worker address.
	id string
	// inbound is true for connections whose messages may reach services.
	inbound atomic.Bool
}

// consumers is the set of connection flows a worker consumes.
type consumers struct {
	mu  sync.RWMutex
	ids map[string]struct{} // guarded by mu
}

func (c *consumers) add(id string) {
	c.mu.RLock()
	_, ok := c.ids[id]
	c.mu.RUnlock()
	if ok {
		return
	}
	c.mu.Lock()
	if c.ids == nil {
		c.ids = make(map[string]struct{})
	}
	c.ids[id] = struct{}{}
	c.mu.Unlock()
}

func (c *consumers) remove(id string) {
	c.mu.Lock()
	delete(c.ids, id)
	c.mu.Unlock()
}

func (c *consumers) has(id string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.ids[id]
	return ok
}

// accepts reports whether a message on flow f may be delivered to w.
func (w *worker) accepts(f *flow) bool {
	switch {
	case f == nil, w.transport:
		return true
	case f.inbound.Load() && w.service.Load():
		return true
	}
	return w.flows.has(f.id)
}

// repliers are the local workers a connection (or a secure channel) made
// consumers of its flow because they sent through it: replies that come
// back over it may reach them. The flow is taken back from them when the
// connection ends.
type repliers struct {
	mu  sync.Mutex
	set map[*worker]struct{} // guarded by mu
}

// record makes the local workers at the head of ret consumers of f.
func (r *repliers) record(n *Node, f *flow, ret routing.Route) {
	for _, a := range ret {
		if !a.IsLocal() {
			return
		}
		w := n.lookup(a.Value)
		if w == nil || w.transport {
			return
		}
		if w.flows.has(f.id) {
			continue
		}
		w.flows.add(f.id)
		r.mu.Lock()
		if r.set == nil {
			r.set = map[*worker]struct{}{}
		}
		r.set[w] = struct{}{}
		r.mu.Unlock()
	}
}

// forget takes f back from every worker recorded.
func (r *repliers) forget(f *flow) {
	r.mu.Lock()
	for w := range r.set {
		w.flows.remove(f.id)
	}
	r.set = nil
	r.mu.Unlock()
}
