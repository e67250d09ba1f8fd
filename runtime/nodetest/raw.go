package nodetest

import (
	"bufio"
	"context"
	"net"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/tcp"
	"github.com/ockamtop/ockamtop/runtime/wire"
)

// RawPeer is a hand-driven TCP peer speaking the wire format.
type RawPeer struct {
	t    testing.TB
	Conn net.Conn
	BR   *bufio.Reader
}

// DialRaw connects to a node's listener at addr and exchanges the protocol
// version; the connection closes when the test ends.
func DialRaw(t testing.TB, addr string) *RawPeer {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	p := &RawPeer{t: t, Conn: c, BR: bufio.NewReader(c)}
	if _, err := c.Write([]byte{wire.ProtocolVersion}); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if v, err := p.BR.ReadByte(); err != nil || v != wire.ProtocolVersion {
		t.Fatalf("handshake: %v %v", v, err)
	}
	return p
}

// Send writes m as one frame.
func (p *RawPeer) Send(m routing.Message) {
	p.t.Helper()
	f, err := wire.AppendFrame(nil, &m)
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.Conn.Write(f); err != nil {
		p.t.Fatal(err)
	}
}

// ReadFrame reads one frame's raw bytes, length prefix included.
func (p *RawPeer) ReadFrame() []byte {
	p.t.Helper()
	p.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	body, err := wire.ReadFrame(p.BR, nil)
	if err != nil {
		p.t.Fatalf("read frame: %v", err)
	}
	return append([]byte{0, 0, 0, byte(len(body))}, body...)
}

// RegisterRelay makes n register the relay name at the relay node at, over
// a connection of its own, and returns that connection.
func RegisterRelay(t testing.TB, n *runtime.Node, name, at string) runtime.Connection {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := tcp.Connect(ctx, n, at, tcp.ConnectOptions{Inbound: true, Dedicated: true})
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

// Local is a route of local addresses.
func Local(names ...string) routing.Route {
	r := make(routing.Route, len(names))
	for i, n := range names {
		r[i] = routing.LocalAddress(n)
	}
	return r
}
