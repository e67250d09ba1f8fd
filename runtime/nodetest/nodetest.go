// Package nodetest is the node library's test kit: nodes (with the TCP
// and UDP transports) whose logs a test can read, waiting with a deadline,
// small TCP servers and clients, a raw peer that speaks the wire format by
// hand, and proxies that stand for a network on the way (slow, lossy, or
// tapped). The node library's tests and its role packages' use it; it is
// imported by tests only.
package nodetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/tcp"
	"github.com/ockamtop/ockamtop/runtime/udp"
	"github.com/ockamtop/ockamtop/runtime/wire"
)

// LogBuffer collects a node's log lines for assertions.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// WaitLog waits until the log says want.
func (l *LogBuffer) WaitLog(t testing.TB, want string) {
	t.Helper()
	WaitFor(t, "log line "+want, func() bool { return strings.Contains(l.String(), want) })
}

// WaitFor polls cond until it holds or 5 s pass.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Node starts a node whose logs go to the returned buffer (and to the
// test output if it fails); it is closed when the test ends. It has the
// TCP and UDP transports unless opts name others.
func Node(t testing.TB, name string, opts runtime.Options) (*runtime.Node, *LogBuffer) {
	logs := &LogBuffer{}
	opts.Logger = hclog.New(&hclog.LoggerOptions{
		Name:   "test",
		Level:  hclog.Debug,
		Output: logs,
	})
	if opts.Transports == nil {
		opts.Transports = []runtime.NewTransport{tcp.New, udp.New}
	}
	n := runtime.NewNode(name, opts)
	t.Cleanup(func() {
		n.Close()
		if t.Failed() {
			t.Logf("logs of node %s:\n%s", name, logs)
		}
	})
	return n, logs
}

// Listen gives n a TCP listener on a loopback port and returns its address.
func Listen(t testing.TB, n *runtime.Node) string {
	t.Helper()
	l, err := tcp.Listen(n, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l.Addr()
}

// Connect makes n dial addr.
func Connect(t testing.TB, n *runtime.Node, addr string) runtime.Connection {
	t.Helper()
	c, err := tcp.Connect(context.Background(), n, addr, tcp.ConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// SendString sends a BARE string along onward and returns the BARE string
// that comes back.
func SendString(t testing.TB, n *runtime.Node, onward routing.Route, s string) string {
	t.Helper()
	reply, err := TrySend(n, onward, s, 5*time.Second)
	if err != nil {
		t.Fatalf("send %q along %s: %v", s, onward, err)
	}
	return reply
}

// TrySend is SendString returning its error, waiting at most timeout.
func TrySend(n *runtime.Node, onward routing.Route, s string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	reply, err := n.SendAndReceive(ctx, onward, wire.EncodeString(s))
	if err != nil {
		return "", err
	}
	return wire.String(reply)
}

// Sink counts the messages it receives and answers none.
type Sink struct{ n atomic.Int64 }

func (s *Sink) HandleMessage(*runtime.Context, *runtime.Routed) error {
	s.n.Add(1)
	return nil
}

// Count is how many messages s received.
func (s *Sink) Count() int64 { return s.n.Load() }

// IsReset is whether err is a connection reset.
func IsReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

// ServeTCP runs handle for every connection to a new loopback listener
// until the test ends.
func ServeTCP(t testing.TB, handle func(c *net.TCPConn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c.(*net.TCPConn))
			}()
		}
	}()
	return ln.Addr().String()
}

// EchoServer writes back what it reads, and half-closes after EOF.
func EchoServer(c *net.TCPConn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			break
		}
	}
	c.CloseWrite()
}

// RoundTripStream sends size random bytes through the portal at addr to an
// echo server and checks that they all come back.
func RoundTripStream(addr string, size int) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	data := make([]byte, size)
	rand.Read(data)
	want := sha256.Sum256(data)
	go func() {
		c.Write(data)
		c.(*net.TCPConn).CloseWrite()
	}()
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	h := sha256.New()
	n, err := io.Copy(h, c)
	if err != nil {
		return err
	}
	if n != int64(size) || !bytes.Equal(h.Sum(nil), want[:]) {
		return errors.New("stream corrupted: got " + strconv.FormatInt(n, 10) + " bytes with another hash")
	}
	return nil
}

// DelayProxy forwards to target, holding back the first bytes that come
// back for delay: a slow handshake.
func DelayProxy(t testing.TB, target string, delay time.Duration) string {
	return slowProxy(t, target, delay, false)
}

// LagProxy forwards to target, holding back everything that comes back
// for lag first: a slow network.
func LagProxy(t testing.TB, target string, lag time.Duration) string {
	return slowProxy(t, target, lag, true)
}

// slowProxy forwards to target, holding back what comes back for delay:
// the first bytes only, or every read when each is set.
func slowProxy(t testing.TB, target string, delay time.Duration, each bool) string {
	return ServeTCP(t, func(c *net.TCPConn) {
		u, err := net.Dial("tcp", target)
		if err != nil {
			return
		}
		defer u.Close()
		up := make(chan struct{})
		go func() {
			defer close(up)
			io.Copy(u, c)
			u.Close() // the client left: so does the upstream, ending the copy back
		}()
		buf := make([]byte, 64<<10)
		for first := true; ; first = false {
			n, err := u.Read(buf)
			if n > 0 {
				if first || each {
					time.Sleep(delay) // the slow network this proxy stands for
				}
				if _, werr := c.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		c.Close()
		<-up
	})
}

// TCPPair is the two ends of a loopback TCP connection, closed when the
// test ends.
func TCPPair(t testing.TB) (client, server *net.TCPConn) {
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
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return c.(*net.TCPConn), srv.(*net.TCPConn)
}

// TCP is the options of a node whose TCP transport has opts (and whose UDP
// transport the defaults).
func TCP(opts tcp.Options) runtime.Options {
	return runtime.Options{Transports: []runtime.NewTransport{tcp.With(opts), udp.New}}
}

// UDP is the options of a node whose UDP transport has opts (and whose TCP
// transport the defaults).
func UDP(opts udp.Options) runtime.Options {
	return runtime.Options{Transports: []runtime.NewTransport{tcp.New, udp.With(opts)}}
}
