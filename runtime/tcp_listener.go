package runtime

import (
	"context"
	"fmt"
	"net"
)

// Listener is a node's TCP listener. Connections it accepts are inbound:
// their messages may reach the node's services.
type Listener struct {
	t  *tcpTransport
	ln net.Listener
}

// Listen starts a TCP listener on addr ("127.0.0.1:0" picks a free port).
func (n *Node) Listen(addr string) (*Listener, error) {
	t := n.tcp()
	ln, err := n.opts.Sockets.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("node %s: listen on %s: %w", n.name, addr, err)
	}
	l := &Listener{t: t, ln: ln}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		_ = ln.Close()
		return nil, ErrNodeClosed
	}
	t.listeners = append(t.listeners, l)
	t.mu.Unlock()
	n.goroutine(func() { acceptLoop(ln, n.log, n.closing, l.serve) })
	n.log.Debug("listening", "address", ln.Addr().String())
	return l, nil
}

// Addr is the address the listener is bound to, with the real port.
func (l *Listener) Addr() string { return l.ln.Addr().String() }

// Close stops accepting connections; accepted ones stay up.
func (l *Listener) Close() error { return l.ln.Close() }

// serve makes an accepted socket a connection: the handshake, then frames.
func (l *Listener) serve(conn net.Conn) {
	c, br, err := l.t.adopt(conn, false, "", true)
	if err != nil {
		return // node shutting down; adopt closed the socket
	}
	n := l.t.node
	n.goroutine(func() {
		if err := c.handshake(n.opts.HandshakeTimeout, br); err != nil {
			c.close(err)
			return
		}
		c.readLoop(br)
	})
}
