package runtime

import (
	"context"
	"fmt"
	"slices"

	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/secure"
)

// SecureChannelListenerOptions configure a secure channel listener.
type SecureChannelListenerOptions struct {
	// Trust lists the identifiers that may open a channel; nil trusts
	// anyone, as Ockam's listener does by default.
	Trust []secure.Identifier
}

// secureListener is a secure channel listener: it takes handshake
// message 1 and starts a responder for it.
type secureListener struct {
	name  string
	trust []secure.Identifier
}

var _ Worker = (*secureListener)(nil)

// StartSecureChannelListener starts a secure channel listener, a service
// at name (Ockam's default is DefaultSecureChannelListener).
func (n *Node) StartSecureChannelListener(name string, opts SecureChannelListenerOptions) error {
	if _, err := n.secureInit(); err != nil {
		return fmt.Errorf("secure channel listener %s: %w", name, err)
	}
	l := &secureListener{name: name, trust: slices.Clone(opts.Trust)}
	if err := n.StartService(name, l); err != nil {
		return fmt.Errorf("secure channel listener: %w", err)
	}
	return nil
}

func (l *secureListener) trusted(id secure.Identifier) bool {
	return l.trust == nil || slices.Contains(l.trust, id)
}

// HandleMessage reads message 1 and answers with message 2 from a new
// responder's decryptor.
func (l *secureListener) HandleMessage(ctx *Context, msg *Routed) error {
	n := ctx.Node()
	s := &n.secure
	hs, err := secure.NewHandshake(false, s.static)
	if err != nil {
		return err
	}
	if _, err := hs.ReadMessage1(msg.Payload); err != nil {
		return fmt.Errorf("secure channel listener %s: handshake message 1 from %s: %w", l.name, msg.Return.Brief(), err)
	}
	m2, err := hs.WriteMessage2(secure.HandshakePayload(s.id, s.att))
	if err != nil {
		return err
	}
	c, err := n.newSecureChannel(false, l.name, hs, l.trusted)
	if err != nil {
		return err
	}
	err = n.route(context.Background(), &Routed{Message: routing.Message{
		Onward:  msg.Return,
		Return:  routing.Route{routing.LocalAddress(c.decAddr)},
		Payload: m2,
	}})
	if err != nil {
		c.fail(err)
		return fmt.Errorf("secure channel listener %s: send handshake message 2: %w", l.name, err)
	}
	return nil
}
