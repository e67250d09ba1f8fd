package runtime

import (
	"context"
	"fmt"
	"net"
	"slices"
)

// Listener is a node's TCP listener. Connections it accepts are inbound:
// their messages may reach the node's services.
type Listener struct {
	t  *tcpTransport
	ln net.Listener
	// done is closed when the accept loop has returned.
	done chan struct{}
}

// Listen starts a TCP listener on addr ("127.0.0.1:0" picks a free port).
func (n *Node) Listen(addr string) (*Listener, error) {
	ln, err := n.opts.Sockets.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("node %s: listen on %s: %w", n.name, addr, err)
	}
	return n.ListenOn(ln)
}

// ListenOn is Listen on a socket bound already (see Bind), so that a
// caller can reserve the address before it changes anything. The listener
// owns ln from then on, even when it returns an error.
func (n *Node) ListenOn(ln net.Listener) (*Listener, error) {
	t := n.tcp()
	l := &Listener{t: t, ln: ln, done: make(chan struct{})}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		_ = ln.Close()
		return nil, ErrNodeClosed
	}
	t.listeners = append(t.listeners, l)
	t.mu.Unlock()
	n.goroutine(func() {
		defer close(l.done)
		acceptLoop(ln, n.log, n.closing, l.serve)
	})
	n.log.Debug("listening", "address", ln.Addr().String())
	return l, nil
}

// Addr is the address the listener is bound to, with the real port.
func (l *Listener) Addr() string { return l.ln.Addr().String() }

// Close stops accepting connections and waits for the accept loop;
// accepted connections stay up.
func (l *Listener) Close() error {
	err := l.ln.Close()
	t := l.t
	t.mu.Lock()
	t.listeners = slices.DeleteFunc(t.listeners, func(x *Listener) bool { return x == l })
	t.mu.Unlock()
	<-l.done
	return err
}

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
