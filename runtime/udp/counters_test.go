package udp_test

import (
	"testing"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/nodetest"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/udp"
	"github.com/ockamtop/ockamtop/runtime/wire"
)

// The UDP transport counts what crosses it: the datagrams and messages of
// an echo over one hop on both nodes, and each bad datagram by its reason.
func TestUDPTransportCounters(t *testing.T) {
	n, logs := nodetest.Node(t, "n", runtime.Options{})
	addr := nodetest.ListenUDP(t, n)
	client, _ := nodetest.Node(t, "client", runtime.Options{})
	echo := routing.Route{routing.UDPAddress(addr), routing.LocalAddress("echo")}
	if got := nodetest.SendString(t, client, echo, "hello"); got != "hello" {
		t.Fatalf("reply %q", got)
	}
	counters := func(n *runtime.Node) runtime.TransportCounters {
		t.Helper()
		for _, c := range n.Transports().Counters() {
			if c.Transport == "udp" {
				return c
			}
		}
		t.Fatal("no udp counters")
		return runtime.TransportCounters{}
	}
	for _, node := range []*runtime.Node{n, client} {
		// The echo counts its reply once sent, which may be after the
		// client has it.
		nodetest.WaitFor(t, node.Name()+"'s counters of one echo", func() bool {
			c := counters(node)
			return c.MessagesIn >= 1 && c.MessagesOut >= 1 && c.PacketsIn >= c.MessagesIn && c.PacketsOut >= c.MessagesOut && c.Peers == 1
		})
	}

	part := func(p wire.UDPPart) []byte { return wire.AppendUDPPart(nil, p) }
	sendDatagrams(t, addr,
		[]byte("garbage, not CBOR"),
		part(wire.UDPPart{RoutingNumber: 1, Total: 1, Payload: []byte{0x83, 0x80}}), // not a message
	)
	logs.WaitLog(t, "dropped a bad datagram") // the second is counted, not logged: one peer
	nodetest.WaitFor(t, "the drops to be counted", func() bool {
		d := counters(n).Dropped
		return d["bad_datagram"] == 1 && d["bad_message"] == 1
	})
	if d := counters(client).Dropped; d["bad_datagram"]+d["bad_message"] != 0 {
		t.Errorf("the client counts drops it never saw: %v", d)
	}
	if len(counters(n).Dropped) != len(udp.DropReasons) {
		t.Errorf("dropped %v: want every reason of %v", counters(n).Dropped, udp.DropReasons)
	}
}
