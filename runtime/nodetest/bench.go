package nodetest

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/routing"
)

// BenchPayloadSize is the payload of every message BenchSend sends.
const BenchPayloadSize = 64

// BenchSink counts messages and says when it has seen the number it
// waits for.
type BenchSink struct {
	n    atomic.Int64
	want int64
	done chan struct{}
}

// NewBenchSink is a sink that waits for want messages.
func NewBenchSink(want int) *BenchSink {
	return &BenchSink{want: int64(want), done: make(chan struct{})}
}

func (s *BenchSink) HandleMessage(*runtime.Context, *runtime.Routed) error {
	if s.n.Add(1) == s.want {
		close(s.done)
	}
	return nil
}

// BenchSend sends b.N messages of BenchPayloadSize bytes from n along
// onward, and times them until s has them all: the message rate of a path
// (msgs/s).
func BenchSend(b *testing.B, n *runtime.Node, onward routing.Route, s *BenchSink) {
	payload := make([]byte, BenchPayloadSize)
	b.SetBytes(BenchPayloadSize)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := n.Send(context.Background(), routing.Message{Onward: onward, Payload: payload}); err != nil {
			b.Fatal(err)
		}
	}
	<-s.done
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
