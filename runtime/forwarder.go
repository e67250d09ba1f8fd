package runtime

import (
	"errors"

	"github.com/ockamtop/ockamtop/runtime/routing"
)

// Forwarder sends every message on along a fixed route: it removes its own
// address from the front of the onward route and puts its route there. The
// return route is left alone. This is the seeds' "Relay" worker of the
// two-hop transport example (forward_to_responder), and what a relay's
// forward_to_NAME worker does.
type Forwarder struct {
	route routing.Route
}

var (
	_ Worker  = (*Forwarder)(nil)
	_ Splicer = (*Forwarder)(nil)
)

// NewForwarder returns a forwarder to route, which must not be empty.
func NewForwarder(route routing.Route) (*Forwarder, error) {
	if len(route) == 0 {
		return nil, errors.New("forwarder: empty route")
	}
	return &Forwarder{route: route.Clone()}, nil
}

// Inline says a forwarder runs on its sender's goroutine: it only forwards.
func (*Forwarder) Inline() bool { return true }

// HandleMessage replaces the forwarder's own address with its route.
func (f *Forwarder) HandleMessage(ctx *Context, msg *Routed) error {
	msg.Onward = msg.Onward[1:].Prepend(f.route...)
	return ctx.Forward(msg)
}

// Splice passes a spliced payload on, along the forwarder's route: it only
// changes routes.
func (f *Forwarder) Splice(routing.Route) SpliceTarget {
	return SpliceTarget{Mode: SplicePass, Next: f.route}
}
