package portal

import (
	"context"
	"net"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/nodetest"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/tcp"
)

// A node that closes tells the other end of its portal streams.
func TestPortalNodeCloseTellsTheOtherEnd(t *testing.T) {
	p := newPortalPath(t, nodetest.ServeTCP(t, holdServer))
	openStream(t, p)
	p.n1.Close()
	nodetest.WaitFor(t, "the outlet's stream to close", func() bool { return p.outlet.Streams() == 0 })
}

// An inlet that gives up waiting for the outlet answers a late Pong with
// Disconnect, so the outlet keeps no stream nobody uses.
func TestPortalPingTimeoutLeavesNoOrphan(t *testing.T) {
	// The outlet's dial of its target, and so its Pong, comes 100 ms
	// late: well after the inlet's 1 ms ping timeout, however loaded the
	// machine.
	target := nodetest.ServeTCP(t, holdServer)
	p := newPortalPathN3(t, target, InletOptions{PingTimeout: time.Millisecond},
		runtime.Options{Sockets: slowDial{to: target, by: 100 * time.Millisecond}})
	c, err := net.Dial("tcp", p.inlet.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	expectClosed(t, c)
	nodetest.WaitFor(t, "the outlet's late stream to close", func() bool { return p.outlet.Streams() == 0 })
}

// A node at the end that closes tells the client's end.
func TestPortalOutletNodeCloses(t *testing.T) {
	p := newPortalPath(t, nodetest.ServeTCP(t, holdServer))
	c := openStream(t, p)
	p.n3.Close()
	expectClosed(t, c)
	nodetest.WaitFor(t, "the inlet's stream to close", func() bool { return p.inlet.Streams() == 0 })
}

// When the node in the middle dies, it tells nobody about the streams
// through it: keepalives end them, and the client sees its connection
// closed.
func TestPortalMiddleNodeDies(t *testing.T) {
	p := newPortalPathOpts(t, nodetest.ServeTCP(t, holdServer), InletOptions{
		KeepAlive: runtime.KeepAlive{Every: 50 * time.Millisecond, DeadAfter: 300 * time.Millisecond},
	})
	c := openStream(t, p)
	p.n2.Close()
	expectClosed(t, c)
	nodetest.WaitFor(t, "the inlet's stream to close", func() bool { return p.inlet.Streams() == 0 })
}

// Closing a node while clients connect leaves no stream, goroutine or
// socket behind, and never panics.
func TestPortalCloseRacesNewStreams(t *testing.T) {
	target := nodetest.ServeTCP(t, holdServer)
	for iter := 0; iter < 50; iter++ {
		n := runtime.NewNode("n", runtime.Options{Transports: []runtime.NewTransport{tcp.New}})
		if _, err := StartOutlet(n, "outlet", target, OutletOptions{}); err != nil {
			t.Fatal(err)
		}
		in, err := StartInlet(n, "web", "127.0.0.1:0", func() (routing.Route, error) { return nodetest.Local("outlet"), nil }, InletOptions{})
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
	n1 := runtime.NewNode("n1", runtime.Options{Transports: []runtime.NewTransport{tcp.With(tcp.Options{DialTimeout: 20 * time.Second})}})
	in, _ := inletWithClient(t, n1, routing.Route{routing.TCPAddress(target), routing.LocalAddress("outlet")})
	nodetest.WaitFor(t, "the stream to start dialing", func() bool { return in.Streams() == 1 })
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
	p := newPortalPath(t, nodetest.ServeTCP(t, holdServer))
	c := openStream(t, p)
	nodetest.WaitFor(t, "the inlet's stream to be established", func() bool { return p.inlet.Streams() == 1 })
	for _, conn := range p.n1.Transports().Connections() {
		conn.Close()
	}
	expectClosed(t, c)
	nodetest.WaitFor(t, "the inlet's stream to close", func() bool { return p.inlet.Streams() == 0 })
}

// A node that closes while one of its streams waits for its Pong waits for
// it a moment, then tells the outlet's new stream to go: the outlet keeps no
// stream until its keepalive runs out (30 s).
func TestPortalNodeCloseBeforePong(t *testing.T) {
	p := newPortalPath(t, nodetest.ServeTCP(t, holdServer))
	slow := nodetest.LagProxy(t, p.n2Addr, 200*time.Millisecond)
	in, _ := inletWithClient(t, p.n1, routing.Route{routing.TCPAddress(slow), routing.LocalAddress("forward_to_n3"), routing.LocalAddress("outlet")})
	// The outlet has its stream and has sent its Pong, which is on its way.
	nodetest.WaitFor(t, "the outlet's stream", func() bool { return p.outlet.Streams() == 1 })
	if in.Streams() != 1 {
		t.Fatalf("inlet has %d streams", in.Streams())
	}
	p.n1.Close()
	nodetest.WaitFor(t, "the outlet's stream to close", func() bool { return p.outlet.Streams() == 0 })
}

// slowDial dials to after a delay, and everything else at once.
type slowDial struct {
	runtime.HostSockets
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
