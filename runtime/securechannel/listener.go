package securechannel

import (
	"context"
	"fmt"
	"slices"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/secure"
)

// ListenerOptions configure a secure channel listener.
type ListenerOptions struct {
	// Trust lists the identifiers that may open a channel; nil trusts
	// anyone, as Ockam's listener does by default.
	Trust []secure.Identifier
}

// listener is a secure channel listener: it takes handshake message 1 and
// starts a responder for it.
type listener struct {
	s     *Channels
	name  string
	trust []secure.Identifier
}

var _ runtime.Worker = (*listener)(nil)

// Listen starts a secure channel listener, a service of the node at name
// (Ockam's default is DefaultListener). Stop it as any worker, with the
// node's StopWorker.
func (s *Channels) Listen(name string, opts ListenerOptions) error {
	if err := s.init(); err != nil {
		return fmt.Errorf("secure channel listener %s: %w", name, err)
	}
	l := &listener{s: s, name: name, trust: slices.Clone(opts.Trust)}
	if err := s.node.StartService(name, l); err != nil {
		return fmt.Errorf("secure channel listener: %w", err)
	}
	return nil
}

func (l *listener) trusted(id secure.Identifier) bool {
	return l.trust == nil || slices.Contains(l.trust, id)
}

// HandleMessage reads message 1 and answers with message 2 from a new
// responder's decryptor.
func (l *listener) HandleMessage(_ *runtime.Context, msg *runtime.Routed) error {
	s := l.s
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
	c, err := s.newChannel(false, l.name, hs, l.trusted)
	if err != nil {
		return err
	}
	err = s.node.Send(context.Background(), routing.Message{
		Onward:  msg.Return,
		Return:  routing.Route{routing.LocalAddress(c.decAddr)},
		Payload: m2,
	})
	if err != nil {
		c.fail(err)
		return fmt.Errorf("secure channel listener %s: send handshake message 2: %w", l.name, err)
	}
	return nil
}
