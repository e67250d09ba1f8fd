package runtime

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/splice"
)

// keepAlive is the TCP keepalive of every connection: a dead peer behind a
// silent network is noticed in about a minute.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 15 * time.Second, Count: 3}

// DrainTimeout bounds how long closing a connection waits for the
// messages already queued on it to be written: a part that tells its
// other end as it closes waits as long for its turn to send.
const DrainTimeout = 2 * time.Second

// tcpTransport is a node's TCP transport: its listeners and connections.
type tcpTransport struct {
	node *Node
	// dials de-duplicates dials of one peer: everyone who wants it while a
	// dial is under way shares that dial.
	dials singleflight.Group

	mu        sync.Mutex
	conns     map[string]*tcpConnection // guarded by mu; by worker address
	byPeer    map[string]*tcpConnection // guarded by mu; outgoing, by dialed "host:port"
	listeners []*Listener               // guarded by mu
	closed    bool                      // guarded by mu: no new connections
}

var _ Transport = (*tcpTransport)(nil)

func newTCPTransport(n *Node) *tcpTransport {
	return &tcpTransport{
		node:   n,
		conns:  make(map[string]*tcpConnection),
		byPeer: make(map[string]*tcpConnection),
	}
}

// tcp is the node's TCP transport.
func (n *Node) tcp() *tcpTransport { return n.transport(routing.TCP).(*tcpTransport) }

// Type is TCP.
func (t *tcpTransport) Type() routing.TransportType { return routing.TCP }

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

// Connect returns the TCP connection to hostport, dialing it if there is
// none yet. Connections to the same peer are reused.
func (n *Node) Connect(ctx context.Context, hostport string, opts ConnectOptions) (Connection, error) {
	c, err := n.tcp().connect(ctx, hostport, opts)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Connections lists the live connections.
func (t *tcpTransport) Connections() []Connection {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Connection, 0, len(t.conns))
	for _, c := range t.conns {
		out = append(out, c)
	}
	return out
}

// Connection returns the connection whose worker is at addr.
func (t *tcpTransport) Connection(addr string) (Connection, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, ok := t.conns[addr]
	return c, ok
}

// Resolve resolves a TCP address of a route. A message from the network
// may use an existing connection but dial only the peers the node was told
// it may dial.
func (t *tcpTransport) Resolve(ctx context.Context, hostport string, fromNetwork bool) (routing.Address, error) {
	t.mu.Lock()
	c := t.byPeer[hostport]
	t.mu.Unlock()
	if c != nil {
		return c.w.addr, nil
	}
	if fromNetwork && (t.node.opts.MayDial == nil || !t.node.opts.MayDial(hostport)) {
		return routing.Address{}, fmt.Errorf("dial %s: %w", hostport, ErrDialDenied)
	}
	c, err := t.connect(ctx, hostport, ConnectOptions{})
	if err != nil {
		return routing.Address{}, err
	}
	return c.w.addr, nil
}

func (t *tcpTransport) connect(ctx context.Context, hostport string, opts ConnectOptions) (*tcpConnection, error) {
	if opts.Dedicated {
		return t.dial(ctx, hostport, opts)
	}
	t.mu.Lock()
	c := t.byPeer[hostport]
	t.mu.Unlock()
	if c == nil {
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
			c = res.Val.(*tcpConnection)
		case <-ctx.Done():
			return nil, fmt.Errorf("dial %s: %w", hostport, ctx.Err())
		}
	}
	if opts.Inbound {
		c.flow.inbound.Store(true)
	}
	return c, nil
}

func (t *tcpTransport) dial(ctx context.Context, hostport string, opts ConnectOptions) (*tcpConnection, error) {
	// The node's shutdown cancels a dial, whatever context the caller had.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(t.node.ctx, cancel)
	defer stop()
	dctx, dcancel := context.WithTimeout(ctx, t.node.opts.DialTimeout)
	conn, err := t.node.opts.Sockets.Dial(dctx, "tcp", hostport)
	dcancel()
	if err != nil {
		return nil, fmt.Errorf("node %s: connect to %s: %w", t.node.name, hostport, err)
	}
	c, br, err := t.adopt(conn, true, hostport, opts.Inbound, nil)
	if err != nil {
		return nil, err
	}
	stopHandshake := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	err = c.handshake(t.node.opts.HandshakeTimeout, br)
	stopHandshake()
	if err != nil {
		c.close(nil)
		return nil, fmt.Errorf("node %s: connect to %s: %w", t.node.name, hostport, err)
	}
	t.mu.Lock()
	closed := t.closed
	if !closed && !opts.Dedicated {
		t.byPeer[hostport] = c // only now may others send through it
	}
	t.mu.Unlock()
	if closed { // the node closed during the handshake
		c.close(nil)
		return nil, ErrNodeClosed
	}
	t.node.Go(func() { c.readLoop(br) })
	return c, nil
}

// adopt registers a new socket as a connection worker. from is the
// listener that accepted it, nil for one we dialed; it counts the
// connection as open until it closes, even when adopt fails.
func (t *tcpTransport) adopt(conn net.Conn, outgoing bool, peer string, inbound bool, from *Listener) (*tcpConnection, *bufio.Reader, error) {
	name := RandomAddress()
	c := &tcpConnection{
		node:     t.node,
		t:        t,
		conn:     conn,
		flow:     &flow{id: name},
		outgoing: outgoing,
		peer:     peer,
		listener: from,
		log:      t.node.log.With("connection", name, "peer", conn.RemoteAddr().String()),
		closed:   make(chan struct{}),
		drained:  make(chan struct{}),
	}
	c.drainMarker, c.flushMarker = &Routed{}, &Routed{}
	c.in.conn = conn
	c.raw, _ = splice.Spliceable(conn)
	c.flow.inbound.Store(inbound || !outgoing)
	w, err := t.node.startWorker(name, c, false)
	if err != nil {
		_ = conn.Close()
		if from != nil {
			from.open.Add(-1)
		}
		return nil, nil, err
	}
	c.w = w
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		c.close(nil)
		return nil, nil, ErrNodeClosed
	}
	t.conns[name] = c
	t.mu.Unlock()
	t.node.counters.connsOpened.Add(1)
	return c, bufio.NewReaderSize(&c.in, ioBufferSize), nil
}

func (t *tcpTransport) remove(c *tcpConnection) {
	t.mu.Lock()
	delete(t.conns, c.w.addr.Value)
	if c.outgoing && t.byPeer[c.peer] == c {
		delete(t.byPeer, c.peer)
	}
	t.mu.Unlock()
}

// Close stops the listeners and closes every connection once what is
// queued on it has been written: the portal streams' last Disconnects
// reach the far ends.
func (t *tcpTransport) Close() {
	t.mu.Lock()
	t.closed = true
	ls := t.listeners
	t.listeners = nil
	conns := slices.Collect(maps.Values(t.conns))
	t.mu.Unlock()
	for _, l := range ls {
		_ = l.Close()
	}
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() { c.drain(DrainTimeout) })
	}
	wg.Wait()
	for _, c := range conns {
		c.close(nil)
	}
}
