package runtime

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sync"
	"time"
)

// keepAlive is the TCP keepalive of every connection: a dead peer behind a
// silent network is noticed in about a minute.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 15 * time.Second, Count: 3}

// tcpTransport is a node's TCP transport: its listeners and connections.
type tcpTransport struct {
	node *Node

	mu        sync.Mutex
	conns     map[string]*tcpConnection // guarded by mu; by worker address
	byPeer    map[string]*tcpConnection // guarded by mu; outgoing, by dialed "host:port"
	dialing   map[string]*dialCall      // guarded by mu
	listeners []*Listener               // guarded by mu
	closed    bool                      // guarded by mu: no new connections
}

// dialCall is a dial in progress, shared by everyone who wants that peer.
type dialCall struct {
	done chan struct{}
	c    *tcpConnection
	err  error
}

func newTCPTransport(n *Node) *tcpTransport {
	return &tcpTransport{
		node:    n,
		conns:   make(map[string]*tcpConnection),
		byPeer:  make(map[string]*tcpConnection),
		dialing: make(map[string]*dialCall),
	}
}

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

// Connect returns the connection to hostport, dialing it if there is none
// yet. Connections to the same peer are reused.
func (n *Node) Connect(ctx context.Context, hostport string, opts ConnectOptions) (Connection, error) {
	c, err := n.tcp.connect(ctx, hostport, opts)
	if err != nil {
		return Connection{}, err
	}
	return Connection{c}, nil
}

// Connections lists the node's live connections.
func (n *Node) Connections() []Connection {
	n.tcp.mu.Lock()
	defer n.tcp.mu.Unlock()
	out := make([]Connection, 0, len(n.tcp.conns))
	for _, c := range n.tcp.conns {
		out = append(out, Connection{c})
	}
	return out
}

// connectionFor resolves a TCP address of a route. A message from the
// network may use an existing connection but dial only the peers the node
// was told it may dial.
func (t *tcpTransport) connectionFor(ctx context.Context, hostport string, fromNetwork bool) (*tcpConnection, error) {
	t.mu.Lock()
	c := t.byPeer[hostport]
	t.mu.Unlock()
	if c != nil {
		return c, nil
	}
	if fromNetwork && (t.node.opts.MayDial == nil || !t.node.opts.MayDial(hostport)) {
		return nil, fmt.Errorf("dial %s: %w", hostport, ErrDialDenied)
	}
	return t.connect(ctx, hostport, ConnectOptions{})
}

func (t *tcpTransport) connect(ctx context.Context, hostport string, opts ConnectOptions) (*tcpConnection, error) {
	if opts.Dedicated {
		return t.dial(ctx, hostport, opts)
	}
	t.mu.Lock()
	if c := t.byPeer[hostport]; c != nil {
		t.mu.Unlock()
		if opts.Inbound {
			c.flow.inbound.Store(true)
		}
		return c, nil
	}
	call, ok := t.dialing[hostport]
	if !ok {
		call = &dialCall{done: make(chan struct{})}
		t.dialing[hostport] = call
		t.mu.Unlock()
		call.c, call.err = t.dial(ctx, hostport, opts)
		t.mu.Lock()
		delete(t.dialing, hostport)
		close(call.done)
		t.mu.Unlock()
		return call.c, call.err
	}
	t.mu.Unlock()
	select {
	case <-call.done:
		if call.err == nil && opts.Inbound {
			call.c.flow.inbound.Store(true)
		}
		return call.c, call.err
	case <-ctx.Done():
		return nil, fmt.Errorf("dial %s: %w", hostport, ctx.Err())
	}
}

func (t *tcpTransport) dial(ctx context.Context, hostport string, opts ConnectOptions) (*tcpConnection, error) {
	// The node's shutdown cancels a dial, whatever context the caller had.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(t.node.ctx, cancel)
	defer stop()
	d := net.Dialer{Timeout: t.node.opts.DialTimeout, KeepAliveConfig: keepAlive}
	conn, err := d.DialContext(ctx, "tcp", hostport)
	if err != nil {
		return nil, fmt.Errorf("node %s: connect to %s: %w", t.node.name, hostport, err)
	}
	c, br, err := t.adopt(conn, true, hostport, opts.Inbound)
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
	if !opts.Dedicated {
		t.mu.Lock()
		t.byPeer[hostport] = c // only now may others send through it
		t.mu.Unlock()
	}
	t.node.goroutine(func() { c.readLoop(br) })
	return c, nil
}

// adopt registers a new socket as a connection worker.
func (t *tcpTransport) adopt(conn net.Conn, outgoing bool, peer string, inbound bool) (*tcpConnection, *bufio.Reader, error) {
	name := RandomAddress()
	c := &tcpConnection{
		node:     t.node,
		conn:     conn,
		flow:     &flow{id: name},
		outgoing: outgoing,
		peer:     peer,
		log:      t.node.log.With("connection", name, "peer", conn.RemoteAddr().String()),
		closed:   make(chan struct{}),
	}
	c.flow.inbound.Store(inbound || !outgoing)
	w, err := t.node.startWorker(name, c, false)
	if err != nil {
		_ = conn.Close()
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
	return c, bufio.NewReaderSize(conn, ioBufferSize), nil
}

// byAddress returns the connection whose worker is at addr, or nil.
func (t *tcpTransport) byAddress(addr string) *tcpConnection {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.conns[addr]
}

func (t *tcpTransport) remove(c *tcpConnection) {
	t.mu.Lock()
	delete(t.conns, c.w.addr.Value)
	if c.outgoing && t.byPeer[c.peer] == c {
		delete(t.byPeer, c.peer)
	}
	t.mu.Unlock()
}

// close stops the listeners and closes every connection.
func (t *tcpTransport) close() {
	t.mu.Lock()
	t.closed = true
	ls := t.listeners
	t.listeners = nil
	conns := make([]*tcpConnection, 0, len(t.conns))
	for _, c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	for _, l := range ls {
		_ = l.Close()
	}
	// Give the last messages (portal streams' Disconnects) a moment to
	// leave before the connections go.
	deadline := time.Now().Add(250 * time.Millisecond)
	for _, c := range conns {
		for c.w.pending.Load() > 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	for _, c := range conns {
		c.close(nil)
	}
}
