package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/secure"
)

// secureHandshakeTimeout bounds a handshake, on either side.
const secureHandshakeTimeout = 10 * time.Second

// secureChannel is one side of a channel: its decryptor (which also runs
// the handshake) and, once established, its encryptor.
type secureChannel struct {
	node      *Node
	initiator bool
	decAddr   string
	encAddr   string
	// label is the route to the listener (initiator) or the listener's
	// name (responder).
	label string
	log   hclog.Logger
	// flow is what decrypted messages carry (see secure_channel.go).
	flow *flow

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

	// dec is used by the decryptor's goroutine only.
	dec *secure.Decryptor

	encMu sync.Mutex
	enc   *secure.Encryptor // guarded by encMu

	mu     sync.Mutex
	remote routing.Route // guarded by mu: where encrypted messages go
	newest uint64        // guarded by mu: the nonce remote was learnt from
	closed bool          // guarded by mu
}

func (c *secureChannel) remoteRoute() routing.Route {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.remote
}

// newSecureChannel starts the decryptor of a new channel side.
func (n *Node) newSecureChannel(initiator bool, label string, hs *secure.Handshake, trusted func(secure.Identifier) bool) (*secureChannel, error) {
	c := &secureChannel{
		node:        n,
		initiator:   initiator,
		decAddr:     RandomAddress(),
		encAddr:     RandomAddress(),
		label:       label,
		hs:          hs,
		flow:        &flow{},
		established: make(chan struct{}),
		failed:      make(chan error, 1),
		trusted:     trusted,
	}
	c.flow.id = c.decAddr
	c.flow.inbound.Store(!initiator)
	role := "responder"
	if initiator {
		role = "initiator"
	}
	c.log = n.log.With("secure_channel", c.encAddr, "role", role)
	if !n.secure.addPending(c) {
		return nil, fmt.Errorf("secure channel: %d handshakes under way already", maxPendingHandshakes)
	}
	if _, err := n.startWorker(c.decAddr, &secureDecryptor{c: c}, false); err != nil {
		n.secure.removePending(c)
		return nil, fmt.Errorf("start secure channel decryptor: %w", err)
	}
	c.timer = time.AfterFunc(secureHandshakeTimeout, func() {
		c.fail(errors.New("handshake timed out"))
	})
	return c, nil
}

// openSecureChannel runs the initiator's side of a handshake over route.
//
// Message 1 may be lost on the way (a relay not registered again yet
// drops it), and nothing tells the initiator: an attempt that gets no
// answer is given up after a wait that doubles from firstHandshakeWait,
// and a new one starts, until ctx ends. An answer that comes late goes to
// a decryptor that is gone, and the responder's side times out.
func (n *Node) openSecureChannel(ctx context.Context, route routing.Route, label string) (*secureChannel, error) {
	for wait := firstHandshakeWait; ; wait = min(2*wait, secureHandshakeTimeout) {
		actx, cancel := context.WithTimeout(ctx, wait)
		c, err := n.handshake(actx, route, label)
		cancel()
		if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			return c, err
		}
		n.log.Debug("no answer to a secure channel handshake; trying again", "route", label, "waited", wait)
	}
}

// firstHandshakeWait is how long the first attempt at a handshake waits
// for message 2.
const firstHandshakeWait = time.Second

// handshake makes one attempt at opening a channel over route.
func (n *Node) handshake(ctx context.Context, route routing.Route, label string) (*secureChannel, error) {
	s := &n.secure
	hs, err := secure.NewHandshake(true, s.static)
	if err != nil {
		return nil, err
	}
	m1, err := hs.WriteMessage1(nil)
	if err != nil {
		return nil, err
	}
	c, err := n.newSecureChannel(true, label, hs, nil)
	if err != nil {
		return nil, err
	}
	err = n.route(ctx, &Routed{Message: routing.Message{
		Onward:  route,
		Return:  routing.Route{routing.LocalAddress(c.decAddr)},
		Payload: m1,
	}})
	if err != nil {
		c.fail(err)
		return nil, fmt.Errorf("secure channel to %s: send handshake: %w", route.Brief(), err)
	}
	select {
	case <-c.established:
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

// fail ends a channel whose handshake did not finish.
func (c *secureChannel) fail(err error) {
	select {
	case <-c.established:
		return
	default:
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	c.timer.Stop()
	c.node.secure.removePending(c)
	_ = c.node.StopWorker(c.decAddr)
	c.log.Debug("secure channel handshake failed", "error", err)
	select {
	case c.failed <- err:
	default:
	}
}

// establish finishes the handshake: keys, encryptor, registration.
func (c *secureChannel) establish(peer *secure.PeerIdentity, remote routing.Route) error {
	keys, err := c.hs.Split()
	if err != nil {
		return err
	}
	c.hs = nil
	c.peer = peer.Identifier
	c.dec = secure.NewDecryptor(keys.Decrypt)
	c.enc = secure.NewEncryptor(keys.Encrypt)
	if !c.timer.Stop() {
		return errors.New("handshake timed out")
	}
	c.mu.Lock()
	c.remote = remote
	c.mu.Unlock()
	if _, err := c.node.startWorker(c.encAddr, &secureEncryptor{c: c}, false); err != nil {
		return fmt.Errorf("start secure channel encryptor: %w", err)
	}
	c.node.secure.register(c)
	close(c.established)
	return nil
}

// close ends this side. With tell, the other side gets a Close first.
func (c *secureChannel) close(tell bool, why string) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	remote := c.remote
	c.mu.Unlock()
	if tell {
		c.encMu.Lock()
		sealed, err := c.enc.Seal(nil, secure.AppendClose(nil))
		c.encMu.Unlock()
		if err == nil {
			ctx, cancel := context.WithTimeout(c.node.ctx, time.Second)
			_ = c.node.route(ctx, &Routed{Message: routing.Message{Onward: remote, Return: routing.Route{}, Payload: sealed}})
			cancel()
		}
	}
	c.node.secure.unregister(c)
	_ = c.node.StopWorker(c.encAddr)
	_ = c.node.StopWorker(c.decAddr)
	c.log.Info("secure channel closed", "peer", c.peer.String(), "reason", why)
}

// secureEncryptor is the worker at a channel's encryptor address.
type secureEncryptor struct{ c *secureChannel }

var _ Worker = (*secureEncryptor)(nil)

// HandleMessage encrypts msg, its onward route past the encryptor
// included, and sends it to the other side's decryptor.
func (e *secureEncryptor) HandleMessage(ctx *Context, msg *Routed) error {
	c := e.c
	c.recordRepliers(msg.Return)
	plain := secure.AppendPayload(make([]byte, 0, len(msg.Payload)+64), msg.Onward[1:], msg.Return, msg.Payload)
	msg.release()
	c.encMu.Lock()
	sealed, err := c.enc.Seal(make([]byte, 0, len(plain)+secure.Overhead), plain)
	c.encMu.Unlock()
	if err != nil {
		c.close(false, err.Error())
		return err
	}
	err = c.node.route(context.Background(), &Routed{Message: routing.Message{
		Onward:  c.remoteRoute(),
		Return:  routing.Route{},
		Payload: sealed,
	}})
	if errors.Is(err, ErrNoSuchAddress) || errors.Is(err, ErrWorkerStopped) {
		// The connection to the other side is gone: so is the channel.
		c.close(false, "its route is gone")
		return fmt.Errorf("secure channel %s: %w", c.encAddr, ErrSecureChannelClosed)
	}
	return err
}

// recordRepliers makes the local workers at the head of ret consumers of
// the channel's flow: what the other side sends back may reach them.
func (c *secureChannel) recordRepliers(ret routing.Route) {
	for _, a := range ret {
		if !a.IsLocal() {
			return
		}
		w := c.node.lookup(a.Value)
		if w == nil || w.transport {
			return
		}
		w.flows.add(c.flow.id)
	}
}

// secureDecryptor is the worker at a channel's decryptor address: it runs
// the handshake, then decrypts.
type secureDecryptor struct{ c *secureChannel }

var _ Worker = (*secureDecryptor)(nil)

func (d *secureDecryptor) HandleMessage(ctx *Context, msg *Routed) error {
	c := d.c
	select {
	case <-c.established:
		return c.decrypt(msg)
	default:
	}
	if err := c.handshake(ctx, msg); err != nil {
		c.fail(err)
		return err
	}
	return nil
}

// handshake takes message 2 (initiator) or 3 (responder).
func (c *secureChannel) handshake(ctx *Context, msg *Routed) error {
	now := time.Now()
	s := &c.node.secure
	if c.initiator {
		p2, err := c.hs.ReadMessage2(msg.Payload)
		if err != nil {
			return fmt.Errorf("handshake message 2: %w", err)
		}
		peer, err := secure.VerifyHandshakePayload(p2, c.hs.RemoteStatic().Bytes(), now)
		if err != nil {
			return fmt.Errorf("handshake message 2: %w", err)
		}
		m3, err := c.hs.WriteMessage3(secure.HandshakePayload(s.id, s.att))
		if err != nil {
			return err
		}
		// Message 3 goes before anything the channel carries can: the
		// responder takes the first message after 2 as 3.
		remote := msg.Return.Clone()
		if err := ctx.Send(remote, m3); err != nil {
			return fmt.Errorf("send handshake message 3: %w", err)
		}
		return c.establish(peer, remote)
	}
	p3, err := c.hs.ReadMessage3(msg.Payload)
	if err != nil {
		return fmt.Errorf("handshake message 3: %w", err)
	}
	peer, err := secure.VerifyHandshakePayload(p3, c.hs.RemoteStatic().Bytes(), now)
	if err != nil {
		return fmt.Errorf("handshake message 3: %w", err)
	}
	if c.trusted != nil && !c.trusted(peer.Identifier) {
		c.log.Warn("secure channel refused: the initiator's identifier is not trusted", "identifier", peer.Identifier.String(), "listener", c.label)
		return fmt.Errorf("listener %s: %s: %w", c.label, peer.Identifier, ErrUntrusted)
	}
	if err := c.establish(peer, msg.Return.Clone()); err != nil {
		return err
	}
	c.log.Info("secure channel accepted", "peer", peer.Identifier.String(), "listener", c.label)
	return nil
}

// decrypt takes an encrypted message. One that fails is dropped and
// logged; the channel goes on.
func (c *secureChannel) decrypt(msg *Routed) error {
	plain, nonce, err := c.dec.Open(nil, msg.Payload)
	if err != nil {
		c.log.Warn("secure channel message dropped", "error", err)
		return nil
	}
	msg.release()
	m, err := secure.DecodeMessage(plain)
	if err != nil {
		c.log.Warn("secure channel message dropped: bad plaintext", "nonce", nonce, "error", err)
		return nil
	}
	switch m.Kind {
	case secure.Close:
		c.close(false, "the other side closed it")
		return nil
	case secure.RefreshCredentials:
		p, err := secure.VerifyChangeHistory(m.ChangeHistory)
		if err != nil || p.Identifier != c.peer {
			c.log.Warn("secure channel: refused a credentials refresh", "error", err)
		}
		return nil
	}
	if !c.initiator {
		// Ockam's responder re-learns its way back from every newer
		// message: it may have moved (a relay that re-registered).
		c.mu.Lock()
		if nonce > c.newest && len(c.remote) > 0 {
			c.remote = msg.Return.Clone().Append(c.remote[len(c.remote)-1])
			c.newest = nonce
		}
		c.mu.Unlock()
	}
	if len(m.Onward) == 0 {
		c.log.Warn("secure channel message dropped: empty onward route", "nonce", nonce)
		return nil
	}
	out := &Routed{
		Message: routing.Message{
			Onward:  m.Onward,
			Return:  m.Return.Prepend(routing.LocalAddress(c.encAddr)),
			Payload: m.Body,
		},
		flow: c.flow,
	}
	if err := c.node.route(context.Background(), out); err != nil {
		return fmt.Errorf("secure channel %s: deliver: %w", c.encAddr, err)
	}
	return nil
}
