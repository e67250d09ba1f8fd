package runtime

import (
	"context"
	"fmt"
	"time"

	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/wire"
)

// A channel's two sides keep each other alive, as Ockam's sessions do
// above its channels: the initiator sends a keepalive through the channel
// to the echo service of the responder's node whenever it has heard
// nothing for KeepAlive.Every, and either side closes a channel that has
// heard nothing for KeepAlive.DeadAfter. This is what finds a channel
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

func (keepAliveSink) Inline() bool                          { return true }
func (keepAliveSink) HandleMessage(*Context, *Routed) error { return nil }

// secureKeepAlive runs until the node closes, checking the channels every
// half KeepAlive.Every.
func (n *Node) secureKeepAlive(k KeepAlive, sink string) {
	t := time.NewTicker(k.Every / 2)
	defer t.Stop()
	for {
		select {
		case <-n.closing:
			return
		case <-t.C:
		}
		s := &n.secure
		s.mu.Lock()
		all := make([]*secureChannel, 0, len(s.channels))
		for _, c := range s.channels {
			all = append(all, c)
		}
		s.mu.Unlock()
		for _, c := range all {
			quiet := time.Since(time.Unix(0, c.heard.Load()))
			switch {
			case quiet > k.DeadAfter:
				c.close(true, fmt.Sprintf("no word from the other side for %s", quiet.Round(time.Millisecond)))
			case c.initiator && quiet >= k.Every:
				ctx, cancel := context.WithTimeout(n.ctx, k.Every/2)
				_ = n.route(ctx, &Routed{Message: routing.Message{
					Onward:  routing.Route{routing.LocalAddress(c.encAddr), routing.LocalAddress(routing.EchoService)},
					Return:  routing.Route{routing.LocalAddress(sink)},
					Payload: keepAlivePayload,
				}})
				cancel()
			}
		}
	}
}
