package portal

import (
	"errors"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/nodetest"
	"github.com/ockamtop/ockamtop/runtime/routing"
)

// collector keeps the payloads it receives and answers nothing.
type collector struct{ ch chan []byte }

func (c *collector) HandleMessage(_ *runtime.Context, m *runtime.Routed) error {
	c.ch <- append([]byte(nil), m.Payload...)
	return nil
}

// A stream end that gets a message out of its number's order (one was
// lost, duplicated or overtaken on the way) resets its socket, so that the
// client sees an error after the intact bytes, and tells the other end
// Broken, numbered in its own sequence.
func TestPortalStreamGap(t *testing.T) {
	n, _ := nodetest.Node(t, "n", runtime.Options{})
	peer := &collector{ch: make(chan []byte, 16)}
	if err := n.StartWorker("peer", peer); err != nil {
		t.Fatal(err)
	}
	client, server := nodetest.TCPPair(t)
	set := &streamSet{}
	s, err := newPortalStream(n, server, n.Logger(), set, nodetest.Local("peer"), nil)
	if err != nil {
		t.Fatal(err)
	}
	n.Go(s.readLoop)
	payload := func(data string, seq uint16) []byte {
		return appendSeq(payloadMessage([]byte(data)), seq)
	}
	send := func(b []byte) {
		if err := n.Send(t.Context(), routing.Message{Onward: routing.Route{s.addr}, Return: nodetest.Local("peer"), Payload: b}); err != nil {
			t.Fatal(err)
		}
	}
	send(payload("ab", 0))
	send(payload("cd", 1))
	got := make([]byte, 4)
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(client, got); err != nil || string(got) != "abcd" {
		t.Fatalf("read %q, %v", got, err)
	}
	send(payload("ef", 3)) // 2 never came
	rest, err := io.ReadAll(client)
	if len(rest) != 0 || !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("after the gap: read %q, %v; want a reset", rest, err)
	}
	// What the stream said to the other end: numbered, ending with Broken.
	var seqs []uint16
	deadline := time.After(5 * time.Second)
	for broken := false; !broken; {
		select {
		case b := <-peer.ch:
			m, err := decodePortal(b)
			if err != nil || !m.hasSeq {
				t.Fatalf("stream sent %x: %v", b, err)
			}
			seqs = append(seqs, m.seq)
			broken = m.tag == portalBroken
		case <-deadline:
			t.Fatalf("no Broken to the other end; numbers sent: %v", seqs)
		}
	}
	for i, seq := range seqs {
		if seq != uint16(i) {
			t.Fatalf("the stream's numbers: %v", seqs)
		}
	}
}
