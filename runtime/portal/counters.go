package portal

import "sync/atomic"

// An inlet's and an outlet's counters are plain atomics on the set of
// their streams, added to on the paths that already have the figures, as
// the node's are (runtime/counters.go); topology/observe reads snapshots.

// streamCounters are an inlet's or outlet's, shared by its streams.
type streamCounters struct {
	streams atomic.Uint64
	// bytesIn counts what the streams read from their sockets and sent
	// through the portal; bytesOut what came through the portal and was
	// written to the sockets.
	bytesIn, bytesOut atomic.Uint64
	refused           atomic.Uint64
	creditStalls      atomic.Uint64
}

// Counters is a snapshot of an inlet's or outlet's counters.
type Counters struct {
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

func (ss *streamSet) counters() Counters {
	c := &ss.count
	return Counters{
		StreamsOpen: ss.Len(), Streams: c.streams.Load(),
		BytesIn: c.bytesIn.Load(), BytesOut: c.bytesOut.Load(),
		Refused: c.refused.Load(), CreditStalls: c.creditStalls.Load(),
	}
}

// Counters returns a snapshot of the inlet's counters.
func (in *Inlet) Counters() Counters { return in.counters() }

// Counters returns a snapshot of the outlet's counters.
func (o *Outlet) Counters() Counters { return o.counters() }
