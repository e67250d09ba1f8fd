package tcp

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/warnlimit"
)

// Listener is a node's TCP listener. Connections it accepts are inbound:
// their messages may reach the node's services.
type Listener struct {
	t  *transport
	ln net.Listener
	// done is closed when the accept loop has returned.
	done chan struct{}

	// open counts the connections accepted and not yet closed, up to
	// Options.MaxAcceptedConnections.
	open atomic.Int64
	// refused counts the connections closed at once because open was at
	// the limit; refusals rate-limits the warnings about them.
	refused  atomic.Uint64
	refusals warnlimit.Limit
	// strangers rate-limits the warnings about connections closed before
	// their first good frame (a bad version byte, silence, junk): one
	// client opening many such connections makes a handful of lines.
	strangers warnlimit.Limit
}

// Listen starts a TCP listener of n on addr ("127.0.0.1:0" picks a free
// port).
func Listen(n *runtime.Node, addr string) (*Listener, error) {
	ln, err := n.Sockets().Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("node %s: listen on %s: %w", n.Name(), addr, err)
	}
	return ListenOn(n, ln)
}

// ListenOn is Listen on a socket bound already (see runtime.Bind), so that
// a caller can reserve the address before it changes anything. The
// listener owns ln from then on, even when it returns an error.
func ListenOn(n *runtime.Node, ln net.Listener) (*Listener, error) {
	t, err := of(n)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	l := &Listener{t: t, ln: ln, done: make(chan struct{})}
	if !t.conns.AddListener(l) {
		_ = ln.Close()
		return nil, runtime.ErrNodeClosed
	}
	n.Go(func() {
		defer close(l.done)
		runtime.AcceptLoop(ln, n.Logger(), n.Context().Done(), l.serve)
	})
	n.Logger().Debug("listening", "address", ln.Addr().String())
	return l, nil
}

// Addr is the address the listener is bound to, with the real port.
func (l *Listener) Addr() string { return l.ln.Addr().String() }

// Close stops accepting connections and waits for the accept loop;
// accepted connections stay up.
func (l *Listener) Close() error {
	err := l.ln.Close()
	l.t.conns.RemoveListener(l)
	<-l.done
	return err
}

// serve makes an accepted socket a connection: the handshake, then frames.
// A listener at its limit closes the socket at once, so that clients who
// connect and hold their connections cannot take the node's descriptors.
func (l *Listener) serve(conn net.Conn) {
	t := l.t
	limit := t.opts.MaxAcceptedConnections
	if l.open.Add(1) > int64(limit) {
		l.open.Add(-1)
		_ = conn.Close()
		l.refusals.Warn(t.node.Logger(), "tcp listener full: connection refused", "listener", l.Addr(),
			"peer", conn.RemoteAddr().String(), "limit", limit, "refused_so_far", l.refused.Add(1))
		return
	}
	c, br, err := t.adopt(conn, false, "", true, l)
	if err != nil {
		return // node shutting down; adopt closed the socket
	}
	t.node.Go(func() {
		if err := c.handshake(t.opts.HandshakeTimeout, br); err != nil {
			c.close(err)
			return
		}
		// The version byte is no use of the connection: a peer that
		// stops there is held only until its first frame is due.
		c.in.firstWait = t.opts.HandshakeTimeout
		c.in.firstDue = time.Now().Add(c.in.firstWait)
		c.readLoop(br)
	})
}
