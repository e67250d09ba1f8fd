package relay

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/nodetest"
	"github.com/ockamtop/ockamtop/runtime/portal"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/securechannel"
	"github.com/ockamtop/ockamtop/runtime/tcp"
)

// faultyLink is a TCP link between a node and a listener it dials, in user
// space (this machine's kernel has no netem), whose faults a test sets:
//
//   - a blackhole stalls it: nothing moves either way, connections stay
//     open and new ones are taken but carry nothing, as when a link drops
//     every packet and TCP keeps retrying; what was sent moves on, intact,
//     once it heals;
//   - a delay holds each chunk that long before it goes on;
//   - a rate caps the bytes a second each way of each connection;
//   - resetAll resets every connection it carries, both ends.
type faultyLink struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu     sync.Mutex
	holed  bool          // guarded by mu
	healed chan struct{} // guarded by mu; closed when a blackhole ends
	conns  []net.Conn    // guarded by mu
	delay  time.Duration // guarded by mu
	rate   int           // guarded by mu; bytes a second, 0 for no cap
}

func newFaultyLink(t testing.TB, target string) *faultyLink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &faultyLink{ln: ln, target: target, healed: make(chan struct{})}
	close(l.healed)
	l.wg.Go(l.accept)
	t.Cleanup(l.close)
	return l
}

// Addr is where to dial the target through the link.
func (l *faultyLink) Addr() string { return l.ln.Addr().String() }

// blackhole stalls the link until heal.
func (l *faultyLink) blackhole() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.holed {
		l.holed, l.healed = true, make(chan struct{})
	}
}

// heal ends a blackhole: what waited moves on.
func (l *faultyLink) heal() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.holed {
		l.holed = false
		close(l.healed)
	}
}

// slow sets the link's delay and its cap on bytes a second (0: none).
func (l *faultyLink) slow(delay time.Duration, rate int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.delay, l.rate = delay, rate
}

// resetAll resets every connection the link carries, at both ends.
func (l *faultyLink) resetAll() {
	l.mu.Lock()
	conns := l.conns
	l.conns = nil
	l.mu.Unlock()
	for _, c := range conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = c.Close()
	}
}

// hold waits as the link's delay and rate say for n bytes to cross it.
func (l *faultyLink) hold(n int) {
	l.mu.Lock()
	wait := l.delay
	if l.rate > 0 {
		wait += time.Duration(n) * time.Second / time.Duration(l.rate)
	}
	l.mu.Unlock()
	if wait > 0 {
		time.Sleep(wait)
	}
}

// pass waits while the link is a blackhole; false once it is closed.
func (l *faultyLink) pass(done <-chan struct{}) bool {
	l.mu.Lock()
	healed := l.healed
	l.mu.Unlock()
	select {
	case <-healed:
		return true
	case <-done:
		return false
	}
}

func (l *faultyLink) accept() {
	done := make(chan struct{})
	defer close(done)
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		l.wg.Go(func() { l.carry(c, done) })
	}
}

// carry connects c to the target once the link passes, and copies both
// ways, a chunk at a time, each waiting while the link is a blackhole.
func (l *faultyLink) carry(c net.Conn, done <-chan struct{}) {
	if !l.pass(done) {
		c.Close()
		return
	}
	t, err := net.Dial("tcp", l.target)
	if err != nil {
		c.Close()
		return
	}
	l.mu.Lock()
	l.conns = append(l.conns, c, t)
	l.mu.Unlock()
	var wg sync.WaitGroup
	copyWay := func(dst, src net.Conn) {
		defer wg.Done()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				l.hold(n)
			}
			if n > 0 && (!l.pass(done) || writeAll(dst, buf[:n]) != nil) {
				break
			}
			if err != nil {
				break
			}
		}
		dst.Close()
		src.Close()
	}
	wg.Add(2)
	go copyWay(t, c)
	go copyWay(c, t)
	wg.Wait()
}

func writeAll(w io.Writer, b []byte) error {
	_, err := w.Write(b)
	return err
}

func (l *faultyLink) close() {
	l.ln.Close()
	l.heal()
	l.mu.Lock()
	for _, c := range l.conns {
		c.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
}

// streamServer sends size bytes of a pattern to each client, then closes.
func streamServer(size int) func(c *net.TCPConn) {
	return func(c *net.TCPConn) {
		_, _ = c.Write(pattern(size))
		_ = c.CloseWrite()
		_, _ = io.Copy(io.Discard, c)
	}
}

func pattern(size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// linkPath is the seeds' portal with its relay over a faulty link: an
// inlet on n1 -> n2 -> (the link) <- the relay of n3 -> an outlet on n3 ->
// target.
type linkPath struct {
	n1, n3 *runtime.Node
	logs3  *nodetest.LogBuffer
	link   *faultyLink
	relay  *Relay
	inlet  *portal.Inlet
	// viaRelay is the route from n1 to n3's forwarder at n2.
	viaRelay routing.Route
}

// newLinkPath starts a linkPath; before, on n3 and its link, before the
// relay registers.
func newLinkPath(t testing.TB, target string, keep runtime.KeepAlive, relayOpts Options, n3Opts runtime.Options, before func(p *linkPath)) *linkPath {
	t.Helper()
	p := &linkPath{}
	n2, _ := nodetest.Node(t, "n2", runtime.Options{})
	n2Addr := nodetest.Listen(t, n2)
	p.link = newFaultyLink(t, n2Addr)
	p.n3, p.logs3 = nodetest.Node(t, "n3", n3Opts)
	if _, err := portal.StartOutlet(p.n3, "outlet", target, portal.OutletOptions{KeepAlive: keep}); err != nil {
		t.Fatal(err)
	}
	if before != nil {
		before(p)
	}
	var err error
	if p.relay, err = Start(p.n3, "n3", p.link.Addr(), relayOpts); err != nil {
		t.Fatal(err)
	}
	<-p.relay.Ready()
	p.n1, _ = nodetest.Node(t, "n1", runtime.Options{})
	p.viaRelay = routing.Route{routing.TCPAddress(n2Addr), routing.LocalAddress("forward_to_n3")}
	route := append(p.viaRelay.Clone(), routing.LocalAddress("outlet"))
	if p.inlet, err = portal.StartInlet(p.n1, "web", "127.0.0.1:0", func() (routing.Route, error) { return route, nil }, portal.InletOptions{KeepAlive: keep}); err != nil {
		t.Fatal(err)
	}
	return p
}

// uppercase is the route from n1 to n3's uppercase service, through the
// relay.
func (p *linkPath) uppercase() routing.Route {
	return append(p.viaRelay.Clone(), routing.LocalAddress("uppercase"))
}

// A relay whose link to its relay node is blackholed gives up its
// connection and registers again once the link heals; a secure channel
// over it is opened again by the same node, which never restarts; and a
// download caught in the outage ends, intact so far, with an error rather
// than a clean end, within its keepalive. Never a hang, never a wrong
// byte.
func TestLinkBlackholeRelayAndStreams(t *testing.T) {
	const size = 64 << 20
	keep := runtime.KeepAlive{Every: 500 * time.Millisecond, DeadAfter: 3 * time.Second}
	p := newLinkPath(t, nodetest.ServeTCP(t, streamServer(size)), keep,
		Options{PingInterval: 100 * time.Millisecond, PingTimeout: 500 * time.Millisecond, MaxBackoff: 200 * time.Millisecond},
		nodetest.TCP(tcp.Options{HandshakeTimeout: time.Second, DialTimeout: time.Second}),
		func(p *linkPath) {
			if err := securechannel.New(p.n3, securechannel.Options{}).Listen("api", securechannel.ListenerOptions{}); err != nil {
				t.Fatal(err)
			}
		})
	n1, rel, in, link, logs3, viaRelay := p.n1, p.relay, p.inlet, p.link, p.logs3, p.viaRelay
	sc1 := securechannel.New(n1, securechannel.Options{})
	secureEcho := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		enc, err := sc1.Open(ctx, append(viaRelay.Clone(), routing.LocalAddress("api")))
		if err != nil {
			return err
		}
		got, err := n1.SendAndReceive(ctx, routing.Route{enc, routing.LocalAddress("echo")}, []byte("through"))
		if err == nil && string(got) != "through" {
			err = errors.New("a wrong reply: " + string(got))
		}
		return err
	}
	if err := secureEcho(); err != nil {
		t.Fatalf("secure channel before the outage: %v", err)
	}

	// A download in flight: 1 MiB read, then the link goes dark.
	got, err := cutDownload(t, in.Addr(), size, link.blackhole)
	switch {
	case errTimeout(err) != nil:
		t.Fatalf("the download hung through the outage: %d bytes", got)
	case err == nil && got < size:
		t.Fatalf("the download ended cleanly, cut at %d of %d bytes", got, size)
	}
	t.Logf("download caught in the outage: %d of %d bytes, then %v", got, size, err)
	nodetest.WaitFor(t, "the relay to give up its connection", func() bool { return rel.Status().State != Up })
	logs3.WaitLog(t, "relay down, reconnecting")

	// Healed: the relay registers again, and a message gets through.
	link.heal()
	took := healedWithin(t, n1, p.uppercase(), rel)
	t.Logf("through the relay again %s after the link healed", took.Round(time.Millisecond))

	// The same node opens its secure channel again, and a new download
	// is whole.
	nodetest.WaitFor(t, "a secure channel over the healed relay", func() bool { return secureEcho() == nil })
	c2, err := net.Dial("tcp", in.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	_ = c2.SetReadDeadline(time.Now().Add(30 * time.Second))
	h := sha256.New()
	n, err := io.Copy(h, c2)
	if err != nil || n != size || !bytes.Equal(h.Sum(nil), sha256Of(pattern(size))) {
		t.Fatalf("download after the outage: %d bytes, %v", n, err)
	}
}

func sha256Of(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// errTimeout returns err when it is a network timeout, nil otherwise.
func errTimeout(err error) error {
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return err
	}
	return nil
}

// A relay closed on purpose (a reconcile removes it) while a download runs
// through it cuts the download: the client sees a reset, not a clean end
// that would pass the bytes that came for all of them.
func TestPortalStreamCutByAClosedRelayIsReset(t *testing.T) {
	const size = 64 << 20
	p := newPortalPath(t, nodetest.ServeTCP(t, streamServer(size)), portal.InletOptions{}, Options{})
	got, err := cutDownload(t, p.inlet.Addr(), size, p.relay.Close)
	if got < size && !nodetest.IsReset(err) {
		t.Fatalf("the download ended at %d of %d bytes with %v, want a reset", got, size, err)
	}
}

// BenchmarkRelayBlackholeRecovery reports how long a relay with the
// default options takes to carry messages again once a 20 s blackhole on
// its link heals (target: under 3 s).
//
//	go test -run '^$' -bench RelayBlackholeRecovery -benchtime 1x ./runtime/relay/
func BenchmarkRelayBlackholeRecovery(b *testing.B) {
	var total time.Duration
	for range b.N {
		n2, _ := nodetest.Node(b, "n2", runtime.Options{})
		n2Addr := nodetest.Listen(b, n2)
		link := newFaultyLink(b, n2Addr)
		n3, _ := nodetest.Node(b, "n3", runtime.Options{})
		rel, err := Start(n3, "n3", link.Addr(), Options{})
		if err != nil {
			b.Fatal(err)
		}
		<-rel.Ready()
		n1, _ := nodetest.Node(b, "n1", runtime.Options{})
		route := routing.Route{routing.TCPAddress(n2Addr), routing.LocalAddress("forward_to_n3"), routing.LocalAddress("uppercase")}
		link.blackhole()
		time.Sleep(20 * time.Second) // the outage itself, not a wait for readiness
		link.heal()
		total += healedWithin(b, n1, route, rel)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/recovery")
}

// cutDownload reads a download of size bytes of pattern from addr: 1 MiB,
// then fault, then the rest, for 20 s at most. It checks that what came is
// what the target sent so far, and returns how much came and how the read
// ended.
func cutDownload(t testing.TB, addr string, size int, fault func()) (int, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var got bytes.Buffer
	if _, err := io.CopyN(&got, c, 1<<20); err != nil {
		t.Fatal(err)
	}
	fault()
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second)) // a hang fails here
	_, err = io.Copy(&got, c)
	if !bytes.Equal(got.Bytes(), pattern(size)[:got.Len()]) {
		t.Fatalf("the download's %d bytes differ from what the target sent", got.Len())
	}
	return got.Len(), err
}

// healedWithin waits, after a link healed, until "hello" sent from n along
// route (to an uppercase service) comes back, and returns how long that
// took; 30 s without fails.
func healedWithin(t testing.TB, n *runtime.Node, route routing.Route, rel *Relay) time.Duration {
	t.Helper()
	healed := time.Now()
	for {
		if got, err := nodetest.TrySend(n, route, "hello", 200*time.Millisecond); err == nil && got == "HELLO" {
			return time.Since(healed)
		}
		if time.Since(healed) > 30*time.Second {
			t.Fatalf("nothing through the relay 30 s after the link healed: %+v", rel.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A link that resets every connection it carries, in the middle of a
// download: the download ends with a reset within its keepalive (the
// inlet's node hears nothing of a connection reset two hops away; its
// stream finds the other end silent), its bytes intact so far; the relay
// registers again; the next download is whole.
func TestLinkResetsEveryConnection(t *testing.T) {
	const size = 64 << 20
	keep := runtime.KeepAlive{Every: 500 * time.Millisecond, DeadAfter: 3 * time.Second}
	p := newLinkPath(t, nodetest.ServeTCP(t, streamServer(size)), keep, Options{MaxBackoff: 200 * time.Millisecond}, runtime.Options{}, nil)
	n1, rel, in, link := p.n1, p.relay, p.inlet, p.link
	got, err := cutDownload(t, in.Addr(), size, link.resetAll)
	if got < size && !nodetest.IsReset(err) {
		t.Fatalf("the download ended at %d of %d bytes with %v, want a reset", got, size, err)
	}
	healedWithin(t, n1, p.uppercase(), rel)
	c2, err := net.Dial("tcp", in.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	_ = c2.SetReadDeadline(time.Now().Add(30 * time.Second))
	h := sha256.New()
	if n, err := io.Copy(h, c2); err != nil || n != size || !bytes.Equal(h.Sum(nil), sha256Of(pattern(size))) {
		t.Fatalf("a download after the resets: %d bytes, %v", n, err)
	}
}

// A slow, late link (20 ms each way, 4 MiB/s) carries a portal's streams
// whole, and the relay over it, busy with them, is never torn down.
func TestLinkSlowAndLate(t *testing.T) {
	p := newLinkPath(t, nodetest.ServeTCP(t, nodetest.EchoServer), runtime.KeepAlive{}, Options{}, runtime.Options{}, func(p *linkPath) {
		p.link.slow(20*time.Millisecond, 4<<20)
	})
	rel, in := p.relay, p.inlet
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() { errs <- nodetest.RoundTripStream(in.Addr(), 1<<20) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if st := rel.Status(); st.Registrations != 1 {
		t.Fatalf("the relay registered %d times over a slow link (last error %q)", st.Registrations, st.LastError)
	}
}
