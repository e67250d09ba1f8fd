package udp_test

import (
	"context"
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

// The UDP transport: the seeds' transport examples over UDP, and the
// bridge of seed 003 with its first hop over UDP (n1 -UDP-> n2 -TCP-> n3).

func TestRoutingOverUDP(t *testing.T) {
	responder, _ := nodetest.Node(t, "responder", runtime.Options{})
	addr := nodetest.ListenUDP(t, responder)
	initiator, _ := nodetest.Node(t, "initiator", runtime.Options{})

	r := routing.Route{routing.UDPAddress(addr), routing.LocalAddress("echo")}
	if got := nodetest.SendString(t, initiator, r, "Hello Ockam!"); got != "Hello Ockam!" {
		t.Fatalf("reply %q", got)
	}
	// A message of many parts, and one of an exact multiple of 493 bytes.
	for _, size := range []int{5000, 3 * wire.MaxUDPPartPayload, 40 << 10} {
		s := strings.Repeat("u", size)
		r := routing.Route{routing.UDPAddress(addr), routing.LocalAddress("uppercase")}
		if got := nodetest.SendString(t, initiator, r, s); got != strings.ToUpper(s) {
			t.Fatalf("reply of %d bytes to %d bytes", len(got), size)
		}
	}
	conns := initiator.Transports().Connections()
	if len(conns) != 1 || conns[0].Transport() != routing.UDP || !conns[0].Outgoing() || conns[0].RemoteAddr() != addr {
		t.Fatalf("initiator connections: %v", conns)
	}
	if n := len(responder.Transports().Connections()); n != 1 {
		t.Fatalf("responder has %d peers, want 1", n)
	}
}

// The receiver pushes its connection and then the sender's UDP address
// onto the return route, and the reply goes back over UDP.
func TestUDPReturnRoute(t *testing.T) {
	responder, _ := nodetest.Node(t, "responder", runtime.Options{})
	rec := nodetest.NewRecorder()
	if err := responder.StartService("echoer", rec); err != nil {
		t.Fatal(err)
	}
	addr := nodetest.ListenUDP(t, responder)
	initiator, _ := nodetest.Node(t, "initiator", runtime.Options{})
	r := routing.Route{routing.UDPAddress(addr), routing.LocalAddress("echoer")}
	if got := nodetest.SendString(t, initiator, r, "hi"); got != "hi" {
		t.Fatalf("reply %q", got)
	}
	m := <-rec.C
	peer := responder.Transports().Connections()[0]
	if len(m.Return) != 3 || m.Return[0] != peer.Address() || m.Return[1] != routing.UDPAddress(peer.RemoteAddr()) {
		t.Fatalf("return route at the responder = %s (peer %s at %s)", m.Return, peer.Address(), peer.RemoteAddr())
	}
}

// n1 -UDP-> n2 -TCP-> n3: the bridge of the seeds, where "the
// communication from n1 to n2 uses UDP while from n2 to n3 uses TCP".
func TestUDPToTCPBridge(t *testing.T) {
	n3, _ := nodetest.Node(t, "n3", runtime.Options{})
	n3Addr := nodetest.Listen(t, n3)
	n2, _ := nodetest.Node(t, "n2", nodetest.TCP(tcp.Options{MayDial: func(hp string) bool { return hp == n3Addr }}))
	n2Addr := nodetest.ListenUDP(t, n2)
	n1, _ := nodetest.Node(t, "n1", runtime.Options{})
	r := routing.Route{routing.UDPAddress(n2Addr), routing.TCPAddress(n3Addr), routing.LocalAddress("uppercase")}
	if got := nodetest.SendString(t, n1, r, "hello"); got != "HELLO" {
		t.Fatalf("reply %q", got)
	}
}

// No open proxy: a message from the network makes a node send datagrams
// only to peers it may dial, or that it has heard from (replies).
func TestUDPNoOpenProxy(t *testing.T) {
	target, _ := nodetest.Node(t, "target", runtime.Options{})
	targetAddr := nodetest.ListenUDP(t, target)
	allowed, _ := nodetest.Node(t, "allowed", runtime.Options{})
	allowedAddr := nodetest.ListenUDP(t, allowed)

	mid, logs := nodetest.Node(t, "mid", nodetest.UDP(udp.Options{MayDial: func(hp string) bool { return hp == allowedAddr }}))
	midAddr := nodetest.ListenUDP(t, mid)
	n1, _ := nodetest.Node(t, "n1", runtime.Options{})

	r := routing.Route{routing.UDPAddress(midAddr), routing.UDPAddress(allowedAddr), routing.LocalAddress("echo")}
	if got := nodetest.SendString(t, n1, r, "ok"); got != "ok" {
		t.Fatalf("reply %q", got)
	}
	r = routing.Route{routing.UDPAddress(midAddr), routing.UDPAddress(targetAddr), routing.LocalAddress("echo")}
	if _, err := nodetest.TrySend(n1, r, "no", 300*time.Millisecond); err == nil {
		t.Fatal("mid sent to a peer it may not dial")
	}
	logs.WaitLog(t, runtime.ErrDialDenied.Error())
	if n := len(target.Transports().Connections()); n != 0 {
		t.Fatalf("target heard from %d peers", n)
	}
}

// A node without a UDP listener still sends, from a socket of its own,
// and a peer that stops listening closes the connection (ICMP).
func TestUDPPeerGone(t *testing.T) {
	responder, _ := nodetest.Node(t, "responder", runtime.Options{})
	addr := nodetest.ListenUDP(t, responder)
	initiator, _ := nodetest.Node(t, "initiator", runtime.Options{})
	r := routing.Route{routing.UDPAddress(addr), routing.LocalAddress("echo")}
	nodetest.SendString(t, initiator, r, "hi")
	conn := initiator.Transports().Connections()[0]
	responder.Close()
	// The next message gets ICMP port unreachable back.
	nodetest.WaitFor(t, "the connection to close", func() bool {
		_, _ = nodetest.TrySend(initiator, r, "anyone?", 20*time.Millisecond)
		select {
		case <-conn.Done():
			return true
		default:
			return false
		}
	})
}

func TestUDPMessageTooLarge(t *testing.T) {
	responder, _ := nodetest.Node(t, "responder", runtime.Options{})
	addr := nodetest.ListenUDP(t, responder)
	initiator, _ := nodetest.Node(t, "initiator", runtime.Options{})
	err := initiator.Send(context.Background(), routing.Message{
		Onward:  routing.Route{routing.UDPAddress(addr), routing.LocalAddress("echo")},
		Return:  nodetest.Local("nobody"),
		Payload: make([]byte, wire.MaxUDPMessage),
	})
	if !errors.Is(err, wire.ErrUDPMessageTooLarge) {
		t.Fatalf("send: %v", err)
	}
}

// Many messages from many goroutines at once, each answered.
func TestUDPManyInFlight(t *testing.T) {
	responder, _ := nodetest.Node(t, "responder", runtime.Options{})
	addr := nodetest.ListenUDP(t, responder)
	initiator, _ := nodetest.Node(t, "initiator", runtime.Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 25 {
				s := fmt.Sprintf("g%d-%d-%s", g, i, strings.Repeat("x", 600*(i%3)))
				r := routing.Route{routing.UDPAddress(addr), routing.LocalAddress("echo")}
				got, err := nodetest.TrySend(initiator, r, s, 5*time.Second)
				if err != nil || got != s {
					errs <- fmt.Errorf("%s: got %d bytes, %v", s[:6], len(got), err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// sendDatagrams sends raw datagrams to addr from a socket of its own.
func sendDatagrams(t testing.TB, addr string, ds ...[]byte) *net.UDPConn {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	for _, d := range ds {
		if _, err := c.Write(d); err != nil {
			t.Fatal(err)
		}
	}
	return c.(*net.UDPConn)
}

// /ip6/::1/udp/P: an IPv6 peer, named as routes name it ("[::1]:P").
func TestRoutingOverUDPv6(t *testing.T) {
	responder, _ := nodetest.Node(t, "responder", runtime.Options{})
	l, err := udp.Listen(responder, "[::1]:0")
	if err != nil {
		t.Fatalf("no IPv6 loopback here: %v", err)
	}
	m, err := routing.ParseMultiAddr("/ip6/::1/udp/" + l.Addr()[strings.LastIndexByte(l.Addr(), ':')+1:] + "/service/echo")
	if err != nil {
		t.Fatal(err)
	}
	r, err := m.Route(nil)
	if err != nil {
		t.Fatal(err)
	}
	initiator, _ := nodetest.Node(t, "initiator", runtime.Options{})
	if got := nodetest.SendString(t, initiator, r, "over ipv6"); got != "over ipv6" {
		t.Fatalf("reply %q", got)
	}
	if peer := responder.Transports().Connections()[0].RemoteAddr(); !strings.HasPrefix(peer, "[::1]:") {
		t.Fatalf("responder's peer %s", peer)
	}
}
