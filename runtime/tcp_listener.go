package runtime

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// Listener is a node's TCP listener. Connections it accepts are inbound:
// their messages may reach the node's services.
type Listener struct {
	node *Node
	ln   net.Listener
}

// Listen starts a TCP listener on addr ("127.0.0.1:0" picks a free port).
func (n *Node) Listen(addr string) (*Listener, error) {
	lc := net.ListenConfig{KeepAliveConfig: keepAlive}
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("node %s: listen on %s: %w", n.name, addr, err)
	}
	l := &Listener{node: n, ln: ln}
	n.tcp.mu.Lock()
	if n.isClosed() {
		n.tcp.mu.Unlock()
		_ = ln.Close()
		return nil, ErrNodeClosed
	}
	n.tcp.listeners = append(n.tcp.listeners, l)
	n.tcp.mu.Unlock()
	n.goroutine(l.acceptLoop)
	n.log.Debug("listening", "address", ln.Addr().String())
	return l, nil
}

// Addr is the address the listener is bound to, with the real port.
func (l *Listener) Addr() string { return l.ln.Addr().String() }

// Close stops accepting connections; accepted ones stay up.
func (l *Listener) Close() error { return l.ln.Close() }

func (l *Listener) acceptLoop() {
	var backoff time.Duration
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait and try again
			// rather than spin or give up.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			l.node.log.Warn("accept failed", "listener", l.Addr(), "error", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-l.node.closing:
				return
			}
			continue
		}
		backoff = 0
		c, br, err := l.node.tcp.adopt(conn, false, "", true)
		if err != nil {
			continue // node shutting down; adopt closed the socket
		}
		l.node.goroutine(func() {
			if err := c.handshake(l.node.opts.HandshakeTimeout, br); err != nil {
				c.close(err)
				return
			}
			c.readLoop(br)
		})
	}
}
