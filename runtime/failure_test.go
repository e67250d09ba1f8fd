package runtime

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/wire"
)

// Failures that only show when something dies or misbehaves at the wrong
// moment: each ends cleanly, with nothing left behind.

// Registering the same name again and again over one connection costs
// nothing that stays.
func TestRelayReregistrationHoldsNothing(t *testing.T) {
	n2, _ := testNode(t, "n2", Options{})
	addr := listen(t, n2)
	n3, _ := testNode(t, "n3", Options{})
	c := connect(t, n3, addr)
	route := routing.Route{c.Address(), routing.LocalAddress(routing.StaticRelayService)}
	if _, err := n3.SendAndReceive(context.Background(), route, wire.EncodeString("x")); err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	for i := 0; i < 300; i++ {
		if _, err := n3.SendAndReceive(context.Background(), route, wire.EncodeString("x")); err != nil {
			t.Fatal(err)
		}
	}
	if after := runtime.NumGoroutine(); after > before+5 {
		t.Fatalf("goroutines grew from %d to %d over 300 registrations", before, after)
	}
}

// A worker forgets the connections it replied through once they close.
func TestFlowSetsForgetClosedConnections(t *testing.T) {
	n2, _ := testNode(t, "n2", Options{})
	addr := listen(t, n2)
	for i := 0; i < 50; i++ {
		n1 := NewNode("n1", Options{})
		if _, err := trySend(n1, routing.Route{routing.TCPAddress(addr), routing.LocalAddress("echo")}, "x", 5*time.Second); err != nil {
			t.Fatal(err)
		}
		n1.Close()
	}
	w := n2.lookup("echo")
	waitFor(t, "echo to forget closed connections", func() bool {
		w.flows.mu.RLock()
		defer w.flows.mu.RUnlock()
		return w.flows.len() == 0
	})
}

// A route of a million hops is refused before a node walks it.
func TestOverlongRouteRefused(t *testing.T) {
	n, logs := testNode(t, "n", Options{})
	if err := n.StartService("hop", Hop{}); err != nil {
		t.Fatal(err)
	}
	p := dialRaw(t, listen(t, n))
	onward := make(routing.Route, routing.MaxRouteLength+1)
	for i := range onward {
		onward[i] = routing.LocalAddress("hop")
	}
	p.send(routing.Message{Onward: onward})
	logs.waitLog(t, "onward_route of 129 addresses: route too long")
}
