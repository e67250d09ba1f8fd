package observe

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/tcp"
	"github.com/ockamtop/ockamtop/schema"
	"github.com/ockamtop/ockamtop/topology"
	"github.com/ockamtop/ockamtop/topology/deploy"
)

// The hot path with and without --http: the runtime benchmarks
// (BenchmarkTCPHop, BenchmarkPortalThroughput) again, on a started
// topology, once with nobody scraping and once with /metrics and
// /api/graph fetched every second (the live page polls /api/graph every
// second; Prometheus scrapes every 15 s or more). BenchmarkScrape gives
// the cost of one scrape on its own. Run:
//
//	go test -run '^$' -bench 'TCPHopScraped' -benchtime 3000000x ./topology/observe/
//	go test -run '^$' -bench 'PortalThroughputScraped' -benchtime 1x ./topology/observe/

// scrapeEvery fetches /metrics and /api/graph from url every d until stop
// is closed.
func scrapeEvery(b *testing.B, url string, d time.Duration, stop <-chan struct{}, wg *sync.WaitGroup, scrapes *atomic.Int64) {
	wg.Go(func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			for _, path := range []string{"/metrics", "/api/graph"} {
				resp, err := http.Get(url + path)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			scrapes.Add(1)
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})
}

// startBench starts src quietly for a benchmark.
func startBench(b *testing.B, src string) *deploy.Running {
	b.Helper()
	topo, _, diags := topology.Load("bench.hcl", []byte(src), schema.Overrides{})
	if diags.HasErrors() {
		b.Fatal(diags.Error())
	}
	local, _ := topo.Subset(nil)
	run, err := deploy.Start(context.Background(), topo, local, deploy.StartOptions{Logger: hclog.NewNullLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { run.Stop() })
	return run
}

// withScrapes runs f with nobody scraping, and with scrapes every second.
func withScrapes(b *testing.B, run *deploy.Running, f func(b *testing.B)) {
	h, err := Handler(run, Options{Status: func(context.Context) any { return run.Status() }})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	b.Run("scrape=none", f)
	b.Run("scrape=1s", func(b *testing.B) {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var scrapes atomic.Int64
		scrapeEvery(b, srv.URL, time.Second, stop, &wg, &scrapes)
		f(b)
		close(stop)
		wg.Wait()
		b.ReportMetric(float64(scrapes.Load()), "scrapes")
	})
}

// benchSink counts messages and says when it has seen want of them.
type benchSink struct {
	n    atomic.Int64
	want atomic.Int64
	done chan struct{}
}

func (s *benchSink) HandleMessage(*runtime.Context, *runtime.Routed) error {
	if s.n.Add(1) == s.want.Load() {
		close(s.done)
	}
	return nil
}

func BenchmarkTCPHopScraped(b *testing.B) {
	run := startBench(b, `
node "initiator" {}
node "responder" {
  tcp_listener = "127.0.0.1:0"
}
`)
	responder, initiator := run.Node("responder"), run.Node("initiator")
	sink := &benchSink{}
	if err := responder.StartService("sink", sink); err != nil {
		b.Fatal(err)
	}
	conn, err := tcp.Connect(context.Background(), initiator, run.ListenerOf("responder"), tcp.ConnectOptions{})
	if err != nil {
		b.Fatal(err)
	}
	onward := routing.Route{conn.Address(), routing.LocalAddress("sink")}
	payload := make([]byte, 64)
	withScrapes(b, run, func(b *testing.B) {
		sink.n.Store(0)
		sink.want.Store(int64(b.N))
		sink.done = make(chan struct{})
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := initiator.Send(context.Background(), routing.Message{Onward: onward, Payload: payload}); err != nil {
				b.Fatal(err)
			}
		}
		<-sink.done
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
}

func BenchmarkPortalThroughputScraped(b *testing.B) {
	const size = 1 << 30
	sink := serveTCP(b, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	run := startBench(b, relayTopology(sink))
	inlet := run.Inlets()["n1.web"]
	buf := make([]byte, 256<<10)
	withScrapes(b, run, func(b *testing.B) {
		var total time.Duration
		for i := 0; i < b.N; i++ {
			c, err := net.Dial("tcp", inlet)
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
			_, _ = io.Copy(io.Discard, c) // the sink closes when it has read everything
			c.Close()
			total += time.Since(start)
		}
		b.ReportMetric(float64(b.N)*size/total.Seconds()/1e6, "portal-MB/s")
	})
}

// BenchmarkScrape is the cost of one fetch of /metrics and of /api/graph
// of the seed's portal topology, with a stream open.
func BenchmarkScrape(b *testing.B) {
	target := echoTarget(b)
	run := startBench(b, relayTopology(target))
	c, err := net.Dial("tcp", run.Inlets()["n1.web"])
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	h, err := Handler(run, Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, path := range []string{"/metrics", "/api/graph"} {
		b.Run(path, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
				if rec.Code != http.StatusOK {
					b.Fatalf("GET %s: %d", path, rec.Code)
				}
			}
		})
	}
}
