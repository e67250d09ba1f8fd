package udp

import (
	"sync/atomic"

	"github.com/ockamtop/ockamtop/runtime"
)

// DropReasons name why the UDP transport dropped a datagram or a
// message, in the order of udpCounters.dropped:
//
//   - bad_datagram: not a part of Ockam's UDP transport;
//   - late: a part of a message behind the window, or already delivered
//     (a duplicate, or one reordered too far);
//   - mismatch: a part that disagrees with its message's others;
//   - over_budget: a part that would hold more memory than the bounds
//     allow;
//   - expired: an incomplete message whose parts stopped coming (a lost
//     datagram);
//   - bad_message: a whole message that does not decode;
//   - peer_refused: a datagram from a new peer to a listener that keeps
//     as many peers as it may.
var DropReasons = [numUDPDropReasons]string{
	"bad_datagram", "late", "mismatch", "over_budget", "expired", "bad_message", "peer_refused",
}

const (
	udpDropBadDatagram = iota
	udpDropLate
	udpDropMismatch
	udpDropOverBudget
	udpDropExpired
	udpDropBadMessage
	udpDropPeerRefused
	numUDPDropReasons
)

// udpCounters are the UDP transport's counters.
type udpCounters struct {
	datagramsIn, datagramsOut atomic.Uint64
	messagesIn, messagesOut   atomic.Uint64
	dropped                   [numUDPDropReasons]atomic.Uint64
}

// Counters is a snapshot of the UDP transport's counters.
func (t *transport) Counters() runtime.TransportCounters {
	c := &t.counters
	out := runtime.TransportCounters{
		Transport:   "udp",
		PacketsIn:   c.datagramsIn.Load(),
		PacketsOut:  c.datagramsOut.Load(),
		MessagesIn:  c.messagesIn.Load(),
		MessagesOut: c.messagesOut.Load(),
		Dropped:     make(map[string]uint64, numUDPDropReasons),
	}
	for i, reason := range DropReasons {
		out.Dropped[reason] = c.dropped[i].Load()
	}
	out.Peers = t.conns.Len()
	return out
}
