package udp_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/nodetest"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/udp"
	"github.com/ockamtop/ockamtop/runtime/wire"
)

// Bad input from the network over UDP: garbage, a wrong version, a total
// of 65,535, parts that never complete, a flood from one address. Each is
// dropped, memory stays bounded, incomplete messages expire, and the node
// keeps serving others.
func TestUDPBadInput(t *testing.T) {
	n, logs := nodetest.Node(t, "n", runtime.Options{})
	addr := nodetest.ListenUDP(t, n)
	good, _ := nodetest.Node(t, "good", runtime.Options{})
	echo := routing.Route{routing.UDPAddress(addr), routing.LocalAddress("echo")}

	part := func(p wire.UDPPart) []byte { return wire.AppendUDPPart(nil, p) }
	body := wire.AppendBody(nil, &routing.Message{Onward: nodetest.Local("echo"), Return: nodetest.Local("x"), Payload: []byte("hi")})
	bad := sendDatagrams(t, addr,
		[]byte("garbage, not CBOR"),
		nil,
		bytes.Repeat([]byte{0xff}, 2000),
		[]byte{0x85, 0x02, 0x00, 0x00, 0x01, 0x40},                                    // version 2
		[]byte{0x85, 0x01, 0x00, 0x00, 0x19, 0xff, 0xff, 0x41, 0x00},                  // total of 65,535
		part(wire.UDPPart{RoutingNumber: 1, Total: 1, Payload: []byte{0x83, 0x80}}),   // not a message
		part(wire.UDPPart{RoutingNumber: 2, Offset: 0, Total: 2, Payload: []byte{1}}), // never completes
		part(wire.UDPPart{RoutingNumber: 3, Total: 1, Payload: body[:len(body)-1]}),   // truncated body
	)
	logs.WaitLog(t, "dropped a bad datagram")
	if got := nodetest.SendString(t, good, echo, "still here"); got != "still here" {
		t.Fatalf("reply %q", got)
	}

	// A flood of incomplete messages from one address: its memory stays
	// under the peer's bound, and the node answers others meanwhile.
	for rn := range uint16(200) {
		for off := range uint16(wire.MaxUDPParts - 1) {
			d := part(wire.UDPPart{RoutingNumber: 100 + rn, Offset: off, Total: wire.MaxUDPParts, Payload: make([]byte, wire.MaxUDPPartPayload)})
			if _, err := bad.Write(d); err != nil {
				t.Fatal(err)
			}
			if held := udp.Pending(n); held > udp.PeerPending {
				t.Fatalf("%d bytes held for one peer, bound %d", held, udp.PeerPending)
			}
		}
		if rn%50 == 0 {
			if got := nodetest.SendString(t, good, echo, "during the flood"); got != "during the flood" {
				t.Fatalf("reply %q", got)
			}
		}
	}
	// The incomplete messages expire.
	nodetest.WaitFor(t, "incomplete messages to expire", func() bool { return udp.Pending(n) == 0 })
	// A valid message from the flooder is still heard: nothing was closed.
	if _, err := bad.Write(part(wire.UDPPart{RoutingNumber: 999, Total: 1, Payload: wire.AppendBody(nil, &routing.Message{
		Onward: nodetest.Local("echo"), Return: nodetest.Local("x"), Payload: wire.EncodeString("back"),
	})})); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 600)
	_ = bad.SetReadDeadline(time.Now().Add(5 * time.Second))
	k, err := bad.Read(buf)
	if err != nil {
		t.Fatalf("no answer to the flooder's valid message: %v", err)
	}
	p, err := wire.DecodeUDPPart(buf[:k])
	if err != nil {
		t.Fatal(err)
	}
	m, err := wire.DecodeBody(p.Payload)
	if err != nil || !bytes.Equal(m.Payload, wire.EncodeString("back")) || !m.Onward.Equal(nodetest.Local("x")) {
		t.Fatalf("answer %v %v", m, err)
	}
}

// A listener keeps at most udp.MaxPeers peers; past that, new peers are
// dropped with a warning and the ones it has go on.
func TestUDPListenerFull(t *testing.T) {
	n, logs := nodetest.Node(t, "n", runtime.Options{})
	addr := nodetest.ListenUDP(t, n)
	good, _ := nodetest.Node(t, "good", runtime.Options{})
	echo := routing.Route{routing.UDPAddress(addr), routing.LocalAddress("echo")}
	nodetest.SendString(t, good, echo, "first")
	ping := wire.AppendUDPPart(nil, wire.UDPPart{RoutingNumber: 1, Total: 1, Payload: wire.AppendBody(nil, &routing.Message{})})
	l := udp.FirstListener(n)
	for i := range udp.MaxPeers + 10 {
		sendDatagrams(t, addr, ping)          // each from a port of its own, open until the test ends
		if i%64 == 63 && i < udp.MaxPeers-1 { // do not outrun the socket's buffer
			nodetest.WaitFor(t, "the listener to take the peers", func() bool { return l.PeerCount() >= i })
		}
	}
	logs.WaitLog(t, "udp listener full")
	if got := nodetest.SendString(t, good, echo, "still served"); got != "still served" {
		t.Fatalf("reply %q", got)
	}
}
