package securechannel

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime/nodetest"
)

// 200 concurrent streams through a secure portal over the relay stay
// intact, and the relay node sees none of their bytes in clear.
func TestSecurePortalConcurrentStreams(t *testing.T) {
	p := newSecurePath(t, ListenerOptions{})
	in, out := p.secureInlet(t, nodetest.ServeTCP(t, nodetest.EchoServer))
	const streams, size = 200, 256 << 10
	var wg sync.WaitGroup
	errs := make(chan error, streams)
	for range streams {
		wg.Go(func() { errs <- nodetest.RoundTripStream(in.Addr(), size) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	nodetest.WaitFor(t, "streams to close", func() bool { return in.Streams() == 0 && out.Streams() == 0 })
	if n := len(p.sc1.List()); n != 1 {
		t.Fatalf("%d channels for one route, want 1", n)
	}
}

// A known secret served through the secure portal never crosses n2 in
// clear.
func TestSecurePortalTap(t *testing.T) {
	p := newSecurePath(t, ListenerOptions{})
	const secret = "a-known-secret-served-by-the-target"
	target := nodetest.ServeTCP(t, func(c *net.TCPConn) {
		c.Write([]byte(strings.Repeat(secret, 1000)))
		c.CloseWrite()
		io.Copy(io.Discard, c)
	})
	in, _ := p.secureInlet(t, target)
	fetch := func(addr string) {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.(*net.TCPConn).CloseWrite()
		got, err := io.ReadAll(c)
		if err != nil || !strings.Contains(string(got), secret) {
			t.Fatalf("read %d bytes: %v", len(got), err)
		}
	}
	fetch(in.Addr())
	if p.tap.saw(secret) {
		t.Fatal("the relay node's connections carried the secret in clear")
	}
	// The same portal without /secure: the tap finds the secret.
	fetch(p.plainInlet(t).Addr())
	if !p.tap.saw(secret) {
		t.Fatal("the tap did not find the secret of a plain portal: it taps nothing")
	}
}

// A target that resets its connection after some data resets the
// client's too, plain and inside a secure channel: the data that came is
// delivered, and the end is a reset, not a clean EOF that would pass a
// cut response for a whole one.
func TestPortalTargetResetReachesTheClient(t *testing.T) {
	p := newSecurePath(t, ListenerOptions{})
	secured, _ := p.secureInlet(t, nodetest.ServeTCP(t, nodetest.ResettingTarget))
	plain := p.plainInlet(t)
	for name, addr := range map[string]string{"plain": plain.Addr(), "secure": secured.Addr()} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		got := make([]byte, len("partial-data"))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != "partial-data" {
			t.Fatalf("%s: read %q, %v", name, got, err)
		}
		if _, err := c.Write([]byte{1}); err != nil {
			t.Fatal(err)
		}
		n, err := c.Read(make([]byte, 1))
		c.Close()
		if n != 0 || !nodetest.IsReset(err) {
			t.Errorf("%s: after the data, read %d bytes, then %v; want a reset", name, n, err)
		}
	}
}
