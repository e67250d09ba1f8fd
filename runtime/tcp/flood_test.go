package tcp_test

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/nodetest"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/wire"
)

// linesAbout counts the log lines that name peer.
func linesAbout(logs *nodetest.LogBuffer, peer string) int {
	n := 0
	for line := range strings.Lines(logs.String()) {
		if strings.Contains(line, peer) {
			n++
		}
	}
	return n
}

// A megabyte of zeros after the version byte is 262,144 empty frames, each
// a bad message: the node logs a handful of lines about that peer, closes
// its connection once the run is long enough, and serves a well-behaved
// peer during and after.
func TestJunkFloodIsRateLimitedAndClosed(t *testing.T) {
	node, logs := nodetest.Node(t, "victim", runtime.Options{})
	addr := nodetest.Listen(t, node)
	good, _ := nodetest.Node(t, "good", runtime.Options{})
	goodConn := nodetest.Connect(t, good, addr)
	echo := func(what string) {
		t.Helper()
		if got := nodetest.SendString(t, good, routing.Route{goodConn.Address(), routing.LocalAddress("echo")}, what); got != what {
			t.Fatalf("echo reply %q", got)
		}
	}
	echo("before")

	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	peer := raw.LocalAddr().String()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer raw.Close() // first: a writer still blocked then fails
	wg.Go(func() {
		// The node closes the connection part way: the write then fails.
		_, _ = raw.Write(append([]byte{wire.ProtocolVersion}, make([]byte, 1<<20)...))
	})
	echo("during")

	_ = raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(raw)
	if err != nil && !nodetest.IsReset(err) {
		t.Fatalf("the flooding connection was not closed: %v", err)
	}
	if len(got) > 1 {
		t.Fatalf("node sent %x to the flooding peer", got)
	}
	logs.WaitLog(t, "too many bad frames: 64 in a row")
	n := linesAbout(logs, peer)
	t.Logf("%d log lines about the flooding peer", n)
	if n > 5 {
		t.Fatalf("%d log lines about the flooding peer, want a handful:\n%s", n, logs)
	}

	echo("after")
	after, _ := nodetest.Node(t, "after", runtime.Options{})
	c := nodetest.Connect(t, after, addr)
	if got := nodetest.SendString(t, after, routing.Route{c.Address(), routing.LocalAddress("echo")}, "new"); got != "new" {
		t.Fatalf("echo reply %q", got)
	}
}

// Frames that hold good messages the node cannot deliver (to an address no
// worker holds) are no run of bad frames: the connection stays, and the
// warnings about them are rate-limited.
func TestUndeliverableFloodKeepsTheConnection(t *testing.T) {
	node, logs := nodetest.Node(t, "victim", runtime.Options{})
	addr := nodetest.Listen(t, node)
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	peer := raw.LocalAddr().String()
	_ = raw.SetDeadline(time.Now().Add(10 * time.Second))

	frame := func(to string, payload []byte) []byte {
		b, err := wire.AppendFrame(nil, &routing.Message{
			Onward: nodetest.Local(to), Return: nodetest.Local("me"), Payload: payload,
		})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	flood := []byte{wire.ProtocolVersion}
	one := frame("nowhere", []byte("x"))
	for range 10_000 {
		flood = append(flood, one...)
	}
	flood = append(flood, frame("echo", wire.EncodeString("still here"))...)
	if _, err := raw.Write(flood); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(raw)
	readEcho(t, br, "still here", "no reply on the connection")
	if n := linesAbout(logs, peer); n > 5 {
		t.Fatalf("%d log lines about the flooding peer, want a handful:\n%s", n, logs)
	}
}
