package tcp_test

import (
	"errors"
	"net"
	"testing"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/nodetest"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/wire"
)

func dropped(n *runtime.Node, reason string) uint64 {
	for i, r := range runtime.DropReasons {
		if r == reason {
			return n.Counters().Dropped[i]
		}
	}
	panic("no drop reason " + reason)
}

// Messages routed and dropped are counted by node and reason; traffic by
// connection.
func TestNodeAndConnectionCounters(t *testing.T) {
	t.Parallel()
	responder, logs := nodetest.Node(t, "responder", runtime.Options{})
	addr := nodetest.Listen(t, responder)
	initiator, _ := nodetest.Node(t, "initiator", runtime.Options{})
	conn := nodetest.Connect(t, initiator, addr)

	for range 3 {
		nodetest.SendString(t, initiator, routing.Route{conn.Address(), routing.LocalAddress("echo")}, "hello")
	}
	// Each echo is routed on both nodes: to the connection and the inbox
	// at the initiator, to echo and the connection at the responder.
	// (A message is counted once its worker has it: maybe after the reply.)
	nodetest.WaitFor(t, "six messages routed at the initiator", func() bool { return initiator.Counters().Routed >= 6 })
	nodetest.WaitFor(t, "six messages routed at the responder", func() bool { return responder.Counters().Routed >= 6 })
	// A frame is counted once written, maybe after it has been read.
	nodetest.WaitFor(t, "3 frames each way counted", func() bool {
		cc := conn.(runtime.CountedConnection).Counters()
		return cc.FramesOut == 3 && cc.FramesIn == 3 && cc.BytesOut > 0 && cc.BytesIn > 0
	})
	if got := initiator.Counters().ConnectionsOpened; got != 1 {
		t.Errorf("initiator opened %d connections, want 1", got)
	}

	// A message to nobody, and one that flow control refuses.
	if err := initiator.Send(t.Context(), routing.Message{Onward: routing.Route{conn.Address(), routing.LocalAddress("nobody")}}); err != nil {
		t.Fatal(err)
	}
	nodetest.WaitFor(t, "a no_worker drop", func() bool { return dropped(responder, "no_worker") == 1 })
	if err := responder.StartWorker("private", nodetest.NewRecorder()); err != nil {
		t.Fatal(err)
	}
	if err := initiator.Send(t.Context(), routing.Message{Onward: routing.Route{conn.Address(), routing.LocalAddress("private")}}); err != nil {
		t.Fatal(err)
	}
	nodetest.WaitFor(t, "a flow_control drop", func() bool { return dropped(responder, "flow_control") == 1 })

	// A bad frame from the network.
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Write([]byte{wire.ProtocolVersion, 0, 0, 0, 2, 0xff, 0xff}); err != nil {
		t.Fatal(err)
	}
	logs.WaitLog(t, "malformed frame body")
	if got := dropped(responder, "bad_frame"); got != 1 {
		t.Errorf("bad_frame drops = %d, want 1", got)
	}
	// A local send to nobody counts too.
	if err := initiator.Send(t.Context(), routing.Message{Onward: nodetest.Local("nobody")}); !errors.Is(err, runtime.ErrNoSuchAddress) {
		t.Fatalf("send to nobody: %v", err)
	}
	if got := dropped(initiator, "no_worker"); got != 1 {
		t.Errorf("initiator no_worker drops = %d, want 1", got)
	}
}

// A frame's bytes are counted before the reader waits for more: a peer
// that stops in the middle of the next frame does not hide them.
func TestBytesInCountedBeforeTheReaderBlocks(t *testing.T) {
	t.Parallel()
	node, _ := nodetest.Node(t, "n", runtime.Options{})
	addr := nodetest.Listen(t, node)
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	frame, err := wire.AppendFrame(nil, &routing.Message{Onward: nodetest.Local("nobody")})
	if err != nil {
		t.Fatal(err)
	}
	// The version byte, a whole frame, and the first bytes of another, at
	// once: they arrive in one read.
	send := append([]byte{wire.ProtocolVersion}, frame...)
	send = append(send, frame[:len(frame)-1]...)
	if _, err := raw.Write(send); err != nil {
		t.Fatal(err)
	}
	nodetest.WaitFor(t, "the whole frame counted", func() bool {
		for _, c := range node.Transports().Connections() {
			if cc := c.(runtime.CountedConnection).Counters(); cc.FramesIn == 1 && cc.BytesIn == uint64(len(frame)) {
				return true
			}
		}
		return false
	})
}
