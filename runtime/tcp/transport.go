// Package tcp is a node's TCP transport (Ockam's ockam_transport_tcp,
// transport type 1): its listeners, the connections it dials and accepts,
// and their frames. A node has it when its options name it
// (runtime.Options.Transports: tcp.New); Listen, ListenOn and Connect then
// act on it, and the router reaches it only through runtime.Transport.
package tcp

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/splice"
)

// transport is a node's TCP transport: its listeners and connections.
type transport struct {
	host *runtime.Host
	node *runtime.Node
	opts Options
	// sockets make its listeners' sockets and its dials (the node's).
	sockets runtime.Sockets
	// dials de-duplicates dials of one peer: everyone who wants it while a
	// dial is under way shares that dial.
	dials singleflight.Group

	// conns are its connections, the outgoing ones shared by routes by
	// the "host:port" they dialed, and its listeners.
	// Its Connection and Connections are the transport's.
	conns
}

var _ runtime.Transport = (*transport)(nil)

// conns is the table of a transport's connections and listeners.
type conns = runtime.ConnectionTable[*connection, *Listener]

func newTransport(h *runtime.Host, opts Options) *transport {
	return &transport{
		host:    h,
		node:    h.Node(),
		opts:    opts.withDefaults(),
		sockets: h.Node().Sockets(),
	}
}

// of is n's TCP transport.
func of(n *runtime.Node) (*transport, error) { return runtime.TransportOf[*transport](n, routing.TCP) }

// Type is TCP.
func (t *transport) Type() routing.TransportType { return routing.TCP }

// ConnectOptions configure an outgoing connection.
type ConnectOptions struct {
	// Inbound lets messages from this connection reach the node's services,
	// as for a listener's connections. A relay's connection is inbound.
	Inbound bool
	// Dedicated makes a new connection that no one else shares: routes to
	// the same peer do not use it, and closing it disturbs nothing else.
	// A relay has its own.
	Dedicated bool
}

// Connect returns n's TCP connection to hostport, dialing it if there is
// none yet. Connections to the same peer are reused.
func Connect(ctx context.Context, n *runtime.Node, hostport string, opts ConnectOptions) (runtime.Connection, error) {
	t, err := of(n)
	if err != nil {
		return nil, err
	}
	c, err := t.connect(ctx, hostport, opts)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Resolve resolves a TCP address of a route. A message from the network
// may use an existing connection but dial only the peers the node was told
// it may dial.
func (t *transport) Resolve(ctx context.Context, hostport string, fromNetwork bool) (routing.Address, error) {
	if c, ok := t.conns.Peer(hostport); ok {
		return c.w.Address(), nil
	}
	if fromNetwork && (t.opts.MayDial == nil || !t.opts.MayDial(hostport)) {
		return routing.Address{}, fmt.Errorf("dial %s: %w", hostport, runtime.ErrDialDenied)
	}
	c, err := t.connect(ctx, hostport, ConnectOptions{})
	if err != nil {
		return routing.Address{}, err
	}
	return c.w.Address(), nil
}

func (t *transport) connect(ctx context.Context, hostport string, opts ConnectOptions) (*connection, error) {
	if opts.Dedicated {
		return t.dial(ctx, hostport, opts)
	}
	c, ok := t.conns.Peer(hostport)
	if !ok {
		// The shared dial does not take the first caller's context: one
		// caller giving up must not fail the others. The node's shutdown
		// and the dial timeout bound it.
		ch := t.dials.DoChan(hostport, func() (any, error) {
			return t.dial(context.Background(), hostport, ConnectOptions{})
		})
		select {
		case res := <-ch:
			if res.Err != nil {
				return nil, res.Err
			}
			c = res.Val.(*connection)
		case <-ctx.Done():
			return nil, fmt.Errorf("dial %s: %w", hostport, ctx.Err())
		}
	}
	if opts.Inbound {
		c.flow.SetInbound(true)
	}
	return c, nil
}

func (t *transport) dial(ctx context.Context, hostport string, opts ConnectOptions) (*connection, error) {
	// The node's shutdown cancels a dial, whatever context the caller had.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(t.node.Context(), cancel)
	defer stop()
	dctx, dcancel := context.WithTimeout(ctx, t.opts.DialTimeout)
	conn, err := t.sockets.Dial(dctx, "tcp", hostport)
	dcancel()
	if err != nil {
		return nil, fmt.Errorf("node %s: connect to %s: %w", t.node.Name(), hostport, err)
	}
	c, br, err := t.adopt(conn, true, hostport, opts.Inbound, nil)
	if err != nil {
		return nil, err
	}
	stopHandshake := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	err = c.handshake(t.opts.HandshakeTimeout, br)
	stopHandshake()
	if err != nil {
		c.close(nil)
		return nil, fmt.Errorf("node %s: connect to %s: %w", t.node.Name(), hostport, err)
	}
	var open bool
	if opts.Dedicated {
		open = t.conns.IfOpen(func() {})
	} else {
		open = t.conns.SetPeer(hostport, c) // only now may others send through it
	}
	if !open { // the node closed during the handshake
		c.close(nil)
		return nil, runtime.ErrNodeClosed
	}
	t.node.Go(func() { c.readLoop(br) })
	return c, nil
}

// adopt registers a new socket as a connection worker. from is the
// listener that accepted it, nil for one we dialed; it counts the
// connection as open until it closes, even when adopt fails.
func (t *transport) adopt(conn net.Conn, outgoing bool, peer string, inbound bool, from *Listener) (*connection, *bufio.Reader, error) {
	name := runtime.RandomAddress()
	c := &connection{
		node:     t.node,
		t:        t,
		conn:     conn,
		flow:     t.node.NewFlow(name, inbound || !outgoing),
		outgoing: outgoing,
		peer:     peer,
		listener: from,
		log:      t.node.Logger().With("connection", name, "peer", conn.RemoteAddr().String()),
		closed:   make(chan struct{}),
		drained:  make(chan struct{}),
	}
	c.drainMarker, c.flushMarker = &runtime.Routed{}, &runtime.Routed{}
	c.in.conn = conn
	c.raw, _ = splice.Spliceable(conn)
	w, err := t.host.StartConnection(name, c, false)
	if err != nil {
		_ = conn.Close()
		if from != nil {
			from.open.Add(-1)
		}
		return nil, nil, err
	}
	c.w = w
	if !t.conns.Add(c, "") {
		c.close(nil)
		return nil, nil, runtime.ErrNodeClosed
	}
	t.host.ConnectionOpened()
	c.reading.Store(true)
	return c, getReader(&c.in), nil
}

// remove forgets c, which closed: as the connection to the peer it
// dialed too (an accepted one has no peer).
func (t *transport) remove(c *connection) { t.conns.Remove(c, c.peer) }

// Close stops the listeners and closes every connection once what is
// queued on it has been written: the portal streams' last Disconnects
// reach the far ends.
func (t *transport) Close() {
	ls, conns := t.conns.Close()
	for _, l := range ls {
		_ = l.Close()
	}
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() { c.Drain(runtime.DrainTimeout) })
	}
	wg.Wait()
	for _, c := range conns {
		c.close(nil)
	}
}
