package udpportal

import (
	"errors"
	"fmt"

	"github.com/ockamtop/ockamtop/runtime/wire"
)

// UDP portal messages. Ockam has no UDP portal, so these are ockamtop's
// own, BARE encoded like the TCP portal's (a tag byte, then the variant's
// fields). Their tags are apart from the TCP portal's (00-08), so that a
// TCP inlet pointed at a udp_outlet by a file no planner saw (or the other
// way round) is refused as such instead of read as data:
//
//	40 Datagram  uleb128(len) bytes: one whole datagram of a flow, at most
//	             MaxDatagram bytes. Inlet flow -> outlet: a client's
//	             datagram, for the target; its return route is the way
//	             back to the flow. Outlet -> inlet flow: the target's
//	             reply, for the client.
//	41 Close     nothing: the sender forgot the flow (it was idle for the
//	             idle timeout, or its end stopped), so the receiver may
//	             forget it too at once rather than after its own timeout.
//
// There is no handshake: a flow's first datagram opens it at the outlet,
// keyed by its return route (which ends with the inlet flow's address, a
// fresh random one per flow), so a flow costs no round trip before its
// first datagram, and a lost datagram costs what it costs over UDP. Nor
// numbers or credit: a UDP application expects loss and reordering, and a
// flow's queue (fair.go) bounds what a node holds for it. Every message is
// a whole datagram: the routing layer below carries it whole or not at all
// (over a UDP hop, Ockam's UDP parts reassembled with a checksum), so a
// datagram is never cut short nor mixed with another.

type tag byte

const (
	tagDatagram tag = 0x40
	tagClose    tag = 0x41
)

// MaxDatagram is the largest datagram a portal carries: the most a UDP
// socket sends (the 16-bit length of IPv6's and IPv4's UDP header, less
// nothing: a larger one cannot reach the inlet at all).
const MaxDatagram = 65535

// headerMax is the longest Datagram header: the tag and a uleb128 of at
// most three bytes (MaxDatagram < 2^21).
const headerMax = 4

// headroom is the room a reader leaves before a datagram it reads, so that
// the Datagram header is written in place, and before it what a secure
// channel on the way puts there to seal the message in place (the TCP
// portal leaves the same).
const headroom = headerMax + 156

var errBadMessage = errors.New("malformed UDP portal message")

// message is a decoded UDP portal message.
type message struct {
	tag tag
	// data is Datagram's bytes, aliasing the payload.
	data []byte
}

// encodeClose is a Close message.
func encodeClose() []byte { return []byte{byte(tagClose)} }

// frameDatagram writes the Datagram header just before buf[headroom:
// headroom+n], where the datagram was read, and returns the whole message.
func frameDatagram(buf []byte, n int) []byte {
	var hdr [headerMax]byte
	h := wire.AppendUvarint(append(hdr[:0], byte(tagDatagram)), uint64(n))
	start := headroom - len(h)
	copy(buf[start:], h)
	return buf[start : headroom+n]
}

// appendDatagram appends a Datagram message carrying data to dst.
func appendDatagram(dst, data []byte) []byte {
	dst = wire.AppendUvarint(append(dst, byte(tagDatagram)), uint64(len(data)))
	return append(dst, data...)
}

// decode reads a UDP portal message. Nothing may follow its fields, and a
// Datagram larger than MaxDatagram is refused: no socket could send it.
func decode(b []byte) (message, error) {
	if len(b) == 0 {
		return message{}, fmt.Errorf("%w: empty", errBadMessage)
	}
	m := message{tag: tag(b[0])}
	rest := b[1:]
	switch m.tag {
	case tagDatagram:
		var err error
		m.data, rest, err = wire.Bytes(rest)
		if err != nil {
			return m, fmt.Errorf("%w: %w", errBadMessage, err)
		}
		if len(m.data) > MaxDatagram {
			return m, fmt.Errorf("%w: a datagram of %d bytes, more than %d", errBadMessage, len(m.data), MaxDatagram)
		}
	case tagClose:
	default:
		if b[0] <= 0x08 {
			return m, fmt.Errorf("%w: tag %#x is a TCP portal's: a tcp_inlet or tcp_outlet at the other end", errBadMessage, b[0])
		}
		return m, fmt.Errorf("%w: unknown tag %#x", errBadMessage, b[0])
	}
	if len(rest) != 0 {
		return m, fmt.Errorf("%w: %d bytes after tag %#x", errBadMessage, len(rest), b[0])
	}
	return m, nil
}
