package runtime

import (
	"context"
	"io"
	"net"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/wire"
)

// Failures that only show when something dies or misbehaves at the wrong
// moment: each ends cleanly, with nothing left behind.

// holdServer reads until EOF and never writes.
func holdServer(c *net.TCPConn) { io.Copy(io.Discard, c) }

// openStream connects a client through the inlet and waits for the outlet's
// end of its stream.
func openStream(t *testing.T, p *portalPath) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.inlet.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.Write([]byte("hi"))
	waitFor(t, "the stream to open", func() bool { return p.outlet.Streams() == 1 })
	return c
}

// expectClosed reads from a client whose stream should end.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); ok && ne.Timeout() || n > 0 {
		t.Fatalf("client read %d, %v: want its connection closed", n, err)
	}
}

// A node that closes tells the other end of its portal streams.
func TestPortalNodeCloseTellsTheOtherEnd(t *testing.T) {
	p := newPortalPath(t, serveTCP(t, holdServer))
	openStream(t, p)
	p.n1.Close()
	waitFor(t, "the outlet's stream to close", func() bool { return p.outlet.Streams() == 0 })
}

// An inlet that gives up waiting for the outlet answers a late Pong with
// Disconnect, so the outlet keeps no stream nobody uses.
func TestPortalPingTimeoutLeavesNoOrphan(t *testing.T) {
	// The outlet's dial of its target, and so its Pong, comes 100 ms
	// late: well after the inlet's 1 ms ping timeout, however loaded the
	// machine.
	target := serveTCP(t, holdServer)
	p := newPortalPathN3(t, target, InletOptions{PingTimeout: time.Millisecond},
		Options{Sockets: slowDial{to: target, by: 100 * time.Millisecond}})
	c, err := net.Dial("tcp", p.inlet.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	expectClosed(t, c)
	waitFor(t, "the outlet's late stream to close", func() bool { return p.outlet.Streams() == 0 })
}

// A node at the end that closes tells the client's end.
func TestPortalOutletNodeCloses(t *testing.T) {
	p := newPortalPath(t, serveTCP(t, holdServer))
	c := openStream(t, p)
	p.n3.Close()
	expectClosed(t, c)
	waitFor(t, "the inlet's stream to close", func() bool { return p.inlet.Streams() == 0 })
}

// When the node in the middle dies, it tells nobody about the streams
// through it: keepalives end them, and the client sees its connection
// closed.
func TestPortalMiddleNodeDies(t *testing.T) {
	p := newPortalPathOpts(t, serveTCP(t, holdServer), InletOptions{
		KeepAlive: KeepAlive{Every: 50 * time.Millisecond, DeadAfter: 300 * time.Millisecond},
	})
	c := openStream(t, p)
	p.n2.Close()
	expectClosed(t, c)
	waitFor(t, "the inlet's stream to close", func() bool { return p.inlet.Streams() == 0 })
}

// Closing a node while clients connect leaves no stream, goroutine or
// socket behind, and never panics.
func TestPortalCloseRacesNewStreams(t *testing.T) {
	target := serveTCP(t, holdServer)
	for iter := 0; iter < 50; iter++ {
		n := NewNode("n", Options{})
		if _, err := n.StartOutlet("outlet", target, OutletOptions{}); err != nil {
			t.Fatal(err)
		}
		in, err := n.StartInlet("web", "127.0.0.1:0", func() (routing.Route, error) { return local("outlet"), nil }, InletOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := 0; i < 10; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if c, err := net.Dial("tcp", in.Addr()); err == nil {
					c.Write([]byte("x"))
					c.Close()
				}
			}()
		}
		n.Close()
		wg.Wait()
	}
}

// lagProxy forwards to target; everything that comes back is held for lag
// first, as by a slow network.
func lagProxy(t *testing.T, target string, lag time.Duration) string {
	return slowProxy(t, target, lag, true)
}

// slowProxy forwards to target, holding back what comes back for delay:
// the first bytes only, or every read when each is set.
func slowProxy(t *testing.T, target string, delay time.Duration, each bool) string {
	return serveTCP(t, func(c *net.TCPConn) {
		u, err := net.Dial("tcp", target)
		if err != nil {
			return
		}
		defer u.Close()
		up := make(chan struct{})
		go func() {
			defer close(up)
			io.Copy(u, c)
			u.Close() // the client left: so does the upstream, ending the copy back
		}()
		buf := make([]byte, 64<<10)
		for first := true; ; first = false {
			n, err := u.Read(buf)
			if n > 0 {
				if first || each {
					time.Sleep(delay) // the slow network this proxy stands for
				}
				if _, werr := c.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		c.Close()
		<-up
	})
}

// Registering the same name again and again over one connection costs
// nothing that stays.
func TestRelayReregistrationHoldsNothing(t *testing.T) {
	n2, _ := testNode(t, "n2", Options{})
	addr := listen(t, n2)
	n3, _ := testNode(t, "n3", Options{})
	c := connect(t, n3, addr)
	route := routing.Route{c.Address(), routing.LocalAddress(routing.StaticRelayService)}
	if _, err := n3.SendAndReceive(context.Background(), route, wire.EncodeString("x")); err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	for i := 0; i < 300; i++ {
		if _, err := n3.SendAndReceive(context.Background(), route, wire.EncodeString("x")); err != nil {
			t.Fatal(err)
		}
	}
	if after := runtime.NumGoroutine(); after > before+5 {
		t.Fatalf("goroutines grew from %d to %d over 300 registrations", before, after)
	}
}

// A worker forgets the connections it replied through once they close.
func TestFlowSetsForgetClosedConnections(t *testing.T) {
	n2, _ := testNode(t, "n2", Options{})
	addr := listen(t, n2)
	for i := 0; i < 50; i++ {
		n1 := NewNode("n1", Options{})
		if _, err := trySend(n1, routing.Route{routing.TCPAddress(addr), routing.LocalAddress("echo")}, "x", 5*time.Second); err != nil {
			t.Fatal(err)
		}
		n1.Close()
	}
	w := n2.lookup("echo")
	waitFor(t, "echo to forget closed connections", func() bool {
		w.flows.mu.RLock()
		defer w.flows.mu.RUnlock()
		return w.flows.len() == 0
	})
}

// A route of a million hops is refused before a node walks it.
func TestOverlongRouteRefused(t *testing.T) {
	n, logs := testNode(t, "n", Options{})
	if err := n.StartService("hop", Hop{}); err != nil {
		t.Fatal(err)
	}
	p := dialRaw(t, listen(t, n))
	onward := make(routing.Route, routing.MaxRouteLength+1)
	for i := range onward {
		onward[i] = routing.LocalAddress("hop")
	}
	p.send(routing.Message{Onward: onward})
	logs.waitLog(t, "onward_route of 129 addresses: route too long")
}

// silentListener is a socket whose accept queue is full: connects to it
// hang.
func silentListener(t *testing.T) string {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
	syscall.Listen(fd, 0)
	sa, _ := syscall.Getsockname(fd)
	a := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
	var fill []net.Conn
	for i := 0; i < 8; i++ {
		c, err := net.DialTimeout("tcp", a, 200*time.Millisecond)
		if err != nil {
			break
		}
		fill = append(fill, c)
	}
	t.Cleanup(func() {
		for _, c := range fill {
			c.Close()
		}
	})
	return a
}

// Closing a node cancels its dials: it does not wait for their timeout.
func TestCloseCancelsDials(t *testing.T) {
	target := silentListener(t)
	if c, err := net.DialTimeout("tcp", target, 300*time.Millisecond); err == nil {
		c.Close()
		t.Skip("connects to a full accept queue do not hang here")
	}
	n1 := NewNode("n1", Options{DialTimeout: 20 * time.Second})
	in, _ := inletWithClient(t, n1, routing.Route{routing.TCPAddress(target), routing.LocalAddress("outlet")})
	waitFor(t, "the stream to start dialing", func() bool { return in.Streams() == 1 })
	done := make(chan struct{})
	go func() {
		n1.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for a dial")
	}
}

// A stream whose route starts with a connection that closes learns it at
// once, not after its keepalive runs out (30 s): the client's connection
// is closed within the test's 5 s.
func TestPortalStreamLearnsItsConnectionClosed(t *testing.T) {
	p := newPortalPath(t, serveTCP(t, holdServer))
	c := openStream(t, p)
	waitFor(t, "the inlet's stream to be established", func() bool { return p.inlet.Streams() == 1 })
	for _, conn := range p.n1.Connections() {
		conn.Close()
	}
	expectClosed(t, c)
	waitFor(t, "the inlet's stream to close", func() bool { return p.inlet.Streams() == 0 })
}

// A node that closes while one of its streams waits for its Pong waits for
// it a moment, then tells the outlet's new stream to go: the outlet keeps no
// stream until its keepalive runs out (30 s).
func TestPortalNodeCloseBeforePong(t *testing.T) {
	p := newPortalPath(t, serveTCP(t, holdServer))
	slow := lagProxy(t, p.n2Addr, 200*time.Millisecond)
	in, _ := inletWithClient(t, p.n1, routing.Route{routing.TCPAddress(slow), routing.LocalAddress("forward_to_n3"), routing.LocalAddress("outlet")})
	// The outlet has its stream and has sent its Pong, which is on its way.
	waitFor(t, "the outlet's stream", func() bool { return p.outlet.Streams() == 1 })
	if in.Streams() != 1 {
		t.Fatalf("inlet has %d streams", in.Streams())
	}
	p.n1.Close()
	waitFor(t, "the outlet's stream to close", func() bool { return p.outlet.Streams() == 0 })
}

// inletWithClient starts an inlet on n along route and connects a client to
// it; the client is closed when the test ends.
func inletWithClient(t *testing.T, n *Node, route routing.Route) (*Inlet, net.Conn) {
	t.Helper()
	in, err := n.StartInlet("in-"+RandomAddress()[:8], "127.0.0.1:0", func() (routing.Route, error) { return route, nil }, InletOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", in.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return in, c
}

// slowDial dials to after a delay, and everything else at once.
type slowDial struct {
	HostSockets
	to string
	by time.Duration
}

func (s slowDial) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	if address == s.to {
		t := time.NewTimer(s.by)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return s.HostSockets.Dial(ctx, network, address)
}
