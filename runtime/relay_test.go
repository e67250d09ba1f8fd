package runtime

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/wire"
)

// rawPeer is a hand-driven TCP peer speaking the wire format.
type rawPeer struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawPeer {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	p := &rawPeer{t: t, conn: c, br: bufio.NewReader(c)}
	if _, err := c.Write([]byte{wire.ProtocolVersion}); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if v, err := p.br.ReadByte(); err != nil || v != wire.ProtocolVersion {
		t.Fatalf("handshake: %v %v", v, err)
	}
	return p
}

func (p *rawPeer) send(m routing.Message) {
	p.t.Helper()
	f, err := wire.AppendFrame(nil, &m)
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.conn.Write(f); err != nil {
		p.t.Fatal(err)
	}
}

// readFrame reads one frame's raw bytes, length prefix included.
func (p *rawPeer) readFrame() []byte {
	p.t.Helper()
	p.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	body, err := wire.ReadFrame(p.br, nil)
	if err != nil {
		p.t.Fatalf("read frame: %v", err)
	}
	return append([]byte{0, 0, 0, byte(len(body))}, body...)
}

// The registration exchange, byte for byte as Ockam's: BARE "n3" to
// static_forwarding_service; the answer is BARE "forward_to_n3" with return
// route [forward_to_n3].
func TestRelayRegistrationBytes(t *testing.T) {
	n2, _ := testNode(t, "n2", Options{})
	p := dialRaw(t, listen(t, n2))
	p.send(routing.Message{
		Onward:  local(routing.StaticRelayService),
		Return:  local("r"),
		Payload: []byte{0x02, 'n', '3'},
	})
	got := p.readFrame()
	want := []byte{
		0x00, 0x00, 0x00, 0x26, // length 38
		0x83,
		0x81, 0x82, 0x00, 0x41, 'r', // onward [0#r]
		0x81, 0x82, 0x00, 0x4d, 'f', 'o', 'r', 'w', 'a', 'r', 'd', '_', 't', 'o', '_', 'n', '3', // return [0#forward_to_n3]
		0x4e, 0x0d, 'f', 'o', 'r', 'w', 'a', 'r', 'd', '_', 't', 'o', '_', 'n', '3', // payload BARE "forward_to_n3"
	}
	if string(got) != string(want) {
		t.Fatalf("reply frame\n got % x\nwant % x", got, want)
	}
	// A message to forward_to_n3 now comes back over this connection, with
	// the forwarder's address popped.
	p.send(routing.Message{Onward: local("forward_to_n3", "echo"), Return: local("app"), Payload: []byte{1, 'x'}})
	m, err := wire.DecodeBody(p.readFrame()[4:])
	if err != nil {
		t.Fatal(err)
	}
	if !m.Onward.Equal(local("echo")) || len(m.Return) != 2 || m.Return[1] != routing.LocalAddress("app") {
		t.Fatalf("forwarded message %+v", m)
	}
}

func TestRelayThroughForwarder(t *testing.T) {
	n2, _ := testNode(t, "n2", Options{})
	n2Addr := listen(t, n2)
	n3, _ := testNode(t, "n3", Options{})
	if err := n3.StartService("hop", Hop{}); err != nil {
		t.Fatal(err)
	}
	rel, err := n3.StartRelay("n3", n2Addr, RelayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	<-rel.Ready()
	n1, _ := testNode(t, "n1", Options{})
	c := connect(t, n1, n2Addr)
	for _, r := range []routing.Route{
		{c.Address(), routing.LocalAddress("forward_to_n3"), routing.LocalAddress("uppercase")},
		{c.Address(), routing.LocalAddress("forward_to_n3"), routing.LocalAddress("hop"), routing.LocalAddress("uppercase")},
	} {
		if got := sendString(t, n1, r, "hello"); got != "HELLO" {
			t.Fatalf("reply %q", got)
		}
	}
	if st := rel.Status(); st.State != RelayUp || st.Forwarder != "forward_to_n3" || st.Registrations != 1 {
		t.Fatalf("status %+v", st)
	}
	// Closing the relay closes nothing else, and its forwarder goes once
	// its connection does.
	rel.Close()
	if st := rel.Status(); st.State != RelayStopped {
		t.Fatalf("status after close %+v", st)
	}
}

// A new registration of a name takes over the old one at once.
func TestRelayTakeover(t *testing.T) {
	n2, logs := testNode(t, "n2", Options{})
	addr := listen(t, n2)
	a := dialRaw(t, addr)
	a.send(routing.Message{Onward: local(routing.RelayService), Return: local("a"), Payload: wire.EncodeString("n3")})
	a.readFrame()
	b := dialRaw(t, addr)
	b.send(routing.Message{Onward: local(routing.StaticRelayService), Return: local("b"), Payload: wire.EncodeString("n3")})
	b.readFrame()
	logs.waitLog(t, "relay taken over")

	n1, _ := testNode(t, "n1", Options{})
	c := connect(t, n1, addr)
	if err := n1.Send(context.Background(), routing.Message{Onward: routing.Route{c.Address(), routing.LocalAddress("forward_to_n3"), routing.LocalAddress("x")}, Payload: []byte{0}}); err != nil {
		t.Fatal(err)
	}
	m, err := wire.DecodeBody(b.readFrame()[4:])
	if err != nil || !m.Onward.Equal(local("x")) {
		t.Fatalf("the new registration did not get the message: %+v %v", m, err)
	}
	// When b's connection dies, its forwarder goes with it.
	b.conn.Close()
	waitFor(t, "forwarder removal", func() bool { return !n2.HasWorker("forward_to_n3") })
}

// Bad registrations are refused with a logged reason; nothing else moves.
func TestRelayBadRegistrations(t *testing.T) {
	n2, logs := testNode(t, "n2", Options{})
	if err := n2.StartService("forward_to_taken", Echo{}); err != nil {
		t.Fatal(err)
	}
	addr := listen(t, n2)
	good := dialRaw(t, addr)
	good.send(routing.Message{Onward: local(routing.StaticRelayService), Return: local("g"), Payload: wire.EncodeString("good")})
	good.readFrame()

	bad := dialRaw(t, addr)
	for _, tc := range []struct {
		name    string
		payload []byte
		reason  string
	}{
		{"empty", wire.EncodeString(""), "empty name"},
		{"over-long", wire.EncodeString(strings.Repeat("a", routing.MaxRelayName+1)), "the limit is 128"},
		{"non-printable", wire.EncodeString("n\x003"), "only printable ASCII"},
		{"not BARE", []byte{0x09, 'x'}, "malformed BARE value"},
		{"taken by a service", wire.EncodeString("taken"), "taken by a service"},
	} {
		bad.send(routing.Message{Onward: local(routing.StaticRelayService), Return: local("r"), Payload: tc.payload})
		logs.waitLog(t, tc.reason)
	}
	for _, w := range n2.Workers() {
		if strings.HasPrefix(w, routing.ForwarderPrefix) && w != "forward_to_good" && w != "forward_to_taken" {
			t.Fatalf("a bad registration made %s", w)
		}
	}
	// A registration over a flow that does not reach services: n2 dialed
	// this peer, so its messages only reach what n2 sent through it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// The peer answers the handshake, then registers.
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte{wire.ProtocolVersion})
		f, _ := wire.AppendFrame(nil, &routing.Message{Onward: local(routing.StaticRelayService), Return: local("r"), Payload: wire.EncodeString("sneaky")})
		c.Write(f)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var b [1]byte
		c.Read(b[:]) // hold the connection until the node closes it
	}()
	if _, err := n2.Connect(context.Background(), ln.Addr().String(), ConnectOptions{}); err != nil {
		t.Fatal(err)
	}
	logs.waitLog(t, "refused by flow control")
	if n2.HasWorker("forward_to_sneaky") {
		t.Fatal("a registration over an outgoing connection was accepted")
	}
	// The good relay still relays.
	n1, _ := testNode(t, "n1", Options{})
	c := connect(t, n1, addr)
	if err := n1.Send(context.Background(), routing.Message{Onward: routing.Route{c.Address(), routing.LocalAddress("forward_to_good"), routing.LocalAddress("x")}, Payload: []byte{0}}); err != nil {
		t.Fatal(err)
	}
	if m, err := wire.DecodeBody(good.readFrame()[4:]); err != nil || !m.Onward.Equal(local("x")) {
		t.Fatalf("good relay: %+v %v", m, err)
	}
}

// When the relay node dies and comes back on the same address, the relay
// registers again by itself.
func TestRelayRecovers(t *testing.T) {
	elapsed, logs := relayRecovery(t)
	t.Logf("message through forward_to_n3 again %s after the relay node listened again", elapsed)
	// The failure was a warning; the recovery is said at INFO, with how
	// long the relay was down.
	logs.waitLog(t, "[WARN]  test: relay down, reconnecting")
	logs.waitLog(t, "[INFO]  test: relay is back: registered again")
	logs.waitLog(t, "down_for=")
}

// relayRecovery kills the relay node, starts a new one on the same port,
// and returns the time from its listening to a message getting through.
func relayRecovery(t testing.TB) (time.Duration, *logBuffer) {
	n2 := NewNode("n2", Options{})
	l, err := n2.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr()
	n3, logs := testNode(t, "n3", Options{})
	rel, err := n3.StartRelay("n3", addr, RelayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	<-rel.Ready()
	n1, _ := testNode(t, "n1", Options{})
	route := routing.Route{routing.TCPAddress(addr), routing.LocalAddress("forward_to_n3"), routing.LocalAddress("uppercase")}
	if got := sendString(t, n1, route, "hello"); got != "HELLO" {
		t.Fatalf("reply %q", got)
	}
	n2.Close()
	waitFor(t, "relay to notice", func() bool { return rel.Status().State != RelayUp })

	n2b, _ := testNode(t, "n2b", Options{})
	if _, err := n2b.Listen(addr); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		got, err := trySend(n1, route, "hello", 25*time.Millisecond)
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
	p := newPortalPathRelay(t, serveTCP(t, echoServer), InletOptions{PingTimeout: 30 * time.Second},
		RelayOptions{PingInterval: 10 * time.Millisecond, PingTimeout: time.Second})
	const streams, size = 32, 4 << 20
	var wg sync.WaitGroup
	errs := make(chan error, streams)
	for range streams {
		wg.Go(func() { errs <- roundTripStream(p.inlet.Addr(), size) })
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
	Connection
	received atomic.Uint64
	done     chan struct{}
}

func (c *busyConn) Received() uint64         { return c.received.Load() }
func (c *busyConn) Done() <-chan struct{}    { return c.done }
func (c *busyConn) Address() routing.Address { return routing.LocalAddress("busy") }

// A check whose answer is late waits as long as the connection receives
// frames, and fails once it has been silent for a whole timeout.
func TestRelayCheckWaitsWhileTheConnectionIsBusy(t *testing.T) {
	n, _ := testNode(t, "n3", Options{})
	// A sink at the check's route: the check is sent and never answered.
	if err := n.StartWorker("sink", newSink(-1)); err != nil {
		t.Fatal(err)
	}
	r := &Relay{node: n, opts: RelayOptions{PingTimeout: 50 * time.Millisecond}, addr: routing.LocalAddress("relay"), inbox: make(chan []byte, 4)}
	conn := &busyConn{done: make(chan struct{})}
	ping := routing.Route{routing.LocalAddress("sink")}
	payload := []byte("check")

	// Frames keep arriving for 20 timeouts, then the answer comes.
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
	n2, _ := testNode(t, "n2", Options{})
	addr := listen(t, n2)
	n3, _ := testNode(t, "n3", Options{})
	rel, err := n3.StartRelay("n3", addr, RelayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	<-rel.Ready()
	if len(n2.Forwarders()) != 1 {
		t.Fatalf("forwarders %v", n2.Forwarders())
	}
	rel.Close()
	waitFor(t, "the forwarder to go", func() bool { return len(n2.Forwarders()) == 0 })
}
