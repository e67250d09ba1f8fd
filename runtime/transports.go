package runtime

import (
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/ockamtop/ockamtop/runtime/routing"
)

// Transports are a node's transports, by type (Node.Transports): what a
// part asks of the connections whichever transport made them: which
// connection a route goes over, which close, and the transports' counters.
// Listening and dialing are the transports' own (tcp.Listen, udp.Listen).
type Transports struct {
	// byType is filled by NewNode, then only read: no lock.
	byType map[routing.TransportType]Transport
	events connectionEvents
}

// Transports are the node's transports.
func (n *Node) Transports() *Transports { return &n.transports }

// Get returns the transport of type t, or nil when the node has none.
func (ts *Transports) Get(t routing.TransportType) Transport { return ts.byType[t] }

// TransportOf returns n's transport of type typ as its package made it
// (T), for that package's own API (tcp.Listen, udp.Listen): an error wraps
// ErrUnsupportedTransport when n has none.
func TransportOf[T Transport](n *Node, typ routing.TransportType) (T, error) {
	t, ok := n.transports.byType[typ].(T)
	if !ok {
		return t, fmt.Errorf("node %s has no %s transport: %w", n.name, typ, ErrUnsupportedTransport)
	}
	return t, nil
}

// Connection returns the live connection whose worker is at the local
// address addr, of any transport: a part that keeps a route learns which
// connection it goes over.
func (ts *Transports) Connection(addr string) (Connection, bool) {
	for _, t := range ts.byType {
		if c, ok := t.Connection(addr); ok {
			return c, true
		}
	}
	return nil, false
}

// Connections lists the live connections, of every transport.
func (ts *Transports) Connections() []Connection {
	var out []Connection
	for _, t := range ts.byType {
		out = append(out, t.Connections()...)
	}
	return out
}

// Counters lists the counters of the transports that keep them, in the
// order of their types.
func (ts *Transports) Counters() []TransportCounters {
	var out []TransportCounters
	for _, typ := range slices.Sorted(maps.Keys(ts.byType)) {
		if t, ok := ts.byType[typ].(CountingTransport); ok {
			out = append(out, t.Counters())
		}
	}
	return out
}

// OnConnectionClosed registers f to run when any connection of the node
// closes, with the connection's address, and for a connection about to be
// closed on purpose (CloseConnection) while it still carries: a part whose
// route starts with that connection learns at once that its way is gone.
// It returns a function that unregisters f.
func (ts *Transports) OnConnectionClosed(f func(addr routing.Address)) (remove func()) {
	return ts.events.onClosed(f)
}

// CloseConnection closes c on purpose, while the node runs on (a relay
// stopped on its own): the node's streams over c end first, each telling
// its other end through c, and c's queue is written out (at most
// DrainTimeout) before it closes. A plain c.Close would leave the other
// ends to learn from their keepalives.
func (ts *Transports) CloseConnection(c Connection) {
	ts.events.closed(c.Address())
	if d, ok := c.(drainer); ok {
		d.Drain(DrainTimeout)
	}
	c.Close()
}

// closeAll closes every transport, at the node's shutdown.
func (ts *Transports) closeAll() {
	for _, t := range ts.byType {
		t.Close()
	}
}

// connectionEvents tells the parts of a node (portal inlets and outlets,
// secure channels) of its connections that close, of every transport. It
// has its own lock: a transport closing a connection takes no lock of the
// router's.
type connectionEvents struct {
	mu sync.RWMutex
	// hooks are told of every connection that closes.
	hooks map[*func(routing.Address)]struct{} // guarded by mu
}

// onClosed registers f to run when any connection of the node closes,
// with the connection's address. It returns a function that unregisters
// f.
func (e *connectionEvents) onClosed(f func(addr routing.Address)) (remove func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.hooks == nil {
		e.hooks = make(map[*func(routing.Address)]struct{})
	}
	p := &f
	e.hooks[p] = struct{}{}
	return func() {
		e.mu.Lock()
		delete(e.hooks, p)
		e.mu.Unlock()
	}
}

// closed tells whoever asked that the connection at addr has closed.
// Transports call it once per connection (Host.ConnectionClosed).
func (e *connectionEvents) closed(addr routing.Address) {
	e.mu.RLock()
	hooks := make([]func(routing.Address), 0, len(e.hooks))
	for f := range e.hooks {
		hooks = append(hooks, *f)
	}
	e.mu.RUnlock()
	for _, f := range hooks {
		f(addr)
	}
}
