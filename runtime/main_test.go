package runtime

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/goleak"

	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/splice"
	"github.com/ockamtop/ockamtop/runtime/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(splice.LeakCheck(m))
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

// testNode starts a node whose logs go to the test output and to the
// returned buffer; it is closed when the test ends.
func testNode(t testing.TB, name string, opts Options) (*Node, *logBuffer) {
	logs := &logBuffer{}
	opts.Logger = hclog.New(&hclog.LoggerOptions{
		Name:   "test",
		Level:  hclog.Debug,
		Output: logs,
	})
	n := NewNode(name, opts)
	t.Cleanup(func() {
		n.Close()
		if t.Failed() {
			t.Logf("logs of node %s:\n%s", name, logs)
		}
	})
	return n, logs
}

func listen(t testing.TB, n *Node) string {
	t.Helper()
	l, err := n.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l.Addr()
}

func connect(t testing.TB, n *Node, addr string) Connection {
	t.Helper()
	c, err := n.Connect(context.Background(), addr, ConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sendString sends a BARE string along onward and returns the BARE string
// that comes back.
func sendString(t testing.TB, n *Node, onward routing.Route, s string) string {
	t.Helper()
	reply, err := trySend(n, onward, s, 5*time.Second)
	if err != nil {
		t.Fatalf("send %q along %s: %v", s, onward, err)
	}
	return reply
}

func trySend(n *Node, onward routing.Route, s string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	reply, err := n.SendAndReceive(ctx, onward, wire.EncodeString(s))
	if err != nil {
		return "", err
	}
	return wire.String(reply)
}

func local(names ...string) routing.Route {
	r := make(routing.Route, len(names))
	for i, n := range names {
		r[i] = routing.LocalAddress(n)
	}
	return r
}

// recorder is a worker that keeps what it receives.
type recorder struct {
	ch chan routing.Message
}

func newRecorder() *recorder { return &recorder{ch: make(chan routing.Message, 16)} }

func (r *recorder) HandleMessage(ctx *Context, m *Routed) error {
	r.ch <- m.Message
	return ctx.Reply(m, m.Payload)
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
