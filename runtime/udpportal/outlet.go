package udpportal

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/routing"
)

// Outlet is a UDP portal outlet: a service that sends each flow's
// datagrams to its target from a socket of the flow's own, so that the
// target sees one peer per client as it would without the portal, and
// sends what the target answers on that socket back along the flow's
// return route. A flow is opened by its first datagram, keyed by its
// return route (message.go), and ends when the inlet says Close or after
// the idle timeout.
type Outlet struct {
	node *runtime.Node
	name string
	self routing.Address
	// target is where new flows send; SetTarget swaps it.
	target atomic.Pointer[string]
	opts   OutletOptions
	log    hclog.Logger
	life   *life
	count  counters

	mu    sync.Mutex
	flows map[string]*outletFlow // guarded by mu: by return route
}

// OutletOptions configure an outlet.
type OutletOptions struct {
	// IdleTimeout ends a flow that carried nothing either way for that
	// long (DefaultIdleTimeout); an inlet's Close ends it sooner.
	IdleTimeout time.Duration
	// MaxFlows bounds the flows, each a socket (DefaultMaxFlows).
	MaxFlows int
}

// outletFlow is one inlet flow at the outlet: its socket to the target.
type outletFlow struct {
	key    string
	conn   net.Conn
	remote routing.Route
	// last is when a datagram last went either way, in Unix nanoseconds.
	last atomic.Int64
}

func (f *outletFlow) lastUsed() int64 { return f.last.Load() }

var (
	_ runtime.Worker  = (*Outlet)(nil)
	_ runtime.Inliner = (*Outlet)(nil)
)

// StartOutlet starts an outlet of node n, at its local address name, to
// the UDP target.
func StartOutlet(n *runtime.Node, name, target string, opts OutletOptions) (*Outlet, error) {
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.MaxFlows <= 0 {
		opts.MaxFlows = DefaultMaxFlows
	}
	o := &Outlet{
		node: n, name: name, self: routing.LocalAddress(name), opts: opts, life: newLife(),
		log: n.Logger().With("udp_outlet", name), flows: map[string]*outletFlow{},
	}
	o.target.Store(&target)
	if err := n.StartService(name, o); err != nil {
		return nil, fmt.Errorf("udp_outlet %s: %w", name, err)
	}
	remove, ok := n.AtClose(o.Stop)
	if !ok {
		_ = n.StopWorker(name)
		return nil, fmt.Errorf("udp_outlet %s: %w", name, runtime.ErrNodeClosed)
	}
	o.life.hook(remove)
	o.life.goroutine(n, func() {
		sweep(o.life.ctx.Done(), func() time.Duration { return o.opts.IdleTimeout }, o.expire)
	})
	return o, nil
}

// Name is the outlet's local address.
func (o *Outlet) Name() string { return o.name }

// Target is where the outlet's new flows send.
func (o *Outlet) Target() string { return *o.target.Load() }

// SetTarget makes new flows send to target; open flows keep theirs.
func (o *Outlet) SetTarget(target string) { o.target.Store(&target) }

// Flows counts the open flows.
func (o *Outlet) Flows() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.flows)
}

// Counters returns a snapshot of the outlet's counters.
func (o *Outlet) Counters() Counters { return o.count.snapshot(o.Flows()) }

// Inline: the outlet writes a datagram to a UDP socket, which does not
// wait; only a flow's first datagram makes the socket.
func (*Outlet) Inline() bool { return true }

// Stop stops the outlet on its own, its node running on: its address
// takes no more datagrams, its flows end (telling the inlets), and it
// returns when every goroutine it started has finished.
func (o *Outlet) Stop() {
	if o.life.end() {
		_ = o.node.StopWorker(o.name)
		for _, f := range takeAll(&o.mu, o.flows) {
			o.end(f, true)
		}
	}
	o.life.wait()
}

// HandleMessage sends an inlet flow's datagram to the target.
func (o *Outlet) HandleMessage(_ *runtime.Context, m *runtime.Routed) error {
	msg, err := decode(m.Payload)
	if err != nil {
		return fmt.Errorf("udp_outlet %s: %w", o.name, err)
	}
	key := m.Return.String()
	if msg.tag == tagClose {
		o.mu.Lock()
		f := o.flows[key]
		delete(o.flows, key)
		o.mu.Unlock()
		if f != nil {
			o.end(f, false)
		}
		return nil
	}
	f, err := o.flowOf(key, m.Return)
	if f == nil {
		o.count.dropped.Add(1)
		return err
	}
	f.last.Store(time.Now().UnixNano())
	if _, err := f.conn.Write(msg.data); err != nil {
		// A target not listening yet answers an earlier datagram with
		// ICMP port unreachable, which a connected socket reports here.
		o.count.dropped.Add(1)
		return nil
	}
	o.count.out(len(msg.data))
	return nil
}

// flowOf returns the flow of the return route, opening it if there is
// room: a socket to the target, and a goroutine that reads its replies.
func (o *Outlet) flowOf(key string, ret routing.Route) (*outletFlow, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if f := o.flows[key]; f != nil {
		return f, nil
	}
	if o.life.ctx.Err() != nil {
		return nil, fmt.Errorf("udp_outlet %s: %w", o.name, ErrStopped)
	}
	if len(o.flows) >= o.opts.MaxFlows {
		if o.count.refused.Add(1) == 1 {
			o.log.Warn("udp_outlet is at its limit of flows; a new flow's datagrams are dropped until one ends", "limit", o.opts.MaxFlows)
		}
		return nil, nil
	}
	target := o.Target()
	ctx, cancel := context.WithTimeout(o.life.ctx, 5*time.Second)
	conn, err := o.node.Sockets().Dial(ctx, "udp", target)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("udp_outlet %s: target %s: %w", o.name, target, err)
	}
	f := &outletFlow{key: key, conn: conn, remote: ret.Clone()}
	if !o.life.goroutine(o.node, func() { o.readLoop(f) }) {
		_ = conn.Close()
		return nil, fmt.Errorf("udp_outlet %s: %w", o.name, ErrStopped)
	}
	o.flows[key] = f
	o.count.flows.Add(1)
	return f, nil
}

// readLoop sends the target's replies on f's socket back to the inlet
// flow, until the socket is closed.
func (o *Outlet) readLoop(f *outletFlow) {
	buf := make([]byte, MaxDatagram+1)
	for {
		n, err := f.conn.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // ICMP port unreachable for an earlier datagram
		}
		f.last.Store(time.Now().UnixNano())
		d := framed(buf[:n])
		err = o.node.Route(o.life.ctx, runtime.NewRouted(routing.Message{
			Onward: f.remote, Return: routing.Route{o.self}, Payload: d.payload,
		}, nil, d.buf, nil))
		if err != nil {
			o.count.dropped.Add(1)
			continue
		}
		o.count.in(n)
	}
}

// expire ends the flows idle since before now less the idle timeout.
func (o *Outlet) expire(now time.Time) {
	for _, f := range takeIdle(&o.mu, o.flows, now.Add(-o.opts.IdleTimeout).UnixNano()) {
		o.count.expired.Add(1)
		o.end(f, true)
	}
}

// end closes a flow taken out of the map, and with tell says Close to
// the inlet's flow (which may be lost).
func (o *Outlet) end(f *outletFlow, tell bool) {
	_ = f.conn.Close()
	if tell {
		ctx, cancel := context.WithTimeout(o.node.Context(), time.Second)
		_ = o.node.Send(ctx, routing.Message{Onward: f.remote, Return: routing.Route{o.self}, Payload: encodeClose()})
		cancel()
	}
}
