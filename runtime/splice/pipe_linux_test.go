package splice

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(LeakCheck(m))
}

// tcpPair is the two ends of a loopback TCP connection, closed when the
// test ends.
func tcpPair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

func rawOf(t *testing.T, c *net.TCPConn) syscall.RawConn {
	t.Helper()
	raw, ok := Spliceable(c)
	if !ok {
		t.Fatal("a TCP socket cannot be spliced")
	}
	return raw
}

// Bytes go from one socket into a pipe, and from the pipe into another
// socket, whole; a pipe's bytes can be read back into memory; every pipe
// is given back.
func TestPipeCarriesBytes(t *testing.T) {
	inC, inS := tcpPair(t)
	outC, outS := tcpPair(t)
	data := make([]byte, 3*MinBytes)
	rand.Read(data)
	go inC.Write(data)

	p := GetPipe()
	if p == nil {
		t.Skip("no pipe to be had")
	}
	if err := p.FillExactly(rawOf(t, inS), len(data)); err != nil {
		t.Fatal(err)
	}
	if p.Held() != len(data) {
		t.Fatalf("pipe holds %d bytes, want %d", p.Held(), len(data))
	}
	if n, err := p.Drain(rawOf(t, outS), false); err != nil || n != len(data) {
		t.Fatalf("drain: %d bytes, %v", n, err)
	}
	got := make([]byte, len(data))
	_ = outC.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(outC, got); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes back, %v", len(got), err)
	}

	if err := p.Put([]byte("tail")); err != nil {
		t.Fatal(err)
	}
	back := make([]byte, 4)
	if err := p.Take(back); err != nil || string(back) != "tail" || p.Held() != 0 {
		t.Fatalf("take: %q, %v, %d left", back, err, p.Held())
	}
	p.Release()
	if n := PipesInUse(); n != 0 {
		t.Fatalf("%d pipes in use after release", n)
	}
}
