package udpportal

import (
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// BenchmarkUDPPortalRelay sends b.N datagrams of 1 KiB through the seed's
// relay (inlet on n1 -> n2 -> n3's relay -> outlet on n3 -> an echo
// server), from 8 clients with up to 16 unanswered each, all in this
// process; it reports the datagrams answered a second. portalbench -udp
// measures the same path with the real binary, next to direct and frp.
//
//	go test -run '^$' -bench UDPPortalRelay ./runtime/udpportal/
func BenchmarkUDPPortalRelay(b *testing.B) {
	srv := serveUDP(b)
	p := newPath3(b, srv.addr, OutletOptions{})
	in := startInlet(b, p.n1, p.toOutlet, InletOptions{})
	const clients, window = 8, 16
	conns := make([]*net.UDPConn, clients)
	for i := range conns {
		conns[i] = client(b, in.Addr())
		_ = conns[i].SetReadBuffer(socketBuffer)
	}
	msg := make([]byte, 1024)
	// Every client's flow is open before the clock starts.
	for _, c := range conns {
		if _, err := exchange(c, msg, 10*time.Second); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	var wg sync.WaitGroup
	for i, c := range conns {
		n := b.N / clients
		if i < b.N%clients {
			n++
		}
		wg.Go(func() {
			credit := make(chan struct{}, window)
			done := make(chan struct{})
			go func() {
				defer close(done)
				buf := make([]byte, 2048)
				for got := 0; got < n; {
					_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
					if _, err := c.Read(buf); errors.Is(err, os.ErrDeadlineExceeded) {
						for len(credit) > 0 { // lost: go on
							<-credit
							got++
						}
						continue
					} else if err != nil {
						return
					}
					got++
					<-credit
				}
			}()
			for range n {
				credit <- struct{}{}
				if _, err := c.Write(msg); err != nil {
					return
				}
			}
			<-done
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "datagrams/s")
	b.ReportMetric(float64(in.Counters().Dropped), "dropped")
}
