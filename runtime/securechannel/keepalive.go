package securechannel

import (
	"context"
	"fmt"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/wire"
)

// A channel's two sides keep each other alive, as Ockam's sessions do
// above its channels: the initiator sends a keepalive through the channel
// to the echo service of the responder's node whenever it has heard
// nothing for KeepAlive.Every, and either side closes a channel that has
// heard nothing for KeepAlive.DeadAfter (Options.KeepAlive). This is what finds a channel
// whose other side is gone without a Close (its node restarted, or the
// relay in between did and the initiator made a new channel): the
// initiator's next user then gets a new handshake, and the responder does
// not keep a dead channel forever. A channel that carries traffic sends no
// keepalive.

// keepAlivePayload is what a keepalive sends to the echo service.
var keepAlivePayload = wire.EncodeString("ockamtop: secure channel keepalive")

// keepAliveSink takes the echo of keepalives: hearing it is what counts,
// and the decryptor has noted it already.
type keepAliveSink struct{}

func (keepAliveSink) Inline() bool                                          { return true }
func (keepAliveSink) HandleMessage(*runtime.Context, *runtime.Routed) error { return nil }

// keepAlive runs until the node closes, checking the channels every half
// KeepAlive.Every.
func (s *Channels) keepAlive(sink string) {
	n := s.node
	every, deadAfter := s.opts.KeepAlive.Every, s.opts.KeepAlive.DeadAfter
	t := time.NewTicker(every / 2)
	defer t.Stop()
	for {
		select {
		case <-n.Context().Done():
			return
		case <-t.C:
		}
		for _, c := range s.all() {
			quiet := time.Since(time.Unix(0, c.heard.Load()))
			switch {
			case quiet > deadAfter:
				c.close(true, fmt.Sprintf("no word from the other side for %s", quiet.Round(time.Millisecond)))
			case c.initiator && quiet >= every:
				ctx, cancel := context.WithTimeout(n.Context(), every/2)
				_ = n.Send(ctx, routing.Message{
					Onward:  routing.Route{routing.LocalAddress(c.encAddr), routing.LocalAddress(routing.EchoService)},
					Return:  routing.Route{routing.LocalAddress(sink)},
					Payload: keepAlivePayload,
				})
				cancel()
			}
		}
	}
}
