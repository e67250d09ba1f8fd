package runtime_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/nodetest"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/tcp"
	"github.com/ockamtop/ockamtop/runtime/wire"
)

// The registration exchange, byte for byte as Ockam's: BARE "n3" to
// static_forwarding_service; the answer is BARE "forward_to_n3" with return
// route [forward_to_n3].
func TestRelayRegistrationBytes(t *testing.T) {
	n2, _ := nodetest.Node(t, "n2", runtime.Options{})
	p := nodetest.DialRaw(t, nodetest.Listen(t, n2))
	p.Send(routing.Message{
		Onward:  nodetest.Local(routing.StaticRelayService),
		Return:  nodetest.Local("r"),
		Payload: []byte{0x02, 'n', '3'},
	})
	got := p.ReadFrame()
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
	p.Send(routing.Message{Onward: nodetest.Local("forward_to_n3", "echo"), Return: nodetest.Local("app"), Payload: []byte{1, 'x'}})
	m, err := wire.DecodeBody(p.ReadFrame()[4:])
	if err != nil {
		t.Fatal(err)
	}
	if !m.Onward.Equal(nodetest.Local("echo")) || len(m.Return) != 2 || m.Return[1] != routing.LocalAddress("app") {
		t.Fatalf("forwarded message %+v", m)
	}
}

// A new registration of a name takes over the old one at once.
func TestRelayTakeover(t *testing.T) {
	n2, logs := nodetest.Node(t, "n2", runtime.Options{})
	addr := nodetest.Listen(t, n2)
	a := nodetest.DialRaw(t, addr)
	a.Send(routing.Message{Onward: nodetest.Local(routing.RelayService), Return: nodetest.Local("a"), Payload: wire.EncodeString("n3")})
	a.ReadFrame()
	b := nodetest.DialRaw(t, addr)
	b.Send(routing.Message{Onward: nodetest.Local(routing.StaticRelayService), Return: nodetest.Local("b"), Payload: wire.EncodeString("n3")})
	b.ReadFrame()
	logs.WaitLog(t, "relay taken over")

	n1, _ := nodetest.Node(t, "n1", runtime.Options{})
	c := nodetest.Connect(t, n1, addr)
	if err := n1.Send(context.Background(), routing.Message{Onward: routing.Route{c.Address(), routing.LocalAddress("forward_to_n3"), routing.LocalAddress("x")}, Payload: []byte{0}}); err != nil {
		t.Fatal(err)
	}
	m, err := wire.DecodeBody(b.ReadFrame()[4:])
	if err != nil || !m.Onward.Equal(nodetest.Local("x")) {
		t.Fatalf("the new registration did not get the message: %+v %v", m, err)
	}
	// When b's connection dies, its forwarder goes with it.
	b.Conn.Close()
	nodetest.WaitFor(t, "forwarder removal", func() bool { return !n2.HasWorker("forward_to_n3") })
}

// Bad registrations are refused with a logged reason; nothing else moves.
func TestRelayBadRegistrations(t *testing.T) {
	n2, logs := nodetest.Node(t, "n2", runtime.Options{})
	if err := n2.StartService("forward_to_taken", runtime.Echo{}); err != nil {
		t.Fatal(err)
	}
	addr := nodetest.Listen(t, n2)
	good := nodetest.DialRaw(t, addr)
	good.Send(routing.Message{Onward: nodetest.Local(routing.StaticRelayService), Return: nodetest.Local("g"), Payload: wire.EncodeString("good")})
	good.ReadFrame()

	// Each from a connection of its own, so that no warning of one peer's
	// is held back behind another's.
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
		bad := nodetest.DialRaw(t, addr)
		bad.Send(routing.Message{Onward: nodetest.Local(routing.StaticRelayService), Return: nodetest.Local("r"), Payload: tc.payload})
		logs.WaitLog(t, tc.reason)
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
		f, _ := wire.AppendFrame(nil, &routing.Message{Onward: nodetest.Local(routing.StaticRelayService), Return: nodetest.Local("r"), Payload: wire.EncodeString("sneaky")})
		c.Write(f)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var b [1]byte
		c.Read(b[:]) // hold the connection until the node closes it
	}()
	if _, err := tcp.Connect(context.Background(), n2, ln.Addr().String(), tcp.ConnectOptions{}); err != nil {
		t.Fatal(err)
	}
	logs.WaitLog(t, "refused by flow control")
	if n2.HasWorker("forward_to_sneaky") {
		t.Fatal("a registration over an outgoing connection was accepted")
	}
	// The good relay still relays.
	n1, _ := nodetest.Node(t, "n1", runtime.Options{})
	c := nodetest.Connect(t, n1, addr)
	if err := n1.Send(context.Background(), routing.Message{Onward: routing.Route{c.Address(), routing.LocalAddress("forward_to_good"), routing.LocalAddress("x")}, Payload: []byte{0}}); err != nil {
		t.Fatal(err)
	}
	if m, err := wire.DecodeBody(good.ReadFrame()[4:]); err != nil || !m.Onward.Equal(nodetest.Local("x")) {
		t.Fatalf("good relay: %+v %v", m, err)
	}
}
