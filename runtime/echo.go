package runtime

// Echo answers every message with its payload, unchanged, along the
// message's return route: the seeds' Echoer.
type Echo struct{}

var _ Worker = Echo{}

// Inline says echo runs on its sender's goroutine: it only replies, and an
// idle one (every node has one) costs no goroutine.
func (Echo) Inline() bool { return true }

// HandleMessage replies with the payload.
func (Echo) HandleMessage(ctx *Context, msg *Routed) error {
	return ctx.Reply(msg, msg.Payload)
}
