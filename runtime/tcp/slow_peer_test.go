package tcp_test

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/nodetest"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/tcp"
	"github.com/ockamtop/ockamtop/runtime/wire"
)

// Short deadlines, so that the tests wait little for them.
var slowPeerOpts = tcp.Options{HandshakeTimeout: 200 * time.Millisecond, FrameTimeout: 200 * time.Millisecond}

// dialBytes connects to addr as a client that speaks the wire by hand, and
// sends what.
func dialBytes(t *testing.T, addr string, what []byte) net.Conn {
	t.Helper()
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	if len(what) > 0 {
		if _, err := raw.Write(what); err != nil {
			t.Fatal(err)
		}
	}
	return raw
}

// waitClosed waits until the node closes raw, read through r: it reads
// what the node sent (its version byte at most) and then the end.
func waitClosed(t *testing.T, raw net.Conn, r io.Reader) {
	t.Helper()
	_ = raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(r)
	if err != nil && !nodetest.IsReset(err) {
		t.Fatalf("the node did not close the connection: %v", err)
	}
	if len(got) > 1 {
		t.Fatalf("node sent %x", got)
	}
}

// echoOn sends an echo request as a frame on raw and reads the reply,
// past the node's version byte if readVersion.
func echoOn(t *testing.T, raw net.Conn, br *bufio.Reader, s string, readVersion bool) {
	t.Helper()
	b, err := wire.AppendFrame(nil, &routing.Message{Onward: nodetest.Local("echo"), Return: nodetest.Local("me"), Payload: wire.EncodeString(s)})
	if err != nil {
		t.Fatal(err)
	}
	_ = raw.SetDeadline(time.Now().Add(5 * time.Second))
	defer raw.SetDeadline(time.Time{})
	if _, err := raw.Write(b); err != nil {
		t.Fatal(err)
	}
	if readVersion {
		if v, err := br.ReadByte(); err != nil || v != wire.ProtocolVersion {
			t.Fatalf("version byte %x, %v", v, err)
		}
	}
	body, err := wire.ReadFrame(br, nil)
	if err != nil {
		t.Fatalf("no echo on the connection: %v", err)
	}
	m, err := wire.DecodeBody(body)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := wire.String(m.Payload); got != s {
		t.Fatalf("echo reply %q, want %q", got, s)
	}
}

// Peers that hold a connection without using it are closed: one silent
// after the version byte, one that stalls in a frame's length, one that
// stalls in a frame's body after a good first frame. A well-behaved peer,
// connected before them, goes on.
func TestSlowPeersAreClosed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		first  bool // a good frame first
		send   []byte
		reason string
	}{
		{"silent after the version byte", false, nil, "peer too slow: no frame within 200ms of the version byte"},
		{"half a length", false, []byte{0, 0}, "peer too slow: no byte for 200ms in the middle of a frame"},
		{"half a body after a good frame", true, []byte{0, 0, 0, 0x10, 0x83}, "peer too slow: no byte for 200ms in the middle of a frame"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			node, logs := nodetest.Node(t, "victim", nodetest.TCP(slowPeerOpts))
			addr := nodetest.Listen(t, node)
			good, _ := nodetest.Node(t, "good", nodetest.TCP(slowPeerOpts))
			goodConn := nodetest.Connect(t, good, addr)
			echo := func(what string) {
				t.Helper()
				if got := nodetest.SendString(t, good, routing.Route{goodConn.Address(), routing.LocalAddress("echo")}, what); got != what {
					t.Fatalf("echo reply %q", got)
				}
			}
			echo("before")

			raw := dialBytes(t, addr, []byte{wire.ProtocolVersion})
			br := bufio.NewReader(raw)
			if tc.first {
				echoOn(t, raw, br, "hello", true)
			}
			if _, err := raw.Write(tc.send); err != nil {
				t.Fatal(err)
			}
			waitClosed(t, raw, br)
			logs.WaitLog(t, tc.reason)
			echo("after")
		})
	}
}

// A frame whose bytes come slowly but keep coming, for longer than the
// frame deadline in all, is read whole.
func TestSlowFrameIsNotCut(t *testing.T) {
	node, _ := nodetest.Node(t, "victim", nodetest.TCP(tcp.Options{FrameTimeout: 300 * time.Millisecond}))
	addr := nodetest.Listen(t, node)
	frame, err := wire.AppendFrame(nil, &routing.Message{Onward: nodetest.Local("echo"), Return: nodetest.Local("me"), Payload: wire.EncodeString("slow")})
	if err != nil {
		t.Fatal(err)
	}
	raw := dialBytes(t, addr, []byte{wire.ProtocolVersion})
	br := bufio.NewReader(raw)
	// A byte at a time, the frame's bytes spread over three deadlines.
	pace := 3 * 300 * time.Millisecond / time.Duration(len(frame))
	for i := range len(frame) - 1 {
		if _, err := raw.Write(frame[i : i+1]); err != nil {
			t.Fatalf("the node closed a slow frame at byte %d: %v", i, err)
		}
		time.Sleep(pace)
	}
	// The last byte: the whole frame, read despite its pace.
	if _, err := raw.Write(frame[len(frame)-1:]); err != nil {
		t.Fatal(err)
	}
	_ = raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	readEcho(t, br, "slow", "no reply to the slow frame")
}

// After its first frame a connection may be idle for as long as it likes,
// on both sides: the one accepted and the one dialed.
func TestIdleConnectionsStay(t *testing.T) {
	node, _ := nodetest.Node(t, "n2", nodetest.TCP(slowPeerOpts))
	addr := nodetest.Listen(t, node)
	client, _ := nodetest.Node(t, "n1", nodetest.TCP(slowPeerOpts))
	c := nodetest.Connect(t, client, addr)
	echo := routing.Route{c.Address(), routing.LocalAddress("echo")}
	if got := nodetest.SendString(t, client, echo, "first"); got != "first" {
		t.Fatalf("echo reply %q", got)
	}
	// Idle well past both deadlines: nothing to wait for but time.
	time.Sleep(5 * slowPeerOpts.FrameTimeout)
	select {
	case <-c.Done():
		t.Fatal("the dialed connection closed while idle")
	default:
	}
	if got := nodetest.SendString(t, client, echo, "still here"); got != "still here" {
		t.Fatalf("echo reply %q", got)
	}
	if n := len(node.Transports().Get(routing.TCP).Connections()); n != 1 {
		t.Fatalf("%d connections on the accepting side, want the one", n)
	}
}

// A listener keeps at most MaxAcceptedConnections open: one more is
// closed at once with a rate-limited warning. The connections it holds go
// on, and once the silent ones are closed a new peer gets in.
func TestListenerConnectionLimit(t *testing.T) {
	opts := slowPeerOpts
	opts.MaxAcceptedConnections = 4
	opts.HandshakeTimeout = 2 * time.Second
	node, logs := nodetest.Node(t, "victim", nodetest.TCP(opts))
	addr := nodetest.Listen(t, node)
	good, _ := nodetest.Node(t, "good", runtime.Options{})
	goodConn := nodetest.Connect(t, good, addr)
	echo := routing.Route{goodConn.Address(), routing.LocalAddress("echo")}
	if got := nodetest.SendString(t, good, echo, "before"); got != "before" {
		t.Fatalf("echo reply %q", got)
	}

	// Three silent clients fill the listener: three and the good one.
	for range 3 {
		dialBytes(t, addr, []byte{wire.ProtocolVersion})
	}
	nodetest.WaitFor(t, "four connections", func() bool { return len(node.Transports().Get(routing.TCP).Connections()) == 4 })
	// Twenty more are refused, the node's version byte unsent.
	for range 20 {
		raw := dialBytes(t, addr, []byte{wire.ProtocolVersion})
		_ = raw.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, err := io.ReadAll(raw)
		if err != nil && !nodetest.IsReset(err) {
			t.Fatalf("a connection past the limit was not closed: %v", err)
		}
		if len(got) > 0 {
			t.Fatalf("node sent %x to a connection past its limit", got)
		}
	}
	logs.WaitLog(t, "tcp listener full: connection refused")
	if n := strings.Count(logs.String(), "tcp listener full"); n != 1 {
		t.Fatalf("%d warnings about a full listener, want 1", n)
	}
	if got := nodetest.SendString(t, good, echo, "during"); got != "during" {
		t.Fatalf("echo reply %q", got)
	}

	// The silent ones miss their first frame and are closed; a new peer
	// gets in.
	nodetest.WaitFor(t, "the silent connections to close", func() bool { return len(node.Transports().Get(routing.TCP).Connections()) == 1 })
	after, _ := nodetest.Node(t, "after", runtime.Options{})
	c := nodetest.Connect(t, after, addr)
	if got := nodetest.SendString(t, after, routing.Route{c.Address(), routing.LocalAddress("echo")}, "after"); got != "after" {
		t.Fatalf("echo reply %q", got)
	}
}
