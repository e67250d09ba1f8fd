// Package relay is the client side of Ockam's relay: a node that never
// listens dials a relay node, registers a name with its relay service
// (static_forwarding_service), and keeps the registration alive, so that
// others reach it through the forwarder ("forward_to_<name>") the relay node
// keeps. The relay service itself, which every node runs, is the node
// library's (runtime/relay_service.go); this package only uses a node's
// exported API.
package relay

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/outage"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/tcp"
	"github.com/ockamtop/ockamtop/runtime/wire"
)

// A relay makes a node that never listens reachable: the node dials the
// relay node, registers a name with its relay service, and keeps the
// registration alive. Liveness is better than Ockam's (a ping every 10 s, a
// failure noticed in about 30 s): the relay is checked end to end, through
// the forwarder and back, every PingInterval; when the connection or the
// relay node dies, the node reconnects with exponential backoff and jitter,
// capped at MaxBackoff, and registers again.
//
// A relay that carries traffic is alive: its check waits in the same queues
// as the data, and may be late behind it. So a check fails only when its
// answer is late and the connection has also received nothing for a whole
// PingTimeout; while frames keep arriving, the check keeps waiting. A busy
// relay is never torn down, and its streams never cut, for being busy.

// Options configure a relay. Zero values take the defaults.
type Options struct {
	// PingInterval is how often the relay is checked end to end (1s).
	PingInterval time.Duration
	// PingTimeout is how long a check may take before the connection is
	// given up (2s). Registration has the same bound plus the dial's.
	PingTimeout time.Duration
	// MaxBackoff caps the wait between reconnection attempts (2s).
	MaxBackoff time.Duration
	// DialTimeout bounds each dial of the relay node (10s).
	DialTimeout time.Duration
	// AtNode names the relay node, for status; optional.
	AtNode string
}

// State is where a relay is in its life.
type State string

// Relay states.
const (
	// Connecting: dialing and registering, at the start or after a failure.
	Connecting State = "connecting"
	// Up: registered, and answering its end-to-end checks.
	Up State = "up"
	// Stopped: closed, by Close or by the node's shutdown.
	Stopped State = "stopped"
)

// Status is a snapshot of a relay.
type Status struct {
	Name string `json:"name"`
	// At is the relay node's listener address; AtNode its name, when known.
	At     string `json:"at"`
	AtNode string `json:"at_node,omitempty"`
	State  State  `json:"state"`
	// Forwarder is the forwarder's address at the relay node once
	// registered ("forward_to_n3").
	Forwarder string `json:"forwarder,omitempty"`
	// Connection is the local address of the connection in use.
	Connection string `json:"connection,omitempty"`
	// Registrations counts successful registrations: more than one means
	// the relay recovered.
	Registrations int    `json:"registrations"`
	LastError     string `json:"last_error,omitempty"`
}

// Relay is a node's registration at a relay node.
type Relay struct {
	node  *runtime.Node
	name  string
	at    string
	opts  Options
	addr  routing.Address
	inbox chan []byte
	ready chan struct{} // closed at the first registration
	// ctx is cancelled by Close and by the node's shutdown.
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	// down is the outage while the relay cannot register.
	down outage.Tracker
	// count is what the relay did (counters.go).
	count counters

	mu     sync.Mutex
	status Status // guarded by mu
}

// relayInbox is the relay's worker: it hands replies to the relay's loop.
type relayInbox struct{ ch chan []byte }

func (w relayInbox) HandleMessage(_ *runtime.Context, m *runtime.Routed) error {
	select {
	case w.ch <- m.Payload:
	default: // the loop is not waiting: a late reply
	}
	return nil
}

// Start registers name, for node n, at the relay node listening on at, and
// keeps the registration alive until the relay or the node is closed.
func Start(n *runtime.Node, name, at string, opts Options) (*Relay, error) {
	if err := routing.ValidRelayName(name); err != nil {
		return nil, fmt.Errorf("relay %q: %w", name, err)
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = time.Second
	}
	if opts.PingTimeout <= 0 {
		opts.PingTimeout = 2 * time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 2 * time.Second
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 10 * time.Second
	}
	r := &Relay{
		node: n, name: name, at: at, opts: opts,
		addr:   routing.LocalAddress(runtime.RandomAddress()),
		inbox:  make(chan []byte, 4),
		ready:  make(chan struct{}),
		done:   make(chan struct{}),
		status: Status{Name: name, At: at, AtNode: opts.AtNode, State: Connecting},
	}
	if err := n.StartWorker(r.addr.Value, relayInbox{r.inbox}); err != nil {
		return nil, err
	}
	r.ctx, r.cancel = context.WithCancel(n.Context())
	n.Go(func() {
		defer close(r.done)
		defer n.StopWorker(r.addr.Value)
		r.loop()
	})
	return r, nil
}

// Ready is closed once the relay has registered for the first time.
func (r *Relay) Ready() <-chan struct{} { return r.ready }

// Status returns a snapshot of the relay.
func (r *Relay) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// Close stops the relay and waits for it.
func (r *Relay) Close() {
	r.cancel()
	<-r.done
}

func (r *Relay) update(f func(s *Status)) {
	r.mu.Lock()
	f(&r.status)
	r.mu.Unlock()
}

func (r *Relay) loop() {
	log := r.node.Logger().With("relay", r.name, "at", r.at)
	var backoff time.Duration
	for {
		registered, err := r.session()
		if r.ctx.Err() != nil {
			r.update(func(s *Status) { s.State = Stopped })
			return
		}
		if registered {
			backoff = 0
			r.count.reconnects.Add(1)
		} else {
			r.count.failedAttempts.Add(1)
		}
		backoff = min(max(2*backoff, 50*time.Millisecond), r.opts.MaxBackoff)
		wait := jitter(backoff)
		if warn, failures := r.down.Failed(time.Now()); warn && !r.node.Quiet() {
			log.Warn("relay down, reconnecting", "error", err, "retry_in", wait, "failed_attempts", failures)
		} else {
			log.Debug("relay still down, reconnecting", "error", err, "retry_in", wait)
		}
		r.update(func(s *Status) {
			s.State, s.Connection, s.LastError = Connecting, "", err.Error()
		})
		select {
		case <-time.After(wait):
		case <-r.ctx.Done():
		}
	}
}

// jitter returns a duration from d/2 to d, so that many relays cut off at
// once do not come back in step.
func jitter(d time.Duration) time.Duration {
	if d < 2 {
		return d
	}
	n, err := rand.Int(rand.Reader, big.NewInt(int64(d/2)))
	if err != nil {
		return d
	}
	return d/2 + time.Duration(n.Int64())
}

var errRelayStopped = errors.New("relay stopped")

// session connects, registers and checks the relay until something fails.
// registered says whether it got as far as a registration.
func (r *Relay) session() (registered bool, err error) {
	ctx := r.ctx
	dialCtx, dialCancel := context.WithTimeout(ctx, r.opts.DialTimeout)
	// A connection of its own: a failed check closes it without cutting
	// anyone else's traffic, and nobody else's dial makes it less than
	// inbound.
	conn, err := tcp.Connect(dialCtx, r.node, r.at, tcp.ConnectOptions{Inbound: true, Dedicated: true})
	dialCancel()
	if err != nil {
		return false, err
	}
	for len(r.inbox) > 0 {
		<-r.inbox
	}
	reg := routing.Route{conn.Address(), routing.LocalAddress(routing.StaticRelayService)}
	reply, err := r.roundTrip(ctx, conn, reg, wire.EncodeString(r.name))
	if err != nil {
		conn.Close()
		return false, fmt.Errorf("register: %w", err)
	}
	fwd, err := wire.String(reply)
	if err != nil || !strings.HasSuffix(fwd, r.name) {
		conn.Close()
		return false, fmt.Errorf("register: unexpected reply %q", reply)
	}
	r.update(func(s *Status) {
		s.State, s.Forwarder, s.Connection, s.LastError = Up, fwd, conn.Address().Value, ""
		s.Registrations++
	})
	r.count.registrations.Add(1)
	select {
	case <-r.ready:
	default:
		close(r.ready)
	}
	if was, lasted, failures := r.down.Mended(time.Now()); was {
		r.node.Logger().Info("relay is back: registered again", "relay", r.name, "at", r.at, "forwarder", fwd,
			"down_for", lasted.Round(time.Millisecond), "failed_attempts", failures)
	} else {
		r.node.Logger().Info("relay registered", "relay", r.name, "at", r.at, "forwarder", fwd)
	}

	ping := routing.Route{conn.Address(), routing.LocalAddress(fwd), r.addr}
	tick := time.NewTicker(r.opts.PingInterval)
	defer tick.Stop()
	var nonce [8]byte
	for {
		select {
		case <-tick.C:
		case <-conn.Done():
			return true, errors.New("connection closed")
		case <-ctx.Done():
			r.closeConn(conn)
			return true, errRelayStopped
		}
		start := time.Now()
		binary.BigEndian.PutUint64(nonce[:], uint64(start.UnixNano()))
		if err := r.check(ctx, conn, ping, wire.AppendBytes(nil, nonce[:])); err != nil {
			if ctx.Err() != nil {
				r.closeConn(conn)
				return true, errRelayStopped
			}
			conn.Close()
			return true, fmt.Errorf("end-to-end check: %w", err)
		}
		// The answer is here: the round trip, off the data path.
		rtt := time.Since(start)
		r.count.lastRoundTrip.Store(int64(rtt))
		r.count.roundTrip.observe(rtt)
	}
}

// closeConn closes the relay's connection when the relay is closed, so
// that the relay node forgets the forwarder at once; the node's streams
// over it end first, telling their other ends through it. When the whole
// node closes, its transport closes the connection, after the streams over
// it have said Disconnect.
func (r *Relay) closeConn(conn runtime.Connection) {
	if r.node.Context().Err() == nil {
		r.node.Transports().CloseConnection(conn)
	}
}

// check sends one end-to-end check along ping and waits for its answer, for
// as long as the connection keeps receiving frames.
func (r *Relay) check(ctx context.Context, conn runtime.Connection, ping routing.Route, payload []byte) error {
	sent := false
	for {
		heard := conn.Received()
		wctx, cancel := context.WithTimeout(ctx, r.opts.PingTimeout)
		var err error
		if !sent {
			// The connection's queue may be full of data: waiting for room
			// is part of the check.
			err = r.node.Send(wctx, routing.Message{Onward: ping, Return: routing.Route{r.addr}, Payload: payload})
			sent = err == nil
		}
		if sent {
			err = r.await(wctx, conn, payload)
		}
		cancel()
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case wctx.Err() == nil:
			return err // the connection closed, or the send failed outright
		case conn.Received() == heard:
			return fmt.Errorf("no answer within %s, and nothing else heard from the relay node", r.opts.PingTimeout)
		}
		// Frames arrived while we waited: the peer is alive and busy.
	}
}

// roundTrip sends payload along onward with the relay's worker as return
// route and waits for one reply.
func (r *Relay) roundTrip(ctx context.Context, conn runtime.Connection, onward routing.Route, payload []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.PingTimeout)
	defer cancel()
	err := r.node.Send(ctx, routing.Message{Onward: onward, Return: routing.Route{r.addr}, Payload: payload})
	if err != nil {
		return nil, err
	}
	select {
	case p := <-r.inbox:
		return p, nil
	case <-conn.Done():
		return nil, errors.New("connection closed")
	case <-ctx.Done():
		return nil, fmt.Errorf("no answer within %s", r.opts.PingTimeout)
	}
}

// await waits for the answer to a check whose payload was want; answers
// to earlier checks are skipped.
func (r *Relay) await(ctx context.Context, conn runtime.Connection, want []byte) error {
	for {
		select {
		case p := <-r.inbox:
			if string(p) == string(want) {
				return nil
			}
		case <-conn.Done():
			return errors.New("connection closed")
		case <-ctx.Done():
			// An answer that came as the time ran out counts: select
			// picks either when both are ready.
			select {
			case p := <-r.inbox:
				if string(p) == string(want) {
					return nil
				}
			default:
			}
			return fmt.Errorf("no answer within %s", r.opts.PingTimeout)
		}
	}
}
