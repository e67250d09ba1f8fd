package securechannel

import (
	"errors"
	"fmt"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/secure"
)

// encryptor is the worker at a channel's encryptor address. It is inline:
// it runs on its senders' goroutines (portal streams, which are inline
// too), as a hop does, with no mailbox between.
type encryptor struct{ c *channel }

var _ runtime.Worker = (*encryptor)(nil)

// Inline says the encryptor runs on its sender's goroutine.
func (*encryptor) Inline() bool { return true }

// HandleMessage encrypts msg, its onward route past the encryptor
// included, and sends it to the other side's decryptor.
func (e *encryptor) HandleMessage(ctx *runtime.Context, msg *runtime.Routed) error {
	c := e.c
	c.flow.ExpectReplies(msg.Return)
	c.encMu.Lock()
	// The nonce, then the plaintext sealed in place: in the buffer the
	// payload lives in when it has room around it (a portal chunk as its
	// stream read it), otherwise in a buffer of its own. A pooled buffer
	// goes with the sealed message, and the connection gives it back once
	// it has sent it.
	taken := msg.TakeBuffer()
	buf := sealInPlace(msg, taken, &c.head)
	pooled := taken
	if buf == nil {
		need := secure.Overhead + secure.PayloadRoom(msg.Onward, msg.Return, len(msg.Payload))
		if pooled = runtime.GetBuffer(need); pooled != nil {
			buf = (*pooled)[:8]
		} else {
			buf = make([]byte, 8, need)
		}
		buf = secure.AppendPayload(buf, msg.Onward[1:], msg.Return, msg.Payload)
		runtime.PutBuffer(taken)
	}
	if n := c.enc.Nonce(); n > 0 && n%secure.RekeyInterval == 0 {
		c.s.counters.rekeys.Add(1)
	}
	sealed, err := c.enc.Seal(buf[:0], buf[8:])
	if err == nil {
		c.s.counters.sealed.Add(1)
		err = ctx.Forward(runtime.NewRouted(routing.Message{
			Onward:  c.remoteRoute(),
			Return:  routing.Route{},
			Payload: sealed,
		}, nil, pooled, nil))
	}
	c.encMu.Unlock()
	if errors.Is(err, secure.ErrNonceExhausted) {
		c.close(false, err.Error())
		return err
	}
	if c.initiator && (errors.Is(err, runtime.ErrNoSuchAddress) || errors.Is(err, runtime.ErrWorkerStopped)) {
		// The connection to the other side is gone: so is the channel,
		// and the next user of the route makes a new one. A responder
		// waits to learn its new way back from the initiator's next
		// message; what it sends until then is lost.
		c.close(false, "its route is gone")
		return fmt.Errorf("secure channel %s: %w", c.encAddr, ErrClosed)
	}
	if err != nil {
		return fmt.Errorf("secure channel %s: %w", c.encAddr, err)
	}
	return nil
}

// sealInPlace lays msg out as a Payload's plaintext, with room for the
// nonce before it, in buf, the pooled buffer its payload lives in, when
// that buffer has room on both sides (a portal stream leaves it): the
// plaintext's head goes before the payload and its padding after it, and
// nothing is copied. It returns the nonce's room and the plaintext, or
// nil when msg must be copied. head is scratch room for the plaintext's
// head.
func sealInPlace(msg *runtime.Routed, buf *[]byte, head *[]byte) []byte {
	p := msg.Payload
	if buf == nil || len(p) < sealInPlaceMin {
		return nil
	}
	whole := (*buf)[:cap(*buf)]
	off := len(whole) - cap(p)
	if off < 0 || &whole[off] != &p[0] {
		return nil // the payload is not in msg's buffer
	}
	end := off + len(p)
	*head = secure.AppendPayloadHead((*head)[:0], msg.Onward[1:], msg.Return, len(p))
	start := off - len(*head) - 8
	if start < 0 || len(whole)-end < 1+secure.Overhead {
		return nil
	}
	copy(whole[off-len(*head):off], *head)
	whole[end] = secure.PayloadPadding
	return whole[start : end+1]
}

// sealInPlaceMin is the smallest payload sealInPlace takes: copying less
// costs next to nothing.
const sealInPlaceMin = 1 << 10

// decryptor is the worker at a channel's decryptor address: it runs the
// handshake, then decrypts. It is inline: it runs on the goroutine of the
// connection that brings the message, as a forwarder does, so that a busy
// channel never stops that connection from reading.
type decryptor struct{ c *channel }

var _ runtime.Worker = (*decryptor)(nil)

// Inline says the decryptor runs on its sender's goroutine.
func (*decryptor) Inline() bool { return true }

func (d *decryptor) HandleMessage(ctx *runtime.Context, msg *runtime.Routed) error {
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
		if err := ctx.Forward(out); err != nil {
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
func (c *channel) handshake(ctx *runtime.Context, msg *runtime.Routed) error {
	now := time.Now()
	s := c.s
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
		remote, err = c.node.Resolve(c.node.Context(), remote)
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
		c.s.counters.refused.Add(1)
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
func (c *channel) decrypt(msg *runtime.Routed) (out *runtime.Routed, closed bool) {
	// In place: the plaintext, and the payload it holds, stay in the
	// frame's buffer, which goes on with the message.
	plain, nonce, err := c.dec.OpenInPlace(msg.Payload)
	if err != nil {
		c.s.counters.failures.Add(1)
		c.log.Warn("secure channel message dropped", "error", err)
		return nil, false
	}
	c.heard.Store(time.Now().UnixNano())
	m, err := secure.DecodeMessage(plain)
	if err != nil {
		c.s.counters.failures.Add(1)
		c.log.Warn("secure channel message dropped: bad plaintext", "nonce", nonce, "error", err)
		return nil, false
	}
	c.s.counters.opened.Add(1)
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
	return runtime.NewRouted(routing.Message{
		Onward:  m.Onward,
		Return:  m.Return.Prepend(routing.LocalAddress(c.encAddr)),
		Payload: m.Body,
	}, c.flow, msg.TakeBuffer(), nil), false
}
