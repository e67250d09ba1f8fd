package udp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ockamtop/ockamtop/runtime"
	"github.com/ockamtop/ockamtop/runtime/routing"
	"github.com/ockamtop/ockamtop/runtime/warnlimit"
	"github.com/ockamtop/ockamtop/runtime/wire"
)

// A UDP connection is a node's record of one UDP peer ("ip:port"): there is
// no connection on the wire, only datagrams. Like a TCP connection, it is a
// worker at a random 32-hex local address, with a flow of its own:
//
//   - a message routed to it is encoded as on TCP, cut into Ockam's parts
//     (wire/udp.go) and sent as datagrams to the peer. Its worker is inline:
//     sending datagrams does not wait for the peer, so no goroutine and no
//     queue stand between the sender and the socket;
//   - a message put together from the peer's datagrams gets the worker's
//     address and then the peer's UDP address (2#ip:port) pushed onto its
//     return route, as Ockam's UDP receiver does (workers/receiver.rs:
//     sender worker, then UDP#peer): replies go back over UDP, to that peer.
//
// A peer that sent datagrams to a listener shares the listener's socket;
// a peer this node sends to first gets a socket of its own, connected to
// it, as a dialed TCP connection does. A connected socket learns from ICMP
// that nobody listens at the peer any more; the connection then closes, so
// that the portal streams over it end at once.

type connection struct {
	node *runtime.Node
	t    *transport
	sock *net.UDPConn
	// dialed is true when the socket is the connection's own, connected
	// to the peer; false when it is a listener's.
	dialed bool
	// peer is the peer's socket address, for a listener's socket.
	peer netip.AddrPort
	// key is the peer as a UDP address value: what it was dialed as, or
	// its "ip:port". Routes name the peer by it.
	key string
	// listener is the listener whose socket it shares; nil when dialed.
	listener *Listener
	w        *runtime.ConnectionWorker
	flow     *runtime.Flow
	log      hclog.Logger

	// sendMu makes a message's datagrams leave together, in the order of
	// the messages' numbers: the peer then has one message in progress at
	// a time, unless the network reorders.
	sendMu sync.Mutex
	// nextRN numbers the messages sent: Ockam's routing number, from a
	// random start, wrapping at 2^16. Guarded by sendMu.
	nextRN uint16
	// received counts the messages put together from the peer.
	received atomic.Uint64
	// lastHeard is when the last datagram came, UnixNano.
	lastHeard atomic.Int64
	// warns rate-limits the warnings about the peer's dropped datagrams:
	// a flood of bad ones makes one each warnEvery.
	warns warnlimit.Limit

	// rmu guards the reassembly of the peer's messages.
	rmu sync.Mutex
	re  reassembly // guarded by rmu
	// reDone is set when the connection has closed: parts that still come
	// (the listener had it in hand) are not kept.
	reDone bool // guarded by rmu

	closeOnce sync.Once
	closed    chan struct{}
}

var _ runtime.Connection = (*connection)(nil)

// Address is the connection worker's local address.
func (c *connection) Address() routing.Address { return c.w.Address() }

// Transport is UDP.
func (c *connection) Transport() routing.TransportType { return routing.UDP }

// RemoteAddr is the peer's socket address.
func (c *connection) RemoteAddr() string {
	if c.dialed {
		return c.sock.RemoteAddr().String()
	}
	return c.peer.String()
}

// Outgoing reports whether this node sent to the peer first.
func (c *connection) Outgoing() bool { return c.dialed }

// Received counts the messages put together from the peer.
func (c *connection) Received() uint64 { return c.received.Load() }

// Done is closed when the connection has closed.
func (c *connection) Done() <-chan struct{} { return c.closed }

// Close closes the connection at once.
func (c *connection) Close() { c.close(nil) }

// udpAddress is the peer's UDP address, as pushed onto return routes.
func (c *connection) udpAddress() routing.Address { return routing.UDPAddress(c.key) }

// HandleMessage sends m to the peer as datagrams. It runs on the sender's
// goroutine (the worker is inline) and may run on several at once: each
// message has its own routing number, and its datagrams go out together.
func (c *connection) HandleMessage(_ *runtime.Context, m *runtime.Routed) error {
	defer m.Release()
	c.flow.ExpectReplies(m.Return)
	msg := m.Message
	msg.Onward = m.Onward[1:] // pop our own address
	if len(msg.Onward) > 0 && msg.Onward[0] == c.udpAddress() {
		msg.Onward = msg.Onward[1:] // and the peer's, which a reply names after it
	}
	buf := runtime.GetBuffer(wire.MaxUDPMessage)
	defer runtime.PutBuffer(buf)
	body := wire.AppendBody((*buf)[:0], &msg)
	if err := wire.CheckUDPMessage(body); err != nil {
		return fmt.Errorf("send to %s: %w", c.RemoteAddr(), err)
	}
	var dgram [wire.MaxDatagram]byte
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	c.nextRN++
	for i := range wire.UDPPartCount(len(body)) {
		d := wire.AppendUDPPart(dgram[:0], wire.UDPPartOf(body, c.nextRN, i))
		if err := c.write(d); err != nil {
			return err
		}
		c.t.counters.datagramsOut.Add(1)
	}
	c.t.counters.messagesOut.Add(1)
	return nil
}

// write sends one datagram. A connected socket that learned the peer does
// not listen closes the connection.
func (c *connection) write(d []byte) error {
	var err error
	if c.dialed {
		_, err = c.sock.Write(d)
	} else {
		_, err = c.sock.WriteToUDPAddrPort(d, c.peer)
	}
	if err == nil {
		return nil
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		err = fmt.Errorf("nothing listens at %s (ICMP port unreachable)", c.RemoteAddr())
		c.close(err)
	}
	if errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("send to %s: %w", c.RemoteAddr(), runtime.ErrNodeClosed)
	}
	return fmt.Errorf("send to %s: %w", c.RemoteAddr(), err)
}

// receive takes one datagram from the peer: a part, and when it completes
// a message, that message is routed on. A bad datagram is dropped with a
// (rate-limited) warning; nothing else changes.
func (c *connection) receive(b []byte, now time.Time) {
	c.lastHeard.Store(now.UnixNano())
	counters := &c.t.counters
	counters.datagramsIn.Add(1)
	p, err := wire.DecodeUDPPart(b)
	if err != nil {
		counters.dropped[udpDropBadDatagram].Add(1)
		c.dropped("dropped a bad datagram", err)
		return
	}
	c.rmu.Lock()
	if c.reDone {
		c.rmu.Unlock()
		return
	}
	body, err := c.re.add(p, now, &c.t.pending)
	c.rmu.Unlock()
	if err != nil {
		switch {
		case errors.Is(err, errUDPLate):
			counters.dropped[udpDropLate].Add(1)
			c.log.Trace("dropped a datagram", "error", err)
			return
		case errors.Is(err, errUDPMismatch):
			counters.dropped[udpDropMismatch].Add(1)
		default:
			counters.dropped[udpDropOverBudget].Add(1)
		}
		c.dropped("dropped a datagram", err)
		return
	}
	if body == nil {
		return
	}
	c.received.Add(1)
	counters.messagesIn.Add(1)
	msg, err := wire.DecodeBodyVia(body, c.w.Address())
	if err == nil {
		msg.Return = slices.Insert(msg.Return, 1, c.udpAddress())
		err = runtime.CheckMessage(&msg)
	}
	if err != nil {
		counters.dropped[udpDropBadMessage].Add(1)
		c.dropped("dropped a bad message from the network", err)
		return
	}
	if len(msg.Onward) == 0 {
		return // a heartbeat
	}
	if err := c.node.Route(context.Background(), runtime.NewRouted(msg, c.flow, nil, nil)); err != nil && !c.node.Quiet() {
		c.dropped("dropped a message from the network", err, "onward", msg.Onward.Brief(), "return", msg.Return.Brief())
	}
}

// dropped logs a dropped datagram or message, rate-limited (warnlimit.Limit),
// so that a flood cannot flood the log.
func (c *connection) dropped(what string, err error, kv ...any) {
	c.warns.Warn(c.log, what, append([]any{"error", err}, kv...)...)
}

// expire drops the peer's incomplete messages older than udpPartialTTL.
func (c *connection) expire(now time.Time) {
	c.rmu.Lock()
	n := c.re.expire(now.Add(-udpPartialTTL), &c.t.pending)
	c.rmu.Unlock()
	c.t.counters.dropped[udpDropExpired].Add(uint64(n))
	if n > 0 {
		c.log.Debug("incomplete messages expired", "count", n, "after", udpPartialTTL)
	}
}

// readLoop reads a dialed connection's own socket until it closes.
func (c *connection) readLoop() {
	buf := make([]byte, udpReadBuffer)
	for {
		n, err := c.sock.Read(buf)
		if err != nil {
			switch {
			case errors.Is(err, net.ErrClosed):
				c.close(nil)
				return
			case errors.Is(err, syscall.ECONNREFUSED):
				c.close(fmt.Errorf("nothing listens at %s (ICMP port unreachable)", c.RemoteAddr()))
				return
			}
			c.close(fmt.Errorf("read: %w", err))
			return
		}
		c.receive(buf[:n], time.Now())
	}
}

// close ends the connection: its worker, its socket if it has its own,
// its reassembly memory. reason nil is an orderly end.
func (c *connection) close(reason error) {
	c.closeOnce.Do(func() {
		if c.dialed {
			_ = c.sock.Close()
		}
		c.t.remove(c)
		c.w.Stop()
		c.rmu.Lock()
		c.re.clear(&c.t.pending)
		c.reDone = true
		c.rmu.Unlock()
		c.flow.Close()
		warnlimit.LogClosed(c.log, c.node.Quiet(), reason, c.warns.Flush(), nil)
		close(c.closed)
		c.t.host.ConnectionClosed(c.w.Address())
	})
}
