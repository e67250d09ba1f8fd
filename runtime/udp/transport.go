// Package udp is a node's UDP transport (Ockam's ockam_transport_udp,
// transport type 2): its listeners, its peers, and the datagrams that carry
// their messages, cut into parts and put back together. A node has it when
// its options name it (runtime.Options.Transports: udp.New); Listen then
// acts on it, and the router reaches it only through runtime.Transport.
package udp

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/routing"
)

// transport is a node's UDP transport (Ockam's ockam_transport_udp,
// transport type 2): its listeners and its peers. Messages cross it whole or
// not at all (see udp_reassembly.go); nothing is resent, so a message may be
// lost, and one message may overtake another.
type transport struct {
	host *runtime.Host
	node *runtime.Node
	opts Options
	// sockets make its sockets (the node's).
	sockets runtime.Sockets
	// dials de-duplicates the sockets made for one peer.
	dials singleflight.Group
	// pending counts the bytes of incomplete messages of every peer.
	pending atomic.Int64
	// counters are read by Counters (counters.go).
	counters udpCounters
	// housekeeping is set once the goroutine that expires incomplete
	// messages and idle peers runs.
	housekeeping sync.Once

	// conns are its peers' connections, by worker address and by the
	// peer's UDP address value, and its listeners.
	// Its Connection and Connections are the transport's.
	conns
}

var _ runtime.CountingTransport = (*transport)(nil)

// conns is the table of a transport's connections and listeners.
type conns = runtime.ConnectionTable[*connection, *Listener]

// Bounds and timings of the UDP transport.
const (
	// udpMaxPeers bounds the peers one listener keeps: datagrams from a
	// new peer past it are dropped until one goes idle.
	udpMaxPeers = 1024
	// udpPeerIdle is how long a listener keeps a peer it hears nothing
	// from. A portal stream's keepalives keep its peers.
	udpPeerIdle = 2 * time.Minute
	// udpSweepEvery is how often incomplete messages and idle peers are
	// looked for.
	udpSweepEvery = 500 * time.Millisecond
	// udpSocketBuffer is the kernel buffer asked for each socket: a
	// portal's window of datagrams fits (the kernel may give less).
	udpSocketBuffer = 4 << 20
	// udpReadBuffer is a read's buffer: larger than any datagram we
	// accept, so that a larger one is seen whole and refused.
	udpReadBuffer = 2048
)

func newTransport(h *runtime.Host, opts Options) *transport {
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 10 * time.Second
	}
	return &transport{
		host:    h,
		node:    h.Node(),
		opts:    opts,
		sockets: h.Node().Sockets(),
	}
}

// of is n's UDP transport.
func of(n *runtime.Node) (*transport, error) { return runtime.TransportOf[*transport](n, routing.UDP) }

// Type is UDP.
func (t *transport) Type() routing.TransportType { return routing.UDP }

// socket makes a UDP socket: bound to local when remote is "" (a
// listener), else connected to remote from a free port. It is the one place
// the node makes a UDP socket, so that where sockets are made (a network
// namespace) is decided here alone.
func (t *transport) socket(ctx context.Context, local, remote string) (*net.UDPConn, error) {
	var c any
	var err error
	if remote == "" {
		c, err = t.sockets.ListenPacket(ctx, "udp", local)
	} else {
		c, err = t.sockets.Dial(ctx, "udp", remote)
	}
	if err != nil {
		return nil, err
	}
	u, ok := c.(*net.UDPConn)
	if !ok {
		if closer, ok := c.(interface{ Close() error }); ok {
			_ = closer.Close()
		}
		return nil, fmt.Errorf("udp socket: got a %T, not a UDP socket", c)
	}
	// Best effort: the kernel caps them (net.core.rmem_max).
	_ = u.SetReadBuffer(udpSocketBuffer)
	_ = u.SetWriteBuffer(udpSocketBuffer)
	return u, nil
}

// Resolve resolves a UDP address of a route to the connection of that
// peer. A message from the network may use a peer the node knows (one it
// heard from: replies) but makes a socket for a new one only if the node
// was told it may (Options.MayDial): a node is no open proxy.
func (t *transport) Resolve(ctx context.Context, peer string, fromNetwork bool) (routing.Address, error) {
	if c, ok := t.conns.Peer(peer); ok {
		return c.w.Address(), nil
	}
	if fromNetwork && (t.opts.MayDial == nil || !t.opts.MayDial(peer)) {
		return routing.Address{}, fmt.Errorf("send to udp %s: %w", peer, runtime.ErrDialDenied)
	}
	ch := t.dials.DoChan(peer, func() (any, error) { return t.dial(peer) })
	select {
	case res := <-ch:
		if res.Err != nil {
			return routing.Address{}, res.Err
		}
		return res.Val.(*connection).w.Address(), nil
	case <-ctx.Done():
		return routing.Address{}, fmt.Errorf("udp %s: %w", peer, ctx.Err())
	}
}

// dial makes a socket connected to peer, and its connection.
func (t *transport) dial(peer string) (*connection, error) {
	if c, ok := t.conns.Peer(peer); ok {
		return c, nil
	}
	ctx, cancel := context.WithTimeout(t.node.Context(), t.opts.DialTimeout)
	defer cancel()
	sock, err := t.socket(ctx, "", peer)
	if err != nil {
		return nil, fmt.Errorf("node %s: udp socket to %s: %w", t.node.Name(), peer, err)
	}
	c, err := t.adopt(sock, netip.AddrPort{}, peer, nil)
	if err != nil {
		_ = sock.Close()
		return nil, err
	}
	t.node.Go(c.readLoop)
	return c, nil
}

// adopt makes a connection of a peer: on its own connected socket (l is
// nil), or on listener l's socket, for the peer at from.
func (t *transport) adopt(sock *net.UDPConn, from netip.AddrPort, key string, l *Listener) (*connection, error) {
	name := runtime.RandomAddress()
	dialed := l == nil
	c := &connection{
		node:     t.node,
		t:        t,
		sock:     sock,
		dialed:   dialed,
		peer:     from,
		key:      key,
		listener: l,
		// A listener's peers may reach the node's services, as a TCP
		// listener's connections do.
		flow:   t.node.NewFlow(name, !dialed),
		closed: make(chan struct{}),
	}
	remote := key
	if dialed {
		remote = sock.RemoteAddr().String()
	}
	c.log = t.node.Logger().With("connection", name, "peer", remote, "transport", "udp")
	c.nextRN = uint16(rand.Uint32()) // random, as Ockam's RoutingNumber::default
	c.lastHeard.Store(time.Now().UnixNano())
	w, err := t.host.StartConnection(name, c, true)
	if err != nil {
		return nil, err
	}
	c.w = w
	if !t.conns.Add(c, key) {
		w.Stop()
		return nil, runtime.ErrNodeClosed
	}
	// Started while the transport is open, so that the node's Close joins it.
	t.conns.IfOpen(func() { t.housekeeping.Do(func() { t.node.Go(t.sweep) }) })
	return c, nil
}

func (t *transport) remove(c *connection) {
	t.conns.Remove(c, c.key)
	if c.listener != nil {
		c.listener.forget(c)
	}
}

// sweep expires incomplete messages and idle listener peers until the node
// closes.
func (t *transport) sweep() {
	tick := time.NewTicker(udpSweepEvery)
	defer tick.Stop()
	for {
		select {
		case <-t.node.Context().Done():
			return
		case now := <-tick.C:
			conns := t.conns.All()
			idle := now.Add(-udpPeerIdle).UnixNano()
			for _, c := range conns {
				c.expire(now)
				if !c.dialed && c.lastHeard.Load() < idle {
					c.close(nil)
				}
			}
		}
	}
}

// Close stops the listeners and closes every connection. Datagrams are
// written as they are sent: there is no queue to drain.
func (t *transport) Close() {
	ls, conns := t.conns.Close()
	for _, c := range conns {
		c.close(nil)
	}
	for _, l := range ls {
		_ = l.Close()
	}
}
