package portal

import (
	"io"
	"net"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime/nodetest"
)

// Portal benchmarks, each next to a direct loopback baseline measured in
// the same run. Run them one at a time, for example:
//
//	go test -run '^$' -bench 'Portal' -benchtime 1x ./runtime/portal/

// BenchmarkPortalThroughput sends one 1 GiB stream through inlet n1 ->
// relay n2 -> outlet n3 -> a sink, and the same directly to the sink.
func BenchmarkPortalThroughput(b *testing.B) {
	const size = 1 << 30
	sink := nodetest.ServeTCP(b, func(c *net.TCPConn) {
		io.Copy(io.Discard, c)
	})
	p := newPortalPath(b, sink)
	buf := make([]byte, 256<<10)
	send := func(addr string) time.Duration {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for sent := 0; sent < size; sent += len(buf) {
			if _, err := c.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		c.(*net.TCPConn).CloseWrite()
		// The sink closes when it has read everything: wait for that.
		io.Copy(io.Discard, c)
		c.Close()
		return time.Since(start)
	}
	var direct, portal time.Duration
	for i := 0; i < b.N; i++ {
		direct += send(sink)
		portal += send(p.inlet.Addr())
	}
	mbs := func(d time.Duration) float64 { return float64(b.N) * size / d.Seconds() / 1e6 }
	b.ReportMetric(mbs(direct), "direct-MB/s")
	b.ReportMetric(mbs(portal), "portal-MB/s")
	b.ReportMetric(mbs(portal)/mbs(direct), "ratio")
}

// BenchmarkPortalRoundTrip measures 64-byte echo round trips through the
// portal path and directly.
func BenchmarkPortalRoundTrip(b *testing.B) {
	echo := nodetest.ServeTCP(b, nodetest.EchoServer)
	p := newPortalPath(b, echo)
	const trips = 5000
	measure := func(addr string) (p50, p99 time.Duration) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		msg, got := make([]byte, 64), make([]byte, 64)
		lat := make([]time.Duration, 0, trips)
		for i := 0; i < trips; i++ {
			start := time.Now()
			if _, err := c.Write(msg); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(c, got); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		slices.Sort(lat)
		return lat[len(lat)/2], lat[len(lat)*99/100]
	}
	for i := 0; i < b.N; i++ {
		d50, d99 := measure(echo)
		p50, p99 := measure(p.inlet.Addr())
		b.ReportMetric(float64(d50.Microseconds()), "direct-p50-µs")
		b.ReportMetric(float64(d99.Microseconds()), "direct-p99-µs")
		b.ReportMetric(float64(p50.Microseconds()), "portal-p50-µs")
		b.ReportMetric(float64(p99.Microseconds()), "portal-p99-µs")
		b.ReportMetric(float64(p50)/float64(d50), "p50-ratio")
	}
}

// BenchmarkPortalIdleStreams opens 10,000 streams on one inlet and reports
// the memory (heap and stacks) each costs, both portal ends together. The
// client and the target hold their sockets without goroutines, so what
// grows is the nodes'.
func BenchmarkPortalIdleStreams(b *testing.B) {
	streams := 10_000
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < uint64(4*streams+1000) {
		want := lim
		want.Cur, want.Max = uint64(4*streams+1000), max(lim.Max, uint64(4*streams+1000))
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
			// Four sockets a stream: client, inlet, outlet, target.
			streams = int(lim.Cur-1000) / 4
			b.Logf("open files limited to %d (%v): %d streams", lim.Cur, err, streams)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var held []net.Conn
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		ln.Close()
		<-done
		for _, c := range held {
			c.Close()
		}
	}()
	p := newPortalPathOpts(b, ln.Addr().String(), InletOptions{MaxStreams: streams})
	for i := 0; i < b.N; i++ {
		h0, s0 := memSplit()
		clients := make([]net.Conn, 0, streams)
		for j := 0; j < streams; j++ {
			c, err := net.Dial("tcp", p.inlet.Addr())
			if err != nil {
				b.Fatal(err)
			}
			clients = append(clients, c)
		}
		nodetest.WaitFor(b, "every stream to open", func() bool { return p.outlet.Streams() == streams })
		h1, s1 := memSplit()
		b.ReportMetric(float64(h1+s1-h0-s0)/float64(streams), "B/stream")
		b.ReportMetric(float64(h1-h0)/float64(streams), "heap-B/stream")
		b.ReportMetric(float64(s1-s0)/float64(streams), "stack-B/stream")
		b.ReportMetric(float64(streams), "streams")
		for _, c := range clients {
			c.Close()
		}
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		held = nil
		mu.Unlock()
		nodetest.WaitFor(b, "every stream to close", func() bool { return p.outlet.Streams() == 0 && p.inlet.Streams() == 0 })
	}
}

// memInUse is the heap and stacks in use, after two collections (the
// second empties the buffer pool's victim cache).
func memInUse() uint64 {
	h, s := memSplit()
	return h + s
}

func memSplit() (heap, stacks uint64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, ms.StackInuse
}
