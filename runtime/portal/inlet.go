package portal

import (
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/outage"
	"github.com/ockamtop/ockamtop/runtime/routing"
)

// Inlet is a TCP portal inlet: it accepts TCP connections and carries each
// one, as a stream of portal messages, along its route to an outlet. The
// route is resolved anew for every connection, so an inlet whose route was
// down serves again as soon as the route is back.
type Inlet struct {
	node *runtime.Node
	name string
	ln   net.Listener
	// way is the route and window of a new connection; SetRoute swaps it.
	way  atomic.Pointer[inletWay]
	opts InletOptions
	life *partLife
	log  hclog.Logger
	// down is the outage while the route does not reach the outlet.
	down outage.Tracker
	// open counts the connections admitted and not yet done with: from
	// accept to the end of their stream; maxStreams bounds it, and
	// SetMaxStreams changes it.
	open       atomic.Int64
	maxStreams atomic.Int64
	streamSet
}

// InletOptions configure an inlet.
type InletOptions struct {
	// PingTimeout bounds the wait for the outlet's answer (10s: longer than
	// an outlet's dial of its target).
	PingTimeout time.Duration
	// KeepAlive for its streams (10s, dead after 30s).
	KeepAlive runtime.KeepAlive
	// MaxStreams bounds the streams open at once (DefaultMaxStreams); a
	// client past it has its connection closed at once. A portal that
	// loops back onto its own inlet through hosts no planner can see
	// then stops there, instead of opening connections until the process
	// runs out of file descriptors.
	MaxStreams int
	// Window is the bytes each stream takes in flight, and asks of the
	// outlet's (a Window message): DefaultWindow, in Ockam-sized chunks,
	// unless set larger, up to LargeWindow, as far as its share of the
	// inlet's budget goes (window_budget.go). Set it only for a route that
	// is TCP between ockamtop nodes all the way to the outlet: a UDP hop
	// cannot carry the large chunks, nor an Ockam peer read the message.
	Window int
}

// DefaultMaxStreams is an inlet's default bound on open streams: each
// costs four sockets along the path.
const DefaultMaxStreams = 1024

// StartInlet starts an inlet of node n that listens on from and carries
// every connection along the route that route returns.
func StartInlet(n *runtime.Node, name, from string, route func() (routing.Route, error), opts InletOptions) (*Inlet, error) {
	ln, err := runtime.Bind(from)
	if err != nil {
		return nil, fmt.Errorf("inlet %s: listen on %s: %w", name, from, err)
	}
	return StartInletOn(n, name, ln, route, opts)
}

// StartInletOn is StartInlet on a socket bound already (see runtime.Bind),
// so that a caller can reserve the address before it changes anything.
// The inlet owns ln from then on, even when it returns an error.
func StartInletOn(n *runtime.Node, name string, ln net.Listener, route func() (routing.Route, error), opts InletOptions) (*Inlet, error) {
	if opts.PingTimeout <= 0 {
		opts.PingTimeout = 10 * time.Second
	}
	if opts.MaxStreams <= 0 {
		opts.MaxStreams = DefaultMaxStreams
	}
	opts.KeepAlive = opts.KeepAlive.WithDefaults()
	if n.Context().Err() != nil {
		_ = ln.Close()
		return nil, runtime.ErrNodeClosed
	}
	in := &Inlet{node: n, name: name, ln: ln, opts: opts, log: n.Logger().With("inlet", name), life: newPartLife()}
	in.streamSet.life = in.life
	in.maxStreams.Store(int64(opts.MaxStreams))
	in.way.Store(&inletWay{route, opts.Window})
	in.life.goroutine(n, func() {
		select {
		case <-n.Context().Done():
		case <-in.life.stop:
		}
		in.Close()
	})
	in.life.goroutine(n, func() {
		runtime.AcceptLoop(ln, in.log, n.Context().Done(), func(conn net.Conn) {
			if !in.admit() {
				in.count.refused.Add(1)
				in.log.Warn("inlet is at its limit of open streams; connection refused", "limit", in.maxStreams.Load(), "client", conn.RemoteAddr().String())
				_ = conn.Close()
				return
			}
			if !in.life.goroutine(n, func() { in.serve(conn.(*net.TCPConn)) }) {
				_ = conn.Close() // the inlet is stopping
				in.open.Add(-1)
			}
		})
	})
	in.life.goroutine(n, func() { in.sweep(n, opts.KeepAlive, in.life.stop) })
	in.life.hook(n.Transports().OnConnectionClosed(in.pathClosed))
	return in, nil
}

// SetRoute makes new connections take the route that route returns. The
// streams open already go on along the route they took.
//
// window is the new connections' Window (InletOptions.Window): a new route
// may cross a hop that cannot carry large chunks.
func (in *Inlet) SetRoute(route func() (routing.Route, error), window int) {
	in.way.Store(&inletWay{route, window})
}

// inletWay is how an inlet's new streams go: their route, and window.
type inletWay struct {
	route  func() (routing.Route, error)
	window int
}

// Stop stops the inlet on its own, its node running on: it stops
// accepting, ends its open streams (telling the outlets), and returns when
// every goroutine it started has finished.
func (in *Inlet) Stop() {
	if in.life.end() {
		in.closeAll()
	}
	in.life.wait()
}

// Name is the inlet's name.
func (in *Inlet) Name() string { return in.name }

// Addr is the inlet's bound address.
func (in *Inlet) Addr() string { return in.ln.Addr().String() }

// Streams counts the open streams.
func (in *Inlet) Streams() int { return in.Len() }

// MaxStreams is the most streams the inlet holds open at once.
func (in *Inlet) MaxStreams() int { return int(in.maxStreams.Load()) }

// SetMaxStreams changes the bound on open streams (DefaultMaxStreams for
// 0). Streams open beyond a lower bound go on; new connections wait for
// room.
func (in *Inlet) SetMaxStreams(max int) {
	if max <= 0 {
		max = DefaultMaxStreams
	}
	in.maxStreams.Store(int64(max))
}

// Close stops accepting; open streams go on until they end or the node
// closes.
func (in *Inlet) Close() error { return in.ln.Close() }

// admit counts a new connection in, unless the inlet is at its limit.
func (in *Inlet) admit() bool {
	if in.open.Add(1) > in.maxStreams.Load() {
		in.open.Add(-1)
		return false
	}
	return true
}

// routeDown logs that the route failed for a client: a warning at first,
// then with growing gaps while it stays down.
func (in *Inlet) routeDown(client net.Addr, err error) {
	in.count.refused.Add(1)
	if warn, failures := in.down.Failed(time.Now()); warn {
		in.log.Warn("portal route is down; connection closed", "client", client.String(), "error", err, "failed_connections", failures)
	} else {
		in.log.Debug("portal route still down; connection closed", "client", client.String(), "error", err)
	}
}

// routeUp logs that the route works again, if it was down.
func (in *Inlet) routeUp() {
	if was, lasted, failures := in.down.Mended(time.Now()); was {
		in.log.Info("portal route is back", "down_for", lasted.Round(time.Millisecond), "failed_connections", failures)
	}
}

// serve opens a stream for one admitted client connection.
func (in *Inlet) serve(conn *net.TCPConn) {
	way := in.way.Load()
	route, err := way.route()
	if err != nil {
		in.routeDown(conn.RemoteAddr(), err)
		conn.Close()
		in.open.Add(-1)
		return
	}
	s, err := newPortalStream(in.node, conn, in.log, &in.streamSet, nil, func() { in.open.Add(-1) })
	if err != nil {
		conn.Close()
		in.open.Add(-1)
		return
	}
	// The connection the Ping goes over, known before it goes: if it
	// closes before the Pong comes, the stream learns it at once.
	route, err = in.node.Resolve(in.node.Context(), route)
	if err != nil {
		in.routeDown(conn.RemoteAddr(), err)
		s.close(nil, false)
		return
	}
	s.mu.Lock()
	s.via = route[0]
	s.mu.Unlock()
	s.pinged.Store(true)
	err = in.node.Send(in.node.Context(), routing.Message{
		Onward: route, Return: routing.Route{s.addr}, Payload: encodePortal(portalPing),
	})
	if err != nil {
		in.routeDown(conn.RemoteAddr(), fmt.Errorf("portal route %s: %w", route.Brief(), err))
		s.close(nil, false)
		return
	}
	t := time.NewTimer(in.opts.PingTimeout)
	defer t.Stop()
	select {
	case <-s.established:
		in.routeUp()
		if way.window > DefaultWindow {
			s.askWindow(way.window)
		}
		// The reader gets a goroutine of its own, with a fresh stack: this
		// one grew while it resolved the route, and an idle stream keeps
		// its reader's stack for as long as it is open.
		if !in.streamSet.goroutine(in.node, s.readLoop) {
			s.close(nil, true)
		}
	case <-s.done:
		s.mu.Lock()
		refused := s.disconnect
		s.mu.Unlock()
		switch {
		case in.node.Quiet(): // the node is closing
		case refused: // the outlet said Disconnect: its target is down
			in.count.refused.Add(1)
			in.log.Warn("the outlet refused the stream (its target is unreachable); connection closed", "client", conn.RemoteAddr().String())
		default: // the connection the Ping went over closed
			in.routeDown(conn.RemoteAddr(), fmt.Errorf("portal route %s: the connection to the next node closed", route.Brief()))
		}
	case <-t.C:
		in.routeDown(conn.RemoteAddr(), fmt.Errorf("portal route %s: no answer from the outlet within %s", route.Brief(), in.opts.PingTimeout))
		s.closeTombstone(max(2*in.opts.PingTimeout, 10*time.Second))
	}
}
