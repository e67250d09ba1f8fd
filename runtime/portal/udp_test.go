package portal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/nodetest"
	"github.com/ockamtop/ockamtop/runtime/routing"
)

// A portal whose first hop is UDP carries a stream whole over a clean
// network, both ways, with a half-close.
func TestUDPPortal(t *testing.T) {
	target := nodetest.ServeTCP(t, nodetest.EchoServer)
	n2, _ := nodetest.Node(t, "n2", runtime.Options{})
	n2Addr := nodetest.ListenUDP(t, n2)
	if _, err := StartOutlet(n2, "outlet", target, OutletOptions{}); err != nil {
		t.Fatal(err)
	}
	n1, _ := nodetest.Node(t, "n1", runtime.Options{})
	route := routing.Route{routing.UDPAddress(n2Addr), routing.LocalAddress("outlet")}
	in, err := StartInlet(n1, "web", "127.0.0.1:0", func() (routing.Route, error) { return route, nil }, InletOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{1, 100 << 10, 4 << 20} {
		if err := nodetest.RoundTripStream(in.Addr(), size); err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
	}
}

// Portal streams share one UDP peer: on a clean network each arrives
// whole, as long as their windows fit in the receiving socket's buffer
// (UDP has no flow control; see the README).
func TestUDPPortalConcurrentStreams(t *testing.T) {
	target := nodetest.ServeTCP(t, nodetest.EchoServer)
	n2, _ := nodetest.Node(t, "n2", runtime.Options{})
	n2Addr := nodetest.ListenUDP(t, n2)
	if _, err := StartOutlet(n2, "outlet", target, OutletOptions{}); err != nil {
		t.Fatal(err)
	}
	n1, _ := nodetest.Node(t, "n1", runtime.Options{})
	route := routing.Route{routing.UDPAddress(n2Addr), routing.LocalAddress("outlet")}
	in, err := StartInlet(n1, "web", "127.0.0.1:0", func() (routing.Route, error) { return route, nil }, InletOptions{PingTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	const streams, size = 4, 1 << 20
	var wg sync.WaitGroup
	errs := make(chan error, streams)
	for range streams {
		wg.Go(func() { errs <- nodetest.RoundTripStream(in.Addr(), size) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := len(n1.Transports().Connections()); n != 1 {
		t.Fatalf("n1 has %d connections, want its one UDP peer", n)
	}
}

// A portal stream over a lossy UDP hop delivers its bytes intact, or ends
// with an error (a reset): never cut, duplicated or reordered bytes taken
// for a whole stream.
func TestUDPLossyPortal(t *testing.T) {
	target := nodetest.ServeTCP(t, nodetest.EchoServer)
	n2, _ := nodetest.Node(t, "n2", runtime.Options{})
	n2Addr := nodetest.ListenUDP(t, n2)
	if _, err := StartOutlet(n2, "outlet", target, OutletOptions{}); err != nil {
		t.Fatal(err)
	}
	proxy := nodetest.NewLossyUDPProxy(t, n2Addr, 7, 0.02, 0.02, 0.02)
	n1, _ := nodetest.Node(t, "n1", runtime.Options{})
	route := routing.Route{routing.UDPAddress(proxy.Addr), routing.LocalAddress("outlet")}
	in, err := StartInlet(n1, "web", "127.0.0.1:0", func() (routing.Route, error) { return route, nil },
		InletOptions{PingTimeout: time.Second, KeepAlive: runtime.KeepAlive{Every: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	var intact, broken int
	for i := range 24 {
		size := 100 // one datagram a message
		if i%2 == 1 {
			size = 30 << 10
		}
		err := lossyRoundTrip(in.Addr(), size, uint64(i))
		switch {
		case err == nil:
			intact++
		case errors.Is(err, errCorrupted):
			t.Fatalf("stream %d: %v", i, err)
		default:
			broken++
		}
	}
	t.Logf("%d streams intact, %d ended with an error", intact, broken)
	if intact == 0 {
		t.Fatal("no stream made it through 2% loss")
	}
}

var (
	errCorrupted = errors.New("stream delivered wrong bytes without an error")
	errRefused   = errors.New("stream refused")
)

// lossyRoundTrip sends size bytes through the portal at addr to an echo
// server and reads them back. It returns nil when they came back whole,
// errCorrupted when the bytes read differ from those sent (even a short
// read that ended cleanly), and the read's error when the stream ended with
// one (as a broken stream must). A stream that never opened (its Ping or
// Pong lost: the inlet gives up and closes the client's connection before
// any byte) is errRefused.
func lossyRoundTrip(addr string, size int, seed uint64) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(seed, 99))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	go func() {
		_, _ = c.Write(data)
		_ = c.(*net.TCPConn).CloseWrite()
	}()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	if !bytes.Equal(got, data[:min(len(got), len(data))]) {
		return fmt.Errorf("%w: %d bytes read are not a prefix of those sent", errCorrupted, len(got))
	}
	if err != nil {
		return err // cut, with an error: allowed
	}
	if len(got) == 0 {
		return errRefused
	}
	if len(got) != len(data) {
		return fmt.Errorf("%w: clean end after %d of %d bytes", errCorrupted, len(got), len(data))
	}
	return nil
}
