package runtime

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/ockamtop/ockamtop/runtime/routing"
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

// consumers is the set of connection flows a worker consumes. Most workers
// (a portal stream, a reply inbox) consume one or two, so the set is a
// short list: a map would cost an idle stream a few hundred bytes. A worker
// that many connections reach (a service behind many replies) gets a map
// once its list grows past consumersListMax.
type consumers struct {
	mu   sync.RWMutex
	list []string            // guarded by mu; nil once set is used
	set  map[string]struct{} // guarded by mu
}

const consumersListMax = 8

func (c *consumers) add(id string) {
	if c.has(id) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.set != nil:
		c.set[id] = struct{}{}
	case len(c.list) < consumersListMax:
		if !slices.Contains(c.list, id) {
			c.list = append(c.list, id)
		}
	default:
		c.set = make(map[string]struct{}, 2*consumersListMax)
		for _, x := range c.list {
			c.set[x] = struct{}{}
		}
		c.set[id] = struct{}{}
		c.list = nil
	}
}

func (c *consumers) remove(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.set != nil {
		delete(c.set, id)
		return
	}
	if i := slices.Index(c.list, id); i >= 0 {
		c.list = slices.Delete(c.list, i, i+1)
	}
}

func (c *consumers) has(id string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.set != nil {
		_, ok := c.set[id]
		return ok
	}
	return slices.Contains(c.list, id)
}

// len counts the flows consumed.
func (c *consumers) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.list) + len(c.set)
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

// Flow is the flow of the messages that a part of the node brings in from
// elsewhere, as a connection brings them from its peer: a secure channel's
// decryptor delivers what it decrypts on its channel's flow (NewRouted),
// so that flow control holds for them as for a connection's messages; and
// the workers that send through the part become consumers of its flow, so
// that their replies reach them (ExpectReplies).
type Flow struct {
	node     *Node
	flow     flow
	repliers repliers
}

// NewFlow makes a flow for a part of the node that delivers messages from
// elsewhere; id names it in errors (the address of the part's worker).
// With inbound, its messages reach the node's services, as those of a
// connection a listener accepted do; without, only the workers that
// ExpectReplies names.
func (n *Node) NewFlow(id string, inbound bool) *Flow {
	f := &Flow{node: n, flow: flow{id: id}}
	f.flow.inbound.Store(inbound)
	return f
}

// SetInbound says whether f's messages reach the node's services: a
// connection dialed for a relay becomes inbound.
func (f *Flow) SetInbound(inbound bool) { f.flow.inbound.Store(inbound) }

// ExpectReplies makes the local workers at the head of ret, the return
// route of a message that leaves through the part, consumers of f: the
// replies that come back through the part reach them.
func (f *Flow) ExpectReplies(ret routing.Route) { f.repliers.record(f.node, &f.flow, ret) }

// Close takes f back from every worker ExpectReplies made a consumer of
// it: the part is gone.
func (f *Flow) Close() { f.repliers.forget(&f.flow) }
