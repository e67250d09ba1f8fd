package runtime

import (
	"bufio"
	"context"
	"net"
	"sync/atomic"
	"testing"

	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/wire"
)

// Message rate through one in-process hop and through one TCP hop, next to
// a baseline that writes and reads the same frames over a bare TCP socket
// pair. Run: go test -run '^$' -bench . -benchmem ./runtime/

const benchPayloadSize = 64

// sink counts messages and says when it has seen want of them.
type sink struct {
	n    atomic.Int64
	want int64
	done chan struct{}
}

func newSink(want int) *sink { return &sink{want: int64(want), done: make(chan struct{})} }

func (s *sink) HandleMessage(*Context, *Routed) error {
	if s.n.Add(1) == s.want {
		close(s.done)
	}
	return nil
}

func benchSend(b *testing.B, n *Node, onward routing.Route, s *sink) {
	payload := make([]byte, benchPayloadSize)
	b.SetBytes(benchPayloadSize)
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

func BenchmarkInProcessHop(b *testing.B) {
	n, _ := testNode(b, "n1", Options{})
	s := newSink(b.N)
	if err := n.StartService("sink", s); err != nil {
		b.Fatal(err)
	}
	if err := n.StartService("h1", Hop{}); err != nil {
		b.Fatal(err)
	}
	benchSend(b, n, local("h1", "sink"), s)
}

func BenchmarkTCPHop(b *testing.B) {
	responder, _ := testNode(b, "responder", Options{})
	s := newSink(b.N)
	if err := responder.StartService("sink", s); err != nil {
		b.Fatal(err)
	}
	addr := listen(b, responder)
	initiator, _ := testNode(b, "initiator", Options{})
	conn := connect(b, initiator, addr)
	benchSend(b, initiator, routing.Route{conn.Address(), routing.LocalAddress("sink")}, s)
}

// BenchmarkBareFramedTCP is the baseline: the same frames, encoded and
// decoded the same way, over a bare socket pair with one writer and one
// reader and no routing.
func BenchmarkBareFramedTCP(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		br := bufio.NewReaderSize(c, ioBufferSize)
		for i := 0; i < b.N; i++ {
			body, err := wire.ReadFrame(br, nil)
			if err != nil {
				done <- err
				return
			}
			m, err := wire.DecodeBody(body)
			if err != nil {
				done <- err
				return
			}
			m.Return = m.Return.Prepend(routing.LocalAddress("conn"))
		}
		done <- nil
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	bw := bufio.NewWriterSize(c, ioBufferSize)
	msg := routing.Message{Onward: local("sink"), Return: local("app"), Payload: make([]byte, benchPayloadSize)}
	var buf []byte
	b.SetBytes(benchPayloadSize)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf, _ = wire.AppendFrame(buf[:0], &msg)
		if _, err := bw.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	if err := bw.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
