package udpportal

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/outage"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/wire"
)

// Inlet is a UDP portal inlet: it binds a UDP socket, and every client
// address it hears from is a flow, whose datagrams it sends, one message
// each, along its route to an outlet, and to which it sends the replies
// that come back. The route is resolved anew for each flow, so an inlet
// whose route was down serves again as soon as it is back.
type Inlet struct {
	node *runtime.Node
	name string
	pc   *net.UDPConn
	// route gives a new flow's route; SetRoute swaps it.
	route atomic.Pointer[func() (routing.Route, error)]
	opts  InletOptions
	log   hclog.Logger
	life  *life
	queue *fairQueue
	// down is the outage while the route does not reach the outlet.
	down     outage.Tracker
	maxFlows atomic.Int64
	idle     atomic.Int64 // the idle timeout, in nanoseconds
	// tooLarge counts the datagrams a UDP hop on the route could not
	// carry, for a warning every thousand.
	tooLarge atomic.Uint64
	count    counters

	mu    sync.Mutex
	flows map[netip.AddrPort]*inletFlow // guarded by mu: by client address
}

// InletOptions configure an inlet.
type InletOptions struct {
	// IdleTimeout ends a flow that has carried no datagram either way for
	// that long (DefaultIdleTimeout).
	IdleTimeout time.Duration
	// MaxFlows bounds the flows open at once (DefaultMaxFlows): a new
	// client past it has its datagrams dropped until a flow ends.
	MaxFlows int
	// FlowQueue bounds the datagrams a flow has waiting to be sent
	// (DefaultFlowQueue); QueueBytes bounds the buffers all the flows'
	// queues hold together (DefaultQueueBytes).
	FlowQueue, QueueBytes int
}

// Defaults of InletOptions and OutletOptions.
const (
	// DefaultIdleTimeout is as long as a NAT keeps a UDP mapping that saw
	// traffic both ways (RFC 4787 asks at least 2 minutes; Linux's
	// conntrack keeps 2 minutes for such a "stream").
	DefaultIdleTimeout = 2 * time.Minute
	// DefaultMaxFlows is an inlet's and an outlet's default bound on
	// flows: an outlet flow holds a socket and a 64 KiB read buffer.
	DefaultMaxFlows = 1024
	// DefaultFlowQueue is a flow's default queue: 64 datagrams, a burst a
	// DNS or game client never reaches while a flood overflows it at once.
	DefaultFlowQueue = 64
	// DefaultQueueBytes bounds what an inlet's queues hold: 16 MiB.
	DefaultQueueBytes = 16 << 20
)

// socketBuffer is the receive buffer an inlet asks for its socket: the
// default (208 KiB on Linux) holds three datagrams of 64 KiB, and clients
// that send at once then lose some to the kernel while the inlet's reader
// waits for a core.
const socketBuffer = 4 << 20

func (o *InletOptions) withDefaults() {
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.MaxFlows <= 0 {
		o.MaxFlows = DefaultMaxFlows
	}
	if o.FlowQueue <= 0 {
		o.FlowQueue = DefaultFlowQueue
	}
	if o.QueueBytes <= 0 {
		o.QueueBytes = DefaultQueueBytes
	}
}

// StartInlet starts an inlet of node n that binds from and carries every
// flow along the route that route returns.
func StartInlet(n *runtime.Node, name, from string, route func() (routing.Route, error), opts InletOptions) (*Inlet, error) {
	pc, err := Bind(from)
	if err != nil {
		return nil, fmt.Errorf("udp_inlet %s: %w", name, err)
	}
	return StartInletOn(n, name, pc, route, opts)
}

// Bind binds the UDP socket of an inlet at address, in the host's network
// namespace (as a TCP inlet's listener is).
func Bind(address string) (*net.UDPConn, error) {
	a, err := net.ResolveUDPAddr("udp", address)
	if err != nil {
		return nil, fmt.Errorf("bind %s: %w", address, err)
	}
	pc, err := net.ListenUDP("udp", a)
	if err != nil {
		return nil, fmt.Errorf("bind %s: %w", address, err)
	}
	return pc, nil
}

// StartInletOn is StartInlet on a socket bound already (Bind), so that a
// caller can reserve the address before it changes anything. The inlet
// owns pc from then on, even when it returns an error.
func StartInletOn(n *runtime.Node, name string, pc *net.UDPConn, route func() (routing.Route, error), opts InletOptions) (*Inlet, error) {
	opts.withDefaults()
	// Best effort: the system's limit (net.core.rmem_max) may be lower.
	_ = pc.SetReadBuffer(socketBuffer)
	in := &Inlet{
		node: n, name: name, pc: pc, opts: opts, life: newLife(),
		log:   n.Logger().With("udp_inlet", name),
		queue: newFairQueue(opts.FlowQueue, opts.QueueBytes),
		flows: map[netip.AddrPort]*inletFlow{},
	}
	in.route.Store(&route)
	in.maxFlows.Store(int64(opts.MaxFlows))
	in.idle.Store(int64(opts.IdleTimeout))
	remove, ok := n.AtClose(in.Stop)
	if !ok {
		_ = pc.Close()
		return nil, fmt.Errorf("udp_inlet %s: %w", name, runtime.ErrNodeClosed)
	}
	in.life.hook(remove)
	in.life.goroutine(n, in.readLoop)
	in.life.goroutine(n, in.sendLoop)
	in.life.goroutine(n, func() { sweep(in.life.ctx.Done(), in.IdleTimeout, in.expire) })
	return in, nil
}

// Name is the inlet's name.
func (in *Inlet) Name() string { return in.name }

// Addr is the inlet's bound address.
func (in *Inlet) Addr() string { return in.pc.LocalAddr().String() }

// Flows counts the open flows.
func (in *Inlet) Flows() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.flows)
}

// Counters returns a snapshot of the inlet's counters.
func (in *Inlet) Counters() Counters { return in.count.snapshot(in.Flows()) }

// SetRoute makes new flows take the route that route returns; the flows
// open already go on along the route they took.
func (in *Inlet) SetRoute(route func() (routing.Route, error)) { in.route.Store(&route) }

// MaxFlows is the most flows the inlet holds at once.
func (in *Inlet) MaxFlows() int { return int(in.maxFlows.Load()) }

// SetMaxFlows changes the bound on flows (DefaultMaxFlows for 0). Flows
// open beyond a lower bound go on; new clients wait for room.
func (in *Inlet) SetMaxFlows(max int) {
	if max <= 0 {
		max = DefaultMaxFlows
	}
	in.maxFlows.Store(int64(max))
}

// IdleTimeout is how long a flow lives without a datagram.
func (in *Inlet) IdleTimeout() time.Duration { return time.Duration(in.idle.Load()) }

// SetIdleTimeout changes the idle timeout (DefaultIdleTimeout for 0), for
// the flows open already too.
func (in *Inlet) SetIdleTimeout(d time.Duration) {
	if d <= 0 {
		d = DefaultIdleTimeout
	}
	in.idle.Store(int64(d))
}

// Stop stops the inlet on its own, its node running on: it closes its
// socket, ends its flows (telling the outlets), and returns when every
// goroutine it started has finished. The node's Close stops it too.
func (in *Inlet) Stop() {
	if in.life.end() {
		_ = in.pc.Close()
		for _, f := range takeAll(&in.mu, in.flows) {
			in.end(f, true)
		}
	}
	in.life.wait()
}

// readLoop reads the clients' datagrams into their flows' queues. It
// never waits for anything but the socket (see fair.go).
func (in *Inlet) readLoop() {
	buf := make([]byte, MaxDatagram+1)
	for {
		n, client, err := in.pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || in.life.ctx.Err() != nil {
				return
			}
			in.log.Debug("read", "error", err)
			continue
		}
		f := in.flowOf(client)
		if f == nil {
			continue
		}
		f.last.Store(time.Now().UnixNano())
		if !in.queue.push(f, framed(buf[:n])) {
			in.count.dropped.Add(1)
		}
	}
}

// flowOf returns the client's flow, opening it if there is room; nil
// when there is none.
func (in *Inlet) flowOf(client netip.AddrPort) *inletFlow {
	in.mu.Lock()
	defer in.mu.Unlock()
	if f := in.flows[client]; f != nil {
		return f
	}
	if in.life.ctx.Err() != nil {
		return nil // stopping: Stop ends the flows it finds, and no more
	}
	if int64(len(in.flows)) >= in.maxFlows.Load() {
		if in.count.refused.Add(1) == 1 {
			in.log.Warn("udp_inlet is at its limit of flows; a new client's datagrams are dropped until a flow ends", "limit", in.maxFlows.Load(), "client", client.String())
		}
		in.count.dropped.Add(1)
		return nil
	}
	f := &inletFlow{in: in, client: client, addr: routing.LocalAddress(runtime.RandomAddress())}
	if err := in.node.StartWorker(f.addr.Value, f); err != nil {
		in.count.dropped.Add(1)
		return nil // the node is closing
	}
	in.flows[client] = f
	in.count.flows.Add(1)
	return f
}

// sendLoop sends the queued datagrams, one flow at a time in turn.
func (in *Inlet) sendLoop() {
	for {
		f, d, ok := in.queue.pop(in.life.ctx.Done())
		if !ok {
			return
		}
		route := f.route.Load()
		if route == nil {
			r, err := (*in.route.Load())()
			if err != nil {
				d.release()
				in.routeDown(f, err)
				continue
			}
			route = &r
			f.route.Store(route)
		}
		n := d.n
		err := in.node.Route(in.life.ctx, runtime.NewRouted(routing.Message{
			Onward: *route, Return: routing.Route{f.addr}, Payload: d.payload,
		}, nil, d.buf, nil))
		if errors.Is(err, wire.ErrUDPMessageTooLarge) {
			// The route is up; this datagram, with the routes around
			// it, is more than a UDP hop on it carries.
			in.count.dropped.Add(1)
			if in.tooLarge.Add(1)%1000 == 1 {
				in.log.Warn("datagram too large for a UDP hop on the route; dropped", "client", f.client.String(), "bytes", n, "too_large", in.tooLarge.Load())
			}
			continue
		}
		if err != nil {
			f.route.Store(nil) // resolved anew for the next datagram
			in.routeDown(f, fmt.Errorf("udp portal route %s: %w", route.Brief(), err))
			continue
		}
		in.count.in(n)
		in.routeUp()
	}
}

// routeDown counts a datagram lost to a route that does not reach, and
// logs it: a warning at first, then with growing gaps while it lasts.
func (in *Inlet) routeDown(f *inletFlow, err error) {
	in.count.dropped.Add(1)
	if in.life.ctx.Err() != nil || in.node.Quiet() {
		return
	}
	if warn, failures := in.down.Failed(time.Now()); warn {
		in.log.Warn("udp portal route is down; datagram dropped", "client", f.client.String(), "error", err, "dropped", failures)
	}
}

func (in *Inlet) routeUp() {
	if was, lasted, failures := in.down.Mended(time.Now()); was {
		in.log.Info("udp portal route is back", "down_for", lasted.Round(time.Millisecond), "dropped", failures)
	}
}

// expire ends the flows idle since before now less the idle timeout.
func (in *Inlet) expire(now time.Time) {
	for _, f := range takeIdle(&in.mu, in.flows, now.Add(-in.IdleTimeout()).UnixNano()) {
		in.count.expired.Add(1)
		in.end(f, true)
	}
}

// forget ends a flow the outlet forgot (it said Close).
func (in *Inlet) forget(f *inletFlow) {
	in.mu.Lock()
	mine := in.flows[f.client] == f
	if mine {
		delete(in.flows, f.client)
	}
	in.mu.Unlock()
	if mine {
		in.end(f, false)
	}
}

// end ends a flow taken out of the map: its queue, its worker, and with
// tell, the outlet's flow (a Close, which may be lost).
func (in *Inlet) end(f *inletFlow, tell bool) {
	in.queue.forget(f)
	_ = in.node.StopWorker(f.addr.Value)
	if route := f.route.Load(); tell && route != nil {
		ctx, cancel := context.WithTimeout(in.node.Context(), time.Second)
		_ = in.node.Send(ctx, routing.Message{Onward: *route, Return: routing.Route{f.addr}, Payload: encodeClose()})
		cancel()
	}
}

// sweep calls expire every so often, often enough for the idle timeout
// idle returns, until stop is closed.
func sweep(stop <-chan struct{}, idle func() time.Duration, expire func(time.Time)) {
	every := func() time.Duration { return min(max(idle()/4, 5*time.Millisecond), time.Second) }
	t := time.NewTimer(every())
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			expire(now)
			t.Reset(every())
		}
	}
}
