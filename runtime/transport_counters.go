package runtime

import (
	"maps"
	"slices"
	"sync/atomic"
)

// TransportCounters are a transport's own counters, beyond its
// connections': what crosses it in packets (a UDP transport's datagrams),
// the messages those make, and what it dropped, by reason.
type TransportCounters struct {
	// Transport is the transport's name: "udp".
	Transport string
	// PacketsIn and PacketsOut count the datagrams read and written.
	PacketsIn, PacketsOut uint64
	// MessagesIn counts the messages put together from them;
	// MessagesOut the messages sent as them.
	MessagesIn, MessagesOut uint64
	// Peers is how many peers the transport keeps now.
	Peers int
	// Dropped counts what was dropped, by reason (the transport's own
	// words, such as "expired").
	Dropped map[string]uint64
}

// CountingTransport is a transport that keeps TransportCounters.
type CountingTransport interface {
	Transport
	Counters() TransportCounters
}

// TransportCounters lists the counters of the node's transports that keep
// them, in the order of their types.
func (n *Node) TransportCounters() []TransportCounters {
	var out []TransportCounters
	for _, typ := range slices.Sorted(maps.Keys(n.transports)) {
		if t, ok := n.transports[typ].(CountingTransport); ok {
			out = append(out, t.Counters())
		}
	}
	return out
}

// UDPDropReasons name why the UDP transport dropped a datagram or a
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
var UDPDropReasons = [numUDPDropReasons]string{
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
func (t *udpTransport) Counters() TransportCounters {
	c := &t.counters
	out := TransportCounters{
		Transport:   "udp",
		PacketsIn:   c.datagramsIn.Load(),
		PacketsOut:  c.datagramsOut.Load(),
		MessagesIn:  c.messagesIn.Load(),
		MessagesOut: c.messagesOut.Load(),
		Dropped:     make(map[string]uint64, numUDPDropReasons),
	}
	for i, reason := range UDPDropReasons {
		out.Dropped[reason] = c.dropped[i].Load()
	}
	t.mu.Lock()
	out.Peers = len(t.conns)
	t.mu.Unlock()
	return out
}
