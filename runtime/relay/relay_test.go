package relay

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/nodetest"
	"github.com/ockamtop/ockamtop/runtime/portal"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/tcp"
)

func TestRelayThroughForwarder(t *testing.T) {
	n2, _ := nodetest.Node(t, "n2", runtime.Options{})
	n2Addr := nodetest.Listen(t, n2)
	n3, _ := nodetest.Node(t, "n3", runtime.Options{})
	if err := n3.StartService("hop", runtime.Hop{}); err != nil {
		t.Fatal(err)
	}
	rel, err := Start(n3, "n3", n2Addr, Options{})
	if err != nil {
		t.Fatal(err)
	}
	<-rel.Ready()
	n1, _ := nodetest.Node(t, "n1", runtime.Options{})
	c := nodetest.Connect(t, n1, n2Addr)
	for _, r := range []routing.Route{
		{c.Address(), routing.LocalAddress("forward_to_n3"), routing.LocalAddress("uppercase")},
		{c.Address(), routing.LocalAddress("forward_to_n3"), routing.LocalAddress("hop"), routing.LocalAddress("uppercase")},
	} {
		if got := nodetest.SendString(t, n1, r, "hello"); got != "HELLO" {
			t.Fatalf("reply %q", got)
		}
	}
	if st := rel.Status(); st.State != Up || st.Forwarder != "forward_to_n3" || st.Registrations != 1 {
		t.Fatalf("status %+v", st)
	}
	// Closing the relay closes nothing else, and its forwarder goes once
	// its connection does.
	rel.Close()
	if st := rel.Status(); st.State != Stopped {
		t.Fatalf("status after close %+v", st)
	}
}

// When the relay node dies and comes back on the same address, the relay
// registers again by itself.
func TestRelayRecovers(t *testing.T) {
	elapsed, logs := relayRecovery(t)
	t.Logf("message through forward_to_n3 again %s after the relay node listened again", elapsed)
	// The failure was a warning; the recovery is said at INFO, with how
	// long the relay was down.
	logs.WaitLog(t, "[WARN]  test: relay down, reconnecting")
	logs.WaitLog(t, "[INFO]  test: relay is back: registered again")
	logs.WaitLog(t, "down_for=")
}

// relayRecovery kills the relay node, starts a new one on the same port,
// and returns the time from its listening to a message getting through.
func relayRecovery(t testing.TB) (time.Duration, *nodetest.LogBuffer) {
	n2 := runtime.NewNode("n2", runtime.Options{Transports: []runtime.NewTransport{tcp.New}})
	l, err := tcp.Listen(n2, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr()
	n3, logs := nodetest.Node(t, "n3", runtime.Options{})
	rel, err := Start(n3, "n3", addr, Options{})
	if err != nil {
		t.Fatal(err)
	}
	<-rel.Ready()
	n1, _ := nodetest.Node(t, "n1", runtime.Options{})
	route := routing.Route{routing.TCPAddress(addr), routing.LocalAddress("forward_to_n3"), routing.LocalAddress("uppercase")}
	if got := nodetest.SendString(t, n1, route, "hello"); got != "HELLO" {
		t.Fatalf("reply %q", got)
	}
	n2.Close()
	nodetest.WaitFor(t, "relay to notice", func() bool { return rel.Status().State != Up })

	n2b, _ := nodetest.Node(t, "n2b", runtime.Options{})
	if _, err := tcp.Listen(n2b, addr); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		got, err := nodetest.TrySend(n1, route, "hello", 25*time.Millisecond)
		if err == nil && got == "HELLO" {
			return time.Since(start), logs
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("no message through the relay 10s after the relay node came back: %v", err)
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			time.Sleep(10 * time.Millisecond) // a refused dial answers at once
		}
	}
}

// BenchmarkRelayRecovery reports how long a relay takes to be usable again
// after its relay node restarts (target: under 3 s).
func BenchmarkRelayRecovery(b *testing.B) {
	var total time.Duration
	for i := 0; i < b.N; i++ {
		d, _ := relayRecovery(b)
		total += d
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/recovery")
}

// A relay busy carrying data is alive: its checks, queued behind the data,
// come back late, and the relay must neither reconnect nor cut the streams
// it carries. The check's timeout here is shorter than the time a check
// may wait behind 32 streams' windows of data under the race detector.
func TestBusyRelayIsNotTornDown(t *testing.T) {
	p := newPortalPath(t, nodetest.ServeTCP(t, nodetest.EchoServer), portal.InletOptions{PingTimeout: 30 * time.Second},
		Options{PingInterval: 10 * time.Millisecond, PingTimeout: time.Second})
	const streams, size = 32, 4 << 20
	var wg sync.WaitGroup
	errs := make(chan error, streams)
	for range streams {
		wg.Go(func() { errs <- nodetest.RoundTripStream(p.inlet.Addr(), size) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if st := p.relay.Status(); st.Registrations != 1 {
		t.Fatalf("the relay registered %d times (last error %q): a busy relay was torn down", st.Registrations, st.LastError)
	}
}

// busyConn is a connection that keeps receiving frames.
type busyConn struct {
	runtime.Connection
	received atomic.Uint64
	done     chan struct{}
}

func (c *busyConn) Received() uint64         { return c.received.Load() }
func (c *busyConn) Done() <-chan struct{}    { return c.done }
func (c *busyConn) Address() routing.Address { return routing.LocalAddress("busy") }

// A check whose answer is late waits as long as the connection receives
// frames, and fails once it has been silent for a whole timeout.
func TestRelayCheckWaitsWhileTheConnectionIsBusy(t *testing.T) {
	n, _ := nodetest.Node(t, "n3", runtime.Options{})
	// A sink at the check's route: the check is sent and never answered.
	if err := n.StartWorker("sink", &nodetest.Sink{}); err != nil {
		t.Fatal(err)
	}
	// 200ms: a loaded machine may not run the busy goroutine for tens of
	// milliseconds.
	r := &Relay{node: n, opts: Options{PingTimeout: 200 * time.Millisecond}, addr: routing.LocalAddress("relay"), inbox: make(chan []byte, 4)}
	conn := &busyConn{done: make(chan struct{})}
	ping := routing.Route{routing.LocalAddress("sink")}
	payload := []byte("check")

	// Frames keep arriving for 5 timeouts, then the answer comes.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		deadline := time.Now().Add(time.Second)
		for time.Now().Before(deadline) {
			conn.received.Add(1)
			time.Sleep(time.Millisecond)
		}
		r.inbox <- payload
		<-stop
	})
	err := r.check(context.Background(), conn, ping, payload)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("check of a busy connection failed: %v", err)
	}

	// Silence: the check fails after one timeout.
	start := time.Now()
	err = r.check(context.Background(), conn, ping, payload)
	if err == nil || !strings.Contains(err.Error(), "nothing else heard") {
		t.Fatalf("check of a silent connection: %v, want a failure", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("check of a silent connection took %s", d)
	}
}

// A relay that is closed lets its relay node know at once: the forwarder
// goes with the relay's own connection, while the node runs on.
func TestRelayCloseRemovesTheForwarder(t *testing.T) {
	n2, _ := nodetest.Node(t, "n2", runtime.Options{})
	addr := nodetest.Listen(t, n2)
	n3, _ := nodetest.Node(t, "n3", runtime.Options{})
	rel, err := Start(n3, "n3", addr, Options{})
	if err != nil {
		t.Fatal(err)
	}
	<-rel.Ready()
	if len(n2.Forwarders()) != 1 {
		t.Fatalf("forwarders %v", n2.Forwarders())
	}
	rel.Close()
	nodetest.WaitFor(t, "the forwarder to go", func() bool { return len(n2.Forwarders()) == 0 })
}

// A relay started while another dial to the same node is under way still
// gets an inbound connection (its own): traffic through it reaches n3.
func TestRelayBesideAnotherDial(t *testing.T) {
	n2, _ := nodetest.Node(t, "n2", runtime.Options{})
	n2Addr := nodetest.Listen(t, n2)
	proxy := nodetest.DelayProxy(t, n2Addr, 300*time.Millisecond)
	n3, _ := nodetest.Node(t, "n3", runtime.Options{})
	plain := make(chan error, 1)
	go func() {
		_, err := tcp.Connect(context.Background(), n3, proxy, tcp.ConnectOptions{})
		plain <- err
	}()
	rel, err := Start(n3, "n3", proxy, Options{})
	if err != nil {
		t.Fatal(err)
	}
	<-rel.Ready()
	if err := <-plain; err != nil {
		t.Fatal(err)
	}
	n1, _ := nodetest.Node(t, "n1", runtime.Options{})
	route := routing.Route{routing.TCPAddress(n2Addr), routing.LocalAddress("forward_to_n3"), routing.LocalAddress("echo")}
	if got := nodetest.SendString(t, n1, route, "hello"); got != "hello" {
		t.Fatalf("reply %q", got)
	}
}

// Short deadlines, so that the test waits little for them.
var slowPeerOpts = tcp.Options{HandshakeTimeout: 200 * time.Millisecond, FrameTimeout: 200 * time.Millisecond}

// A relay's connection, idle for long past the deadlines (its checks far
// apart), stays up and carries the next message: no new registration.
func TestIdleRelayStays(t *testing.T) {
	n2, _ := nodetest.Node(t, "n2", nodetest.TCP(slowPeerOpts))
	n2Addr := nodetest.Listen(t, n2)
	n3, _ := nodetest.Node(t, "n3", nodetest.TCP(slowPeerOpts))
	rel, err := Start(n3, "n3", n2Addr, Options{PingInterval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	<-rel.Ready()
	time.Sleep(5 * slowPeerOpts.FrameTimeout)
	n1, _ := nodetest.Node(t, "n1", nodetest.TCP(slowPeerOpts))
	c := nodetest.Connect(t, n1, n2Addr)
	if got := nodetest.SendString(t, n1, routing.Route{c.Address(), routing.LocalAddress("forward_to_n3"), routing.LocalAddress("uppercase")}, "hello"); got != "HELLO" {
		t.Fatalf("reply %q", got)
	}
	if st := rel.Status(); st.State != Up || st.Registrations != 1 {
		t.Fatalf("status %+v", st)
	}
}
