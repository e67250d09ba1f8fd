package runtime_test

import (
	"context"
	goruntime "runtime"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/nodetest"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/tcp"
	"github.com/ockamtop/ockamtop/runtime/wire"
)

// Failures that only show when something dies or misbehaves at the wrong
// moment: each ends cleanly, with nothing left behind.

// Registering the same name again and again over one connection costs
// nothing that stays.
func TestRelayReregistrationHoldsNothing(t *testing.T) {
	n2, _ := nodetest.Node(t, "n2", runtime.Options{})
	addr := nodetest.Listen(t, n2)
	n3, _ := nodetest.Node(t, "n3", runtime.Options{})
	c := nodetest.Connect(t, n3, addr)
	route := routing.Route{c.Address(), routing.LocalAddress(routing.StaticRelayService)}
	if _, err := n3.SendAndReceive(context.Background(), route, wire.EncodeString("x")); err != nil {
		t.Fatal(err)
	}
	before := goruntime.NumGoroutine()
	for i := 0; i < 300; i++ {
		if _, err := n3.SendAndReceive(context.Background(), route, wire.EncodeString("x")); err != nil {
			t.Fatal(err)
		}
	}
	if after := goruntime.NumGoroutine(); after > before+5 {
		t.Fatalf("goroutines grew from %d to %d over 300 registrations", before, after)
	}
}

// A worker forgets the connections it replied through once they close.
func TestFlowSetsForgetClosedConnections(t *testing.T) {
	n2, _ := nodetest.Node(t, "n2", runtime.Options{})
	addr := nodetest.Listen(t, n2)
	for i := 0; i < 50; i++ {
		n1 := runtime.NewNode("n1", runtime.Options{Transports: []runtime.NewTransport{tcp.New}})
		if _, err := nodetest.TrySend(n1, routing.Route{routing.TCPAddress(addr), routing.LocalAddress("echo")}, "x", 5*time.Second); err != nil {
			t.Fatal(err)
		}
		n1.Close()
	}
	nodetest.WaitFor(t, "echo to forget closed connections", func() bool {
		return runtime.FlowsConsumed(n2, "echo") == 0
	})
}

// A route of a million hops is refused before a node walks it.
func TestOverlongRouteRefused(t *testing.T) {
	n, logs := nodetest.Node(t, "n", runtime.Options{})
	if err := n.StartService("hop", runtime.Hop{}); err != nil {
		t.Fatal(err)
	}
	p := nodetest.DialRaw(t, nodetest.Listen(t, n))
	onward := make(routing.Route, routing.MaxRouteLength+1)
	for i := range onward {
		onward[i] = routing.LocalAddress("hop")
	}
	p.Send(routing.Message{Onward: onward})
	logs.WaitLog(t, "onward_route of 129 addresses: route too long")
}
