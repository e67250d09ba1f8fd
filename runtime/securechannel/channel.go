package securechannel

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/secure"
)

// handshakeTimeout bounds a handshake, on either side.
const handshakeTimeout = 10 * time.Second

// channel is one side of a channel: its decryptor (which also runs the
// handshake) and, once established, its encryptor.
type channel struct {
	s         *Channels
	node      *runtime.Node
	initiator bool
	decAddr   string
	encAddr   string
	// label is the route to the listener (initiator) or the listener's
	// name (responder).
	label string
	// toListener is the initiator's route to the listener.
	toListener routing.Route
	// heard is when the other side was last heard from (UnixNano).
	heard atomic.Int64
	log   hclog.Logger
	// flow is what decrypted messages carry; the workers that sent
	// through the channel are consumers of it until it closes (see
	// channels.go).
	flow *runtime.Flow

	// Set by the handshake, read-only after established is closed.
	hs          *secure.Handshake
	peer        secure.Identifier
	established chan struct{}
	// failed carries the handshake's error to the initiator.
	failed chan error
	// trusted is the responder's check of the initiator.
	trusted func(secure.Identifier) bool
	// timer ends a handshake that takes too long.
	timer *time.Timer

	// decMu serializes the decryptor: the handshake, then dec. The
	// decryptor runs on the goroutines of the connections that bring
	// its messages, usually one.
	decMu sync.Mutex
	dec   *secure.Decryptor // guarded by decMu

	// encMu is held from sealing a message to handing it to the next
	// hop, so that the nonces leave in order.
	encMu sync.Mutex
	enc   *secure.Encryptor // guarded by encMu
	head  []byte            // scratch for sealInPlace, guarded by encMu

	mu     sync.Mutex
	remote routing.Route // guarded by mu: where encrypted messages go
	newest uint64        // guarded by mu: the nonce remote was learnt from
	closed bool          // guarded by mu
	up     bool          // guarded by mu: the handshake is done
	// gone is closed when an established channel closes.
	gone chan struct{}
}

func (c *channel) remoteRoute() routing.Route {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.remote
}

// newChannel starts the decryptor of a new channel side.
func (s *Channels) newChannel(initiator bool, label string, hs *secure.Handshake, trusted func(secure.Identifier) bool) (*channel, error) {
	n := s.node
	c := &channel{
		s:           s,
		node:        n,
		initiator:   initiator,
		decAddr:     runtime.RandomAddress(),
		encAddr:     runtime.RandomAddress(),
		label:       label,
		hs:          hs,
		established: make(chan struct{}),
		failed:      make(chan error, 1),
		gone:        make(chan struct{}),
		trusted:     trusted,
	}
	c.flow = n.NewFlow(c.decAddr, !initiator)
	c.heard.Store(time.Now().UnixNano())
	role := "responder"
	if initiator {
		role = "initiator"
	}
	c.log = n.Logger().With("secure_channel", c.encAddr, "role", role)
	if !s.addPending(c) {
		return nil, fmt.Errorf("secure channel: %d handshakes under way already", maxPendingHandshakes)
	}
	c.timer = time.AfterFunc(handshakeTimeout, func() {
		c.fail(errors.New("handshake timed out"))
	})
	// A responder's decryptor takes what comes through the node's
	// listeners and relays, as the listener does: the initiator's next
	// message may come over a relay connection made since the handshake.
	start := n.StartWorker
	if !initiator {
		start = n.StartService
	}
	if err := start(c.decAddr, &decryptor{c: c}); err != nil {
		c.timer.Stop()
		s.removePending(c)
		return nil, fmt.Errorf("start secure channel decryptor: %w", err)
	}
	return c, nil
}

// open runs the initiator's side of a handshake over route.
//
// Message 1 may be lost on the way (a relay not registered again yet
// drops it), and nothing tells the initiator: an attempt that gets no
// answer is given up after a wait that doubles from firstHandshakeWait,
// and a new one starts, until ctx ends. An answer that comes late goes to
// a decryptor that is gone, and the responder's side times out.
func (s *Channels) open(ctx context.Context, route routing.Route, label string) (*channel, error) {
	for wait := firstHandshakeWait; ; wait = min(2*wait, handshakeTimeout) {
		actx, cancel := context.WithTimeout(ctx, wait)
		c, err := s.handshake(actx, route, label)
		cancel()
		if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			return c, err
		}
		s.node.Logger().Debug("no answer to a secure channel handshake; trying again", "route", label, "waited", wait)
	}
}

// firstHandshakeWait is how long the first attempt at a handshake waits
// for message 2.
const firstHandshakeWait = time.Second

// handshake makes one attempt at opening a channel over route.
func (s *Channels) handshake(ctx context.Context, route routing.Route, label string) (*channel, error) {
	hs, err := secure.NewHandshake(true, s.static)
	if err != nil {
		return nil, err
	}
	m1, err := hs.WriteMessage1(nil)
	if err != nil {
		return nil, err
	}
	c, err := s.newChannel(true, label, hs, nil)
	if err != nil {
		return nil, err
	}
	c.toListener = route
	err = s.node.Send(ctx, routing.Message{
		Onward:  route,
		Return:  routing.Route{routing.LocalAddress(c.decAddr)},
		Payload: m1,
	})
	if err != nil {
		c.fail(err)
		return nil, fmt.Errorf("secure channel to %s: send handshake: %w", route.Brief(), err)
	}
	select {
	case <-c.established:
		if err := c.confirm(ctx); err != nil {
			c.close(false, err.Error())
			return nil, fmt.Errorf("secure channel to %s: %w", route.Brief(), err)
		}
		c.s.counters.handshakes.Add(1) // an initiator's counts once confirmed
		c.log.Info("secure channel established", "peer", c.peer.String(), "route", label)
		return c, nil
	case err := <-c.failed:
		return nil, fmt.Errorf("secure channel to %s: %w", route.Brief(), err)
	case <-ctx.Done():
		c.fail(ctx.Err())
		select {
		case <-c.established: // it won the race
			return c, nil
		default:
		}
		return nil, fmt.Errorf("secure channel to %s: %w", route.Brief(), ctx.Err())
	}
}

// confirm waits until the responder has accepted the channel: an echo of
// its node's echo service through the channel, which only an accepted
// channel carries. A responder that refuses says so with a Close (an
// Ockam one, silently refusing, is not heard from): until then the
// initiator reports no channel, and then it says why, naming the
// listener and the identifier it was refused.
func (c *channel) confirm(ctx context.Context) error {
	n := c.node
	inbox := &replyInbox{ch: make(chan []byte, 1)}
	name := runtime.RandomAddress()
	if err := n.StartWorker(name, inbox); err != nil {
		return err
	}
	defer n.StopWorker(name)
	err := n.Send(ctx, routing.Message{
		Onward:  routing.Route{routing.LocalAddress(c.encAddr), routing.LocalAddress(routing.EchoService)},
		Return:  routing.Route{routing.LocalAddress(name)},
		Payload: keepAlivePayload,
	})
	id := c.s.id.Identifier
	refused := func() error {
		c.s.counters.refused.Add(1)
		c.log.Warn("secure channel refused by the listener", "listener", c.label, "identifier", id.String())
		return fmt.Errorf("the listener refused identifier %s: %w", id, ErrRefused)
	}
	if err != nil {
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if closed { // the listener's Close came first, and took the encryptor
			return refused()
		}
		return fmt.Errorf("confirm the channel: %w", err)
	}
	select {
	case <-inbox.ch:
		return nil
	case <-c.gone:
		return refused()
	case <-ctx.Done():
		c.s.counters.refused.Add(1)
		c.log.Warn("secure channel not completed: the listener did not confirm it", "listener", c.label, "identifier", id.String())
		return fmt.Errorf("the listener did not confirm it for identifier %s (%v): %w", id, ctx.Err(), ErrRefused)
	case <-n.Context().Done():
		return runtime.ErrNodeClosed
	}
}

// replyInbox is the worker that takes the echo confirm waits for.
type replyInbox struct{ ch chan []byte }

func (r *replyInbox) HandleMessage(_ *runtime.Context, m *runtime.Routed) error {
	select {
	case r.ch <- m.Payload:
	default: // a second reply: the first one was taken
	}
	return nil
}

// refuse tells the initiator, whose message 3 was read, that its channel
// is refused: a Close sealed with the keys of the handshake, which is all
// that message 3's return route can take from here.
func (c *channel) refuse(back routing.Route) {
	keys, err := c.hs.Split()
	if err != nil {
		return
	}
	sealed, err := secure.NewEncryptor(keys.Encrypt).Seal(nil, secure.AppendClose(nil))
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(c.node.Context(), time.Second)
	defer cancel()
	_ = c.node.Send(ctx, routing.Message{Onward: back, Payload: sealed})
}

// fail ends a channel whose handshake did not finish.
func (c *channel) fail(err error) {
	c.mu.Lock()
	if c.closed || c.up {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	c.timer.Stop()
	c.s.removePending(c)
	_ = c.node.StopWorker(c.decAddr)
	c.log.Debug("secure channel handshake failed", "error", err)
	select {
	case c.failed <- err:
	default:
	}
}

// establish finishes the handshake: keys, encryptor, registration.
func (c *channel) establish(peer *secure.PeerIdentity, remote routing.Route) error {
	keys, err := c.hs.Split()
	if err != nil {
		return err
	}
	c.hs = nil
	c.peer = peer.Identifier
	c.dec = secure.NewDecryptor(keys.Decrypt)
	c.enc = secure.NewEncryptor(keys.Encrypt)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errors.New("handshake abandoned")
	}
	c.remote, c.up = remote, true
	c.mu.Unlock()
	c.timer.Stop()
	if err := c.node.StartWorker(c.encAddr, &encryptor{c: c}); err != nil {
		c.mu.Lock()
		c.up = false // so that fail ends it
		c.mu.Unlock()
		return fmt.Errorf("start secure channel encryptor: %w", err)
	}
	c.s.register(c)
	if !c.initiator {
		c.s.counters.handshakes.Add(1)
	}
	close(c.established)
	return nil
}

// close ends this side. With tell, the other side gets a Close first.
func (c *channel) close(tell bool, why string) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	remote := c.remote
	c.mu.Unlock()
	// Told last, when the channel is gone from the node's list too.
	defer close(c.gone)
	if tell {
		c.encMu.Lock()
		sealed, err := c.enc.Seal(nil, secure.AppendClose(nil))
		if err == nil {
			ctx, cancel := context.WithTimeout(c.node.Context(), time.Second)
			_ = c.node.Send(ctx, routing.Message{Onward: remote, Return: routing.Route{}, Payload: sealed})
			cancel()
		}
		c.encMu.Unlock()
	}
	c.s.unregister(c)
	_ = c.node.StopWorker(c.encAddr)
	_ = c.node.StopWorker(c.decAddr)
	c.flow.Close()
	c.log.Info("secure channel closed", "peer", c.peer.String(), "reason", why)
}
