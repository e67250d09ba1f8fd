package portal

import (
	"testing"

	"github.com/ockamtop/ockamtop/runtime/nodetest"
)

// A wait for a socket that its peer reset reports the reset: the peek it
// waits with takes the socket's error, and the read that follows would see
// a clean end instead.
func TestWaitReadableReportsAReset(t *testing.T) {
	client, server := nodetest.TCPPair(t)
	_ = server.SetLinger(0)
	_ = server.Close()
	if err := waitReadable(client); !nodetest.IsReset(err) {
		t.Fatalf("waitReadable of a reset socket: %v, want the reset", err)
	}
}
