package securechannel

import (
	"context"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime/nodetest"
)

// Secure channel benchmarks, each next to the same path without the
// channel in the same run. Run them one at a time, for example:
//
//	go test -run '^$' -bench 'SecurePortal' -benchtime 1x ./runtime/securechannel/

// securePaths is one relay path n1 -> n2 <- n3 with two inlets on n1: one
// through a secure channel to n3's listener, one plain.
func securePaths(b *testing.B, target string) (secureInlet, plainInlet string) {
	p := newSecurePathTapped(b, ListenerOptions{}, false)
	in, _ := p.secureInlet(b, target)
	return in.Addr(), p.plainInlet(b).Addr()
}

// BenchmarkSecurePortalThroughput sends 1 GiB through the secure portal
// over the relay, and the same through the plain portal on the same path.
func BenchmarkSecurePortalThroughput(b *testing.B) {
	const size = 1 << 30
	sink := nodetest.ServeTCP(b, func(c *net.TCPConn) { io.Copy(io.Discard, c) })
	secureAddr, plainAddr := securePaths(b, sink)
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
		io.Copy(io.Discard, c)
		c.Close()
		return time.Since(start)
	}
	var plain, secure time.Duration
	for i := 0; i < b.N; i++ {
		plain += send(plainAddr)
		secure += send(secureAddr)
	}
	mbs := func(d time.Duration) float64 { return float64(b.N) * size / d.Seconds() / 1e6 }
	b.ReportMetric(mbs(plain), "plain-MB/s")
	b.ReportMetric(mbs(secure), "secure-MB/s")
	b.ReportMetric(mbs(secure)/mbs(plain), "ratio")
}

// BenchmarkSecurePortalRoundTrip measures 64-byte echo round trips through
// the secure portal and the plain one.
func BenchmarkSecurePortalRoundTrip(b *testing.B) {
	secureAddr, plainAddr := securePaths(b, nodetest.ServeTCP(b, nodetest.EchoServer))
	const trips = 5000
	measure := func(addr string) time.Duration {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		msg, got := make([]byte, 64), make([]byte, 64)
		lat := make([]time.Duration, 0, trips)
		for range trips {
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
		return lat[len(lat)/2]
	}
	for i := 0; i < b.N; i++ {
		plain := measure(plainAddr)
		secure := measure(secureAddr)
		b.ReportMetric(float64(plain.Microseconds()), "plain-p50-µs")
		b.ReportMetric(float64(secure.Microseconds()), "secure-p50-µs")
	}
}

// BenchmarkSecureChannelHandshake opens channels over the relay path, one
// after the other: handshakes per second, identities verified on both
// sides, three messages through n2 each.
func BenchmarkSecureChannelHandshake(b *testing.B) {
	p := newSecurePathTapped(b, ListenerOptions{}, false)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		enc, err := p.sc1.Open(ctx, p.toAPI)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		// Close it, so that the next open makes a new one.
		if err := p.sc1.CloseChannel(enc.Value); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "handshakes/s")
}
