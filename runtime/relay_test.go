package runtime

import (
	"bufio"
	"context"
	"net"
	"strings"
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
		bad := dialRaw(t, addr)
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

// registerRelay registers name, for n, at the relay service of the node
// listening on at, with the wire of the relay client (runtime/relay, which
// these internal tests cannot import): a dedicated inbound connection of
// its own, and one BARE string to static_forwarding_service. It returns
// that connection; the forwarder lives as long as it does. Nothing checks
// or renews the registration: the tests of a relay that recovers are the
// relay client's.
func registerRelay(t testing.TB, n *Node, name, at string) Connection {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := n.Connect(ctx, at, ConnectOptions{Inbound: true, Dedicated: true})
	if err != nil {
		t.Fatalf("relay %s at %s: %v", name, at, err)
	}
	reg := routing.Route{c.Address(), routing.LocalAddress(routing.StaticRelayService)}
	reply, err := n.SendAndReceive(ctx, reg, wire.EncodeString(name))
	if err != nil {
		t.Fatalf("relay %s at %s: register: %v", name, at, err)
	}
	if fwd, err := wire.String(reply); err != nil || fwd != "forward_to_"+name {
		t.Fatalf("relay %s at %s: register: unexpected reply %q", name, at, reply)
	}
	return c
}
