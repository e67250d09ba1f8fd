package portal

import (
	"net"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime/nodetest"
)

// A target that cannot be reached resets the client's connection: an
// error, as dialing the target itself would give, not an empty stream
// that ends cleanly.
func TestPortalTargetDownResetsTheClient(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	p := newPortalPath(t, dead)
	c, err := net.Dial("tcp", p.inlet.Addr())
	if err != nil && !nodetest.IsReset(err) {
		t.Fatal(err)
	}
	if err == nil {
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 1)); n != 0 || !nodetest.IsReset(err) {
			t.Fatalf("read = %d, %v; want a reset", n, err)
		}
	}
	p.logs1.WaitLog(t, "the outlet refused the stream")
}
