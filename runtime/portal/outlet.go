package portal

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/routing"
)

// Outlet is a TCP portal outlet: a service that, for every Ping, dials its
// target and starts a stream worker that answers Pong. Better than Ockam
// (whose inlet hangs when the target is down, its issue #4117), an outlet
// that cannot reach its target answers Disconnect at once, so the client at
// the inlet sees its connection closed promptly.
type Outlet struct {
	node *runtime.Node
	name string
	// target is where new streams dial; SetTarget swaps it.
	target atomic.Pointer[string]
	opts   OutletOptions
	log    hclog.Logger
	life   *partLife
	streamSet
}

var _ runtime.Worker = (*Outlet)(nil)

// OutletOptions configure an outlet.
type OutletOptions struct {
	// DialTimeout bounds the dial of the target (5s).
	DialTimeout time.Duration
	// KeepAlive for its streams (10s, dead after 30s).
	KeepAlive runtime.KeepAlive
}

// StartOutlet starts an outlet of node n, at its local address name, to
// target.
func StartOutlet(n *runtime.Node, name, target string, opts OutletOptions) (*Outlet, error) {
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 5 * time.Second
	}
	opts.KeepAlive = opts.KeepAlive.WithDefaults()
	o := &Outlet{node: n, name: name, opts: opts, log: n.Logger().With("outlet", name), life: newPartLife()}
	o.streamSet.life = o.life
	o.target.Store(&target)
	if err := n.StartService(name, o); err != nil {
		return nil, fmt.Errorf("outlet %s: %w", name, err)
	}
	o.life.goroutine(n, func() { o.sweep(n, opts.KeepAlive, o.life.stop) })
	o.life.hook(n.Transports().OnConnectionClosed(o.pathClosed))
	return o, nil
}

// SetTarget makes new streams dial target. The streams open already go on
// with the target they dialed.
func (o *Outlet) SetTarget(target string) { o.target.Store(&target) }

// Stop stops the outlet on its own, its node running on: its address
// takes no more Pings, its open streams end (telling the inlets), and it
// returns when every goroutine it started has finished.
func (o *Outlet) Stop() {
	if o.life.end() {
		_ = o.node.StopWorker(o.name)
		o.closeAll()
	}
	o.life.wait()
}

// Streams counts the open streams.
func (o *Outlet) Streams() int { return o.Len() }

// Name is the outlet's local address.
func (o *Outlet) Name() string { return o.name }

// Target is where the outlet dials.
func (o *Outlet) Target() string { return *o.target.Load() }

// HandleMessage opens a stream for a Ping.
func (o *Outlet) HandleMessage(ctx *runtime.Context, m *runtime.Routed) error {
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
	if !o.life.goroutine(o.node, func() { o.open(ctx.Address(), remote) }) {
		o.refuse(ctx.Address(), remote)
	}
	return nil
}

// refuse tells an inlet's stream that no stream will answer it.
func (o *Outlet) refuse(self routing.Address, remote routing.Route) {
	_ = o.node.Send(context.Background(), routing.Message{
		Onward: remote, Return: routing.Route{self}, Payload: encodePortal(portalDisconnect),
	})
}

func (o *Outlet) open(self routing.Address, remote routing.Route) {
	dctx, cancel := context.WithTimeout(o.node.Context(), o.opts.DialTimeout)
	unlink := context.AfterFunc(o.life.ctx, cancel) // Stop ends the dial too
	defer unlink()
	target := o.Target()
	conn, err := o.node.Sockets().Dial(dctx, "tcp", target)
	cancel()
	tc, isTCP := conn.(*net.TCPConn)
	if err == nil && !isTCP {
		conn.Close()
		err = fmt.Errorf("dial %s: not a TCP connection (%T)", target, conn)
	}
	if err != nil {
		o.count.refused.Add(1)
		o.log.Warn("outlet cannot reach its target; the stream is refused", "target", target, "error", err)
		o.refuse(self, remote)
		return
	}
	s, err := newPortalStream(o.node, tc, o.log, &o.streamSet, remote, nil)
	if err != nil {
		conn.Close()
		o.refuse(self, remote) // the outlet stopped meanwhile
		return
	}
	if !s.send(encodePortal(portalPong)) {
		return
	}
	// A fresh stack for the reader, which an idle stream keeps: this one
	// grew in the dial.
	if !o.streamSet.goroutine(o.node, s.readLoop) {
		s.close(nil, true)
	}
}
