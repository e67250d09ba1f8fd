package portal

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime/nodetest"
)

// Portal counters: streams, bytes each way, refused streams, credit stalls.
func TestPortalCounters(t *testing.T) {
	t.Parallel()
	p := newPortalPath(t, nodetest.ServeTCP(t, nodetest.EchoServer))
	const size = 1 << 20
	if err := nodetest.RoundTripStream(p.inlet.Addr(), size); err != nil {
		t.Fatal(err)
	}
	nodetest.WaitFor(t, "the stream to end at both ends", func() bool {
		return p.inlet.Counters().StreamsOpen == 0 && p.outlet.Counters().StreamsOpen == 0
	})
	in, out := p.inlet.Counters(), p.outlet.Counters()
	if in.Streams != 1 || out.Streams != 1 {
		t.Errorf("streams: inlet %d, outlet %d; want 1 each", in.Streams, out.Streams)
	}
	if in.BytesIn != size || in.BytesOut != size || out.BytesIn != size || out.BytesOut != size {
		t.Errorf("bytes: inlet %+v, outlet %+v; want %d each way", in, out, size)
	}
	if in.Refused != 0 || out.Refused != 0 {
		t.Errorf("refused: inlet %d, outlet %d; want 0", in.Refused, out.Refused)
	}
}

// A stream whose target does not read stalls for credit once it has sent
// a window, and the stall is counted.
func TestPortalCreditStallCounted(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	p := newPortalPath(t, nodetest.ServeTCP(t, func(c *net.TCPConn) {
		<-release
		io.Copy(io.Discard, c)
	}))
	c, err := net.Dial("tcp", p.inlet.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Far more than a window and the sockets' buffers can hold.
	go c.Write(make([]byte, 16<<20))
	nodetest.WaitFor(t, "a credit stall at the inlet", func() bool { return p.inlet.Counters().CreditStalls > 0 })
	close(release)
}

func TestPortalRefusedCounted(t *testing.T) {
	t.Parallel()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	p := newPortalPath(t, dead)
	// The refused stream resets the client's connection, which may come
	// before the dial has returned.
	c, err := net.Dial("tcp", p.inlet.Addr())
	if err != nil && !nodetest.IsReset(err) {
		t.Fatal(err)
	}
	if err == nil {
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !nodetest.IsReset(err) {
			t.Fatalf("read: %v; want the connection closed", err)
		}
	}
	nodetest.WaitFor(t, "the refusals counted", func() bool {
		return p.inlet.Counters().Refused == 1 && p.outlet.Counters().Refused == 1
	})
}
