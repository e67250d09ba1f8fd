package udpportal

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/nodetest"
	"github.com/ockamtop/ockamtop/runtime/routing"
)

// path2 is an inlet's node n1 and an outlet "dns" on n3, which listens.
func path2(t testing.TB, target string, outletOpts OutletOptions) (n1 *runtime.Node, out *Outlet, toOutlet routing.Route) {
	t.Helper()
	n3, _ := nodetest.Node(t, "n3", runtime.Options{})
	addr := nodetest.Listen(t, n3)
	out, err := StartOutlet(n3, "dns", target, outletOpts)
	if err != nil {
		t.Fatal(err)
	}
	n1, _ = nodetest.Node(t, "n1", runtime.Options{})
	return n1, out, routing.Route{routing.TCPAddress(addr), routing.LocalAddress("dns")}
}

// 1,000 clients at once are 1,000 flows at both ends, each answered, and
// the target sees 1,000 peers; idle, they all end, at both ends.
func TestThousandFlowsThenIdle(t *testing.T) {
	t.Parallel()
	const clients = 1000
	srv := serveUDP(t)
	n1, out, route := path2(t, srv.addr, OutletOptions{IdleTimeout: time.Hour})
	in := startInlet(t, n1, route, InletOptions{IdleTimeout: time.Hour, MaxFlows: clients})
	szs := make([]int, clients)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range szs {
		szs[i] = 8 + rng.IntN(512)
	}
	roundTrips(t, in.Addr(), clients, szs)
	if got := in.Flows(); got != clients {
		t.Errorf("inlet holds %d flows, want %d", got, clients)
	}
	if got := out.Flows(); got != clients {
		t.Errorf("outlet holds %d flows, want %d", got, clients)
	}
	if got := srv.peerCount(); got != clients {
		t.Errorf("the target saw %d peers, want %d", got, clients)
	}
	// The inlet's flows end idle, and tell the outlet's, whose own
	// timeout is an hour away.
	in.SetIdleTimeout(200 * time.Millisecond)
	nodetest.WaitFor(t, "every flow to end idle at both ends", func() bool {
		return in.Flows() == 0 && out.Flows() == 0
	})
	// A request sent again and answered meanwhile may come in late and
	// open a flow again, which ends idle too.
	if c := in.Counters(); c.Expired < clients {
		t.Errorf("inlet counters %+v: want %d flows expired", c, clients)
	}
	// A client that comes back is a new flow, and answered.
	c := client(t, in.Addr())
	if got, err := exchange(c, []byte("again"), 10*time.Second); err != nil || !bytes.Equal(got, answer([]byte("again"))) {
		t.Fatalf("a client after the flows ended: %q, %v", got, err)
	}
}

// An outlet's idle timeout ends its flows too, and tells the inlet.
func TestOutletIdleEndsInletFlow(t *testing.T) {
	t.Parallel()
	srv := serveUDP(t)
	n1, out, route := path2(t, srv.addr, OutletOptions{IdleTimeout: 100 * time.Millisecond})
	in := startInlet(t, n1, route, InletOptions{IdleTimeout: time.Hour})
	roundTrips(t, in.Addr(), 3, []int{10, 20, 30})
	nodetest.WaitFor(t, "the outlet's flows to end and the inlet's with them", func() bool {
		return out.Flows() == 0 && in.Flows() == 0
	})
	if c := out.Counters(); c.Expired != 3 {
		t.Errorf("outlet counters %+v: want 3 flows expired", c)
	}
}

// An inlet holds at most MaxFlows: a client past it gets nothing, and is
// counted as refused, until a flow ends idle; then it is served.
func TestFlowLimit(t *testing.T) {
	t.Parallel()
	srv := serveUDP(t)
	n1, _, route := path2(t, srv.addr, OutletOptions{})
	in := startInlet(t, n1, route, InletOptions{MaxFlows: 4, IdleTimeout: time.Hour})
	roundTrips(t, in.Addr(), 4, []int{10, 20, 30, 40})
	late := client(t, in.Addr())
	if _, err := late.Write([]byte("let me in")); err != nil {
		t.Fatal(err)
	}
	nodetest.WaitFor(t, "the fifth client to be refused", func() bool { return in.Counters().Refused >= 1 })
	if got := in.Flows(); got != 4 {
		t.Fatalf("inlet holds %d flows, want its limit, 4", got)
	}
	// Room again: the idle flows end.
	in.SetIdleTimeout(50 * time.Millisecond)
	nodetest.WaitFor(t, "the idle flows to end", func() bool { return in.Flows() == 0 })
	in.SetIdleTimeout(time.Hour)
	got, err := exchange(late, []byte("let me in"), 10*time.Second)
	for err == nil && !bytes.Equal(got, answer([]byte("let me in"))) {
		got, err = readWithin(late, 10*time.Second) // the first try's answer, had it gone through
	}
	if err != nil {
		t.Fatalf("the fifth client once there is room: %v", err)
	}
}

// slowHop is a hop worker that takes its time with each message: a route
// slower than what a flooding client sends.
type slowHop struct {
	runtime.Hop
	delay time.Duration
}

func (h slowHop) HandleMessage(ctx *runtime.Context, m *runtime.Routed) error {
	time.Sleep(h.delay) // the slow link this hop stands for
	return h.Hop.HandleMessage(ctx, m)
}

// A client that floods the inlet, far faster than its route carries,
// loses its own datagrams: a polite client next to it, one request at a
// time, has every request answered, each within a second or two.
func TestFlooderDoesNotStarvePoliteClient(t *testing.T) {
	t.Parallel()
	srv := serveUDP(t)
	n1, _, route := path2(t, srv.addr, OutletOptions{})
	// At most ~2,000 datagrams a second leave n1.
	if err := n1.StartWorker("slow", slowHop{delay: 500 * time.Microsecond}); err != nil {
		t.Fatal(err)
	}
	in := startInlet(t, n1, append(routing.Route{routing.LocalAddress("slow")}, route...), InletOptions{FlowQueue: 16})

	stop := make(chan struct{})
	var flooded atomic.Int64
	var wg sync.WaitGroup
	flooder := client(t, in.Addr())
	wg.Go(func() {
		junk := bytes.Repeat([]byte{0xee}, 1000)
		// 20,000 datagrams a second, ten times what the route carries: an
		// unpaced flooder on the same cores would outrun the inlet's
		// reader, and then the kernel drops every client's datagrams alike
		// at the socket, where no inlet can choose.
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for range 100 {
				if _, err := flooder.Write(junk); err == nil {
					flooded.Add(1)
				}
			}
		}
	})
	defer func() {
		close(stop)
		wg.Wait()
	}()
	nodetest.WaitFor(t, "the flood to overflow its queue", func() bool { return in.Counters().Dropped > 100 })

	polite := client(t, in.Addr())
	var slowest time.Duration
	var earlier [][]byte
	var resent atomic.Int64
	for seq := range 50 {
		req := []byte(fmt.Sprintf("polite request %d", seq))
		start := time.Now()
		if err := await(polite, req, answer(req), earlier, &resent); err != nil {
			t.Fatalf("polite request %d, next to a flood of %d datagrams: %v", seq, flooded.Load(), err)
		}
		slowest = max(slowest, time.Since(start))
		earlier = append(earlier, answer(req))
	}
	c := in.Counters()
	t.Logf("flooder sent %d datagrams, the inlet dropped %d; the polite client's slowest answer took %s, %d sent again", flooded.Load(), c.Dropped, slowest, resent.Load())
	if resent.Load() > 5 {
		t.Errorf("the polite client sent %d of its 50 requests again: the flood crowded it out", resent.Load())
	}
}
