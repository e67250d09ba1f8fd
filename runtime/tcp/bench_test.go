package tcp_test

import (
	"bufio"
	"net"
	"testing"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/nodetest"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/tcp"
	"github.com/ockamtop/ockamtop/runtime/wire"
)

// Message rate through one TCP hop, next to a baseline that writes and
// reads the same frames over a bare TCP socket pair. Run:
// go test -run '^$' -bench . -benchmem ./runtime/tcp/

func BenchmarkTCPHop(b *testing.B) {
	responder, _ := nodetest.Node(b, "responder", runtime.Options{})
	s := nodetest.NewBenchSink(b.N)
	if err := responder.StartService("sink", s); err != nil {
		b.Fatal(err)
	}
	addr := nodetest.Listen(b, responder)
	initiator, _ := nodetest.Node(b, "initiator", runtime.Options{})
	conn := nodetest.Connect(b, initiator, addr)
	nodetest.BenchSend(b, initiator, routing.Route{conn.Address(), routing.LocalAddress("sink")}, s)
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
		br := bufio.NewReaderSize(c, tcp.IOBufferSize)
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
	bw := bufio.NewWriterSize(c, tcp.IOBufferSize)
	msg := routing.Message{Onward: nodetest.Local("sink"), Return: nodetest.Local("app"), Payload: make([]byte, nodetest.BenchPayloadSize)}
	var buf []byte
	b.SetBytes(nodetest.BenchPayloadSize)
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
