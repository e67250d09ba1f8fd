package tcp_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/nodetest"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/tcp"
	"github.com/ockamtop/ockamtop/runtime/udp"
	"github.com/ockamtop/ockamtop/runtime/wire"
)

// The seeds' transport examples: a responder and an initiator over one TCP
// hop, then three nodes over two TCP hops with a forwarding worker in the
// middle (04-routing-over-transport-two-hops, the bridge).

func TestRoutingOverTCP(t *testing.T) {
	responder, _ := nodetest.Node(t, "responder", runtime.Options{})
	addr := nodetest.Listen(t, responder)

	initiator, _ := nodetest.Node(t, "initiator", runtime.Options{})
	conn := nodetest.Connect(t, initiator, addr)
	r := routing.Route{conn.Address(), routing.LocalAddress("echo")}
	if got := nodetest.SendString(t, initiator, r, "Hello Ockam!"); got != "Hello Ockam!" {
		t.Fatalf("reply %q", got)
	}
	// The connection is reused for a TCP address in a route, and for a
	// second Connect to the same peer.
	r = routing.Route{routing.TCPAddress(addr), routing.LocalAddress("uppercase")}
	if got := nodetest.SendString(t, initiator, r, "hello"); got != "HELLO" {
		t.Fatalf("reply %q", got)
	}
	if again := nodetest.Connect(t, initiator, addr); again.Address() != conn.Address() {
		t.Fatalf("second connect made a new connection %s (first %s)", again.Address(), conn.Address())
	}
	if n := len(initiator.Transports().Connections()); n != 1 {
		t.Fatalf("initiator has %d connections, want 1", n)
	}
}

// A connection between frames holds no read buffer: ten thousand idle
// ones cost no 640 MB of them.
func TestIdleConnectionHoldsNoReadBuffer(t *testing.T) {
	responder, _ := nodetest.Node(t, "responder", runtime.Options{})
	addr := nodetest.Listen(t, responder)
	initiator, _ := nodetest.Node(t, "initiator", runtime.Options{})
	conn := nodetest.Connect(t, initiator, addr)
	for range 3 {
		r := routing.Route{conn.Address(), routing.LocalAddress("echo")}
		if got := nodetest.SendString(t, initiator, r, "hello"); got != "hello" {
			t.Fatalf("reply %q", got)
		}
		nodetest.WaitFor(t, "both ends to give their read buffers back", func() bool {
			for _, n := range []*runtime.Node{initiator, responder} {
				for _, c := range n.Transports().Connections() {
					if tcp.HoldsReadBuffer(c) {
						return false
					}
				}
			}
			return true
		})
	}
}

func TestRoutingOverTwoTCPHops(t *testing.T) {
	responder, _ := nodetest.Node(t, "responder", runtime.Options{})
	rec := nodetest.NewRecorder()
	if err := responder.StartService("echoer", rec); err != nil {
		t.Fatal(err)
	}
	responderAddr := nodetest.Listen(t, responder)

	middle, _ := nodetest.Node(t, "middle", runtime.Options{})
	toResponder := nodetest.Connect(t, middle, responderAddr)
	fwd, err := runtime.NewForwarder(routing.Route{toResponder.Address()})
	if err != nil {
		t.Fatal(err)
	}
	if err := middle.StartService("forward_to_responder", fwd); err != nil {
		t.Fatal(err)
	}
	middleAddr := nodetest.Listen(t, middle)

	initiator, _ := nodetest.Node(t, "initiator", runtime.Options{})
	toMiddle := nodetest.Connect(t, initiator, middleAddr)
	r := routing.Route{toMiddle.Address(), routing.LocalAddress("forward_to_responder"), routing.LocalAddress("echoer")}
	if got := nodetest.SendString(t, initiator, r, "Hello Ockam!"); got != "Hello Ockam!" {
		t.Fatalf("reply %q", got)
	}
	// At the responder the return route names the responder's side of the
	// middle connection, then the middle's side of the initiator's, then
	// the initiator's reply address: the way back, hop by hop.
	m := <-rec.C
	if len(m.Return) != 3 || !m.Return[0].IsLocal() || len(m.Return[0].Value) != 32 {
		t.Fatalf("return route at the responder = %s", m.Return)
	}
}

func TestManyMessagesInFlightOverTCP(t *testing.T) {
	responder, _ := nodetest.Node(t, "responder", runtime.Options{})
	addr := nodetest.Listen(t, responder)
	initiator, _ := nodetest.Node(t, "initiator", runtime.Options{})
	conn := nodetest.Connect(t, initiator, addr)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				got, err := nodetest.TrySend(initiator, routing.Route{conn.Address(), routing.LocalAddress("uppercase")}, "abc", 5*time.Second)
				if err != nil || got != "ABC" {
					errs <- errors.Join(err, errors.New("reply "+got))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// Flow control is default deny: a private worker is out of the network's
// reach, directly and through a service that forwards, until allowed.
func TestFlowControlDefaultDeny(t *testing.T) {
	responder, logs := nodetest.Node(t, "responder", runtime.Options{})
	secret := nodetest.NewRecorder()
	if err := responder.StartWorker("secret", secret); err != nil {
		t.Fatal(err)
	}
	if err := responder.StartService("hop", runtime.Hop{}); err != nil {
		t.Fatal(err)
	}
	addr := nodetest.Listen(t, responder)
	initiator, _ := nodetest.Node(t, "initiator", runtime.Options{})
	conn := nodetest.Connect(t, initiator, addr)

	for _, r := range []routing.Route{
		{conn.Address(), routing.LocalAddress("secret")},
		{conn.Address(), routing.LocalAddress("hop"), routing.LocalAddress("secret")},
	} {
		if _, err := nodetest.TrySend(initiator, r, "x", 100e6); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("send along %s = %v, want no reply", r, err)
		}
	}
	logs.WaitLog(t, "refused by flow control")
	select {
	case m := <-secret.C:
		t.Fatalf("secret got %+v", m)
	default:
	}
	// The local node itself reaches it.
	if got := nodetest.SendString(t, responder, nodetest.Local("secret"), "local"); got != "local" {
		t.Fatalf("local send: %q", got)
	}
	<-secret.C
	responder.Allow("secret")
	if got := nodetest.SendString(t, initiator, routing.Route{conn.Address(), routing.LocalAddress("secret")}, "now"); got != "now" {
		t.Fatalf("after allow: %q", got)
	}
}

// A node is no open proxy: a message from the network may make it dial only
// peers it was told about.
func TestNetworkMessageMayNotDialUndeclaredPeers(t *testing.T) {
	n3, _ := nodetest.Node(t, "n3", runtime.Options{})
	n3Addr := nodetest.Listen(t, n3)
	denying, logs := nodetest.Node(t, "n2", runtime.Options{})
	n2Addr := nodetest.Listen(t, denying)
	n1, _ := nodetest.Node(t, "n1", runtime.Options{})

	r := routing.Route{routing.TCPAddress(n2Addr), routing.TCPAddress(n3Addr), routing.LocalAddress("uppercase")}
	if _, err := nodetest.TrySend(n1, r, "x", 100e6); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("send = %v, want no reply", err)
	}
	logs.WaitLog(t, "dial not allowed")

	bridge, _ := nodetest.Node(t, "bridge", nodetest.TCP(tcp.Options{MayDial: func(hp string) bool { return hp == n3Addr }}))
	bridgeAddr := nodetest.Listen(t, bridge)
	r[0] = routing.TCPAddress(bridgeAddr)
	if got := nodetest.SendString(t, n1, r, "hello"); got != "HELLO" {
		t.Fatalf("through the bridge: %q", got)
	}
}

func TestConnectFailsClearly(t *testing.T) {
	n, _ := nodetest.Node(t, "n1", runtime.Options{})
	closed := nodetest.Listen(t, n)
	n.Close()
	n2, _ := nodetest.Node(t, "n2", runtime.Options{})
	_, err := tcp.Connect(context.Background(), n2, closed, tcp.ConnectOptions{})
	if err == nil || !strings.Contains(err.Error(), "connect to "+closed) {
		t.Fatalf("connect to a closed port = %v", err)
	}
}

// A node whose options name no TCP transport routes nothing over TCP, and
// says so: its sends and this package's calls fail with
// ErrUnsupportedTransport.
func TestNodeWithoutTCP(t *testing.T) {
	t.Parallel()
	server, _ := nodetest.Node(t, "server", runtime.Options{})
	addr := nodetest.Listen(t, server)
	n, _ := nodetest.Node(t, "udp-only", runtime.Options{Transports: []runtime.NewTransport{udp.New}})
	if _, err := tcp.Listen(n, "127.0.0.1:0"); !errors.Is(err, runtime.ErrUnsupportedTransport) {
		t.Errorf("listen = %v, want ErrUnsupportedTransport", err)
	}
	if _, err := tcp.Connect(t.Context(), n, addr, tcp.ConnectOptions{}); !errors.Is(err, runtime.ErrUnsupportedTransport) {
		t.Errorf("connect = %v, want ErrUnsupportedTransport", err)
	}
	if _, err := nodetest.TrySend(n, routing.Route{routing.TCPAddress(addr), routing.LocalAddress("echo")}, "x", 5*time.Second); !errors.Is(err, runtime.ErrUnsupportedTransport) {
		t.Errorf("send over tcp = %v, want ErrUnsupportedTransport", err)
	}
}

// Small messages are written on the sender's goroutine while the socket
// takes them; once it is full the worker writes the rest, waiting, and the
// senders queue behind it: a peer that reads late still gets every message,
// in order.
func TestSmallMessagesToASlowPeer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	n, _ := nodetest.Node(t, "n1", runtime.Options{})
	const count = 20_000 // about 80 MB of frames: more than the sockets hold
	sent := make(chan error, 1)
	go func() {
		for i := range count {
			err := n.Send(context.Background(), routing.Message{
				Onward:  routing.Route{routing.TCPAddress(ln.Addr().String()), routing.LocalAddress("peer")},
				Return:  routing.Route{routing.LocalAddress("me")},
				Payload: binary.BigEndian.AppendUint32(make([]byte, 4000), uint32(i)),
			})
			if err != nil {
				sent <- fmt.Errorf("send %d: %w", i, err)
				return
			}
		}
		sent <- nil
	}()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := c.Write([]byte{wire.ProtocolVersion}); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	if v, err := br.ReadByte(); err != nil || v != wire.ProtocolVersion {
		t.Fatalf("version %x, %v", v, err)
	}
	// Read nothing until the sender is stuck behind a full socket.
	nodetest.WaitFor(t, "the sender to fill the socket", func() bool {
		conns := n.Transports().Get(routing.TCP).Connections()
		return len(conns) == 1 && tcp.Queued(conns[0])
	})
	for i := range count {
		body, err := wire.ReadFrame(br, nil)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		m, err := wire.DecodeBody(body)
		if err != nil {
			t.Fatal(err)
		}
		if got := binary.BigEndian.Uint32(m.Payload[4000:]); len(m.Payload) != 4004 || got != uint32(i) {
			t.Fatalf("frame %d carries message %d", i, got)
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}

// A listener closed on its own frees its port; the connections it
// accepted stay up.
func TestListenerCloseKeepsConnections(t *testing.T) {
	n2, _ := nodetest.Node(t, "n2", runtime.Options{})
	ln, err := runtime.Bind("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := tcp.ListenOn(n2, ln)
	if err != nil {
		t.Fatal(err)
	}
	n1, _ := nodetest.Node(t, "n1", runtime.Options{})
	conn := nodetest.Connect(t, n1, l.Addr())
	if got := nodetest.SendString(t, n1, routing.Route{conn.Address(), routing.LocalAddress("echo")}, "hi"); got != "hi" {
		t.Fatalf("echo: %q", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := runtime.Bind(l.Addr())
	if err != nil {
		t.Fatalf("the closed listener's port is still taken: %v", err)
	}
	again.Close()
	if got := nodetest.SendString(t, n1, routing.Route{conn.Address(), routing.LocalAddress("uppercase")}, "still"); got != "STILL" {
		t.Fatalf("over the accepted connection: %q", got)
	}
	if _, err := tcp.Connect(context.Background(), n1, l.Addr(), tcp.ConnectOptions{Dedicated: true}); err == nil {
		t.Fatal("a new connection to the closed listener succeeded")
	}
}
