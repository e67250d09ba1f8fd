package runtime

import (
	"fmt"
	"strings"

	"github.com/ockamtop/ockamtop/runtime/wire"
)

// Uppercase answers a BARE string with the same string in upper case, as
// Ockam's uppercase service does ("hello" -> "HELLO").
type Uppercase struct{}

var _ Worker = Uppercase{}

// Inline says uppercase runs on its sender's goroutine: it only replies,
// and an idle one (every node has one) costs no goroutine.
func (Uppercase) Inline() bool { return true }

// HandleMessage replies with the uppercased string. A payload that is not a
// BARE string is dropped with an error.
func (Uppercase) HandleMessage(ctx *Context, msg *Routed) error {
	s, err := wire.String(msg.Payload)
	if err != nil {
		return fmt.Errorf("uppercase: %w", err)
	}
	return ctx.Reply(msg, wire.EncodeString(strings.ToUpper(s)))
}
