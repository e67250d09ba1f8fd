package portal

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/nodetest"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/tcp"
)

func TestPortalConcurrentStreams(t *testing.T) {
	baseline := openFiles(t)
	// A generous ping timeout: 400 MiB cross the path at once, and pings
	// queue behind the data of other streams under the race detector.
	p := newPortalPathTimeout(t, nodetest.ServeTCP(t, nodetest.EchoServer), 30*time.Second)
	const streams, size = 200, 1 << 20
	var wg sync.WaitGroup
	errs := make(chan error, streams)
	for i := 0; i < streams; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- nodetest.RoundTripStream(p.inlet.Addr(), size)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Every stream has closed at both ends, and so have their sockets.
	nodetest.WaitFor(t, "streams to close", func() bool { return p.inlet.Streams() == 0 && p.outlet.Streams() == 0 })
	// The nodes' listeners and connections stay open: 1 listener on n2,
	// n3's connection to n2 and n2's end of it, n1's and n2's ends of n1's
	// connection, the inlet's listener, the target's listener.
	deadline := time.Now().Add(20 * time.Second)
	for openFiles(t) > baseline+7 {
		if time.Now().After(deadline) {
			listFiles(t)
			t.Fatalf("%d files open, baseline %d + 7", openFiles(t), baseline)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A client that shuts its write side still receives the whole response.
func TestPortalHalfClose(t *testing.T) {
	response := bytes.Repeat([]byte("response "), 100_000)
	p := newPortalPath(t, nodetest.ServeTCP(t, func(c *net.TCPConn) {
		req, _ := io.ReadAll(c) // until the client's half-close
		if string(req) == "request" {
			c.Write(response)
		}
	}))
	c, err := net.Dial("tcp", p.inlet.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("request"))
	c.(*net.TCPConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, response) {
		t.Fatalf("read %d bytes (%v), want %d", len(got), err, len(response))
	}
}

// A client that does not read never makes the nodes buffer more than a
// window for its stream, and does not hold up another stream.
func TestPortalSlowReader(t *testing.T) {
	const total = 64 << 20
	p := newPortalPath(t, nodetest.ServeTCP(t, func(c *net.TCPConn) {
		var hello [5]byte
		if _, err := io.ReadFull(c, hello[:]); err != nil {
			return
		}
		if string(hello[:]) == "flood" {
			chunk := make([]byte, 64<<10)
			for sent := 0; sent < total; sent += len(chunk) {
				if _, err := c.Write(chunk); err != nil { // blocks once every buffer is full
					return
				}
			}
			return
		}
		c.Write(hello[:])
	}))
	before := memInUse()
	slow, err := net.Dial("tcp", p.inlet.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	slow.Write([]byte("flood"))
	// Let the flood fill whatever it can, then measure.
	nodetest.WaitFor(t, "the flood to start", func() bool { return p.outlet.Streams() == 1 })
	time.Sleep(300 * time.Millisecond) // not readiness: time for buffers to fill, if they would
	grown := int64(memInUse()) - int64(before)
	t.Logf("memory grown while a 64 MiB stream is stalled: %.2f MiB", float64(grown)/(1<<20))
	if grown > 16<<20 {
		t.Fatalf("memory grew by %d MiB with a stalled stream: buffering is not bounded", grown>>20)
	}
	// Another stream through the same inlet, relay and connections works.
	c, err := net.Dial("tcp", p.inlet.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("hello"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got [5]byte
	if _, err := io.ReadFull(c, got[:]); err != nil || string(got[:]) != "hello" {
		t.Fatalf("second stream: %q %v", got, err)
	}
	// And the slow one gets all its data once it reads.
	slow.SetReadDeadline(time.Now().Add(30 * time.Second))
	n, err := io.Copy(io.Discard, io.LimitReader(slow, total))
	if n != total {
		t.Fatalf("slow reader got %d bytes (%v)", n, err)
	}
}

// An inlet whose route is down says so and closes the client; when the
// route is back, it serves again.
func TestPortalRouteDownAndBack(t *testing.T) {
	target := nodetest.ServeTCP(t, nodetest.EchoServer)
	// A short ping timeout: a stream opened before the relay is back
	// waits for it in vain.
	p := newPortalPathTimeout(t, target, 500*time.Millisecond)
	if err := nodetest.RoundTripStream(p.inlet.Addr(), 1024); err != nil {
		t.Fatal(err)
	}
	p.n2.Close()
	// The stream is cut when its route's connection closes: a reset,
	// which may come before the dial has returned.
	c, err := net.Dial("tcp", p.inlet.Addr())
	if err != nil && !nodetest.IsReset(err) {
		t.Fatal(err)
	}
	if err == nil {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
			t.Fatalf("read through a dead route = %d, %v", n, err)
		}
		c.Close()
	}
	p.logs1.WaitLog(t, "[WARN]  test: portal route is down")

	n2b, _ := nodetest.Node(t, "n2b", runtime.Options{})
	if _, err := tcp.Listen(n2b, p.n2Addr); err != nil {
		t.Fatal(err)
	}
	// n3's relay client registers again at the new relay node.
	nodetest.WaitFor(t, "the portal to serve again", func() bool { return nodetest.RoundTripStream(p.inlet.Addr(), 1024) == nil })
	// The recovery is said at INFO, next to the warning.
	p.logs1.WaitLog(t, "[INFO]  test: portal route is back")
}

// An inlet at its limit of open streams closes a new client at once, and
// serves again when a stream ends.
func TestInletStreamLimit(t *testing.T) {
	p := newPortalPathOpts(t, nodetest.ServeTCP(t, holdServer), InletOptions{MaxStreams: 2})
	first := openStream(t, p)
	dial := func() net.Conn {
		c, err := net.Dial("tcp", p.inlet.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	second := dial()
	second.Write([]byte("hi"))
	nodetest.WaitFor(t, "two streams", func() bool { return p.outlet.Streams() == 2 })
	expectClosed(t, dial())
	p.logs1.WaitLog(t, "inlet is at its limit of open streams")
	first.Close()
	nodetest.WaitFor(t, "the first stream to end", func() bool { return p.inlet.Streams() == 1 })
	third := dial()
	third.Write([]byte("hi"))
	nodetest.WaitFor(t, "a new stream", func() bool { return p.outlet.Streams() == 2 })
}

// A portal that loops back onto its own inlet (the outlet's target is the
// inlet) opens at most the inlet's limit of streams for one client, not
// connections until the process runs out of file descriptors.
func TestPortalLoopIsBounded(t *testing.T) {
	baseline := openFiles(t)
	n1, logs := nodetest.Node(t, "n1", runtime.Options{})
	in, err := StartInlet(n1, "loop", "127.0.0.1:0", func() (routing.Route, error) {
		return routing.Route{routing.LocalAddress("outlet")}, nil
	}, InletOptions{MaxStreams: 16})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := StartOutlet(n1, "outlet", in.Addr(), OutletOptions{}); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", in.Addr())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	logs.WaitLog(t, "inlet is at its limit of open streams")
	if got := in.Streams(); got > 16 {
		t.Fatalf("%d streams open, the limit is 16", got)
	}
	c.Close()
	// The last stream of the chain was refused: the chain unwinds.
	nodetest.WaitFor(t, "the loop's streams to end", func() bool { return in.Streams() == 0 })
	n1.Close()
	nodetest.WaitFor(t, "files back to the baseline", func() bool { return openFiles(t) <= baseline })
}

// A stream's reader that goes idle after sending restarts on a fresh
// goroutine (a small stack for a quiet stream), and the stream goes on as
// before, in both directions.
func TestPortalIdleReaderRestarts(t *testing.T) {
	// The inlet's sweeper ticks every 20ms, the outlet's every second.
	p := newPortalPathOpts(t, nodetest.ServeTCP(t, nodetest.EchoServer), InletOptions{KeepAlive: runtime.KeepAlive{Every: 40 * time.Millisecond, DeadAfter: time.Minute}})
	p.inlet.streamSet.idleRestart.Store(int64(20 * time.Millisecond))
	p.outlet.streamSet.idleRestart.Store(int64(20 * time.Millisecond))
	c, err := net.Dial("tcp", p.inlet.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 5)
	for i, word := range []string{"hello", "again"} {
		if _, err := c.Write([]byte(word)); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != word {
			t.Fatalf("round trip %d: %q, %v", i, buf, err)
		}
		// Both readers sent; both restart once idle.
		in, out := p.inlet.restarts.Load(), p.outlet.restarts.Load()
		nodetest.WaitFor(t, "both readers to restart", func() bool {
			return p.inlet.restarts.Load() > in && p.outlet.restarts.Load() > out
		})
	}
	c.Close()
	nodetest.WaitFor(t, "the stream to close", func() bool { return p.inlet.Streams() == 0 && p.outlet.Streams() == 0 })
}

// An inlet with a large window says so to the outlet's stream, which takes
// as much and says so back: both ends then send large chunks, and streams
// still arrive whole, many at once.
func TestPortalLargeWindow(t *testing.T) {
	p := newPortalPathOpts(t, nodetest.ServeTCP(t, nodetest.EchoServer), InletOptions{Window: LargeWindow})
	echoedConn(t, p.inlet.Addr())
	windows := func(ss *streamSet) (send, recv int) {
		ss.mu.Lock()
		defer ss.mu.Unlock()
		for s := range ss.streams {
			s.mu.Lock()
			send, recv = s.sendWindow, s.window
			s.mu.Unlock()
		}
		return send, recv
	}
	nodetest.WaitFor(t, "both ends to take the large window", func() bool {
		is, ir := windows(&p.inlet.streamSet)
		os, or := windows(&p.outlet.streamSet)
		return is == LargeWindow && ir == LargeWindow && os == LargeWindow && or == LargeWindow
	})
	roundTripStreams(t, p.inlet.Addr(), 8, 8<<20)
}

// A reader poked to restart while its stream is in flow after all (the
// poke's deadline lands in a read, or in a splice) goes on reading, and
// the stream arrives whole.
func TestPortalPokedWhileBusy(t *testing.T) {
	p := newPortalPathOpts(t, nodetest.ServeTCP(t, nodetest.EchoServer), InletOptions{
		KeepAlive: runtime.KeepAlive{Every: 2 * time.Millisecond, DeadAfter: time.Minute},
		Window:    LargeWindow,
	})
	p.inlet.streamSet.idleRestart.Store(1) // every tick, every stream that has sent
	roundTripStreams(t, p.inlet.Addr(), 4, 16<<20)
	if p.inlet.restarts.Load() == 0 {
		t.Log("no reader was idle at a tick") // the point is that nothing broke
	}
}

// An inlet's streams share a budget of maxLargeStreams large windows: the
// first maxLargeStreams, each coming while the budget has room, take the
// large window; the next keeps the default while they hold all of it
// (idle, with all of it out). The outlet counts the same way.
func TestPortalLargeWindowBound(t *testing.T) {
	p := newPortalPathOpts(t, nodetest.ServeTCP(t, nodetest.EchoServer), InletOptions{Window: LargeWindow})
	for i := range maxLargeStreams {
		_, s := streamOf(t, p, echoedConn(t, p.inlet.Addr()))
		if w, l := windowLimit(s); w != LargeWindow || l != LargeWindow {
			t.Fatalf("stream %d: window %d, limit %d; want the large one", i, w, l)
		}
	}
	_, s := streamOf(t, p, echoedConn(t, p.inlet.Addr()))
	if w, l := windowLimit(s); w != DefaultWindow || l != DefaultWindow {
		t.Fatalf("stream %d: window %d, limit %d; want the default", maxLargeStreams, w, l)
	}
	if held, wanting := p.inlet.streamSet.budget.holding(); held != largeBudget || wanting != maxLargeStreams+1 {
		t.Fatalf("inlet's budget: %d held by %d streams", held, wanting)
	}

	// The outlet's too: a second inlet's stream asks for a large window,
	// and the outlet, whose streams hold all of its budget, keeps the
	// default: that stream sends Ockam-sized chunks.
	route := routing.Route{routing.TCPAddress(p.n2Addr), routing.LocalAddress("forward_to_n3"), routing.LocalAddress("hop"), routing.LocalAddress("outlet")}
	second, err := StartInlet(p.n1, "second", "127.0.0.1:0", func() (routing.Route, error) { return route, nil }, InletOptions{Window: LargeWindow})
	if err != nil {
		t.Fatal(err)
	}
	echoedConn(t, second.Addr())
	nodetest.WaitFor(t, "the outlet to hear the second inlet's Window", func() bool {
		p.outlet.streamSet.mu.Lock()
		defer p.outlet.streamSet.mu.Unlock()
		asked := 0
		for s := range p.outlet.streamSet.streams {
			s.mu.Lock()
			if s.sendWindow == LargeWindow && s.window == DefaultWindow {
				asked++
			}
			s.mu.Unlock()
		}
		held, _ := p.outlet.streamSet.budget.holding()
		return asked == 1 && held == largeBudget
	})
}

// Streams in flow even out: with a budget of two large windows, two
// streams take it all and a third keeps the default; once the two have
// moved data they hold a third each, and the third takes its share, with
// a larger Window. When one closes, the others grow back to the large
// window as they move data. No stream holds more than its share.
func TestPortalWindowShares(t *testing.T) {
	p := newPortalPathOpts(t, nodetest.ServeTCP(t, nodetest.EchoServer), InletOptions{Window: LargeWindow})
	// Under the budget's lock: the inlet's accepting goroutine, started
	// before, reads it with no other order between the two.
	p.inlet.streamSet.budget.setSize(2 * largeExtra)
	p.outlet.streamSet.budget.setSize(2 * largeExtra)
	var conns []net.Conn
	var streams []*portalStream
	for range 3 {
		c, s := streamOf(t, p, echoedConn(t, p.inlet.Addr()))
		conns, streams = append(conns, c), append(streams, s)
	}
	for i, want := range []int{LargeWindow, LargeWindow, DefaultWindow} {
		if w, _ := windowLimit(streams[i]); w != want {
			t.Fatalf("stream %d: window %d, want %d", i, w, want)
		}
	}
	// Enough through each of the first two that they write half their
	// window and settle; then through the third.
	echoThrough(t, conns[0], 3<<20)
	echoThrough(t, conns[1], 3<<20)
	echoThrough(t, conns[2], 1<<20)
	share := 2 * largeExtra / 3
	for i, s := range streams {
		if w, l := windowLimit(s); l > DefaultWindow+share || i == 2 && (w != DefaultWindow+share || l != w) {
			t.Fatalf("three in flow, stream %d: window %d, limit %d; the share is %d", i, w, l, DefaultWindow+share)
		}
	}
	conns[0].Close()
	nodetest.WaitFor(t, "the first stream to close", func() bool { return p.inlet.Streams() == 2 })
	echoThrough(t, conns[1], 3<<20)
	echoThrough(t, conns[2], 3<<20)
	for i, s := range streams[1:] {
		if w, l := windowLimit(s); w != LargeWindow || l != LargeWindow {
			t.Fatalf("two left, stream %d: window %d, limit %d; want the large one", i+1, w, l)
		}
	}
	for _, ss := range []*streamSet{&p.inlet.streamSet, &p.outlet.streamSet} {
		if held, _ := ss.budget.holding(); held > 2*largeExtra {
			t.Fatalf("budget holds %d of %d", held, 2*largeExtra)
		}
	}
}

// streamOf is the inlet's stream whose socket is c's other end.
func streamOf(t *testing.T, p *portalPath, c net.Conn) (net.Conn, *portalStream) {
	t.Helper()
	p.inlet.streamSet.mu.Lock()
	defer p.inlet.streamSet.mu.Unlock()
	for s := range p.inlet.streamSet.streams {
		if s.sock.RemoteAddr().String() == c.LocalAddr().String() {
			return c, s
		}
	}
	t.Fatal("no stream for the connection")
	return nil, nil
}

// windowLimit reads a stream's window and limit.
func windowLimit(s *portalStream) (window, limit int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.window, s.limit
}

// echoThrough sends n bytes over c, to an echo server, and reads them back.
func echoThrough(t *testing.T, c net.Conn, n int) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(make([]byte, n))
		errc <- err
	}()
	if _, err := io.ReadFull(c, make([]byte, n)); err != nil {
		t.Fatalf("echo of %d bytes: %v", n, err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("echo of %d bytes: %v", n, err)
	}
}
