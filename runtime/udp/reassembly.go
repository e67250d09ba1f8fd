package udp

import (
	"bytes"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/ockamtop/ockamtop/runtime/wire"
)

// Putting UDP messages back together. Each peer has a window of
// udpWindow consecutive routing numbers, as in Ockam's
// PeerPendingRoutingMessageStorage (workers/pending_messages): a part of a
// message newer than the window moves the window on, and the messages that
// fall out of it, complete or not, are forgotten; a part of a message
// behind the window is late and dropped. A message put together is marked
// done, so that a duplicated datagram never delivers it twice.
//
// Memory is bounded, whatever the network sends: a part is stored only
// while its message is incomplete, and the bytes of incomplete messages are
// at most udpPeerPending for one peer and udpNodePending for all the peers
// of a node. A part that would go over a bound makes room by dropping the
// peer's oldest incomplete messages (the ones most likely to have lost a
// part); a peer with no other to drop loses the message the part is of. An
// incomplete message expires udpPartialTTL after its first part. No buffer is sized
// by what a datagram claims (a total of 65,535 parts costs nothing until
// parts arrive, and is refused by the codec anyway: at most
// wire.MaxUDPParts).

// Bounds of the reassembly.
const (
	// udpWindow is how many consecutive routing numbers a peer's
	// reassembly tracks.
	udpWindow = 16
	// udpPeerPending bounds the bytes of one peer's incomplete messages:
	// four of the largest.
	udpPeerPending = 4 * wire.MaxUDPMessage
	// udpNodePending bounds the bytes of incomplete messages of all the
	// peers of a node.
	udpNodePending = 16 << 20
	// udpPartialTTL is how long an incomplete message waits for its
	// missing parts.
	udpPartialTTL = 2 * time.Second
)

// Reasons a part is dropped.
var (
	// errUDPLate is a part of a message behind the window or already
	// delivered: a duplicate, or one reordered too far.
	errUDPLate = errors.New("late or duplicate datagram")
	// errUDPMismatch is a part that disagrees with its message's others.
	errUDPMismatch = errors.New("datagram disagrees with the other parts of its message")
	// errUDPOverBudget is a part that would hold more memory than the
	// bounds allow.
	errUDPOverBudget = errors.New("too many bytes of incomplete messages")
)

type slotState uint8

const (
	slotEmpty slotState = iota
	slotPartial
	slotDone // delivered, dropped or expired: its parts are ignored
)

// pendingMessage is one routing number of the window.
type pendingMessage struct {
	state slotState
	rn    uint16
	total uint16
	got   uint16
	parts [][]byte // by offset; nil until received
	size  int      // bytes held in parts
	first time.Time
}

// reassembly is one peer's messages in progress. Its connection's rmu
// guards it.
type reassembly struct {
	started bool
	// oldest is the oldest routing number accepted; the window is
	// [oldest, oldest+udpWindow).
	oldest uint16
	slots  [udpWindow]pendingMessage // slot of rn: rn % udpWindow
	// size is the bytes held by this peer's incomplete messages.
	size int
}

// add takes a part. It returns the message's body when the part completes
// it, nil when more parts are needed. node counts the bytes held by every
// peer of the node. A non-nil error says why the part was dropped.
func (r *reassembly) add(p wire.UDPPart, now time.Time, node *atomic.Int64) ([]byte, error) {
	if !r.started {
		r.started, r.oldest = true, p.RoutingNumber
	}
	switch d := p.RoutingNumber - r.oldest; {
	case d >= 1<<15: // behind the window
		if r.oldest-p.RoutingNumber <= udpWindow {
			return nil, errUDPLate
		}
		// Far behind: the peer started again with a new routing number.
		r.advance(udpWindow, node)
		r.oldest = p.RoutingNumber
	case d >= udpWindow:
		shift := d - udpWindow + 1
		r.advance(shift, node)
		r.oldest += shift
	}
	s := &r.slots[p.RoutingNumber%udpWindow]
	if s.state != slotEmpty && s.rn != p.RoutingNumber {
		r.release(s, node) // cannot happen: advance cleared it
	}
	switch s.state {
	case slotDone:
		return nil, errUDPLate
	case slotEmpty:
		if p.Total == 1 {
			s.state, s.rn = slotDone, p.RoutingNumber
			return bytes.Clone(p.Payload), nil
		}
		*s = pendingMessage{state: slotPartial, rn: p.RoutingNumber, total: p.Total, parts: make([][]byte, p.Total), first: now}
	}
	if p.Total != s.total {
		r.drop(s, node)
		return nil, fmt.Errorf("%w: message %d has %d parts, this one says %d", errUDPMismatch, s.rn, s.total, p.Total)
	}
	if s.parts[p.Offset] != nil {
		return nil, errUDPLate // a duplicated part
	}
	n := len(p.Payload)
	for {
		if r.size+n <= udpPeerPending {
			if node.Add(int64(n)) <= udpNodePending {
				break
			}
			node.Add(-int64(n))
		}
		oldest := r.oldestPartial(s)
		if oldest == nil {
			r.drop(s, node)
			return nil, fmt.Errorf("%w: message %d dropped (at most %d bytes a peer, %d a node)", errUDPOverBudget, p.RoutingNumber, udpPeerPending, udpNodePending)
		}
		r.drop(oldest, node)
	}
	s.parts[p.Offset] = append(make([]byte, 0, n), p.Payload...)
	s.size += n
	r.size += n
	s.got++
	if s.got < s.total {
		return nil, nil
	}
	body := make([]byte, 0, s.size)
	for _, part := range s.parts {
		body = append(body, part...)
	}
	r.drop(s, node)
	return body, nil
}

// oldestPartial returns the peer's oldest incomplete message other than
// but, or nil.
func (r *reassembly) oldestPartial(but *pendingMessage) *pendingMessage {
	for i := range uint16(udpWindow) {
		if s := &r.slots[(r.oldest+i)%udpWindow]; s.state == slotPartial && s != but {
			return s
		}
	}
	return nil
}

// drop forgets a message's parts and marks it done.
func (r *reassembly) drop(s *pendingMessage, node *atomic.Int64) {
	rn := s.rn
	r.release(s, node)
	s.state, s.rn = slotDone, rn
}

// release frees a slot.
func (r *reassembly) release(s *pendingMessage, node *atomic.Int64) {
	if s.size > 0 {
		r.size -= s.size
		node.Add(-int64(s.size))
	}
	*s = pendingMessage{}
}

// advance moves the window on by shift routing numbers, forgetting the
// messages that fall out of it.
func (r *reassembly) advance(shift uint16, node *atomic.Int64) {
	for i := range min(shift, udpWindow) {
		r.release(&r.slots[(r.oldest+i)%udpWindow], node)
	}
}

// expire drops the incomplete messages whose first part came before
// cutoff, and says how many there were.
func (r *reassembly) expire(cutoff time.Time, node *atomic.Int64) int {
	n := 0
	for i := range r.slots {
		if s := &r.slots[i]; s.state == slotPartial && s.first.Before(cutoff) {
			r.drop(s, node)
			n++
		}
	}
	return n
}

// clear frees everything, when the connection closes.
func (r *reassembly) clear(node *atomic.Int64) {
	for i := range r.slots {
		r.release(&r.slots[i], node)
	}
}
