package portal

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/nodetest"
	"github.com/ockamtop/ockamtop/runtime/routing"
)

// namedServer answers every connection with its name, then echoes.
func namedServer(t testing.TB, name string) string {
	return nodetest.ServeTCP(t, func(c *net.TCPConn) {
		if _, err := c.Write([]byte(name)); err != nil {
			return
		}
		nodetest.EchoServer(c)
	})
}

// openStream connects to an inlet and reads the target's name.
func openNamedStream(t testing.TB, addr string) (net.Conn, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 1)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("stream through %s: %v", addr, err)
	}
	return c, string(buf)
}

// echoes checks that a stream still carries data both ways.
func echoes(t testing.TB, c net.Conn, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
		t.Fatalf("echo of %q: %q, %v", msg, buf, err)
	}
}

// closedByPeer checks that the other end closed a stream.
func closedByPeer(t testing.TB, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatalf("read %d bytes from a stream that should be closed", n)
	} else if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the stream was not closed")
	}
}

// Stopping an inlet on its own ends its streams (the outlet hears of it),
// frees its port and joins its goroutines; another inlet of the node and
// the node itself go on.
func TestInletStop(t *testing.T) {
	p := newPortalPath(t, namedServer(t, "A"))
	other, err := StartInlet(p.n1, "other", "127.0.0.1:0", p.inlet.way.Load().route, InletOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := openNamedStream(t, p.inlet.Addr())
	echoes(t, c, "before")
	kept, _ := openNamedStream(t, other.Addr())

	addr := p.inlet.Addr()
	p.inlet.Stop()
	closedByPeer(t, c)
	if n := p.inlet.Streams(); n != 0 {
		t.Errorf("%d streams after Stop", n)
	}
	nodetest.WaitFor(t, "the outlet's stream to end", func() bool { return p.outlet.Streams() == 1 })
	ln, err := runtime.Bind(addr)
	if err != nil {
		t.Fatalf("the stopped inlet's port is still taken: %v", err)
	}
	ln.Close()
	p.inlet.Stop() // twice is fine

	echoes(t, kept, "other inlet")
	c2, name := openNamedStream(t, other.Addr())
	if name != "A" {
		t.Fatalf("other inlet reached %q", name)
	}
	echoes(t, c2, "new stream")
}

// A new route is taken by new connections; the streams open already stay
// on theirs.
func TestInletSetRoute(t *testing.T) {
	p := newPortalPath(t, namedServer(t, "A"))
	if _, err := StartOutlet(p.n3, "outlet2", namedServer(t, "B"), OutletOptions{}); err != nil {
		t.Fatal(err)
	}
	old, name := openNamedStream(t, p.inlet.Addr())
	if name != "A" {
		t.Fatalf("first stream reached %q", name)
	}
	route := routing.Route{routing.TCPAddress(p.n2Addr), routing.LocalAddress("forward_to_n3"), routing.LocalAddress("outlet2")}
	p.inlet.SetRoute(func() (routing.Route, error) { return route, nil }, DefaultWindow)
	c, name := openNamedStream(t, p.inlet.Addr())
	if name != "B" {
		t.Fatalf("after SetRoute, a new stream reached %q", name)
	}
	echoes(t, c, "new")
	echoes(t, old, "old stream, old route")
}

// Stopping an outlet ends its streams (the inlet's client sees its
// connection closed) and its address; the node goes on.
func TestOutletStop(t *testing.T) {
	p := newPortalPath(t, namedServer(t, "A"))
	c, _ := openNamedStream(t, p.inlet.Addr())
	echoes(t, c, "before")
	p.outlet.Stop()
	closedByPeer(t, c)
	if p.n3.HasWorker("outlet") {
		t.Error("the stopped outlet's address still has a worker")
	}
	if n := p.outlet.Streams(); n != 0 {
		t.Errorf("%d streams after Stop", n)
	}
	p.outlet.Stop()
	// A new outlet may take the address at once.
	if _, err := StartOutlet(p.n3, "outlet", namedServer(t, "B"), OutletOptions{}); err != nil {
		t.Fatal(err)
	}
	c2, name := openNamedStream(t, p.inlet.Addr())
	if name != "B" {
		t.Fatalf("new outlet: reached %q", name)
	}
	echoes(t, c2, "after")
}

// A new target is dialed by new streams; the streams open already stay
// with theirs.
func TestOutletSetTarget(t *testing.T) {
	p := newPortalPath(t, namedServer(t, "A"))
	old, _ := openNamedStream(t, p.inlet.Addr())
	p.outlet.SetTarget(namedServer(t, "B"))
	c, name := openNamedStream(t, p.inlet.Addr())
	if name != "B" {
		t.Fatalf("after SetTarget, a new stream reached %q", name)
	}
	echoes(t, c, "new")
	echoes(t, old, "old")
}

// A relay closed on its own ends the streams that go over it, at both
// ends, at once: the client of the inlet, two nodes away, sees its
// connection closed, rather than after the streams' keepalive (30 s).
func TestRelayCloseEndsItsStreams(t *testing.T) {
	p := newPortalPath(t, namedServer(t, "A"))
	c, _ := openNamedStream(t, p.inlet.Addr())
	echoes(t, c, "before")
	start := time.Now()
	p.relay.Close()
	closedByPeer(t, c)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the stream ended %s after the relay closed", took)
	}
	nodetest.WaitFor(t, "the outlet's stream to end", func() bool { return p.outlet.Streams() == 0 })
	nodetest.WaitFor(t, "the inlet's stream to end", func() bool { return p.inlet.Streams() == 0 })
}
