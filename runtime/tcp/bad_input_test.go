package tcp_test

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/nodetest"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/tcp"
	"github.com/ockamtop/ockamtop/runtime/wire"
)

// A broken stream of frames from the network closes that one connection
// with a logged reason; the listener and every other connection keep
// serving.
func TestBadInputClosesOnlyThatConnection(t *testing.T) {
	for _, tc := range []struct {
		name   string
		send   []byte
		reason string
	}{
		{"wrong preamble", []byte{0x02}, "peer speaks protocol version 2"},
		{"truncated frame", []byte{0x01, 0, 0, 0, 0x10, 0x83, 0x80}, "unexpected EOF"},
		{"oversized length", []byte{0x01, 0xff, 0xff, 0xff, 0xff}, "frame too large"},
		{"silent peer", nil, "i/o timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			node, logs := nodetest.Node(t, "victim", nodetest.TCP(tcp.Options{HandshakeTimeout: 300 * time.Millisecond}))
			addr := nodetest.Listen(t, node)

			// A live connection made before the bad one.
			before, _ := nodetest.Node(t, "before", runtime.Options{})
			beforeConn := nodetest.Connect(t, before, addr)
			echo := func(n *runtime.Node, c runtime.Connection) {
				t.Helper()
				if got := nodetest.SendString(t, n, routing.Route{c.Address(), routing.LocalAddress("echo")}, "still here"); got != "still here" {
					t.Fatalf("echo reply %q", got)
				}
			}
			echo(before, beforeConn)

			raw, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			if len(tc.send) > 0 {
				if _, err := raw.Write(tc.send); err != nil {
					t.Fatal(err)
				}
			}
			if tc.name == "truncated frame" {
				raw.(*net.TCPConn).CloseWrite()
			}
			// The node closes the bad connection: we read its version byte,
			// then EOF.
			raw.SetReadDeadline(time.Now().Add(5 * time.Second))
			got, err := io.ReadAll(raw)
			if err != nil && !nodetest.IsReset(err) {
				t.Fatalf("bad connection was not closed: %v", err)
			}
			if len(got) > 1 {
				t.Fatalf("node sent %x to a bad peer", got)
			}
			logs.WaitLog(t, tc.reason)

			// The old connection and a new one both still work.
			echo(before, beforeConn)
			after, _ := nodetest.Node(t, "after", runtime.Options{})
			echo(after, nodetest.Connect(t, after, addr))
		})
	}
}

// isReset reports a connection reset: the node closed with unread input.

// A whole frame that holds a bad message is dropped with a warning, and the
// connection it came on goes on: one bad message must not cut every stream
// that shares the connection.
func TestBadMessageKeepsTheConnection(t *testing.T) {
	frame := func(m *routing.Message) []byte {
		b, err := wire.AppendFrame(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	long := make(routing.Route, routing.MaxRouteLength+1)
	for i := range long {
		long[i] = routing.LocalAddress("hop")
	}
	for _, tc := range []struct {
		name   string
		send   []byte
		reason string
	}{
		{"invalid CBOR", []byte{0, 0, 0, 2, 0xff, 0xff}, "malformed frame body"},
		{"unknown transport type", frame(&routing.Message{Onward: routing.Route{{Type: 7, Value: "x"}}}), "unsupported transport: address 7#x"},
		{"onward route over the limit", frame(&routing.Message{Onward: append(long, routing.LocalAddress("echo"))}), "onward_route of 130 addresses: route too long"},
		{"return route over the limit", frame(&routing.Message{Onward: routing.Route{routing.LocalAddress("echo")}, Return: long}), "return_route of 129 addresses: route too long"},
		{"return route at the limit, and the connection's address", frame(&routing.Message{Onward: routing.Route{routing.LocalAddress("echo")}, Return: long[1:]}), "route of 1/129 hops, the limit is 128"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			node, logs := nodetest.Node(t, "victim", runtime.Options{})
			addr := nodetest.Listen(t, node)
			raw, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			raw.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := raw.Write(append([]byte{wire.ProtocolVersion}, tc.send...)); err != nil {
				t.Fatal(err)
			}
			logs.WaitLog(t, tc.reason)
			// The same connection still carries an echo there and back.
			ping := frame(&routing.Message{
				Onward:  routing.Route{routing.LocalAddress("echo")},
				Return:  routing.Route{routing.LocalAddress("me")},
				Payload: wire.EncodeString("still here"),
			})
			if _, err := raw.Write(ping); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(raw)
			readEcho(t, br, "still here", "no reply on the connection")
		})
	}
}

// readEcho reads, from a raw connection to a node, its version byte and
// a frame, and wants the frame's payload to be the BARE string want: an
// echo's reply. what says what the frame is, when none comes.
func readEcho(t testing.TB, br *bufio.Reader, want, what string) {
	t.Helper()
	if v, err := br.ReadByte(); err != nil || v != wire.ProtocolVersion {
		t.Fatalf("version byte %x, %v", v, err)
	}
	body, err := wire.ReadFrame(br, nil)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	m, err := wire.DecodeBody(body)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := wire.String(m.Payload); got != want {
		t.Fatalf("echo reply %q, want %q", got, want)
	}
}
