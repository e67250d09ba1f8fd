package udpportal

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime/nodetest"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/securechannel"
)

// datagrams is how many datagrams the relay tests send: 10,000, or under
// the race detector 1,000.
var datagrams = map[bool]int{false: 10_000, true: 1_000}[raceEnabled]

// 10,000 datagrams of 1 byte to 60 KiB through the seed's relay (n1 ->
// n2 <- n3), from 16 clients at once: every reply answers its request,
// and each client is one flow at both ends.
func TestUDPPortalThroughRelay(t *testing.T) {
	t.Parallel()
	srv := serveUDP(t)
	p := newPath3(t, srv.addr, OutletOptions{})
	in := startInlet(t, p.n1, p.toOutlet, InletOptions{})
	szs := sizes(rand.New(rand.NewPCG(1, 2)), datagrams, 60<<10)
	roundTrips(t, in.Addr(), 16, szs)
	if got := in.Flows(); got != 16 {
		t.Errorf("inlet holds %d flows, want 16", got)
	}
	if got := p.outlet.Flows(); got != 16 {
		t.Errorf("outlet holds %d flows, want 16", got)
	}
	if got := srv.peerCount(); got != 16 {
		t.Errorf("the target saw %d peers, want one per client, 16", got)
	}
	c := in.Counters()
	if c.DatagramsIn < uint64(datagrams) || c.DatagramsOut < uint64(datagrams) || c.Dropped != 0 {
		t.Errorf("inlet counters %+v: want %d datagrams each way (and those sent again) and none dropped", c, datagrams)
	}
}

// The same inside a secure channel from n1 to n3, over the relay.
func TestUDPPortalInSecureChannel(t *testing.T) {
	t.Parallel()
	srv := serveUDP(t)
	p := newPath3(t, srv.addr, OutletOptions{})
	sc3 := securechannel.New(p.n3, securechannel.Options{})
	if err := sc3.Listen("api", securechannel.ListenerOptions{}); err != nil {
		t.Fatal(err)
	}
	sc1 := securechannel.New(p.n1, securechannel.Options{})
	toAPI := routing.Route{routing.TCPAddress(p.n2Addr), routing.LocalAddress("forward_to_n3"), routing.LocalAddress("api")}
	in, err := StartInlet(p.n1, "dns", "127.0.0.1:0", func() (routing.Route, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		enc, err := sc1.Open(ctx, toAPI)
		return routing.Route{enc, routing.LocalAddress("dns")}, err
	}, InletOptions{})
	if err != nil {
		t.Fatal(err)
	}
	szs := sizes(rand.New(rand.NewPCG(3, 4)), datagrams, 60<<10)
	roundTrips(t, in.Addr(), 16, szs)
	if got := len(sc1.List()); got != 1 {
		t.Errorf("n1 has %d secure channels, want the one all flows share", got)
	}
	nodetest.WaitFor(t, "the outlet to count every datagram", func() bool {
		return p.outlet.Counters().DatagramsOut >= uint64(datagrams)
	})
}
