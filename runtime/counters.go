package runtime

import (
	"errors"
	"sync/atomic"
	"time"
)

// Counters: what a node, its connections, portals and relays have done,
// kept as plain atomics on the structs that do the work, so that counting
// costs the data path an uncontended atomic add and nothing else: no lock,
// no map lookup, no label. Whoever wants them (the Prometheus collector of
// topology/observe) reads snapshots when it is asked, off the data path; the
// node library itself depends on no metrics library.

// Why a node dropped a message: the values of DropReasons.
const (
	dropNoWorker = iota
	dropFlowControl
	dropBadFrame
	dropWorkerStopped
	dropNodeClosed
	dropDialDenied
	dropUnsupportedTransport
	dropEmptyRoute
	dropUnreachable
	numDropReasons
)

// DropReasons names why a message was dropped, in the order of
// NodeCounters.Dropped:
//
//   - no_worker: no worker at the local address the route names;
//   - flow_control: the worker is not a consumer of the message's flow;
//   - bad_frame: a whole frame from the network that holds no valid message;
//   - worker_stopped, node_closed: the worker or node went while it waited;
//   - dial_denied: a message from the network asked to dial a peer the node
//     may not dial;
//   - unsupported_transport: an address of a transport the node lacks;
//   - empty_route: nowhere to go;
//   - unreachable: the next hop could not be reached (a failed dial, a
//     full mailbox until the sender gave up).
var DropReasons = [numDropReasons]string{
	"no_worker", "flow_control", "bad_frame", "worker_stopped", "node_closed",
	"dial_denied", "unsupported_transport", "empty_route", "unreachable",
}

// nodeCounters are a node's routing counters.
type nodeCounters struct {
	routed      atomic.Uint64
	dropped     [numDropReasons]atomic.Uint64
	connsOpened atomic.Uint64
}

// drop counts a message route failed to deliver, by the reason err gives.
func (c *nodeCounters) drop(err error) {
	reason := dropUnreachable
	switch {
	case errors.Is(err, ErrNoSuchAddress):
		reason = dropNoWorker
	case errors.Is(err, ErrFlowDenied):
		reason = dropFlowControl
	case errors.Is(err, ErrWorkerStopped):
		reason = dropWorkerStopped
	case errors.Is(err, ErrNodeClosed):
		reason = dropNodeClosed
	case errors.Is(err, ErrDialDenied):
		reason = dropDialDenied
	case errors.Is(err, ErrUnsupportedTransport):
		reason = dropUnsupportedTransport
	case errors.Is(err, ErrEmptyOnwardRoute):
		reason = dropEmptyRoute
	}
	c.dropped[reason].Add(1)
}

// NodeCounters is a snapshot of a node's routing counters.
type NodeCounters struct {
	// Routed counts messages delivered to a worker of the node: each local
	// hop of a message counts once.
	Routed uint64
	// Dropped counts the messages the node could not deliver, by reason,
	// in the order of DropReasons.
	Dropped [numDropReasons]uint64
	// ConnectionsOpened counts the connections made or accepted, of every
	// transport that counts them.
	ConnectionsOpened uint64
}

// Counters returns a snapshot of the node's routing counters.
func (n *Node) Counters() NodeCounters {
	out := NodeCounters{Routed: n.counters.routed.Load(), ConnectionsOpened: n.counters.connsOpened.Load()}
	for i := range out.Dropped {
		out.Dropped[i] = n.counters.dropped[i].Load()
	}
	return out
}

// ConnectionCounters is a snapshot of a connection's traffic. Bytes count
// frames as they are on the wire, with their length prefix.
type ConnectionCounters struct {
	BytesIn, BytesOut   uint64
	FramesIn, FramesOut uint64
}

// CountedConnection is a connection that counts its traffic. TCP
// connections do; a transport that does not is still listed, without
// traffic figures.
type CountedConnection interface {
	Connection
	Counters() ConnectionCounters
}

// portalCounters are an inlet's or outlet's, shared by its streams.
type portalCounters struct {
	streams atomic.Uint64
	// bytesIn counts what the streams read from their sockets and sent
	// through the portal; bytesOut what came through the portal and was
	// written to the sockets.
	bytesIn, bytesOut atomic.Uint64
	refused           atomic.Uint64
	creditStalls      atomic.Uint64
}

// PortalCounters is a snapshot of an inlet's or outlet's counters.
type PortalCounters struct {
	// StreamsOpen is the streams open now; Streams counts every stream
	// opened.
	StreamsOpen int
	Streams     uint64
	// BytesIn counts the bytes read from the local TCP sockets and sent
	// into the portal; BytesOut the bytes that came out of the portal and
	// were written to them.
	BytesIn, BytesOut uint64
	// Refused counts the TCP connections that got no stream: at the inlet,
	// one past its limit, a route down, the outlet refusing it; at the
	// outlet, a target it could not reach.
	Refused uint64
	// CreditStalls counts the times a stream had data to send and had to
	// wait for the other end to grant credit: a slow reader downstream.
	CreditStalls uint64
}

func (ss *streamSet) counters() PortalCounters {
	c := &ss.count
	return PortalCounters{
		StreamsOpen: ss.Len(), Streams: c.streams.Load(),
		BytesIn: c.bytesIn.Load(), BytesOut: c.bytesOut.Load(),
		Refused: c.refused.Load(), CreditStalls: c.creditStalls.Load(),
	}
}

// Counters returns a snapshot of the inlet's counters.
func (in *Inlet) Counters() PortalCounters { return in.counters() }

// Counters returns a snapshot of the outlet's counters.
func (o *Outlet) Counters() PortalCounters { return o.counters() }

// RoundTripBuckets are the upper bounds, in seconds, of the buckets of a
// relay's round-trip histogram: from 100µs (loopback) to 2.5s (the check
// timeout is 2s by default).
var RoundTripBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

// durationHistogram counts durations into RoundTripBuckets, with atomics:
// one writer, and readers at any time.
type durationHistogram struct {
	buckets [15]atomic.Uint64 // len(RoundTripBuckets) and +Inf
	sumNano atomic.Int64
}

func (h *durationHistogram) observe(d time.Duration) {
	s := d.Seconds()
	i := 0
	for i < len(RoundTripBuckets) && s > RoundTripBuckets[i] {
		i++
	}
	h.buckets[i].Add(1)
	h.sumNano.Add(int64(d))
}

// Histogram is a snapshot of a histogram of durations.
type Histogram struct {
	// Count is the number of observations; Sum their total.
	Count uint64
	Sum   time.Duration
	// Cumulative[i] counts the observations of at most
	// RoundTripBuckets[i] seconds.
	Cumulative []uint64
}

func (h *durationHistogram) snapshot() Histogram {
	out := Histogram{Cumulative: make([]uint64, len(RoundTripBuckets)), Sum: time.Duration(h.sumNano.Load())}
	for i := range h.buckets {
		out.Count += h.buckets[i].Load()
		if i < len(RoundTripBuckets) {
			out.Cumulative[i] = out.Count
		}
	}
	return out
}

// relayCounters are a relay's counters.
type relayCounters struct {
	registrations  atomic.Uint64
	reconnects     atomic.Uint64
	failedAttempts atomic.Uint64
	lastRoundTrip  atomic.Int64 // nanoseconds
	roundTrip      durationHistogram
}

// RelayCounters is a snapshot of a relay's counters.
type RelayCounters struct {
	// Registrations counts successful registrations; Reconnects the times
	// a registered relay lost its connection and began to reconnect;
	// FailedAttempts the attempts to connect and register that failed.
	Registrations, Reconnects, FailedAttempts uint64
	// LastRoundTrip is the round trip of the last end-to-end check that
	// was answered (0 before the first); RoundTrip all of them.
	LastRoundTrip time.Duration
	RoundTrip     Histogram
}

// Counters returns a snapshot of the relay's counters.
func (r *Relay) Counters() RelayCounters {
	c := &r.count
	return RelayCounters{
		Registrations: c.registrations.Load(), Reconnects: c.reconnects.Load(),
		FailedAttempts: c.failedAttempts.Load(),
		LastRoundTrip:  time.Duration(c.lastRoundTrip.Load()),
		RoundTrip:      c.roundTrip.snapshot(),
	}
}
