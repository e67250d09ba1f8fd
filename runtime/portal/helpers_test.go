package portal

import (
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/nodetest"
	"github.com/ockamtop/ockamtop/runtime/relay"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/splice"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(splice.LeakCheck(m))
}

// portalPath is the seed's portal: inlet on n1 -> n2 -> relay back to n3
// -> hop -> outlet on n3 -> target.
type portalPath struct {
	n1, n2, n3 *runtime.Node
	n2Addr     string
	inlet      *Inlet
	outlet     *Outlet
	// relay is n3's registration at n2.
	relay *relay.Relay
	logs1 *nodetest.LogBuffer
}

func newPortalPath(t testing.TB, target string) *portalPath {
	return newPortalPathTimeout(t, target, 0)
}

// newPortalPathTimeout sets the inlet's ping timeout (0: the default).
func newPortalPathTimeout(t testing.TB, target string, pingTimeout time.Duration) *portalPath {
	return newPortalPathOpts(t, target, InletOptions{PingTimeout: pingTimeout})
}

// newPortalPathOpts sets the inlet's options.
func newPortalPathOpts(t testing.TB, target string, inletOpts InletOptions) *portalPath {
	return newPortalPathN3(t, target, inletOpts, runtime.Options{})
}

// newPortalPathN3 sets n3's node options too.
func newPortalPathN3(t testing.TB, target string, inletOpts InletOptions, n3Opts runtime.Options) *portalPath {
	t.Helper()
	p := &portalPath{}
	p.n2, _ = nodetest.Node(t, "n2", runtime.Options{})
	p.n2Addr = nodetest.Listen(t, p.n2)
	p.n3, _ = nodetest.Node(t, "n3", n3Opts)
	if err := p.n3.StartService("hop", runtime.Hop{}); err != nil {
		t.Fatal(err)
	}
	var err error
	if p.outlet, err = StartOutlet(p.n3, "outlet", target, OutletOptions{}); err != nil {
		t.Fatal(err)
	}
	p.relay = startRelay(t, p.n3, p.n2Addr)
	p.n1, p.logs1 = nodetest.Node(t, "n1", runtime.Options{})
	route := routing.Route{routing.TCPAddress(p.n2Addr), routing.LocalAddress("forward_to_n3"), routing.LocalAddress("hop"), routing.LocalAddress("outlet")}
	p.inlet, err = StartInlet(p.n1, "web", "127.0.0.1:0", func() (routing.Route, error) { return route, nil }, inletOpts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// openFiles counts the open descriptors, pipes and epoll instances aside:
// the pool of pipes for spliced payloads keeps a few (pipesKept), the
// test's own output goes to pipes, and an inlet or outlet that parked an
// idle stream keeps an epoll instance for as long as it runs.
func openFiles(t testing.TB) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	n := 0
	for _, e := range entries {
		if l, _ := os.Readlink("/proc/self/fd/" + e.Name()); !strings.HasPrefix(l, "pipe:") && l != "anon_inode:[eventpoll]" {
			n++
		}
	}
	return n
}

func listFiles(t testing.TB) {
	entries, _ := os.ReadDir("/proc/self/fd")
	for _, e := range entries {
		l, _ := os.Readlink("/proc/self/fd/" + e.Name())
		t.Logf("fd %s -> %s", e.Name(), l)
	}
}

// roundTripStreams runs n roundTripStreams of size bytes at once.
func roundTripStreams(t *testing.T, addr string, n, size int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() { errs <- nodetest.RoundTripStream(addr, size) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// echoedConn opens a stream through the inlet at addr to an echo server
// and has one byte echoed, so that both ends are established; the
// connection closes when the test ends.
func echoedConn(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	one := []byte{1}
	if _, err := c.Write(one); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, one); err != nil {
		t.Fatal(err)
	}
	return c
}

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
	nodetest.WaitFor(t, "the stream to open", func() bool { return p.outlet.Streams() == 1 })
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

// inletWithClient starts an inlet on n along route and connects a client to
// it; the client is closed when the test ends.
func inletWithClient(t *testing.T, n *runtime.Node, route routing.Route) (*Inlet, net.Conn) {
	t.Helper()
	in, err := StartInlet(n, "in-"+runtime.RandomAddress()[:8], "127.0.0.1:0", func() (routing.Route, error) { return route, nil }, InletOptions{})
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

// startRelay registers n at the relay node listening on at, as "n3", and
// waits for the registration. Its end-to-end checks are far apart (the
// tests are the portal's; the relay client's are in runtime/relay), and it
// registers again within 100ms of its relay node coming back.
func startRelay(t testing.TB, n *runtime.Node, at string) *relay.Relay {
	t.Helper()
	r, err := relay.Start(n, "n3", at, relay.Options{PingInterval: time.Hour, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.Ready():
	case <-time.After(10 * time.Second):
		t.Fatalf("relay n3 at %s: not registered after 10s: %+v", at, r.Status())
	}
	return r
}
