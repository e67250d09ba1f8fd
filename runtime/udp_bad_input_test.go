package runtime

import (
	"bytes"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/wire"
)

// Bad input from the network over UDP: garbage, a wrong version, a total
// of 65,535, parts that never complete, a flood from one address. Each is
// dropped, memory stays bounded, incomplete messages expire, and the node
// keeps serving others.
func TestUDPBadInput(t *testing.T) {
	n, logs := testNode(t, "n", Options{})
	addr := listenUDP(t, n)
	good, _ := testNode(t, "good", Options{})
	echo := routing.Route{routing.UDPAddress(addr), routing.LocalAddress("echo")}

	part := func(p wire.UDPPart) []byte { return wire.AppendUDPPart(nil, p) }
	body := wire.AppendBody(nil, &routing.Message{Onward: local("echo"), Return: local("x"), Payload: []byte("hi")})
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
	logs.waitLog(t, "dropped a bad datagram")
	if got := sendString(t, good, echo, "still here"); got != "still here" {
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
			if held := n.udp().pending.Load(); held > udpPeerPending {
				t.Fatalf("%d bytes held for one peer, bound %d", held, udpPeerPending)
			}
		}
		if rn%50 == 0 {
			if got := sendString(t, good, echo, "during the flood"); got != "during the flood" {
				t.Fatalf("reply %q", got)
			}
		}
	}
	// The incomplete messages expire.
	waitFor(t, "incomplete messages to expire", func() bool { return n.udp().pending.Load() == 0 })
	// A valid message from the flooder is still heard: nothing was closed.
	if _, err := bad.Write(part(wire.UDPPart{RoutingNumber: 999, Total: 1, Payload: wire.AppendBody(nil, &routing.Message{
		Onward: local("echo"), Return: local("x"), Payload: wire.EncodeString("back"),
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
	if err != nil || !bytes.Equal(m.Payload, wire.EncodeString("back")) || !m.Onward.Equal(local("x")) {
		t.Fatalf("answer %v %v", m, err)
	}
}

// A listener keeps at most udpMaxPeers peers; past that, new peers are
// dropped with a warning and the ones it has go on.
func TestUDPListenerFull(t *testing.T) {
	n, logs := testNode(t, "n", Options{})
	addr := listenUDP(t, n)
	good, _ := testNode(t, "good", Options{})
	echo := routing.Route{routing.UDPAddress(addr), routing.LocalAddress("echo")}
	sendString(t, good, echo, "first")
	ping := wire.AppendUDPPart(nil, wire.UDPPart{RoutingNumber: 1, Total: 1, Payload: wire.AppendBody(nil, &routing.Message{})})
	l := n.udp().listeners[0]
	for i := range udpMaxPeers + 10 {
		sendDatagrams(t, addr, ping)         // each from a port of its own, open until the test ends
		if i%64 == 63 && i < udpMaxPeers-1 { // do not outrun the socket's buffer
			waitFor(t, "the listener to take the peers", func() bool { return l.peerCount() >= i })
		}
	}
	logs.waitLog(t, "udp listener full")
	if got := sendString(t, good, echo, "still served"); got != "still served" {
		t.Fatalf("reply %q", got)
	}
}
