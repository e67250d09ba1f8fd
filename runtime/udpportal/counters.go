package udpportal

import "sync/atomic"

// An inlet's and an outlet's counters are plain atomics, added to on the
// paths that already have the figures, as the TCP portal's are;
// topology/observe reads snapshots.

type counters struct {
	flows, refused, expired    atomic.Uint64
	datagramsIn, datagramsOut  atomic.Uint64
	bytesIn, bytesOut, dropped atomic.Uint64
}

// Counters is a snapshot of an inlet's or outlet's counters.
type Counters struct {
	// FlowsOpen is the flows open now; Flows counts every flow opened.
	FlowsOpen int
	Flows     uint64
	// DatagramsIn and BytesIn count what the part read from its UDP
	// sockets and sent into the portal; DatagramsOut and BytesOut what
	// came out of the portal and was sent from them.
	DatagramsIn, DatagramsOut uint64
	BytesIn, BytesOut         uint64
	// Dropped counts the datagrams lost here: a flow's queue or the
	// inlet's full (a client sending faster than the route carries), a
	// route down, a send that failed, a socket that refused one.
	Dropped uint64
	// Refused counts the clients (at an inlet) or flows (at an outlet)
	// turned away because the part held its most flows already.
	Refused uint64
	// Expired counts the flows that ended after their idle timeout.
	Expired uint64
}

func (c *counters) snapshot(open int) Counters {
	return Counters{
		FlowsOpen: open, Flows: c.flows.Load(),
		DatagramsIn: c.datagramsIn.Load(), DatagramsOut: c.datagramsOut.Load(),
		BytesIn: c.bytesIn.Load(), BytesOut: c.bytesOut.Load(),
		Dropped: c.dropped.Load(), Refused: c.refused.Load(), Expired: c.expired.Load(),
	}
}

func (c *counters) in(n int) {
	c.datagramsIn.Add(1)
	c.bytesIn.Add(uint64(n))
}

func (c *counters) out(n int) {
	c.datagramsOut.Add(1)
	c.bytesOut.Add(uint64(n))
}
