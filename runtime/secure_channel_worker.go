package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
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
	node *Node
	// repliers are the workers that sent through the channel, consumers
	// of its flow until it closes.
	repliers  repliers
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
		gone:        make(chan struct{}),
		trusted:     trusted,
	}
	c.flow.id = c.decAddr
	c.heard.Store(time.Now().UnixNano())
	c.flow.inbound.Store(!initiator)
	role := "responder"
	if initiator {
		role = "initiator"
	}
	c.log = n.log.With("secure_channel", c.encAddr, "role", role)
	if !n.secure.addPending(c) {
		return nil, fmt.Errorf("secure channel: %d handshakes under way already", maxPendingHandshakes)
	}
	c.timer = time.AfterFunc(secureHandshakeTimeout, func() {
		c.fail(errors.New("handshake timed out"))
	})
	// A responder's decryptor takes what comes through the node's
	// listeners and relays, as the listener does: the initiator's next
	// message may come over a relay connection made since the handshake.
	if _, err := n.startWorker(c.decAddr, &secureDecryptor{c: c}, !initiator); err != nil {
		c.timer.Stop()
		n.secure.removePending(c)
		return nil, fmt.Errorf("start secure channel decryptor: %w", err)
	}
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
	c.toListener = route
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
		if err := c.confirm(ctx); err != nil {
			c.close(false, err.Error())
			return nil, fmt.Errorf("secure channel to %s: %w", route.Brief(), err)
		}
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
func (c *secureChannel) confirm(ctx context.Context) error {
	n := c.node
	inbox := &replyInbox{ch: make(chan []byte, 1)}
	name := RandomAddress()
	if _, err := n.startWorker(name, inbox, false); err != nil {
		return err
	}
	defer n.StopWorker(name)
	err := n.route(ctx, &Routed{Message: routing.Message{
		Onward:  routing.Route{routing.LocalAddress(c.encAddr), routing.LocalAddress(routing.EchoService)},
		Return:  routing.Route{routing.LocalAddress(name)},
		Payload: keepAlivePayload,
	}})
	refused := func() error {
		c.log.Warn("secure channel refused by the listener", "listener", c.label, "identifier", n.secure.id.Identifier.String())
		return fmt.Errorf("the listener refused identifier %s: %w", n.secure.id.Identifier, ErrChannelRefused)
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
		c.log.Warn("secure channel not completed: the listener did not confirm it", "listener", c.label, "identifier", n.secure.id.Identifier.String())
		return fmt.Errorf("the listener did not confirm it for identifier %s (%v): %w", n.secure.id.Identifier, ctx.Err(), ErrChannelRefused)
	case <-n.closing:
		return ErrNodeClosed
	}
}

// refuse tells the initiator, whose message 3 was read, that its channel
// is refused: a Close sealed with the keys of the handshake, which is all
// that message 3's return route can take from here.
func (c *secureChannel) refuse(back routing.Route) {
	keys, err := c.hs.Split()
	if err != nil {
		return
	}
	sealed, err := secure.NewEncryptor(keys.Encrypt).Seal(nil, secure.AppendClose(nil))
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(c.node.ctx, time.Second)
	defer cancel()
	_ = c.node.route(ctx, &Routed{Message: routing.Message{Onward: back, Payload: sealed}})
}

// fail ends a channel whose handshake did not finish.
func (c *secureChannel) fail(err error) {
	c.mu.Lock()
	if c.closed || c.up {
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
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errors.New("handshake abandoned")
	}
	c.remote, c.up = remote, true
	c.mu.Unlock()
	c.timer.Stop()
	if _, err := c.node.startWorker(c.encAddr, &secureEncryptor{c: c}, false); err != nil {
		c.mu.Lock()
		c.up = false // so that fail ends it
		c.mu.Unlock()
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
	// Told last, when the channel is gone from the node's list too.
	defer close(c.gone)
	if tell {
		c.encMu.Lock()
		sealed, err := c.enc.Seal(nil, secure.AppendClose(nil))
		if err == nil {
			ctx, cancel := context.WithTimeout(c.node.ctx, time.Second)
			_ = c.node.route(ctx, &Routed{Message: routing.Message{Onward: remote, Return: routing.Route{}, Payload: sealed}})
			cancel()
		}
		c.encMu.Unlock()
	}
	c.node.secure.unregister(c)
	_ = c.node.StopWorker(c.encAddr)
	_ = c.node.StopWorker(c.decAddr)
	c.repliers.forget(c.flow)
	c.log.Info("secure channel closed", "peer", c.peer.String(), "reason", why)
}

// secureEncryptor is the worker at a channel's encryptor address. It is
// inline: it runs on its senders' goroutines (portal streams, which are
// inline too), as a hop does, with no mailbox between.
type secureEncryptor struct{ c *secureChannel }

var _ Worker = (*secureEncryptor)(nil)

// Inline says the encryptor runs on its sender's goroutine.
func (*secureEncryptor) Inline() bool { return true }

// HandleMessage encrypts msg, its onward route past the encryptor
// included, and sends it to the other side's decryptor.
func (e *secureEncryptor) HandleMessage(ctx *Context, msg *Routed) error {
	c := e.c
	c.repliers.record(c.node, c.flow, msg.Return)
	c.encMu.Lock()
	// The nonce, then the plaintext sealed in place: in the buffer the
	// payload lives in when it has room around it (a portal chunk as its
	// stream read it), otherwise in a buffer of its own. A pooled buffer
	// goes with the sealed message, and the connection gives it back once
	// it has sent it.
	buf, pooled := sealInPlace(msg, &c.head)
	if buf == nil {
		if need := secure.Overhead + secure.PayloadRoom(msg.Onward, msg.Return, len(msg.Payload)); need <= largeBufferSize {
			pooled = getBufferFor(max(need, pooledFrameMin))
			buf = (*pooled)[:8]
		} else {
			buf = make([]byte, 8, need)
		}
		buf = secure.AppendPayload(buf, msg.Onward[1:], msg.Return, msg.Payload)
		msg.release()
	}
	sealed, err := c.enc.Seal(buf[:0], buf[8:])
	if err == nil {
		err = c.node.route(context.Background(), &Routed{Message: routing.Message{
			Onward:  c.remoteRoute(),
			Return:  routing.Route{},
			Payload: sealed,
		}, buf: pooled})
	}
	c.encMu.Unlock()
	if errors.Is(err, secure.ErrNonceExhausted) {
		c.close(false, err.Error())
		return err
	}
	if c.initiator && (errors.Is(err, ErrNoSuchAddress) || errors.Is(err, ErrWorkerStopped)) {
		// The connection to the other side is gone: so is the channel,
		// and the next user of the route makes a new one. A responder
		// waits to learn its new way back from the initiator's next
		// message; what it sends until then is lost.
		c.close(false, "its route is gone")
		return fmt.Errorf("secure channel %s: %w", c.encAddr, ErrSecureChannelClosed)
	}
	if err != nil {
		return fmt.Errorf("secure channel %s: %w", c.encAddr, err)
	}
	return nil
}

// sealInPlace lays msg out as a Payload's plaintext, with room for the
// nonce before it, in the buffer its payload lives in, when that buffer
// has room on both sides (a portal stream leaves it: payloadHeadroom):
// the plaintext's head goes before the payload and its padding after it,
// and nothing is copied. It returns the nonce's room and the plaintext,
// with msg's buffer, now the caller's; or nil when msg must be copied.
// head is scratch room for the plaintext's head.
func sealInPlace(msg *Routed, head *[]byte) ([]byte, *[]byte) {
	p := msg.Payload
	if msg.buf == nil || msg.sp != nil || len(p) < sealInPlaceMin {
		return nil, nil
	}
	whole := (*msg.buf)[:cap(*msg.buf)]
	off := len(whole) - cap(p)
	if off < 0 || &whole[off] != &p[0] {
		return nil, nil // the payload is not in msg's buffer
	}
	end := off + len(p)
	*head = secure.AppendPayloadHead((*head)[:0], msg.Onward[1:], msg.Return, len(p))
	start := off - len(*head) - 8
	if start < 0 || len(whole)-end < 1+secure.Overhead {
		return nil, nil
	}
	copy(whole[off-len(*head):off], *head)
	whole[end] = secure.PayloadPadding
	pooled := msg.buf
	msg.buf = nil
	return whole[start : end+1], pooled
}

// sealInPlaceMin is the smallest payload sealInPlace takes: copying less
// costs next to nothing.
const sealInPlaceMin = 1 << 10

// secureDecryptor is the worker at a channel's decryptor address: it runs
// the handshake, then decrypts. It is inline: it runs on the goroutine of
// the connection that brings the message, as a forwarder does, so that a
// busy channel never stops that connection from reading.
type secureDecryptor struct{ c *secureChannel }

var _ Worker = (*secureDecryptor)(nil)

// Inline says the decryptor runs on its sender's goroutine.
func (*secureDecryptor) Inline() bool { return true }

func (d *secureDecryptor) HandleMessage(ctx *Context, msg *Routed) error {
	c := d.c
	c.decMu.Lock()
	select {
	case <-c.established:
		out, closed := c.decrypt(msg)
		c.decMu.Unlock()
		if closed {
			c.close(false, "the other side closed it")
		}
		if out == nil {
			return nil
		}
		if err := c.node.route(context.Background(), out); err != nil {
			return fmt.Errorf("secure channel %s: deliver: %w", c.encAddr, err)
		}
		return nil
	default:
	}
	err := c.handshake(ctx, msg)
	c.decMu.Unlock()
	if err != nil {
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
		// The way to the responder's decryptor is the way to its
		// listener: it follows a relay that registers again, where the
		// return route of message 2 names the relay node's end of the
		// relay's connection of the moment. Its first hop is resolved
		// now, so that the channel ends with that connection.
		if len(msg.Return) == 0 {
			return errors.New("handshake message 2 has an empty return route")
		}
		remote := append(c.toListener[:len(c.toListener)-1:len(c.toListener)-1], msg.Return[len(msg.Return)-1])
		remote, err = c.node.resolveNext(c.node.ctx, remote, false)
		if err != nil {
			return fmt.Errorf("route to the responder: %w", err)
		}
		// Message 3 goes before anything the channel carries can: the
		// responder takes the first message after 2 as 3.
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
		c.refuse(msg.Return.Clone())
		return fmt.Errorf("listener %s: %s: %w", c.label, peer.Identifier, ErrUntrusted)
	}
	if err := c.establish(peer, msg.Return.Clone()); err != nil {
		return err
	}
	c.log.Info("secure channel accepted", "peer", peer.Identifier.String(), "listener", c.label)
	return nil
}

// decrypt takes an encrypted message and returns the message to route
// on, if any, and whether the other side closed the channel. A message
// that fails is dropped and logged; the channel goes on. c.decMu is held.
func (c *secureChannel) decrypt(msg *Routed) (out *Routed, closed bool) {
	// In place: the plaintext, and the payload it holds, stay in the
	// frame's buffer, which goes on with the message.
	plain, nonce, err := c.dec.OpenInPlace(msg.Payload)
	if err != nil {
		c.log.Warn("secure channel message dropped", "error", err)
		return nil, false
	}
	c.heard.Store(time.Now().UnixNano())
	m, err := secure.DecodeMessage(plain)
	if err != nil {
		c.log.Warn("secure channel message dropped: bad plaintext", "nonce", nonce, "error", err)
		return nil, false
	}
	switch m.Kind {
	case secure.Close:
		return nil, true
	case secure.RefreshCredentials:
		p, err := secure.VerifyChangeHistory(m.ChangeHistory)
		if err != nil || p.Identifier != c.peer {
			c.log.Warn("secure channel: refused a credentials refresh", "error", err)
		}
		return nil, false
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
		return nil, false
	}
	out = &Routed{
		Message: routing.Message{
			Onward:  m.Onward,
			Return:  m.Return.Prepend(routing.LocalAddress(c.encAddr)),
			Payload: m.Body,
		},
		flow: c.flow,
		buf:  msg.buf,
	}
	msg.buf = nil
	return out, false
}
