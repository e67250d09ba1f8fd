package udp

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ockamtop/ockamtop/runtime/wire"
)

func parts(body []byte, rn uint16) []wire.UDPPart {
	out := make([]wire.UDPPart, wire.UDPPartCount(len(body)))
	for i := range out {
		out[i] = wire.UDPPartOf(body, rn, i)
	}
	return out
}

func TestReassemblyOutOfOrder(t *testing.T) {
	var node atomic.Int64
	var r reassembly
	now := time.Now()
	body := bytes.Repeat([]byte("0123456789"), 500) // 11 parts
	ps := parts(body, 65530)
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
	for i, p := range ps {
		got, err := r.add(p, now, &node)
		if err != nil {
			t.Fatal(err)
		}
		if (got != nil) != (i == len(ps)-1) {
			t.Fatalf("part %d of %d: got %v", i, len(ps), got != nil)
		}
		if got != nil && !bytes.Equal(got, body) {
			t.Fatal("reassembled body differs")
		}
		// A duplicated part changes nothing.
		if i < len(ps)-1 {
			if _, err := r.add(p, now, &node); !errors.Is(err, errUDPLate) {
				t.Fatalf("duplicate part: %v", err)
			}
		}
	}
	if node.Load() != 0 || r.size != 0 {
		t.Fatalf("memory held after completion: node %d, peer %d", node.Load(), r.size)
	}
	// The whole message again (a duplicated datagram): never delivered twice.
	for _, p := range ps {
		if got, err := r.add(p, now, &node); got != nil || !errors.Is(err, errUDPLate) {
			t.Fatalf("duplicate message: %v %v", got != nil, err)
		}
	}
	// Across the wrap of routing numbers.
	for rn := uint16(65535); rn != 3; rn++ {
		got, err := r.add(wire.UDPPart{RoutingNumber: rn, Total: 1, Payload: []byte{byte(rn)}}, now, &node)
		if err != nil || len(got) != 1 || got[0] != byte(rn) {
			t.Fatalf("message %d: %v %v", rn, got, err)
		}
	}
}

func TestReassemblyWindow(t *testing.T) {
	var node atomic.Int64
	var r reassembly
	now := time.Now()
	body := bytes.Repeat([]byte("x"), 2*wire.MaxUDPPartPayload)
	// Message 100 stays incomplete.
	if _, err := r.add(parts(body, 100)[0], now, &node); err != nil {
		t.Fatal(err)
	}
	held := node.Load()
	if held == 0 {
		t.Fatal("nothing held for an incomplete message")
	}
	// A message udpWindow ahead moves the window past it: forgotten.
	if _, err := r.add(wire.UDPPart{RoutingNumber: 100 + udpWindow, Total: 1, Payload: []byte{1}}, now, &node); err != nil {
		t.Fatal(err)
	}
	if node.Load() != 0 {
		t.Fatalf("%d bytes held after the window moved on", node.Load())
	}
	// Its last part, late, is dropped.
	if _, err := r.add(parts(body, 100)[1], now, &node); !errors.Is(err, errUDPLate) {
		t.Fatalf("late part: %v", err)
	}
	// A peer that starts again far behind is heard.
	if got, err := r.add(wire.UDPPart{RoutingNumber: 7, Total: 1, Payload: []byte{2}}, now, &node); err != nil || got == nil {
		t.Fatalf("restarted peer: %v %v", got, err)
	}
	// Parts that disagree on total drop their message.
	if _, err := r.add(wire.UDPPart{RoutingNumber: 9, Offset: 0, Total: 3, Payload: []byte{1}}, now, &node); err != nil {
		t.Fatal(err)
	}
	if _, err := r.add(wire.UDPPart{RoutingNumber: 9, Offset: 1, Total: 2, Payload: []byte{1}}, now, &node); !errors.Is(err, errUDPMismatch) {
		t.Fatalf("mismatched total: %v", err)
	}
	if node.Load() != 0 {
		t.Fatalf("%d bytes held after a dropped message", node.Load())
	}
}

func TestReassemblyExpiry(t *testing.T) {
	var node atomic.Int64
	var r reassembly
	start := time.Now()
	for rn := range uint16(4) {
		if _, err := r.add(wire.UDPPart{RoutingNumber: rn, Total: 5, Payload: []byte("abc")}, start, &node); err != nil {
			t.Fatal(err)
		}
	}
	if n := r.expire(start, &node); n != 0 {
		t.Fatalf("expired %d messages too early", n)
	}
	if n := r.expire(start.Add(udpPartialTTL+time.Millisecond), &node); n != 4 || node.Load() != 0 || r.size != 0 {
		t.Fatalf("expired %d, held %d/%d", n, node.Load(), r.size)
	}
}

// One peer cannot hold more than udpPeerPending bytes, nor all the peers of
// a node more than udpNodePending.
func TestReassemblyBounds(t *testing.T) {
	var node atomic.Int64
	now := time.Now()
	flood := func(r *reassembly, rn uint16) error {
		var last error
		for off := range uint16(wire.MaxUDPParts - 1) { // never complete
			p := wire.UDPPart{RoutingNumber: rn, Offset: off, Total: wire.MaxUDPParts, Payload: make([]byte, wire.MaxUDPPartPayload)}
			if _, err := r.add(p, now, &node); errors.Is(err, errUDPOverBudget) {
				last = err
			}
		}
		return last
	}
	var peer reassembly
	for rn := range uint16(3 * udpWindow) {
		_ = flood(&peer, rn)
		if peer.size > udpPeerPending || node.Load() != int64(peer.size) {
			t.Fatalf("peer holds %d bytes (node %d), bound %d", peer.size, node.Load(), udpPeerPending)
		}
	}
	if peer.size < udpPeerPending-wire.MaxUDPMessage {
		t.Fatalf("the peer bound was never reached: %d bytes held", peer.size)
	}
	// Room is made by dropping the oldest: the newest message completes.
	body := bytes.Repeat([]byte("n"), 3*wire.MaxUDPPartPayload)
	var got []byte
	for _, p := range parts(body, 3*udpWindow) {
		var err error
		if got, err = peer.add(p, now, &node); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, body) {
		t.Fatal("the newest message did not complete at the peer's bound")
	}
	peers := make([]reassembly, udpNodePending/udpPeerPending+8)
	var overBudget bool
	for i := range peers {
		for rn := range uint16(udpWindow) {
			if flood(&peers[i], rn) != nil {
				overBudget = true
			}
		}
		if node.Load() > udpNodePending {
			t.Fatalf("node holds %d bytes, bound %d", node.Load(), udpNodePending)
		}
	}
	if !overBudget {
		t.Fatal("no part was refused at the node's bound")
	}
	if node.Load() < udpNodePending-udpPeerPending {
		t.Fatalf("node bound not reached: %d", node.Load())
	}
	for i := range peers {
		peers[i].clear(&node)
	}
	peer.clear(&node)
	if node.Load() != 0 {
		t.Fatalf("%d bytes left after clearing", node.Load())
	}
}

// FuzzReassembly feeds arbitrary datagrams to a peer's reassembly: it
// never panics, never holds more than its bound, keeps its count of bytes
// right, and delivers only bodies no longer than the largest message.
func FuzzReassembly(f *testing.F) {
	body := bytes.Repeat([]byte("ab"), 700)
	var seed []byte
	for _, p := range parts(body, 5) {
		d := wire.AppendUDPPart(nil, p)
		seed = append(seed, byte(len(d)>>8), byte(len(d)))
		seed = append(seed, d...)
	}
	f.Add(seed)
	f.Add([]byte{0, 8, 0x85, 0x01, 0x00, 0x00, 0x19, 0xff, 0xff, 0x40})
	f.Fuzz(checkReassembly)
}

func checkReassembly(t *testing.T, data []byte) {
	var node atomic.Int64
	var r reassembly
	now := time.Now()
	for len(data) >= 2 {
		n := int(data[0])<<8 | int(data[1])
		data = data[2:]
		n = min(n, len(data))
		p, err := wire.DecodeUDPPart(data[:n])
		data = data[n:]
		if err != nil {
			continue
		}
		got, _ := r.add(p, now, &node)
		if len(got) > wire.MaxUDPMessage {
			t.Fatalf("delivered %d bytes", len(got))
		}
		if r.size > udpPeerPending || node.Load() != int64(r.size) {
			t.Fatalf("holds %d bytes, node counts %d", r.size, node.Load())
		}
		now = now.Add(time.Millisecond)
	}
	r.expire(now.Add(udpPartialTTL), &node)
	if node.Load() != 0 || r.size != 0 {
		t.Fatalf("%d/%d bytes held after expiry", node.Load(), r.size)
	}
}
