package nodetest

import (
	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/routing"
)

// Recorder is a worker that keeps what it receives, on C, and answers
// each message with its payload. C holds 16 messages; a seventeenth
// waits for a test to take one.
type Recorder struct {
	C chan routing.Message
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{C: make(chan routing.Message, 16)} }

// HandleMessage keeps m and echoes its payload.
func (r *Recorder) HandleMessage(ctx *runtime.Context, m *runtime.Routed) error {
	r.C <- m.Message
	return ctx.Reply(m, m.Payload)
}
