package udpportal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/nodetest"
	"github.com/ockamtop/ockamtop/runtime/relay"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/splice"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(splice.LeakCheck(m))
}

// answer is the test servers' reply to a request, DNS-style: the same
// length, every byte changed, so that neither an echo by mistake nor
// another request's bytes pass for it.
func answer(req []byte) []byte {
	out := make([]byte, len(req))
	i := 0
	for ; i+8 <= len(req); i += 8 { // a word at a time: the race detector checks each access
		binary.LittleEndian.PutUint64(out[i:], binary.LittleEndian.Uint64(req[i:])^0x5a5a5a5a5a5a5a5a)
	}
	for ; i < len(req); i++ {
		out[i] = req[i] ^ 0x5a
	}
	return out
}

// serveUDP starts a request/response server on a loopback port until the
// test ends: it answers each datagram with answer(datagram), to the
// socket it came from, and counts what it answered.
type udpServer struct {
	addr  string
	mu    sync.Mutex
	peers map[string]int // guarded by mu: datagrams answered, by peer
}

func serveUDP(t testing.TB) *udpServer {
	t.Helper()
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	_ = pc.SetReadBuffer(socketBuffer) // as the inlet's: many peers, large datagrams
	s := &udpServer{addr: pc.LocalAddr().String(), peers: map[string]int{}}
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, MaxDatagram+1)
		for {
			n, from, err := pc.ReadFromUDPAddrPort(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				continue
			}
			_, _ = pc.WriteToUDPAddrPort(answer(buf[:n]), from)
			s.mu.Lock()
			s.peers[from.String()]++
			s.mu.Unlock()
		}
	})
	t.Cleanup(func() {
		pc.Close()
		wg.Wait()
	})
	return s
}

// peerCount is how many sockets the server has answered.
func (s *udpServer) peerCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.peers)
}

// path3 is the seed's portal for UDP: inlet on n1 -> n2 -> relay back to
// n3 -> outlet "dns" on n3 -> target.
type path3 struct {
	n1, n2, n3 *runtime.Node
	n2Addr     string
	outlet     *Outlet
	// toOutlet is the route from n1 to the outlet.
	toOutlet routing.Route
}

func newPath3(t testing.TB, target string, outletOpts OutletOptions) *path3 {
	t.Helper()
	p := &path3{}
	p.n2, _ = nodetest.Node(t, "n2", runtime.Options{})
	p.n2Addr = nodetest.Listen(t, p.n2)
	p.n3, _ = nodetest.Node(t, "n3", runtime.Options{})
	var err error
	if p.outlet, err = StartOutlet(p.n3, "dns", target, outletOpts); err != nil {
		t.Fatal(err)
	}
	r, err := relay.Start(p.n3, "n3", p.n2Addr, relay.Options{PingTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.Ready():
	case <-time.After(10 * time.Second):
		t.Fatalf("relay n3 at %s: not registered after 10s: %+v", p.n2Addr, r.Status())
	}
	p.n1, _ = nodetest.Node(t, "n1", runtime.Options{})
	p.toOutlet = routing.Route{routing.TCPAddress(p.n2Addr), routing.LocalAddress("forward_to_n3"), routing.LocalAddress("dns")}
	return p
}

// inlet starts an inlet on n along route.
func startInlet(t testing.TB, n *runtime.Node, route routing.Route, opts InletOptions) *Inlet {
	t.Helper()
	in, err := StartInlet(n, "dns-"+runtime.RandomAddress()[:6], "127.0.0.1:0", func() (routing.Route, error) { return route, nil }, opts)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// client is a UDP client socket of the test, closed when it ends.
func client(t testing.TB, to string) *net.UDPConn {
	t.Helper()
	a, err := net.ResolveUDPAddr("udp", to)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUDP("udp", nil, a)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// exchange sends req and reads the next datagram within timeout.
func exchange(c *net.UDPConn, req []byte, timeout time.Duration) ([]byte, error) {
	if _, err := c.Write(req); err != nil {
		return nil, err
	}
	return readWithin(c, timeout)
}

func readWithin(c *net.UDPConn, timeout time.Duration) ([]byte, error) {
	buf := make([]byte, MaxDatagram+1)
	c.SetReadDeadline(time.Now().Add(timeout))
	n, err := c.Read(buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// request is client's request number seq, of size bytes: from 8 bytes on
// it begins with the client and the number, so that a reply names the
// request it answers; the rest is random.
func request(rng *rand.Rand, clientID, seq uint32, size int) []byte {
	b := make([]byte, size+8)
	for i := 0; i < size; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], rng.Uint64())
	}
	b = b[:size]
	if size >= 8 {
		binary.BigEndian.PutUint32(b, clientID)
		binary.BigEndian.PutUint32(b[4:], seq)
	}
	return b
}

// sizes spread n datagram sizes from 1 byte to max, evenly on a log scale
// so that small and large are alike common, the ends included.
func sizes(rng *rand.Rand, n, max int) []int {
	out := make([]int, n)
	for i := range out {
		switch i {
		case 0:
			out[i] = 1
		case 1:
			out[i] = max
		default:
			out[i] = int(math.Pow(float64(max), rng.Float64()))
		}
		out[i] = min(out[i], max)
	}
	rng.Shuffle(n, func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// roundTrips has clients clients send the requests of the given sizes
// through the inlet at addr, each waiting for its reply, and checks every
// reply against its request. A request not answered within a second is
// sent again, as a DNS client does: a socket's receive buffer overflows
// now and then on a loaded machine, and the kernel drops the datagram.
// So a reply may come late, twice: one that answers an earlier request of
// the client is skipped, and anything else fails the test.
func roundTrips(t *testing.T, addr string, clients int, szs []int) (resent int) {
	t.Helper()
	errs := make(chan error, clients)
	var total atomic.Int64
	var wg sync.WaitGroup
	for c := range clients {
		conn := client(t, addr)
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), 1))
			var earlier [][]byte // the answers to this client's earlier requests
			for seq := c; seq < len(szs); seq += clients {
				req := request(rng, uint32(c), uint32(seq), szs[seq])
				want := answer(req)
				if err := await(conn, req, want, earlier, &total); err != nil {
					errs <- fmt.Errorf("client %d, request %d (%d bytes): %w", c, seq, len(req), err)
					return
				}
				earlier = append(earlier, want)
				if len(earlier) > 16 {
					earlier = earlier[1:]
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := total.Load(); n > 0 {
		t.Logf("%d requests sent again", n)
	}
	return int(total.Load())
}

// await sends req until its answer want comes, skipping late answers to
// earlier requests.
func await(conn *net.UDPConn, req, want []byte, earlier [][]byte, resent *atomic.Int64) error {
	deadline := time.Now().Add(30 * time.Second)
	for try := 0; time.Now().Before(deadline); try++ {
		if try > 0 {
			resent.Add(1)
		}
		if _, err := conn.Write(req); err != nil {
			return err
		}
		for {
			got, err := readWithin(conn, time.Second)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break // send it again
			}
			if err != nil {
				return err
			}
			if bytes.Equal(got, want) {
				return nil
			}
			if !slices.ContainsFunc(earlier, func(e []byte) bool { return bytes.Equal(e, got) }) {
				return fmt.Errorf("a reply of %d bytes that answers none of the client's requests", len(got))
			}
		}
	}
	return errors.New("no answer within 30s")
}
