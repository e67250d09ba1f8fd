package runtime

import (
	"io"
	"net"
	"testing"
	"time"
)

// resettingTarget sends partial-data, and once the client has it (the
// client says so with a byte back), resets its connection: a reset that
// came before the data had crossed would lose the data in the kernel, with
// or without a portal.
func resettingTarget(c *net.TCPConn) {
	_, _ = c.Write([]byte("partial-data"))
	_, _ = c.Read(make([]byte, 1))
	_ = c.SetLinger(0)
	_ = c.Close()
}

// A target that resets its connection after some data resets the
// client's too, plain and inside a secure channel: the data that came is
// delivered, and the end is a reset, not a clean EOF that would pass a
// cut response for a whole one.
func TestPortalTargetResetReachesTheClient(t *testing.T) {
	target := serveTCP(t, resettingTarget)
	plain := newPortalPath(t, target)
	sp := newSecurePath(t, SecureChannelListenerOptions{})
	secured, _ := sp.secureInlet(t, target)
	for name, addr := range map[string]string{"plain": plain.inlet.Addr(), "secure": secured.Addr()} {
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
		if n != 0 || !isReset(err) {
			t.Errorf("%s: after the data, read %d bytes, then %v; want a reset", name, n, err)
		}
	}
}

// A target that cannot be reached resets the client's connection: an
// error, as dialing the target itself would give, not an empty stream
// that ends cleanly.
func TestPortalTargetDownResetsTheClient(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	p := newPortalPath(t, dead)
	c, err := net.Dial("tcp", p.inlet.Addr())
	if err != nil && !isReset(err) {
		t.Fatal(err)
	}
	if err == nil {
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 1)); n != 0 || !isReset(err) {
			t.Fatalf("read = %d, %v; want a reset", n, err)
		}
	}
	p.logs1.waitLog(t, "the outlet refused the stream")
}
