package runtime

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/wire"
)

// Bad input from the network closes that one connection with a logged
// reason; the listener and every other connection keep serving.
func TestBadInputClosesOnlyThatConnection(t *testing.T) {
	unknownTransport, err := wire.AppendFrame([]byte{wire.ProtocolVersion}, &routing.Message{
		Onward: routing.Route{{Type: 7, Value: "x"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		send   []byte
		reason string
	}{
		{"wrong preamble", []byte{0x02}, "peer speaks protocol version 2"},
		{"truncated frame", []byte{0x01, 0, 0, 0, 0x10, 0x83, 0x80}, "unexpected EOF"},
		{"oversized length", []byte{0x01, 0xff, 0xff, 0xff, 0xff}, "frame too large"},
		{"invalid CBOR", []byte{0x01, 0, 0, 0, 2, 0xff, 0xff}, "malformed frame body"},
		{"unknown transport type", unknownTransport, "unsupported transport: address 7#x"},
		{"silent peer", nil, "i/o timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			node, logs := testNode(t, "victim", Options{HandshakeTimeout: 300 * time.Millisecond})
			addr := listen(t, node)

			// A live connection made before the bad one.
			before, _ := testNode(t, "before", Options{})
			beforeConn := connect(t, before, addr)
			echo := func(n *Node, c Connection) {
				t.Helper()
				if got := sendString(t, n, routing.Route{c.Address(), routing.LocalAddress("echo")}, "still here"); got != "still here" {
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
			if err != nil && !errors.Is(err, net.ErrClosed) && !isReset(err) {
				t.Fatalf("bad connection was not closed: %v", err)
			}
			if len(got) > 1 {
				t.Fatalf("node sent %x to a bad peer", got)
			}
			logs.waitLog(t, tc.reason)

			// The old connection and a new one both still work.
			echo(before, beforeConn)
			after, _ := testNode(t, "after", Options{})
			echo(after, connect(t, after, addr))
		})
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op)
}
