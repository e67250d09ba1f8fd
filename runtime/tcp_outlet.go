package runtime

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ockamtop/ockamtop/runtime/routing"
)

// Outlet is a TCP portal outlet: a service that, for every Ping, dials its
// target and starts a stream worker that answers Pong. Better than Ockam
// (whose inlet hangs when the target is down, its issue #4117), an outlet
// that cannot reach its target answers Disconnect at once, so the client at
// the inlet sees its connection closed promptly.
type Outlet struct {
	node   *Node
	name   string
	target string
	// dialTimeout bounds the dial of the target (5s).
	dialTimeout time.Duration
	log         hclog.Logger

	mu      sync.Mutex
	streams map[*portalStream]struct{} // guarded by mu
}

var _ Worker = (*Outlet)(nil)

// StartOutlet starts an outlet at the local address name, to target.
func (n *Node) StartOutlet(name, target string) (*Outlet, error) {
	o := &Outlet{node: n, name: name, target: target, dialTimeout: 5 * time.Second, streams: map[*portalStream]struct{}{},
		log: n.log.With("outlet", name, "target", target)}
	if err := n.StartService(name, o); err != nil {
		return nil, fmt.Errorf("outlet %s: %w", name, err)
	}
	return o, nil
}

// Streams counts the open streams.
func (o *Outlet) Streams() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.streams)
}

// Target is where the outlet dials.
func (o *Outlet) Target() string { return o.target }

// HandleMessage opens a stream for a Ping.
func (o *Outlet) HandleMessage(ctx *Context, m *Routed) error {
	pm, err := decodePortal(m.Payload)
	if err != nil {
		return fmt.Errorf("outlet %s: %w", o.name, err)
	}
	if pm.tag != portalPing {
		return fmt.Errorf("outlet %s: want a ping, got tag %#x", o.name, pm.tag)
	}
	remote := m.Return.Clone()
	// Dial off the worker's goroutine: one slow target must not hold up
	// the pings behind it.
	o.node.goroutine(func() { o.open(ctx, remote) })
	return nil
}

func (o *Outlet) open(ctx *Context, remote routing.Route) {
	log := o.log
	dctx, cancel := context.WithTimeout(o.node.ctx, o.dialTimeout)
	d := net.Dialer{KeepAliveConfig: keepAlive}
	conn, err := d.DialContext(dctx, "tcp", o.target)
	cancel()
	if err != nil {
		log.Warn("outlet cannot reach its target; the stream is refused", "error", err)
		_ = o.node.route(context.Background(), &Routed{Message: routing.Message{
			Onward: remote, Return: routing.Route{ctx.Address()}, Payload: encodePortal(portalDisconnect),
		}})
		return
	}
	s, err := newPortalStream(o.node, conn.(*net.TCPConn), log)
	if err != nil {
		conn.Close()
		return
	}
	o.mu.Lock()
	o.streams[s] = struct{}{}
	o.mu.Unlock()
	s.onDone = func() {
		o.mu.Lock()
		delete(o.streams, s)
		o.mu.Unlock()
	}
	s.setRemote(remote)
	if !s.send(encodePortal(portalPong)) {
		return
	}
	s.readLoop()
}
