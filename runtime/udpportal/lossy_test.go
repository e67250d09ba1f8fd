package udpportal

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/nodetest"
	"github.com/ockamtop/ockamtop/runtime/routing"
)

// The UDP transport between n1 and n2 through a proxy that drops,
// duplicates and reorders 3% of the datagrams each: a portal's datagrams
// are lost now and then (a request or a reply, or one UDP part of one),
// and no reply ever carries bytes that are not its own request's answer.
func TestUDPPortalOverLossyUDPHop(t *testing.T) {
	t.Parallel()
	srv := serveUDP(t)
	n2, _ := nodetest.Node(t, "n2", runtime.Options{})
	n2Addr := nodetest.ListenUDP(t, n2)
	if _, err := StartOutlet(n2, "dns", srv.addr, OutletOptions{}); err != nil {
		t.Fatal(err)
	}
	proxy := nodetest.NewLossyUDPProxy(t, n2Addr, 7, 0.03, 0.03, 0.03)
	n1, _ := nodetest.Node(t, "n1", runtime.Options{})
	in := startInlet(t, n1, routing.Route{routing.UDPAddress(proxy.Addr), routing.LocalAddress("dns")}, InletOptions{})

	const clients, requests = 8, 400
	szs := sizes(rand.New(rand.NewPCG(8, 9)), requests, 20<<10)
	for i := range szs {
		szs[i] = max(szs[i], 8) // each names its request
	}
	var answered, lost, late atomic.Int64
	var wg sync.WaitGroup
	for c := range clients {
		conn := client(t, in.Addr())
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), 10))
			var earlier [][]byte
			for seq := c; seq < requests; seq += clients {
				req := request(rng, uint32(c), uint32(seq), szs[seq])
				want := answer(req)
				if _, err := conn.Write(req); err != nil {
					t.Error(err)
					return
				}
				for {
					got, err := readWithin(conn, 300*time.Millisecond)
					if errors.Is(err, os.ErrDeadlineExceeded) {
						lost.Add(1)
						break
					}
					if err != nil {
						t.Error(err)
						return
					}
					if bytes.Equal(got, want) {
						answered.Add(1)
						break
					}
					if !slices.ContainsFunc(earlier, func(e []byte) bool { return bytes.Equal(e, got) }) {
						t.Errorf("client %d, request %d: a reply of %d bytes that answers none of its requests", c, seq, len(got))
						return
					}
					late.Add(1) // a duplicate, or a reply after its wait
				}
				earlier = append(earlier, want)
			}
		})
	}
	wg.Wait()
	t.Logf("%d of %d requests answered, %d lost, %d replies late or twice; inlet %+v", answered.Load(), requests, lost.Load(), late.Load(), in.Counters())
	if answered.Load() < requests/4 {
		t.Fatalf("only %d of %d requests answered over 3%% loss", answered.Load(), requests)
	}
	if lost.Load() == 0 {
		t.Errorf("no request lost over a hop that drops 3%% of the datagrams: the proxy was not on the way")
	}
}

// Over a UDP hop, a datagram that with its routes is more than the UDP
// transport carries (64 KiB) is dropped and counted, and the flow goes on:
// the next datagram is answered.
func TestDatagramTooLargeForUDPHop(t *testing.T) {
	t.Parallel()
	srv := serveUDP(t)
	n2, _ := nodetest.Node(t, "n2", runtime.Options{})
	n2Addr := nodetest.ListenUDP(t, n2)
	if _, err := StartOutlet(n2, "dns", srv.addr, OutletOptions{}); err != nil {
		t.Fatal(err)
	}
	n1, logs := nodetest.Node(t, "n1", runtime.Options{})
	in := startInlet(t, n1, routing.Route{routing.UDPAddress(n2Addr), routing.LocalAddress("dns")}, InletOptions{})
	c := client(t, in.Addr())
	if _, err := c.Write(make([]byte, 65507)); err != nil { // the most IPv4 carries
		t.Fatal(err)
	}
	nodetest.WaitFor(t, "the large datagram to be dropped", func() bool { return in.Counters().Dropped == 1 })
	logs.WaitLog(t, "datagram too large for a UDP hop")
	roundTrips(t, in.Addr(), 1, []int{60 << 10})
}
