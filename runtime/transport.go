package runtime

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ockamtop/ockamtop/runtime/routing"
)

// A transport moves routing messages between nodes over one kind of
// network, as Ockam's transports do: it registers for its transport type
// (TCP = 1, UDP = 2), owns its connections, and the router hands it every
// message whose next hop is an address of that type. The router names no
// concrete transport; a new one plugs in by adding its constructor to
// transportConstructors.
//
// A connection is a worker at a random local address. Routing a message to
// that address sends it to the peer; a message that arrives from the peer
// gets that address pushed onto its return route, so replies go back the
// same way.

// Transport is one kind of network a node reaches other nodes over.
type Transport interface {
	// Type is the transport type of the addresses it resolves.
	Type() routing.TransportType
	// Resolve returns the local address of the connection to peer (the
	// address's value, "host:port" for TCP), making the connection if there
	// is none yet. For a message from the network (fromNetwork), it only
	// makes connections to peers the node may dial (Options.MayDial).
	Resolve(ctx context.Context, peer string, fromNetwork bool) (routing.Address, error)
	// Connection returns the live connection whose worker is at the local
	// address addr.
	Connection(addr string) (Connection, bool)
	// Connections lists the live connections.
	Connections() []Connection
	// Close stops the transport's listeners and closes its connections,
	// after the messages already queued on them have been written.
	Close()
}

// Connection is a live connection of a transport.
type Connection interface {
	// Address is the connection worker's local address: route messages to
	// it to send them to the peer.
	Address() routing.Address
	// Transport is the connection's transport type.
	Transport() routing.TransportType
	// RemoteAddr is the peer's network address.
	RemoteAddr() string
	// Outgoing reports whether this node made the connection.
	Outgoing() bool
	// Received counts the frames read from the peer: it grows while the
	// peer is alive and sending.
	Received() uint64
	// Done is closed when the connection has closed.
	Done() <-chan struct{}
	// Close closes the connection at once.
	Close()
}

// transportConstructors make the transports every node has.
var transportConstructors = []func(n *Node) Transport{
	func(n *Node) Transport { return newTCPTransport(n) },
	func(n *Node) Transport { return newUDPTransport(n) },
}

// transport returns the node's transport of type t, or nil.
func (n *Node) transport(t routing.TransportType) Transport {
	// The map is filled by NewNode and never changes: no lock.
	return n.transports[t]
}

// Connection returns the live connection whose worker is at the local
// address addr, of any transport: a part that keeps a route learns which
// connection it goes over.
func (n *Node) Connection(addr string) (Connection, bool) {
	for _, t := range n.transports {
		if c, ok := t.Connection(addr); ok {
			return c, true
		}
	}
	return nil, false
}

// Connections lists the node's live connections, of every transport.
func (n *Node) Connections() []Connection {
	var out []Connection
	for _, t := range n.transports {
		out = append(out, t.Connections()...)
	}
	return out
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

// drainer is a connection that can write out what is queued on it before
// it is closed on purpose (connectionEvents.closing).
type drainer interface {
	drain(timeout time.Duration)
}

// onClosed registers f to run when any connection of the node closes,
// with the connection's address: a portal stream whose route starts with
// that connection learns at once that its path is gone. It returns a
// function that unregisters f. f also runs for a connection that is about
// to be closed on purpose (closing), while it still carries:
// Node.Connection finds it then.
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

// OnConnectionClosed registers f to run when any connection of the node
// closes, with the connection's address, and for a connection about to be
// closed on purpose (CloseConnection) while it still carries: a part whose
// route starts with that connection learns at once that its way is gone.
// It returns a function that unregisters f.
func (n *Node) OnConnectionClosed(f func(addr routing.Address)) (remove func()) {
	return n.connEvents.onClosed(f)
}

// closed tells whoever asked that the connection at addr has closed.
// Transports call it once per connection.
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

// closing ends the streams that go over conn, which is about to be closed
// on purpose (a relay stopped on its own): each tells its other end while
// the connection still carries, and the connection's queue is written out
// (at most DrainTimeout) before the caller closes it. Without it, the
// other ends would learn only from their keepalives.
func (e *connectionEvents) closing(conn Connection) {
	e.closed(conn.Address())
	if d, ok := conn.(drainer); ok {
		d.drain(DrainTimeout)
	}
}

// CloseConnection closes c on purpose, while the node runs on (a relay
// stopped on its own): the node's streams over c end first, each telling
// its other end through c, and c's queue is written out (at most
// DrainTimeout) before it closes. A plain c.Close would leave the other
// ends to learn from their keepalives.
func (n *Node) CloseConnection(c Connection) {
	n.connEvents.closing(c)
	c.Close()
}

// checkMessage refuses a message naming a transport type ockamtop does not
// know (such a peer does not speak our protocol), or with a route longer
// than routing.MaxRouteLength.
func checkMessage(m *routing.Message) error {
	if len(m.Onward) > routing.MaxRouteLength || len(m.Return) > routing.MaxRouteLength {
		return fmt.Errorf("route of %d/%d hops, the limit is %d", len(m.Onward), len(m.Return), routing.MaxRouteLength)
	}
	for _, r := range [2]routing.Route{m.Onward, m.Return} {
		for _, a := range r {
			if !a.Type.Known() {
				return fmt.Errorf("%w: address %s", ErrUnsupportedTransport, a)
			}
		}
	}
	return nil
}
