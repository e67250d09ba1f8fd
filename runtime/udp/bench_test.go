package udp_test

import (
	"context"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/nodetest"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/tcp"
	"github.com/ockamtop/ockamtop/runtime/udp"
	"github.com/ockamtop/ockamtop/runtime/wire"
)

// Message rate over one UDP hop, next to a bare UDP socket pair that sends
// the same datagrams (encoded and decoded the same way, no routing), and
// 64-byte round trips over the bridge n1 -UDP-> n2 -TCP-> n3 next to the
// all-TCP bridge. Run:
//
//	go test -run '^$' -bench 'UDPHop|BareUDP' -benchmem ./runtime/
//	go test -run '^$' -bench BridgeRoundTrip -benchtime 1x ./runtime/
//
// UDP has no flow control: a sender that outruns its receiver's socket
// buffer loses datagrams. Both rate benchmarks therefore keep at most
// udpBenchWindow messages in flight; a message still missing
// udpBenchWait after the last was sent counts as lost ("lost" metric).
// The sink is a mailbox worker, as TCP's benchmarks' is.

const (
	udpBenchWindow = 64
	udpBenchWait   = 2 * time.Second
)

// window keeps at most udpBenchWindow messages in flight: the sender
// takes a slot before each message, the receiver frees one for each it
// gets.
type window struct {
	slots    chan struct{}
	received atomic.Int64
}

func newWindow() *window { return &window{slots: make(chan struct{}, udpBenchWindow)} }

// got frees a slot for a message received.
func (w *window) got() {
	w.received.Add(1)
	select {
	case <-w.slots:
	default:
	}
}

func (w *window) HandleMessage(*runtime.Context, *runtime.Routed) error {
	w.got()
	return nil
}

// windowedSend sends n messages with send, within w, and reports the rate
// and the losses. A lost message holds its slot: after udpBenchWait
// without a free slot, the benchmark fails.
func windowedSend(b *testing.B, n int, w *window, send func() error) {
	b.SetBytes(nodetest.BenchPayloadSize)
	b.ReportAllocs()
	wait := time.NewTimer(udpBenchWait)
	defer wait.Stop()
	b.ResetTimer()
	for range n {
		select {
		case w.slots <- struct{}{}:
		default:
			wait.Reset(udpBenchWait)
			select {
			case w.slots <- struct{}{}:
			case <-wait.C:
				b.Fatalf("%d messages lost (of %d sent, %d received)", udpBenchWindow, n, w.received.Load())
			}
		}
		if err := send(); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(udpBenchWait)
	for w.received.Load() < int64(n) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Microsecond) // the last messages: a benchmark's end, not its rate
	}
	b.StopTimer()
	b.ReportMetric(float64(w.received.Load())/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(int64(n)-w.received.Load()), "lost")
}

func BenchmarkUDPHop(b *testing.B) {
	responder, _ := nodetest.Node(b, "responder", runtime.Options{})
	w := newWindow()
	if err := responder.StartService("sink", w); err != nil {
		b.Fatal(err)
	}
	addr := nodetest.ListenUDP(b, responder)
	initiator, _ := nodetest.Node(b, "initiator", runtime.Options{})
	onward := routing.Route{routing.UDPAddress(addr), routing.LocalAddress("sink")}
	payload := make([]byte, nodetest.BenchPayloadSize)
	windowedSend(b, b.N, w, func() error {
		return initiator.Send(context.Background(), routing.Message{Onward: onward, Payload: payload})
	})
}

// BenchmarkBareUDP is the baseline: the same datagrams, one part each,
// encoded and decoded the same way, over a bare socket pair with one
// writer and one reader and no routing.
func BenchmarkBareUDP(b *testing.B) {
	rx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer rx.Close()
	_ = rx.SetReadBuffer(udp.SocketBuffer)
	w := newWindow()
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, udp.ReadBuffer)
		for {
			n, err := rx.Read(buf)
			if err != nil {
				return
			}
			p, err := wire.DecodeUDPPart(buf[:n])
			if err != nil {
				continue
			}
			m, err := wire.DecodeBodyVia(p.Payload, routing.LocalAddress("conn"))
			if err == nil && len(m.Onward) > 0 {
				w.got()
			}
		}
	}()
	tx, err := net.DialUDP("udp", nil, rx.LocalAddr().(*net.UDPAddr))
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Close()
	msg := routing.Message{Onward: nodetest.Local("sink"), Return: nodetest.Local("app"), Payload: make([]byte, nodetest.BenchPayloadSize)}
	var body, dgram []byte
	var rn uint16
	windowedSend(b, b.N, w, func() error {
		body = wire.AppendBody(body[:0], &msg)
		rn++
		dgram = wire.AppendUDPPart(dgram[:0], wire.UDPPartOf(body, rn, 0))
		_, err := tx.Write(dgram)
		return err
	})
	rx.Close()
	<-done
}

// BenchmarkBridgeRoundTrip measures 64-byte echo round trips from n1 to
// n3's echo service over n1 -UDP-> n2 -TCP-> n3, and over the all-TCP
// bridge n1 -TCP-> n2 -TCP-> n3, in the same run.
func BenchmarkBridgeRoundTrip(b *testing.B) {
	const trips = 5000
	n3, _ := nodetest.Node(b, "n3", runtime.Options{})
	n3Addr := nodetest.Listen(b, n3)
	n2, _ := nodetest.Node(b, "n2", nodetest.TCP(tcp.Options{MayDial: func(hp string) bool { return hp == n3Addr }}))
	n2TCP, n2UDP := nodetest.Listen(b, n2), nodetest.ListenUDP(b, n2)
	n1, _ := nodetest.Node(b, "n1", runtime.Options{})
	measure := func(onward routing.Route) (p50, p99 time.Duration) {
		payload := make([]byte, nodetest.BenchPayloadSize)
		lat := make([]time.Duration, 0, trips)
		for range trips {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			start := time.Now()
			_, err := n1.SendAndReceive(ctx, onward, payload)
			cancel()
			if err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		slices.Sort(lat)
		return lat[len(lat)/2], lat[len(lat)*99/100]
	}
	echo := routing.LocalAddress(routing.EchoService)
	viaUDP := routing.Route{routing.UDPAddress(n2UDP), routing.TCPAddress(n3Addr), echo}
	viaTCP := routing.Route{routing.TCPAddress(n2TCP), routing.TCPAddress(n3Addr), echo}
	for range b.N {
		t50, t99 := measure(viaTCP)
		u50, u99 := measure(viaUDP)
		b.ReportMetric(float64(t50.Microseconds()), "tcp-tcp-p50-µs")
		b.ReportMetric(float64(t99.Microseconds()), "tcp-tcp-p99-µs")
		b.ReportMetric(float64(u50.Microseconds()), "udp-tcp-p50-µs")
		b.ReportMetric(float64(u99.Microseconds()), "udp-tcp-p99-µs")
		b.ReportMetric(float64(u50)/float64(t50), "p50-ratio")
	}
}
