package portal

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/nodetest"
)

// parked counts a set's parked streams.
func parked(ss *streamSet) int {
	ss.mu.Lock()
	p := ss.parker
	ss.mu.Unlock()
	if p == nil {
		return 0
	}
	return p.count()
}

// An idle stream parks at both ends (no goroutine waits for its socket)
// and wakes when its socket has something: data, which goes through as
// before, or its end, which ends the stream. A parked stream that closes
// leaves no record behind, and an outlet that stops with parked streams
// ends them and its parker.
func TestPortalIdleStreamParks(t *testing.T) {
	if !parkSupported {
		t.Skip("no epoll here: idle readers restart instead")
	}
	p := newPortalPathOpts(t, nodetest.ServeTCP(t, nodetest.EchoServer), InletOptions{KeepAlive: runtime.KeepAlive{Every: 40 * time.Millisecond, DeadAfter: time.Minute}})
	p.inlet.streamSet.idleRestart.Store(int64(20 * time.Millisecond))
	p.outlet.streamSet.idleRestart.Store(int64(20 * time.Millisecond))
	roundTrip := func(c net.Conn, word string) {
		t.Helper()
		if _, err := c.Write([]byte(word)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(word))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != word {
			t.Fatalf("round trip: %q, %v", buf, err)
		}
	}
	bothParked := func(n int) func() bool {
		return func() bool { return parked(&p.inlet.streamSet) == n && parked(&p.outlet.streamSet) == n }
	}
	c, err := net.Dial("tcp", p.inlet.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	for _, word := range []string{"hello", "again", "and again"} {
		roundTrip(c, word) // a parked stream wakes for it
		nodetest.WaitFor(t, "both ends to park", bothParked(1))
	}

	// A parker that ends while its set runs (never seen but for this
	// test) wakes its streams, and none parks from then on: the stream
	// goes on with a reader waiting.
	p.inlet.streamSet.mu.Lock()
	pk := p.inlet.streamSet.parker
	p.inlet.streamSet.mu.Unlock()
	pk.close()
	nodetest.WaitFor(t, "the inlet's stream to wake", func() bool { return parked(&p.inlet.streamSet) == 0 && !p.inlet.streamSet.canPark() })
	roundTrip(c, "no parker")

	// Its end wakes it too, and it closes, parked no more.
	c.(*net.TCPConn).CloseWrite()
	if rest, err := io.ReadAll(c); err != nil || len(rest) != 0 {
		t.Fatalf("after the half-close: %q, %v", rest, err)
	}
	nodetest.WaitFor(t, "the stream to close", func() bool { return p.inlet.Streams() == 0 && p.outlet.Streams() == 0 })
	if !bothParked(0)() {
		t.Fatalf("closed streams still parked: %d at the inlet, %d at the outlet", parked(&p.inlet.streamSet), parked(&p.outlet.streamSet))
	}

	// The outlet stops with a parked stream: the stream ends, and so does
	// the parker (goleak checks the goroutines).
	c2, err := net.Dial("tcp", p.inlet.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.SetDeadline(time.Now().Add(30 * time.Second))
	roundTrip(c2, "hi")
	nodetest.WaitFor(t, "the outlet's end to park", func() bool { return parked(&p.outlet.streamSet) == 1 })
	p.outlet.Stop()
	_, _ = io.ReadAll(c2) // ended, one way or another
	nodetest.WaitFor(t, "the stream to close", func() bool { return p.outlet.Streams() == 0 && p.inlet.Streams() == 0 })
	if n := parked(&p.outlet.streamSet); n != 0 {
		t.Fatalf("the stopped outlet has %d parked streams", n)
	}
}
