package relay

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
	"go.uber.org/goleak"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/wire"
)

// The helpers below are small copies of the node library's own test
// helpers (runtime/main_test.go, portal_test.go, failure_test.go): that
// package's tests are internal, and cannot be imported from here.

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// logBuffer collects a node's log lines for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// waitLog waits until the log says want.
func (l *logBuffer) waitLog(t testing.TB, want string) {
	t.Helper()
	waitFor(t, "log line "+want, func() bool { return strings.Contains(l.String(), want) })
}

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// testNode starts a node whose logs go to the returned buffer (and to the
// test output if it fails); it is closed when the test ends.
func testNode(t testing.TB, name string, opts runtime.Options) (*runtime.Node, *logBuffer) {
	logs := &logBuffer{}
	opts.Logger = hclog.New(&hclog.LoggerOptions{
		Name:   "test",
		Level:  hclog.Debug,
		Output: logs,
	})
	n := runtime.NewNode(name, opts)
	t.Cleanup(func() {
		n.Close()
		if t.Failed() {
			t.Logf("logs of node %s:\n%s", name, logs)
		}
	})
	return n, logs
}

func listen(t testing.TB, n *runtime.Node) string {
	t.Helper()
	l, err := n.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l.Addr()
}

func connect(t testing.TB, n *runtime.Node, addr string) runtime.Connection {
	t.Helper()
	c, err := n.Connect(context.Background(), addr, runtime.ConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sendString sends a BARE string along onward and returns the BARE string
// that comes back.
func sendString(t testing.TB, n *runtime.Node, onward routing.Route, s string) string {
	t.Helper()
	reply, err := trySend(n, onward, s, 5*time.Second)
	if err != nil {
		t.Fatalf("send %q along %s: %v", s, onward, err)
	}
	return reply
}

func trySend(n *runtime.Node, onward routing.Route, s string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	reply, err := n.SendAndReceive(ctx, onward, wire.EncodeString(s))
	if err != nil {
		return "", err
	}
	return wire.String(reply)
}

// sink counts the messages it receives and answers none.
type sink struct{ n atomic.Int64 }

func (s *sink) HandleMessage(*runtime.Context, *runtime.Routed) error {
	s.n.Add(1)
	return nil
}

func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

// serveTCP runs handle for every connection to a new loopback listener
// until the test ends.
func serveTCP(t testing.TB, handle func(c *net.TCPConn)) string {
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

// echoServer writes back what it reads, and half-closes after EOF.
func echoServer(c *net.TCPConn) {
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

// roundTripStream sends size random bytes through the portal at addr to an
// echo server and checks that they all come back.
func roundTripStream(addr string, size int) error {
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

// delayProxy forwards to target, holding back the first bytes that come
// back for delay: a slow handshake.
func delayProxy(t *testing.T, target string, delay time.Duration) string {
	return serveTCP(t, func(c *net.TCPConn) {
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
				if first {
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

// portalPath is the seed's portal: inlet on n1 -> n2 -> relay back to n3
// -> hop -> outlet on n3 -> target.
type portalPath struct {
	n1, n2, n3 *runtime.Node
	inlet      *runtime.Inlet
	outlet     *runtime.Outlet
	relay      *Relay
}

// newPortalPath starts a portalPath whose relay has opts.
func newPortalPath(t testing.TB, target string, inletOpts runtime.InletOptions, opts Options) *portalPath {
	t.Helper()
	p := &portalPath{}
	p.n2, _ = testNode(t, "n2", runtime.Options{})
	n2Addr := listen(t, p.n2)
	p.n3, _ = testNode(t, "n3", runtime.Options{})
	if err := p.n3.StartService("hop", runtime.Hop{}); err != nil {
		t.Fatal(err)
	}
	var err error
	if p.outlet, err = p.n3.StartOutlet("outlet", target, runtime.OutletOptions{}); err != nil {
		t.Fatal(err)
	}
	if p.relay, err = Start(p.n3, "n3", n2Addr, opts); err != nil {
		t.Fatal(err)
	}
	<-p.relay.Ready()
	p.n1, _ = testNode(t, "n1", runtime.Options{})
	route := routing.Route{routing.TCPAddress(n2Addr), routing.LocalAddress("forward_to_n3"), routing.LocalAddress("hop"), routing.LocalAddress("outlet")}
	p.inlet, err = p.n1.StartInlet("web", "127.0.0.1:0", func() (routing.Route, error) { return route, nil }, inletOpts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
