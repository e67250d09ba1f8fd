package udpportal

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/routing"
)

// inletFlow is one client of an inlet: the worker its replies come back
// to, at a fresh random address (so that the outlet tells flows apart by
// their return routes, and a late reply to an ended flow finds no one).
type inletFlow struct {
	in     *Inlet
	client netip.AddrPort
	addr   routing.Address
	// last is when a datagram last went either way, in Unix nanoseconds.
	last atomic.Int64
	// route is the way the flow's datagrams go, resolved at its first
	// datagram; nil until then and after a send failed.
	route atomic.Pointer[routing.Route]

	// queue holds the datagrams read and not yet sent; queued is whether
	// the flow is in the fair queue's ready list, gone whether the flow
	// ended. Guarded by the inlet's fairQueue.mu.
	queue  []datagram
	queued bool
	gone   bool
}

func (f *inletFlow) lastUsed() int64 { return f.last.Load() }

var (
	_ runtime.Worker  = (*inletFlow)(nil)
	_ runtime.Inliner = (*inletFlow)(nil)
)

// Inline: a flow writes a datagram to a UDP socket, which does not wait.
func (*inletFlow) Inline() bool { return true }

// HandleMessage sends a reply from the outlet to the flow's client.
func (f *inletFlow) HandleMessage(_ *runtime.Context, m *runtime.Routed) error {
	msg, err := decode(m.Payload)
	if err != nil {
		return fmt.Errorf("udp_inlet %s: flow of %s: %w", f.in.name, f.client, err)
	}
	switch msg.tag {
	case tagClose:
		f.in.forget(f)
	case tagDatagram:
		f.last.Store(time.Now().UnixNano())
		if _, err := f.in.pc.WriteToUDPAddrPort(msg.data, f.client); err != nil {
			f.in.count.dropped.Add(1)
			return fmt.Errorf("udp_inlet %s: reply to %s: %w", f.in.name, f.client, err)
		}
		f.in.count.out(len(msg.data))
	}
	return nil
}
