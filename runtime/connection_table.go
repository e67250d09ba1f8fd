package runtime

import (
	"maps"
	"slices"
	"sync"
)

// ConnectionTable is what a transport keeps of its live connections and
// listeners, under one lock: each connection by its worker's local
// address (Transport.Connection) and, for the peers a route may name, by
// the peer ("host:port"), which Transport.Resolve looks up; its listeners;
// and whether the transport has closed, after which nothing is added. The
// zero value is an open, empty table.
type ConnectionTable[C interface {
	comparable
	Connection
}, L interface {
	comparable
	Close() error
}] struct {
	mu        sync.Mutex
	byAddr    map[string]C // guarded by mu
	byPeer    map[string]C // guarded by mu
	listeners []L          // guarded by mu
	closed    bool         // guarded by mu
}

// Connection returns the connection whose worker is at addr.
func (t *ConnectionTable[C, L]) Connection(addr string) (Connection, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, ok := t.byAddr[addr]
	return c, ok
}

// Connections lists the live connections.
func (t *ConnectionTable[C, L]) Connections() []Connection {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Connection, 0, len(t.byAddr))
	for _, c := range t.byAddr {
		out = append(out, c)
	}
	return out
}

// All lists the live connections as the transport holds them.
func (t *ConnectionTable[C, L]) All() []C {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Collect(maps.Values(t.byAddr))
}

// Len counts the live connections.
func (t *ConnectionTable[C, L]) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byAddr)
}

// Peer returns the connection routes to peer go over.
func (t *ConnectionTable[C, L]) Peer(peer string) (c C, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, ok = t.byPeer[peer]
	return c, ok
}

// Add records c by its worker's address and, when peer is not "" and no
// connection to peer is recorded, as the connection to peer. It is false,
// with nothing recorded, once the transport has closed.
func (t *ConnectionTable[C, L]) Add(c C, peer string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.init()
	t.byAddr[c.Address().Value] = c
	if _, ok := t.byPeer[peer]; peer != "" && !ok {
		t.byPeer[peer] = c
	}
	return true
}

// SetPeer makes c the connection to peer: from then on routes to peer go
// over it. It is false once the transport has closed.
func (t *ConnectionTable[C, L]) SetPeer(peer string, c C) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.init()
	t.byPeer[peer] = c
	return true
}

// init makes the maps of a zero table. Under mu.
func (t *ConnectionTable[C, L]) init() {
	if t.byAddr == nil {
		t.byAddr, t.byPeer = make(map[string]C), make(map[string]C)
	}
}

// Remove forgets c, a connection that closed, and as the connection to
// peer when it is that.
func (t *ConnectionTable[C, L]) Remove(c C, peer string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.byAddr, c.Address().Value)
	if t.byPeer[peer] == c {
		delete(t.byPeer, peer)
	}
}

// AddListener records l, to be closed with the transport. It is false once
// the transport has closed: the caller closes l.
func (t *ConnectionTable[C, L]) AddListener(l L) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.listeners = append(t.listeners, l)
	return true
}

// Listeners lists the listeners.
func (t *ConnectionTable[C, L]) Listeners() []L {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.listeners)
}

// RemoveListener forgets l, which closed on its own.
func (t *ConnectionTable[C, L]) RemoveListener(l L) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.listeners = slices.DeleteFunc(t.listeners, func(x L) bool { return x == l })
}

// IfOpen runs f under the table's lock unless the transport has closed,
// and reports whether it ran: what must start only while the transport is
// open (a goroutine the node's Close joins) starts in f.
func (t *ConnectionTable[C, L]) IfOpen(f func()) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	f()
	return true
}

// Close marks the transport closed, and returns its listeners and
// connections for it to close.
func (t *ConnectionTable[C, L]) Close() ([]L, []C) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	ls := t.listeners
	t.listeners = nil
	return ls, slices.Collect(maps.Values(t.byAddr))
}
