package securechannel

import (
	"context"
	"testing"
	"time"
)

// The secure portal's benchmarks are in portal_test.go. Run this one
// alone:
//
//	go test -run '^$' -bench 'SecureChannelHandshake' ./runtime/securechannel/

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
