package runtime

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime/routing"
)

// namedServer answers every connection with its name, then echoes.
func namedServer(t testing.TB, name string) string {
	return serveTCP(t, func(c *net.TCPConn) {
		if _, err := c.Write([]byte(name)); err != nil {
			return
		}
		echoServer(c)
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
	other, err := p.n1.StartInlet("other", "127.0.0.1:0", p.inlet.way.Load().route, InletOptions{})
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
	waitFor(t, "the outlet's stream to end", func() bool { return p.outlet.Streams() == 1 })
	ln, err := Bind(addr)
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
	if _, err := p.n3.StartOutlet("outlet2", namedServer(t, "B"), OutletOptions{}); err != nil {
		t.Fatal(err)
	}
	old, name := openNamedStream(t, p.inlet.Addr())
	if name != "A" {
		t.Fatalf("first stream reached %q", name)
	}
	route := routing.Route{routing.TCPAddress(p.n2Addr), routing.LocalAddress("forward_to_n3"), routing.LocalAddress("outlet2")}
	p.inlet.SetRoute(func() (routing.Route, error) { return route, nil }, PortalWindow)
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
	if _, err := p.n3.StartOutlet("outlet", namedServer(t, "B"), OutletOptions{}); err != nil {
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

// A listener closed on its own frees its port; the connections it
// accepted stay up.
func TestListenerCloseKeepsConnections(t *testing.T) {
	n2, _ := testNode(t, "n2", Options{})
	ln, err := Bind("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := n2.ListenOn(ln)
	if err != nil {
		t.Fatal(err)
	}
	n1, _ := testNode(t, "n1", Options{})
	conn := connect(t, n1, l.Addr())
	if got := sendString(t, n1, routing.Route{conn.Address(), routing.LocalAddress("echo")}, "hi"); got != "hi" {
		t.Fatalf("echo: %q", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Bind(l.Addr())
	if err != nil {
		t.Fatalf("the closed listener's port is still taken: %v", err)
	}
	again.Close()
	if got := sendString(t, n1, routing.Route{conn.Address(), routing.LocalAddress("uppercase")}, "still"); got != "STILL" {
		t.Fatalf("over the accepted connection: %q", got)
	}
	if _, err := n1.Connect(context.Background(), l.Addr(), ConnectOptions{Dedicated: true}); err == nil {
		t.Fatal("a new connection to the closed listener succeeded")
	}
}

// Disallow undoes Allow, and leaves a service a service.
func TestDisallow(t *testing.T) {
	responder, _ := testNode(t, "responder", Options{})
	if err := responder.StartWorker("mine", newRecorder()); err != nil {
		t.Fatal(err)
	}
	addr := listen(t, responder)
	initiator, _ := testNode(t, "initiator", Options{})
	conn := connect(t, initiator, addr)
	to := func(name string) routing.Route { return routing.Route{conn.Address(), routing.LocalAddress(name)} }

	responder.Allow("mine")
	if got := sendString(t, initiator, to("mine"), "allowed"); got != "allowed" {
		t.Fatalf("allowed: %q", got)
	}
	responder.Disallow("mine")
	// A new connection: "mine" answered over the first one, and consumes
	// its flow now, as any worker that sent over a connection does.
	fresh, err := initiator.Connect(context.Background(), addr, ConnectOptions{Dedicated: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := trySend(initiator, routing.Route{fresh.Address(), routing.LocalAddress("mine")}, "x", 200*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("after Disallow: %v, want no reply", err)
	}
	responder.Allow("echo")
	responder.Disallow("echo")
	if got := sendString(t, initiator, to("echo"), "service"); got != "service" {
		t.Fatalf("echo after Disallow: %q", got)
	}
}

// A relay closed on its own ends the streams that go over it, at both
// ends, at once: the client of the inlet, two nodes away, sees its
// connection closed, rather than after the streams' keepalive (30 s).
func TestRelayCloseEndsItsStreams(t *testing.T) {
	p := newPortalPath(t, namedServer(t, "A"))
	c, _ := openNamedStream(t, p.inlet.Addr())
	echoes(t, c, "before")
	start := time.Now()
	p.n3.CloseConnection(p.relay) // what the relay client's Close does
	closedByPeer(t, c)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the stream ended %s after the relay closed", took)
	}
	waitFor(t, "the outlet's stream to end", func() bool { return p.outlet.Streams() == 0 })
	waitFor(t, "the inlet's stream to end", func() bool { return p.inlet.Streams() == 0 })
}
