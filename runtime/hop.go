package runtime

import "github.com/ockamtop/ockamtop/runtime/routing"

// Hop forwards every message to the next address of its onward route,
// after removing its own address from the front of the onward route and
// adding it to the front of the return route, so that replies come back
// through it: the seeds' Hop worker.
type Hop struct{}

var (
	_ Worker  = Hop{}
	_ Splicer = Hop{}
)

// Inline says a hop runs on its sender's goroutine: it only forwards.
func (Hop) Inline() bool { return true }

// HandleMessage steps the onward route, prepends itself to the return route
// and forwards the message.
func (Hop) HandleMessage(ctx *Context, msg *Routed) error {
	msg.Onward = msg.Onward[1:]
	msg.Return = msg.Return.Prepend(ctx.Address())
	return ctx.Forward(msg)
}

// Splice passes a spliced payload on, past the hop: it only changes routes.
func (Hop) Splice(onward routing.Route) SpliceTarget {
	return SpliceTarget{Mode: SplicePass, Next: onward[1:]}
}
