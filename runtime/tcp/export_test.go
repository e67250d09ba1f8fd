package tcp

import "github.com/ockamtop/ockamtop/runtime"

// What the package's external tests see of its inside.

// IOBufferSize is a connection's read and write buffer.
const IOBufferSize = ioBufferSize

// Queued reports whether messages wait in c's worker's mailbox.
func Queued(c runtime.Connection) bool { return !c.(*connection).w.Idle() }

// HoldsReadBuffer reports whether c's reader holds a read buffer.
func HoldsReadBuffer(c runtime.Connection) bool { return c.(*connection).reading.Load() }
