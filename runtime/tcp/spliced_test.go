//go:build linux

package tcp_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/nodetest"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/splice"
	"github.com/ockamtop/ockamtop/runtime/tcp"
	"github.com/ockamtop/ockamtop/runtime/wire"
)

// relayPeer is a raw TCP peer of n2, which carries n3's relay: a frame
// sent to forward_to_n3 is spliced through n2 (connection to connection),
// and the echo at n3 answers back the same way.
type relayPeer struct {
	raw  net.Conn
	br   *bufio.Reader
	logs *nodetest.LogBuffer
	addr string // n2's listener
}

func newRelayPeer(t *testing.T) *relayPeer {
	t.Helper()
	return newRelayPeerOpts(t, runtime.Options{})
}

// newRelayPeerOpts is newRelayPeer with n2 made with opts.
func newRelayPeerOpts(t *testing.T, opts runtime.Options) *relayPeer {
	t.Helper()
	n2, logs := nodetest.Node(t, "n2", opts)
	addr := nodetest.Listen(t, n2)
	n3, _ := nodetest.Node(t, "n3", runtime.Options{})
	nodetest.RegisterRelay(t, n3, "n3", addr)
	return dialRelayPeer(t, addr, logs)
}

// newRelayPeerAt is another raw peer of the same n2.
func newRelayPeerAt(t *testing.T, p *relayPeer) *relayPeer {
	return dialRelayPeer(t, p.addr, p.logs)
}

func dialRelayPeer(t *testing.T, addr string, logs *nodetest.LogBuffer) *relayPeer {
	t.Helper()
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	raw.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := raw.Write([]byte{wire.ProtocolVersion}); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(raw)
	if v, err := br.ReadByte(); err != nil || v != wire.ProtocolVersion {
		t.Fatalf("version byte %x, %v", v, err)
	}
	return &relayPeer{raw: raw, br: br, logs: logs, addr: addr}
}

// toEcho is a frame for n3's echo through the relay, with payload.
func toEcho(t *testing.T, payload []byte) []byte {
	t.Helper()
	b, err := wire.AppendFrame(nil, &routing.Message{
		Onward:  routing.Route{routing.LocalAddress("forward_to_n3"), routing.LocalAddress("echo")},
		Return:  routing.Route{routing.LocalAddress("me")},
		Payload: payload,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// echo sends payload to n3's echo, written in pieces of at most piece
// bytes (0: at once), and checks the answer.
func (p *relayPeer) echo(t *testing.T, payload []byte, piece int) {
	t.Helper()
	frame := toEcho(t, payload)
	for len(frame) > 0 {
		k := len(frame)
		if piece > 0 {
			k = min(k, piece)
		}
		if _, err := p.raw.Write(frame[:k]); err != nil {
			t.Fatal(err)
		}
		frame = frame[k:]
	}
	body, err := wire.ReadFrame(p.br, nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	m, err := wire.DecodeBody(body)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Payload, payload) {
		t.Fatalf("echo of %d bytes came back as %d other bytes", len(payload), len(m.Payload))
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// Large payloads cross a relay node spliced, both ways, whole, whatever
// pieces they arrive in; one with a bad end is dropped and the connection
// goes on; and every pipe is given back.
func TestSplicedPayloadsThroughARelay(t *testing.T) {
	p := newRelayPeer(t)
	taken := splice.PipesTaken()
	p.echo(t, randomBytes(200<<10), 0)
	if splice.PipesTaken() < taken+2 {
		t.Fatalf("%d pipes taken for a payload there and back through n2", splice.PipesTaken()-taken)
	}
	p.echo(t, []byte("small"), 0)
	p.echo(t, randomBytes(splice.MinBytes+100), 0)
	p.echo(t, randomBytes(300<<10), 7)      // the head in pieces
	p.echo(t, randomBytes(100<<10), 64<<10) // a pause in the middle

	// A frame whose payload is fine but which ends with a malformed item.
	bad := toEcho(t, randomBytes(100<<10))
	bad[4] = 0x84           // four items, not three
	bad = append(bad, 0x1c) // reserved additional information
	binary.BigEndian.PutUint32(bad, uint32(len(bad)-4))
	if _, err := p.raw.Write(bad); err != nil {
		t.Fatal(err)
	}
	p.logs.WaitLog(t, "dropped a bad message from the network")
	p.echo(t, randomBytes(100<<10), 0)

	// A large payload for an address that does not exist: dropped.
	lost, _ := wire.AppendFrame(nil, &routing.Message{
		Onward:  routing.Route{routing.LocalAddress("forward_to_n3"), routing.LocalAddress("nobody")},
		Return:  routing.Route{routing.LocalAddress("me")},
		Payload: randomBytes(100 << 10),
	})
	if _, err := p.raw.Write(lost); err != nil {
		t.Fatal(err)
	}
	p.echo(t, randomBytes(64<<10), 0)
	nodetest.WaitFor(t, "every pipe to be given back", func() bool { return splice.PipesInUse() == 0 })
}

// When a pipe takes less than a payload (a small pipe, or the data in many
// small pieces), the payload goes through memory instead, whole (a portal
// stream's read into a pipe that gets little: runtime/portal's
// TestPortalPipeFull).
func TestSplicedPipeFull(t *testing.T) {
	restore := splice.SetCapacity(4096)
	defer restore()
	p := newRelayPeer(t)
	for _, size := range []int{64 << 10, 200 << 10} {
		p.echo(t, randomBytes(size), 0)
	}
	nodetest.WaitFor(t, "every pipe to be given back", func() bool { return splice.PipesInUse() == 0 })
}

// A peer that dies in the middle of a large payload, while it is being
// spliced, costs only its own connection: the node goes on, and the pipe
// is given back.
func TestSplicedPeerDiesMidPayload(t *testing.T) {
	p := newRelayPeer(t)
	p.echo(t, randomBytes(100<<10), 0)
	frame := toEcho(t, randomBytes(300<<10))
	if _, err := p.raw.Write(frame[:len(frame)/2]); err != nil {
		t.Fatal(err)
	}
	p.raw.Close()
	p.logs.WaitLog(t, "read frame body")
	nodetest.WaitFor(t, "every pipe to be given back", func() bool { return splice.PipesInUse() == 0 })
	// The node still serves a new peer the same way.
	again := newRelayPeerAt(t, p)
	again.echo(t, randomBytes(100<<10), 0)
}

// A spliced payload that comes slowly but keeps coming, for longer than
// the frame deadline in all, is read whole; one that stalls half way
// closes its connection, and gives its pipe back.
func TestSplicedFrameDeadline(t *testing.T) {
	p := newRelayPeerOpts(t, nodetest.TCP(tcp.Options{FrameTimeout: 300 * time.Millisecond}))
	taken := splice.PipesTaken()
	payload := randomBytes(1 << 20)
	frame := toEcho(t, payload)
	// Its pieces spread over three deadlines.
	const pieces = 16
	size := len(frame)/pieces + 1
	for len(frame) > 0 {
		k := min(len(frame), size)
		if _, err := p.raw.Write(frame[:k]); err != nil {
			t.Fatal(err)
		}
		frame = frame[k:]
		time.Sleep(3 * 300 * time.Millisecond / pieces)
	}
	body, err := wire.ReadFrame(p.br, nil)
	if err != nil {
		t.Fatalf("no answer to a slow spliced frame: %v", err)
	}
	m, err := wire.DecodeBody(body)
	if err != nil || !bytes.Equal(m.Payload, payload) {
		t.Fatalf("echo of %d bytes came back as %d other bytes (%v)", len(payload), len(m.Payload), err)
	}
	if splice.PipesTaken() == taken {
		t.Fatal("the slow frame was not spliced")
	}

	stalled := toEcho(t, randomBytes(300<<10))
	if _, err := p.raw.Write(stalled[:len(stalled)/2]); err != nil {
		t.Fatal(err)
	}
	p.logs.WaitLog(t, "no byte for 300ms in the middle of a frame")
	nodetest.WaitFor(t, "every pipe to be given back", func() bool { return splice.PipesInUse() == 0 })
	newRelayPeerAt(t, p).echo(t, randomBytes(100<<10), 0)
}
