package udp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/warnlimit"
)

// Listener is a node's UDP listener: one socket, bound to its address,
// that every peer sends to. Each peer it hears from becomes a connection
// (see connection.go); its messages may reach the node's services, as
// a TCP listener's connections' do.
type Listener struct {
	t    *transport
	sock *net.UDPConn
	// refused counts datagrams from new peers dropped because the listener
	// had udpMaxPeers already; refusals rate-limits the warnings about them.
	refused  atomic.Uint64
	refusals warnlimit.Limit

	mu    sync.Mutex
	peers map[netip.AddrPort]*connection // guarded by mu
}

// Listen starts a UDP listener of n on addr ("127.0.0.1:0" picks a free
// port).
func Listen(n *runtime.Node, addr string) (*Listener, error) {
	t, err := of(n)
	if err != nil {
		return nil, err
	}
	sock, err := t.socket(n.Context(), addr, "")
	if err != nil {
		return nil, fmt.Errorf("node %s: listen on udp %s: %w", n.Name(), addr, err)
	}
	l := &Listener{t: t, sock: sock, peers: map[netip.AddrPort]*connection{}}
	if !t.conns.AddListener(l) {
		_ = sock.Close()
		return nil, runtime.ErrNodeClosed
	}
	n.Go(l.readLoop)
	n.Logger().Debug("listening", "address", sock.LocalAddr().String(), "transport", "udp")
	return l, nil
}

// Addr is the address the listener is bound to, with the real port.
func (l *Listener) Addr() string { return l.sock.LocalAddr().String() }

// Close stops the listener and closes its peers' connections.
func (l *Listener) Close() error {
	err := l.sock.Close()
	l.mu.Lock()
	peers := make([]*connection, 0, len(l.peers))
	for _, c := range l.peers {
		peers = append(peers, c)
	}
	l.mu.Unlock()
	for _, c := range peers {
		c.close(nil)
	}
	return err
}

// readLoop reads datagrams until the socket closes, and hands each to its
// peer's connection. A failed read (an error the kernel queued for the
// socket) is retried after a backoff that doubles up to a second.
func (l *Listener) readLoop() {
	n := l.t.node
	buf := make([]byte, udpReadBuffer)
	var backoff time.Duration
	for {
		k, from, err := l.sock.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			n.Logger().Warn("udp read failed", "listener", l.Addr(), "error", err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-n.Context().Done():
				t.Stop()
				return
			}
			continue
		}
		backoff = 0
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		c := l.peer(from)
		if c == nil {
			continue
		}
		c.receive(buf[:k], time.Now())
	}
}

// peer returns the connection of the peer at from, making it if the
// listener has room for another.
func (l *Listener) peer(from netip.AddrPort) *connection {
	l.mu.Lock()
	c := l.peers[from]
	full := len(l.peers) >= udpMaxPeers
	l.mu.Unlock()
	if c != nil {
		return c
	}
	if full {
		l.refuse(from)
		return nil
	}
	c, err := l.t.adopt(l.sock, from, from.String(), l)
	if err != nil {
		return nil // the node is closing
	}
	l.mu.Lock()
	l.peers[from] = c
	l.mu.Unlock()
	return c
}

// refuse drops a datagram from a new peer when the listener is full, and
// says so, rate-limited (warnlimit.Limit).
func (l *Listener) refuse(from netip.AddrPort) {
	n := l.refused.Add(1)
	l.t.counters.dropped[udpDropPeerRefused].Add(1)
	l.refusals.Warn(l.t.node.Logger(), "udp listener full: dropped datagrams from new peers", "listener", l.Addr(),
		"peer", from.String(), "peers", udpMaxPeers, "dropped_so_far", n, "idle_peers_go_after", udpPeerIdle)
}

// forget removes a closed connection from the listener's peers.
func (l *Listener) forget(c *connection) {
	l.mu.Lock()
	if l.peers[c.peer] == c {
		delete(l.peers, c.peer)
	}
	l.mu.Unlock()
}

// peerCount is how many peers the listener keeps.
func (l *Listener) peerCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.peers)
}
