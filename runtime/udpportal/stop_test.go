package udpportal

import (
	"context"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime/nodetest"
	"github.com/ockamtop/ockamtop/runtime/routing"
)

// An inlet stopped on its own, its node running on, closes its socket and
// tells the outlet, whose flows end at once; then the outlet stops too.
func TestStopOnTheirOwn(t *testing.T) {
	t.Parallel()
	srv := serveUDP(t)
	n1, out, route := path2(t, srv.addr, OutletOptions{IdleTimeout: time.Hour})
	in := startInlet(t, n1, route, InletOptions{IdleTimeout: time.Hour})
	roundTrips(t, in.Addr(), 5, []int{1, 2, 3, 4, 5})
	in.Stop()
	nodetest.WaitFor(t, "the inlet's Close to end the outlet's flows", func() bool { return out.Flows() == 0 })
	if in.Flows() != 0 {
		t.Errorf("a stopped inlet holds %d flows", in.Flows())
	}
	c := client(t, in.Addr())
	if _, err := exchange(c, []byte("anyone?"), 200*time.Millisecond); err == nil {
		t.Error("a stopped inlet answered")
	}
	out.Stop()
	if n1.Context().Err() != nil {
		t.Fatal("the node stopped with its parts")
	}
}

// The outlet refuses what is not a UDP portal message, a TCP portal's
// Ping above all, and goes on serving.
func TestOutletRefusesOtherMessages(t *testing.T) {
	t.Parallel()
	srv := serveUDP(t)
	n1, out, route := path2(t, srv.addr, OutletOptions{})
	for _, payload := range [][]byte{{0x00}, {0x40, 0x05, 'a'}, {0x41, 0x00}, {0x99}} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := n1.Send(ctx, routing.Message{Onward: route, Return: routing.Route{routing.LocalAddress("nobody")}, Payload: payload})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	in := startInlet(t, n1, route, InletOptions{})
	roundTrips(t, in.Addr(), 1, []int{100})
	if out.Flows() != 1 {
		t.Errorf("outlet holds %d flows, want the inlet's one: a malformed message opened one", out.Flows())
	}
}
