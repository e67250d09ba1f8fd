package runtime

// Echo answers every message with its payload, unchanged, along the
// message's return route: the seeds' Echoer.
type Echo struct{}

var _ Worker = Echo{}

// HandleMessage replies with the payload.
func (Echo) HandleMessage(ctx *Context, msg *Routed) error {
	return ctx.Reply(msg, msg.Payload)
}
